// Parsing and printing of device names.
#include "engine/device.h"

#include <cstdlib>

#include "engine/error.h"

namespace fovea {

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    char* end = nullptr;
    const long index = std::strtol(name.c_str() + 5, &end, 10);
    if (*end == '\0' && index >= 0) return cuda(static_cast<int>(index));
  }
  FOVEA_FAIL("device", "unknown device '", name, "'; expected cpu, cuda or cuda:N");
}

std::string Device::str() const {
  return is_cpu() ? "cpu" : "cuda:" + std::to_string(index);
}

}  // namespace fovea
