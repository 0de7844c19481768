// Storage: a reference-counted block of device or host memory shared by a tensor and all
// of its views, with the version counter that autograd uses to detect in-place changes to
// tensors saved for backward.
#pragma once
#include <cstdint>
#include <memory>

#include "engine/device.h"

namespace fovea {

class Storage {
 public:
  Storage(int64_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  int64_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  int64_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace fovea
