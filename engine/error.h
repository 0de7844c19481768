// fovea::Error, the one exception type of the engine, and the FOVEA_CHECK macro that
// throws it with the op name, file:line and a received-vs-expected message.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace fovea {

class Error : public std::runtime_error {
 public:
  Error(std::string op, std::string message, const char* file, int line);
  const std::string& op() const { return op_; }
  const std::string& message() const { return message_; }
  const std::string& where() const { return where_; }

 private:
  std::string op_, message_, where_;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream out;
  (out << ... << std::forward<Args>(args));
  return out.str();
}
}  // namespace detail

}  // namespace fovea

// FOVEA_CHECK(cond, "op_name", "message parts", ...): throws fovea::Error when cond is false.
#define FOVEA_CHECK(cond, op, ...)                                                        \
  do {                                                                                    \
    if (!(cond)) [[unlikely]]                                                             \
      throw ::fovea::Error((op), ::fovea::detail::concat(__VA_ARGS__), __FILE__, __LINE__); \
  } while (0)

#define FOVEA_FAIL(op, ...) \
  throw ::fovea::Error((op), ::fovea::detail::concat(__VA_ARGS__), __FILE__, __LINE__)
