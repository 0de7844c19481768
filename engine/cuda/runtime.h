// The CUDA backend's host side: device discovery, the error macro, the caching device
// allocator, the current stream, copies between host and device, and pinned host memory.
// Built only when FOVEA_CUDA is on (a real GPU through cudart) or emu (the SIMT emulator
// serves the same runtime API on the CPU).
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "engine/allocator.h"
#include "engine/error.h"

namespace fovea::cuda {

// True when a device can run kernels: cudaGetDeviceCount succeeded with n > 0. Without one
// the backend says so once on stderr and never touches the runtime again.
bool available();
int device_count();
std::string unavailable_reason();
std::string device_name(int index);
bool emulated();  // the device is the SIMT emulator
// Peak DRAM bandwidth in GB/s (1e9 bytes/s) of a double-data-rate memory clocked at
// memory_clock_khz with a bus_width_bits wide interface (nvbench's formula).
double peak_bandwidth_gbps(int64_t memory_clock_khz, int64_t bus_width_bits);
// The peak of device `index` from its memory clock and bus width; 0 on the emulator, whose
// "device memory" is the host's and has no such figure.
double device_peak_bandwidth_gbps(int index);
// Throws fovea::Error naming `op` unless device `index` exists.
void require_device(int index, const char* op);

[[noreturn]] void throw_error(cudaError_t status, const char* expression, const char* file, int line);

// Caching allocator, stream-aware as PyTorch's: a block belongs to the stream current at its
// allocation, and once freed it is handed out again only to allocations of its size class on
// that device and stream, whose stream order puts the new owner's work after the old one's.
// A block that other streams use must be named to record_stream: freeing it then records an
// event on each of them, and it is handed out again only once these events have completed.
// Freed and pending blocks count as cached bytes.
void* allocate(int64_t nbytes, int device);
void release(void* ptr, int64_t nbytes, int device);
// Declares that work queued on `stream` uses the live block holding `ptr` (any address inside
// it, e.g. Tensor::raw_data()), as torch's Tensor.record_stream. Throws fovea::Error when ptr
// is not inside a live device allocation.
void record_stream(const void* ptr, cudaStream_t stream);
// Waits for the devices' work, then returns every cached block to the device.
void empty_cache();
AllocatorStats allocator_stats(int device);

// Page-locked host memory for asynchronous copies.
void* allocate_pinned(int64_t nbytes);
void release_pinned(void* ptr);

// The stream every op of this thread enqueues on (the legacy default stream unless set).
cudaStream_t current_stream();
void set_current_stream(cudaStream_t stream);
void synchronize();

// Byte copies; `kind` as in cudaMemcpy. copy_bytes waits for the copy; copy_bytes_async
// only enqueues it on the current stream (from pinned host memory it overlaps with work).
void copy_bytes(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind);
void copy_bytes_async(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind);

// An owned non-blocking stream. Destroying it waits for its work; the allocator's blocks of
// this stream then belong to the legacy default stream.
class Stream {
 public:
  Stream();
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  cudaStream_t get() const { return stream_; }
  void synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

// Makes a stream this thread's current stream until the guard goes out of scope.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t stream) : previous_(current_stream()) { set_current_stream(stream); }
  ~StreamGuard() { set_current_stream(previous_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t previous_;
};

// An owned event, recorded on the current stream by default; Timing::off makes a lighter
// event for synchronisation only.
class Event {
 public:
  enum class Timing : bool { off, on };
  explicit Event(Timing timing = Timing::on);
  ~Event();
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  void record();
  void record(cudaStream_t stream);
  void synchronize() const;
  // Makes `stream` wait, on the device and without blocking the host, for the work this
  // event last recorded.
  void make_wait(cudaStream_t stream) const;
  // Milliseconds from `start` to this event; both must have completed.
  float elapsed_ms_since(const Event& start) const;

 private:
  cudaEvent_t event_ = nullptr;
};

}  // namespace fovea::cuda

#define FOVEA_CUDA_CHECK(expression)                                                 \
  do {                                                                               \
    const cudaError_t fovea_cuda_status = (expression);                              \
    if (fovea_cuda_status != cudaSuccess) [[unlikely]]                               \
      ::fovea::cuda::throw_error(fovea_cuda_status, #expression, __FILE__, __LINE__); \
  } while (0)
