// The talk's hello in the async/await style: C++20 coroutines (asio::awaitable) on grove's hub,
// the fourth way to wait beside hello_sync, hello_callbacks and hello_fibers. Two hellos
// overlap (about 3 s, not 6 s), and every wait is marked by co_await. The main fiber waits for
// the coroutines with co_spawn(..., grove::use_fiber): fibers and coroutines share one hub.
//   hello_coroutines [--scale S]
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <grove/grove.hpp>
#include <grove/use_fiber.hpp>

#include "sample_args.hpp"

namespace asio = boost::asio;
using seconds = std::chrono::duration<double>;

namespace {

asio::awaitable<void> hello(int n, seconds wait) {
  std::printf("[coroutine %d] Hello, wait %g seconds,\n", n, wait.count());
  asio::steady_timer timer(co_await asio::this_coro::executor,
                           std::chrono::duration_cast<asio::steady_timer::duration>(wait));
  co_await timer.async_wait(asio::use_awaitable);  // suspends this coroutine only
  std::printf("[coroutine %d] World!\n", n);
}

asio::awaitable<void> both(seconds wait) {
  using namespace asio::experimental::awaitable_operators;
  co_await (hello(1, wait) && hello(2, wait));
}

const char* usage =
    "usage: hello_coroutines [--scale S]\n"
    "  two hellos as C++20 coroutines (co_await a timer) on grove's hub: they overlap\n"
    "  --scale S  multiply the 3 s wait by S (default 1; the tour uses 0.3)\n";

}  // namespace

int main(int argc, char** argv) {
  double scale = 1.0;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--scale", &scale, 0, 1000}}); rc >= 0) {
    return rc;
  }
  seconds wait(3.0 * scale);
  auto start = std::chrono::steady_clock::now();
  try {
    grove::run(
        [&] { asio::co_spawn(grove::hub::current().io_context(), both(wait), grove::use_fiber); });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hello_coroutines: %s\n", e.what());
    return 1;
  }
  double elapsed = seconds(std::chrono::steady_clock::now() - start).count();
  std::printf("two coroutine hellos took %.2f s (about %.2f s, not %.2f s: they overlap)\n",
              elapsed, wait.count(), 2 * wait.count());
}
