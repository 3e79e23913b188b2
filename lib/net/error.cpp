#include <grove/net/error.hpp>

namespace grove::net {
namespace {

class net_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "grove::net"; }
  std::string message(int value) const override {
    switch (static_cast<net_errc>(value)) {
      case net_errc::end_of_stream:
        return "the stream ended before the expected bytes arrived";
    }
    return "unknown grove::net error";
  }
};

}  // namespace

const std::error_category& net_category() noexcept {
  static const net_category_impl category;
  return category;
}

}  // namespace grove::net
