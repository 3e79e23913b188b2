// Promises of hub::io_context(): Asio objects and work guards on the hub's io_context behave.
#include <doctest/doctest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <grove/grove.hpp>
#include <grove/hub.hpp>  // first: the header is self-contained
#include <memory>
#include <thread>

using namespace std::chrono_literals;

TEST_CASE("a work guard released by a fiber is not mistaken for a deadlock") {
  // Releasing the last work guard outside io_context::run() stops the io_context; the hub must
  // restart it before polling again, or the next wait is reported as a deadlock.
  int rounds = grove::run([] {
    auto& io = grove::hub::current().io_context();
    int done = 0;
    for (int i = 0; i < 3; ++i) {
      using guard = boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
      auto work = std::make_unique<guard>(io.get_executor());
      grove::detail::wake_token self = grove::detail::next_suspension();
      std::thread([&io, self] {
        std::this_thread::sleep_for(10ms);
        boost::asio::post(
            io, [self] { grove::detail::wake(self, grove::detail::wake_reason::notified); });
      }).detach();
      grove::detail::suspend();
      work.reset();  // outside run(): outstanding work drops to zero here
      ++done;
    }
    return done;
  });
  CHECK(rounds == 3);
}
