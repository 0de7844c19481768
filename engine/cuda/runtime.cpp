// Device discovery, error reporting, the stream-aware caching device allocator (after
// PyTorch's CUDACachingAllocator), streams, copies and pinned memory of the CUDA backend.
#include "engine/cuda/runtime.h"

#include <algorithm>
#include <cstdio>
#include <iterator>
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

// A block handed out: its size class, the stream current at its allocation, and the other
// streams named to record_stream.
struct Block {
  int64_t size = 0;
  cudaStream_t stream = nullptr;
  std::vector<cudaStream_t> used_on;
};

// A freed block that other streams used, waiting for the events recorded on them.
struct PendingBlock {
  void* ptr = nullptr;
  int64_t size = 0;
  cudaStream_t stream = nullptr;
  std::vector<cudaEvent_t> events;
};

struct DevicePool {
  std::map<cudaStream_t, std::map<int64_t, std::vector<void*>>> free_blocks;  // by allocation stream
  std::vector<PendingBlock> pending;
  std::vector<cudaEvent_t> idle_events;
  AllocatorStats stats;
};

std::mutex pool_mutex;
std::map<int, DevicePool>& pools() {
  static auto* p = new std::map<int, DevicePool>();  // outlives static tensors at exit
  return *p;
}
std::map<uintptr_t, Block>& live_blocks() {  // by start address
  static auto* b = new std::map<uintptr_t, Block>();
  return *b;
}

thread_local cudaStream_t thread_stream = nullptr;

// Records an event on `stream` into `events`. Called while a block is freed, so it cannot
// throw: when no event can be recorded it waits for the device instead.
void record_use(DevicePool& pool, int device, cudaStream_t stream, std::vector<cudaEvent_t>& events) {
  cudaEvent_t event = nullptr;
  if (!pool.idle_events.empty()) {
    event = pool.idle_events.back();
    pool.idle_events.pop_back();
  } else if (cudaSetDevice(device) != cudaSuccess ||
             cudaEventCreateWithFlags(&event, cudaEventDisableTiming) != cudaSuccess) {
    cudaDeviceSynchronize();
    return;
  }
  if (cudaEventRecord(event, stream) != cudaSuccess) {
    pool.idle_events.push_back(event);
    cudaDeviceSynchronize();
    return;
  }
  events.push_back(event);
}

// Moves the pending blocks whose events have all completed to their stream's free blocks.
void collect_pending(DevicePool& pool) {
  std::erase_if(pool.pending, [&pool](PendingBlock& block) {
    while (!block.events.empty()) {
      const cudaError_t status = cudaEventQuery(block.events.back());
      if (status != cudaSuccess) {
        if (status == cudaErrorNotReady) cudaGetLastError();
        return false;
      }
      pool.idle_events.push_back(block.events.back());
      block.events.pop_back();
    }
    pool.free_blocks[block.stream][block.size].push_back(block.ptr);
    return true;
  });
}

