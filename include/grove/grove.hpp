// The umbrella header: everything public in grove.
#pragma once

#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/offload.hpp>
#include <grove/timeout.hpp>
