// A program outside grove's tree, built against grove the two ways users do.
#include <grove/grove.hpp>

int main() {
  return grove::run([] { return grove::spawn([](int x) { return x - 42; }, 42).get(); });
}
