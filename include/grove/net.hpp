// The networking umbrella: every grove::net header except beast.hpp (which needs Boost.Beast).
// Kept out of <grove/grove.hpp> so that code without sockets does not compile Asio's ip headers.
#pragma once

#include <grove/net/error.hpp>
#include <grove/net/resolve.hpp>
#include <grove/net/server.hpp>
#include <grove/net/sharded_server.hpp>
#include <grove/net/socket.hpp>
#include <grove/net/tcp.hpp>
#include <grove/net/tls.hpp>
#include <grove/net/udp.hpp>
#include <grove/net/unix.hpp>
