// Helpers for the SIMT emulator's tests: a device buffer that copies to and from host vectors,
// a guard that resets the emulator's error state and seed around a test, and the source
// location of a "// @tag" line in tests/emu/test_kernels.cu, as reports print it.
#pragma once

#include "emu/emu.h"

#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace fovea::emu_test {

template <typename T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t count) : count_(count) {
    REQUIRE(cudaMalloc(&data_, count * sizeof(T)) == cudaSuccess);
    REQUIRE(cudaMemset(data_, 0, count * sizeof(T)) == cudaSuccess);
  }
  explicit DeviceBuffer(const std::vector<T>& values) : DeviceBuffer(values.size()) { upload(values); }
  ~DeviceBuffer() { cudaFree(data_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return data_; }
  void upload(const std::vector<T>& values) {
    REQUIRE(values.size() == count_);
    REQUIRE(cudaMemcpy(data_, values.data(), count_ * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> download() const {
    std::vector<T> values(count_);
    REQUIRE(cudaMemcpy(values.data(), data_, count_ * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return values;
  }

 private:
  T* data_ = nullptr;
  std::size_t count_;
};

// Fixed seed and a clean error state for the test; the state is cleared again afterwards so
// that a deliberately failed launch does not poison the next test in the same process.
struct CleanEmulator {
  explicit CleanEmulator(std::uint64_t seed = 1) {
    fovea::emu::clear_error();
    fovea::emu::set_seed(seed);
  }
  ~CleanEmulator() { fovea::emu::clear_error(); }
};

inline std::string source_dir() {
  const char* dir = std::getenv("FOVEA_SOURCE_DIR");
  return dir != nullptr ? std::string(dir) + "/" : std::string();
}

// "tests/emu/test_kernels.cu:<line>" of the line carrying "// @<tag>".
inline std::string kernel_site(const std::string& tag) {
  const std::string file = "tests/emu/test_kernels.cu";
  std::ifstream in(source_dir() + file);
  REQUIRE_MESSAGE(in.good(), "cannot read " << source_dir() + file << " (set FOVEA_SOURCE_DIR to the repository)");
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const auto at = line.find("// @" + tag);
    if (at != std::string::npos && line.size() == at + 4 + tag.size()) return file + ":" + std::to_string(number);
  }
  FAIL("no line tagged // @" << tag << " in " << file);
  return {};
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace fovea::emu_test
