// Formats fovea::Error messages as "op: message [file:line]".
#include "engine/error.h"

namespace fovea {

Error::Error(std::string op, std::string message, const char* file, int line)
    : std::runtime_error(op + ": " + message + " [" + file + ":" + std::to_string(line) + "]"),
      op_(std::move(op)),
      message_(std::move(message)),
      where_(std::string(file) + ":" + std::to_string(line)) {}

}  // namespace fovea
