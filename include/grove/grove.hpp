// The umbrella header: everything public in grove.
#pragma once

#include <grove/debug.hpp>
#include <grove/error.hpp>
#include <grove/fiber.hpp>
#include <grove/hub.hpp>
#include <grove/offload.hpp>
#include <grove/timeout.hpp>

// Synchronization (issue 3)
#include <grove/channel.hpp>
#include <grove/condition_variable.hpp>
#include <grove/event.hpp>
#include <grove/fiber_local.hpp>
#include <grove/future.hpp>
#include <grove/group.hpp>
#include <grove/mutex.hpp>
#include <grove/pool.hpp>
#include <grove/queue.hpp>
#include <grove/select.hpp>
#include <grove/semaphore.hpp>
#include <grove/wait.hpp>

// Subprocesses and files (issue 8)
#include <grove/fs.hpp>
#include <grove/pipe_stream.hpp>
#include <grove/process.hpp>

// Signals (issue 9)
#include <grove/signal.hpp>
