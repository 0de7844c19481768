// Device names: "cpu", "cuda", "cuda:N". Parsing, printing and comparison.
#pragma once
#include <string>

namespace fovea {

struct Device {
  enum class Kind : uint8_t { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {Kind::cuda, index}; }
  // Accepts "cpu", "cuda", "cuda:N"; throws fovea::Error naming the accepted forms otherwise.
  static Device parse(const std::string& name);

  bool is_cpu() const { return kind == Kind::cpu; }
  bool is_cuda() const { return kind == Kind::cuda; }
  std::string str() const;
  bool operator==(const Device&) const = default;
};

}  // namespace fovea
