// Storage allocation through the device's allocator.
#include "engine/storage.h"

#include "engine/allocator.h"
#include "engine/error.h"

namespace fovea {

Storage::Storage(int64_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  FOVEA_CHECK(nbytes >= 0, "storage", "negative size ", nbytes);
  FOVEA_CHECK(device.is_cpu(), "storage", "device ", device.str(),
              " is not available: this build has no CUDA backend (configure with FOVEA_CUDA=on or emu)");
  data_ = HostAllocator::instance().allocate(nbytes);
}

Storage::~Storage() { HostAllocator::instance().release(data_, nbytes_); }

}  // namespace fovea
