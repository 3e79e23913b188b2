// The simultaneous chess exhibition: a master plays 24 opponents at once. She moves in 5 s, each
// opponent thinks 55 s; a game is 30 move pairs. Played one game after another it takes 12 h;
// played simultaneously she walks from board to board and it takes about 1 h. Each board is a
// fiber; the master can make only one move at a time, so a board waits on a grove::mutex until
// she is free. Time is scaled: 1 s of the story is --ms-per-s milliseconds.
//   chess_exhibition [--ms-per-s N]   (default 1: the whole exhibition runs in ~3.6 s)
#include <chrono>
#include <cstdio>
#include <grove/grove.hpp>
#include <mutex>
#include <vector>

#include "sample_args.hpp"

namespace {
constexpr int opponents = 24;
constexpr int move_pairs = 30;
constexpr double master_move_s = 5;
constexpr double opponent_move_s = 55;

const char* usage =
    "usage: chess_exhibition [--ms-per-s N]\n"
    "  a master plays 24 boards at once, each board a fiber; prints the time it took\n"
    "  --ms-per-s N  milliseconds of wall time per second of the story (default 1: ~3.6 s)\n";
}  // namespace

int main(int argc, char** argv) {
  double ms_per_s = 1.0;
  if (int rc = sample::parse_options(argc, argv, usage, {{"--ms-per-s", &ms_per_s, 0.01, 1000}});
      rc >= 0) {
    return rc;
  }
  auto scaled = [ms_per_s](double seconds) {
    return std::chrono::duration<double, std::milli>(seconds * ms_per_s);
  };
  double sequential_h =
      opponents * move_pairs * (master_move_s + opponent_move_s) / 3600.0;  // 12 h
  std::printf("%d opponents, %d move pairs, master %.0f s a move, opponents %.0f s a move\n",
              opponents, move_pairs, master_move_s, opponent_move_s);
  std::printf("one game after another: %.1f h\n", sequential_h);

  auto start = std::chrono::steady_clock::now();
  grove::run([&] {
    // The master is one person: a board waits until she is free (boards are served in the
    // order they became ready), she moves (5 s), then the opponent thinks (55 s) while she
    // walks on to the next board.
    grove::mutex master;
    auto board = [&](int) {
      for (int pair = 0; pair < move_pairs; ++pair) {
        {
          std::lock_guard at_this_board(master);
          grove::this_fiber::sleep_for(scaled(master_move_s));
        }
        grove::this_fiber::sleep_for(scaled(opponent_move_s));
      }
    };
    std::vector<grove::fiber<void>> boards;
    for (int i = 0; i < opponents; ++i) boards.push_back(grove::spawn(board, i));
    for (auto& b : boards) b.join();
  });
  double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double simulated_h = wall_s * 1000.0 / ms_per_s / 3600.0;
  std::printf("simultaneous exhibition: %.2f s of wall time at 1 s = %g ms, i.e. %.2f h\n", wall_s,
              ms_per_s, simulated_h);
  std::printf("speed-up: %.1fx\n", sequential_h / simulated_h);
}
