// Device discovery, error reporting, the caching device allocator, streams, copies and
// pinned memory of the CUDA backend.
#include "engine/cuda/runtime.h"

#include <cstdio>
#include <map>
#include <mutex>
#include <vector>

#include "fovea/build_config.h"

namespace fovea::cuda {
namespace {

struct Discovery {
  int count = 0;
  std::string reason;
};

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery result;
    int n = 0;
    const cudaError_t status = cudaGetDeviceCount(&n);
    if (status != cudaSuccess || n <= 0) {
      result.reason = status != cudaSuccess
                          ? std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status) + " (" +
                                std::to_string(static_cast<int>(status)) + ")"
                          : "cudaGetDeviceCount found no device";
      std::fprintf(stderr, "fovea: no CUDA device: %s; running on the CPU only\n", result.reason.c_str());
      return result;
    }
    result.count = n;
    return result;
  }();
  return d;
}

// 512-byte granularity below 1 MiB, as cudaMalloc's own alignment.
int64_t size_class(int64_t nbytes) { return allocation_size_class(nbytes, 512); }

struct DevicePool {
  std::map<int64_t, std::vector<void*>> free_blocks;
  AllocatorStats stats;
};

std::mutex pool_mutex;
std::map<int, DevicePool>& pools() {
  static auto* p = new std::map<int, DevicePool>();  // outlives static tensors at exit
  return *p;
}

thread_local cudaStream_t stream = nullptr;

}  // namespace

bool available() { return discovery().count > 0; }
int device_count() { return discovery().count; }
std::string unavailable_reason() { return discovery().reason; }
bool emulated() { return std::string(FOVEA_CUDA_MODE) == "emu"; }

std::string device_name(int index) {
  require_device(index, "device_name");
  cudaDeviceProp prop{};
  FOVEA_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
  return prop.name;
}

double peak_bandwidth_gbps(int64_t memory_clock_khz, int64_t bus_width_bits) {
  return 2.0 * static_cast<double>(memory_clock_khz) * 1e3 * static_cast<double>(bus_width_bits) / 8.0 / 1e9;
}

double device_peak_bandwidth_gbps(int index) {
  require_device(index, "device_peak_bandwidth_gbps");
  if (emulated()) return 0.0;
  int clock_khz = 0, bus_bits = 0;
  FOVEA_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, index));
  FOVEA_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, index));
  return peak_bandwidth_gbps(clock_khz, bus_bits);
}

void require_device(int index, const char* op) {
  FOVEA_CHECK(available(), op, "no CUDA device: ", unavailable_reason(), "; use --device cpu");
  FOVEA_CHECK(index >= 0 && index < device_count(), op, "device cuda:", index, " does not exist (",
              device_count(), " device(s) found)");
}

void throw_error(cudaError_t status, const char* expression, const char* file, int line) {
  throw Error("cuda", std::string(expression) + " failed with " + cudaGetErrorName(status) + ": " +
                          cudaGetErrorString(status),
              file, line);
}

void* allocate(int64_t nbytes, int device) {
  require_device(device, "cuda allocate");
  const int64_t rounded = size_class(nbytes);
  {
    std::lock_guard lock(pool_mutex);
    DevicePool& pool = pools()[device];
    pool.stats.allocations++;
    auto it = pool.free_blocks.find(rounded);
    if (it != pool.free_blocks.end() && !it->second.empty()) {
      void* ptr = it->second.back();
      it->second.pop_back();
      pool.stats.cached_bytes -= rounded;
      pool.stats.cache_hits++;
      pool.stats.current_bytes += rounded;
      pool.stats.peak_bytes = std::max(pool.stats.peak_bytes, pool.stats.current_bytes);
      return ptr;
    }
  }
  FOVEA_CUDA_CHECK(cudaSetDevice(device));
  void* ptr = nullptr;
  cudaError_t status = cudaMalloc(&ptr, static_cast<size_t>(rounded));
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    empty_cache();
    status = cudaMalloc(&ptr, static_cast<size_t>(rounded));
  }
  FOVEA_CHECK(status == cudaSuccess, "cuda allocate", "cudaMalloc of ", nbytes, " bytes on cuda:", device,
              " failed (", cudaGetErrorString(status), "); reduce the batch size");
  std::lock_guard lock(pool_mutex);
  DevicePool& pool = pools()[device];
  pool.stats.current_bytes += rounded;
  pool.stats.peak_bytes = std::max(pool.stats.peak_bytes, pool.stats.current_bytes);
  return ptr;
}

void release(void* ptr, int64_t nbytes, int device) {
  if (!ptr) return;
  std::lock_guard lock(pool_mutex);
  DevicePool& pool = pools()[device];
  const int64_t rounded = size_class(nbytes);
  pool.stats.current_bytes -= rounded;
  pool.stats.cached_bytes += rounded;
  pool.free_blocks[rounded].push_back(ptr);
}

void empty_cache() {
  std::lock_guard lock(pool_mutex);
  for (auto& [device, pool] : pools()) {
    cudaSetDevice(device);
    for (auto& [size, blocks] : pool.free_blocks)
      for (void* ptr : blocks) cudaFree(ptr);
    pool.free_blocks.clear();
    pool.stats.cached_bytes = 0;
  }
}

AllocatorStats allocator_stats(int device) {
  std::lock_guard lock(pool_mutex);
  return pools()[device].stats;
}

void* allocate_pinned(int64_t nbytes) {
  require_device(0, "pinned allocate");
  void* ptr = nullptr;
  FOVEA_CUDA_CHECK(cudaHostAlloc(&ptr, static_cast<size_t>(nbytes > 0 ? nbytes : 1), cudaHostAllocDefault));
  return ptr;
}

void release_pinned(void* ptr) {
  if (ptr) cudaFreeHost(ptr);
}

cudaStream_t current_stream() { return stream; }
void set_current_stream(cudaStream_t s) { stream = s; }
void synchronize() { FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream)); }

void copy_bytes(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind) {
  copy_bytes_async(dst, src, nbytes, kind);
  FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void copy_bytes_async(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind) {
  if (nbytes == 0) return;
  FOVEA_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(nbytes), kind, stream));
}

Stream::Stream() {
  require_device(0, "Stream");
  FOVEA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}
Stream::~Stream() {
  if (stream_) cudaStreamDestroy(stream_);
}
void Stream::synchronize() const { FOVEA_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

Event::Event(Timing timing) {
  require_device(0, "Event");
  FOVEA_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing == Timing::on ? cudaEventDefault : cudaEventDisableTiming));
}
Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}
void Event::record() { record(current_stream()); }
void Event::record(cudaStream_t s) { FOVEA_CUDA_CHECK(cudaEventRecord(event_, s)); }
void Event::synchronize() const { FOVEA_CUDA_CHECK(cudaEventSynchronize(event_)); }
void Event::make_wait(cudaStream_t stream) const { FOVEA_CUDA_CHECK(cudaStreamWaitEvent(stream, event_, 0)); }
float Event::elapsed_ms_since(const Event& start) const {
  float ms = 0;
  FOVEA_CUDA_CHECK(cudaEventElapsedTime(&ms, start.event_, event_));
  return ms;
}

}  // namespace fovea::cuda