// After `stream` finished its work and before it is destroyed: no block waits for it any
// more, and its blocks belong to the legacy default stream, so that a stream created later
// with the same handle does not inherit them.
void forget_stream(cudaStream_t stream) {
  std::lock_guard lock(pool_mutex);
  for (auto& [address, block] : live_blocks()) {
    if (block.stream == stream) block.stream = nullptr;
    std::erase(block.used_on, stream);
  }
  for (auto& [device, pool] : pools()) {
    for (PendingBlock& block : pool.pending)
      if (block.stream == stream) block.stream = nullptr;
    const auto it = pool.free_blocks.find(stream);
    if (it == pool.free_blocks.end()) continue;
    auto& legacy = pool.free_blocks[nullptr];
    for (auto& [size, blocks] : it->second) legacy[size].insert(legacy[size].end(), blocks.begin(), blocks.end());
    pool.free_blocks.erase(it);
  }
}

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
  const cudaStream_t stream = current_stream();
  {
    std::lock_guard lock(pool_mutex);
    DevicePool& pool = pools()[device];
    pool.stats.allocations++;
    collect_pending(pool);
    const auto on_stream = pool.free_blocks.find(stream);
    if (on_stream != pool.free_blocks.end()) {
      const auto it = on_stream->second.find(rounded);
      if (it != on_stream->second.end() && !it->second.empty()) {
        void* ptr = it->second.back();
        it->second.pop_back();
        live_blocks()[reinterpret_cast<uintptr_t>(ptr)] = Block{rounded, stream, {}};
        pool.stats.cached_bytes -= rounded;
        pool.stats.cache_hits++;
        pool.stats.current_bytes += rounded;
        pool.stats.peak_bytes = std::max(pool.stats.peak_bytes, pool.stats.current_bytes);
        return ptr;
      }
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
  live_blocks()[reinterpret_cast<uintptr_t>(ptr)] = Block{rounded, stream, {}};
  DevicePool& pool = pools()[device];
  pool.stats.current_bytes += rounded;
  pool.stats.peak_bytes = std::max(pool.stats.peak_bytes, pool.stats.current_bytes);
  return ptr;
}

void release(void* ptr, int64_t nbytes, int device) {
  if (!ptr) return;
  std::lock_guard lock(pool_mutex);
  auto node = live_blocks().extract(reinterpret_cast<uintptr_t>(ptr));
  FOVEA_CHECK(!node.empty(), "cuda release", "pointer ", ptr,
              " is not the start of a live block of the caching allocator (freed twice?)");
  const Block& block = node.mapped();
  DevicePool& pool = pools()[device];
  const int64_t rounded = size_class(nbytes);
  pool.stats.current_bytes -= rounded;
  pool.stats.cached_bytes += rounded;
  if (block.used_on.empty()) {
    pool.free_blocks[block.stream][rounded].push_back(ptr);
    return;
  }
  PendingBlock pending{ptr, rounded, block.stream, {}};
  for (cudaStream_t stream : block.used_on) record_use(pool, device, stream, pending.events);
  pool.pending.push_back(std::move(pending));
}

void record_stream(const void* ptr, cudaStream_t stream) {
  const auto address = reinterpret_cast<uintptr_t>(ptr);
  std::lock_guard lock(pool_mutex);
  const auto after = live_blocks().upper_bound(address);
  const auto holder = after == live_blocks().begin() ? live_blocks().end() : std::prev(after);
  FOVEA_CHECK(ptr != nullptr && holder != live_blocks().end() && address < holder->first + holder->second.size,
              "record_stream", "pointer ", ptr,
              " is not inside a live CUDA allocation; pass the data of a CUDA tensor that is still alive");
  Block& block = holder->second;
  if (stream != block.stream && std::find(block.used_on.begin(), block.used_on.end(), stream) == block.used_on.end())
    block.used_on.push_back(stream);
}

void empty_cache() {
  std::lock_guard lock(pool_mutex);
  for (auto& [device, pool] : pools()) {
    if (pool.stats.cached_bytes == 0) continue;
    cudaSetDevice(device);
    cudaDeviceSynchronize();  // the last users' queued work and the pending blocks' events
    for (PendingBlock& block : pool.pending) {
      pool.idle_events.insert(pool.idle_events.end(), block.events.begin(), block.events.end());
      cudaFree(block.ptr);
    }
    pool.pending.clear();
    for (auto& [stream, sizes] : pool.free_blocks)
      for (auto& [size, blocks] : sizes)
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

cudaStream_t current_stream() { return thread_stream; }
void set_current_stream(cudaStream_t s) { thread_stream = s; }
void synchronize() { FOVEA_CUDA_CHECK(cudaStreamSynchronize(thread_stream)); }

void copy_bytes(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind) {
  copy_bytes_async(dst, src, nbytes, kind);
  FOVEA_CUDA_CHECK(cudaStreamSynchronize(thread_stream));
}

void copy_bytes_async(void* dst, const void* src, int64_t nbytes, cudaMemcpyKind kind) {
  if (nbytes == 0) return;
  FOVEA_CUDA_CHECK(cudaMemcpyAsync(dst, src, static_cast<size_t>(nbytes), kind, thread_stream));
}

Stream::Stream() {
  require_device(0, "Stream");
  FOVEA_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
}
Stream::~Stream() {
  if (!stream_) return;
  cudaStreamSynchronize(stream_);
  forget_stream(stream_);
  cudaStreamDestroy(stream_);
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
