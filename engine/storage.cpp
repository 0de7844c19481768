// Storage allocation through the device's caching allocator.
#include "engine/storage.h"

#include "engine/allocator.h"
#include "engine/error.h"
#include "fovea/build_config.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace fovea {

Storage::Storage(int64_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  FOVEA_CHECK(nbytes >= 0, "storage", "negative size ", nbytes);
  if (device.is_cpu()) {
    data_ = HostAllocator::instance().allocate(nbytes);
    return;
  }
#if FOVEA_HAS_CUDA
  data_ = cuda::allocate(nbytes, device.index);
#else
  FOVEA_FAIL("storage", "device ", device.str(),
             " is not available: this build has no CUDA backend (configure with FOVEA_CUDA=on or emu)");
#endif
}

Storage::~Storage() {
  if (device_.is_cpu()) {
    HostAllocator::instance().release(data_, nbytes_);
    return;
  }
#if FOVEA_HAS_CUDA
  cuda::release(data_, nbytes_, device_.index);
#endif
}

}  // namespace fovea
