// The CUDA runtime API of the emulated device, implemented on the host: memory (device and
// pinned allocations are tracked so copies in the wrong direction fail as on a GPU), streams and
// events, error state with sticky launch failures, the emulated device's properties, and the
// fovea::emu controls and launch counts.
//
// Streams order work as a GPU does. Work on the legacy default stream (0, cudaStreamLegacy,
// cudaStreamPerThread), synchronous copies and memsets included, runs at the call, after the
// pending work of every blocking stream. Work on a created stream (launches, async copies and
// memsets, gemms of a cuBLAS handle bound to it, event records, waits) is validated at the call
// and queued; it runs, in order, only when something synchronises with it: a stream, event or
// device synchronisation or query, cudaStreamDestroy, cudaFree/cudaFreeHost, legacy-stream work
// (blocking streams only), or a queued cudaStreamWaitEvent of another stream that runs. A fault
// in queued work becomes the sticky error of the next call. One execution lock serialises all
// device work, so results do not depend on which host thread synchronised.
#include "emu/emu.h"
#include "emu/internal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <set>
#include <thread>

namespace fovea::emu::detail {

using Clock = std::chrono::steady_clock;

// A cudaEventRecord on a created stream: complete once the stream's first `position` items ran.
struct Marker {
  cudaStream_t stream = nullptr;
  std::uint64_t position = 0;
  bool done = false;
  Clock::time_point when;
};

struct Queued {
  Work work;
  bool device_work = true;  // skipped while a sticky error poisons the device
};

}  // namespace fovea::emu::detail

struct CUstream_st {
  unsigned flags = 0;
  std::deque<fovea::emu::detail::Queued> queue;
  std::uint64_t submitted = 0, completed = 0;  // items ever queued, and run
};

struct CUevent_st {
  unsigned flags = 0;
  std::shared_ptr<fovea::emu::detail::Marker> marker;  // the latest record; null before the first
};

namespace fovea::emu::detail {
namespace {

constexpr std::uint64_t default_seed = 0x5eed'f0ea'0000'0001ull;

std::uint64_t seed_from_environment() {
  const char* text = std::getenv("FOVEA_EMU_SEED");
  return text != nullptr ? std::strtoull(text, nullptr, 0) : default_seed;
}

int workers_from_environment() {
  const char* text = std::getenv("FOVEA_EMU_WORKERS");
  if (text != nullptr && std::atoi(text) > 0) return std::atoi(text);
  return std::max(1u, std::thread::hardware_concurrency());
}

std::size_t stack_bytes_from_environment() {
  const char* text = std::getenv("FOVEA_EMU_STACK_KB");
  if (text != nullptr && std::atol(text) > 0) return static_cast<std::size_t>(std::atol(text)) * 1024;
#if defined(__SANITIZE_ADDRESS__)
  return 256 * 1024;
#else
  return 64 * 1024;
#endif
}

struct DeviceState {
  std::recursive_mutex mutex;  // recursive: error paths record while holding it
  cudaError_t sticky = cudaSuccess;
  cudaError_t last = cudaSuccess;
  std::string report;
  std::uint64_t seed = seed_from_environment();
  std::uint64_t launch_sequence = 0;
  int workers = workers_from_environment();
  std::size_t stack_bytes = stack_bytes_from_environment();
  std::map<std::string, std::uint64_t> launches;
  std::map<std::uintptr_t, std::size_t> device_allocations;
  std::map<std::uintptr_t, std::size_t> host_allocations;
  std::size_t device_bytes = 0;
  std::vector<cudaStream_t> streams;  // live created streams, in creation order
  std::set<cudaEvent_t> events;
  std::map<const void*, std::size_t> dynamic_shared_limits;

  ~DeviceState() { write_launch_counts(); }

  // Appends "<count>\t<kernel>" lines to the launch-count file that the emu/coverage test reads.
  void write_launch_counts() const {
    if (launches.empty()) return;
    const char* path = std::getenv("FOVEA_EMU_LAUNCH_COUNTS");
#if defined(FOVEA_EMU_LAUNCH_COUNTS_FILE)
    if (path == nullptr) path = FOVEA_EMU_LAUNCH_COUNTS_FILE;
#endif
    if (path == nullptr || *path == '\0') return;
    std::string lines;
    for (const auto& [name, count] : launches) lines += std::to_string(count) + "\t" + name + "\n";
    const int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;
    const ssize_t written = write(fd, lines.data(), lines.size());
    (void)written;
    close(fd);
  }
};

DeviceState& state() {
  static DeviceState device;
  return device;
}

// A device allocation containing [pointer, pointer + bytes), or nullptr.
const std::pair<const std::uintptr_t, std::size_t>* find_allocation(const std::map<std::uintptr_t, std::size_t>& allocations,
                                                                    const void* pointer, std::size_t bytes) {
  const auto address = reinterpret_cast<std::uintptr_t>(pointer);
  auto it = allocations.upper_bound(address);
  if (it == allocations.begin()) return nullptr;
  --it;
  if (address + bytes > it->first + it->second) return nullptr;
  return &*it;
}

bool is_device_pointer(const void* pointer) {
  return find_allocation(state().device_allocations, pointer, 1) != nullptr;
}

// Host memory outside the cudaMallocHost/cudaHostAlloc and cudaMalloc allocations.
bool is_pageable(const void* pointer, std::size_t bytes) {
  std::lock_guard lock(state().mutex);
  return find_allocation(state().host_allocations, pointer, bytes) == nullptr && !is_device_pointer(pointer);
}

cudaError_t invalid(const std::string& report) { return record_error(cudaErrorInvalidValue, "fovea emu: " + report, false); }

const char* kind_name(cudaMemcpyKind kind) {
  switch (kind) {
    case cudaMemcpyHostToHost: return "cudaMemcpyHostToHost";
    case cudaMemcpyHostToDevice: return "cudaMemcpyHostToDevice";
    case cudaMemcpyDeviceToHost: return "cudaMemcpyDeviceToHost";
    case cudaMemcpyDeviceToDevice: return "cudaMemcpyDeviceToDevice";
    case cudaMemcpyDefault: return "cudaMemcpyDefault";
  }
  return "an unknown cudaMemcpyKind";
}

// Checks one side of a copy: device memory must lie inside one cudaMalloc allocation; host
// memory must not be device memory.
cudaError_t check_side(const char* api, const char* side, const void* pointer, std::size_t bytes, bool on_device,
                       cudaMemcpyKind kind) {
  std::lock_guard lock(state().mutex);
  if (on_device) {
    if (find_allocation(state().device_allocations, pointer, bytes) != nullptr) return cudaSuccess;
    char text[64];
    std::snprintf(text, sizeof text, "%p", pointer);
    return invalid(std::string(api) + ": the " + side + " " + text + " (+" + std::to_string(bytes) +
                   " bytes) is not inside a cudaMalloc allocation, but " + kind_name(kind) +
                   " says it is device memory. Check the copy direction and the size.");
  }
  if (!is_device_pointer(pointer)) return cudaSuccess;
  return invalid(std::string(api) + ": the " + side + " is device memory, but " + kind_name(kind) +
                 " says it is host memory. Swap the kind or the pointers.");
}

cudaError_t check_copy(const char* api, void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return invalid(std::string(api) + ": null pointer");
  if (kind == cudaMemcpyDefault) return cudaSuccess;
  if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault)
    return record_error(cudaErrorInvalidMemcpyDirection, std::string("fovea emu: ") + api + ": invalid cudaMemcpyKind", false);
  const bool src_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  const bool dst_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  if (const cudaError_t e = check_side(api, "source", src, bytes, src_device, kind)) return e;
  return check_side(api, "destination", dst, bytes, dst_device, kind);
}

}  // namespace

void record_report(const std::string& report) {
  std::lock_guard lock(state().mutex);
  std::fprintf(stderr, "%s\n", report.c_str());
  state().report = report;
}

bool is_device_range(const void* pointer, std::size_t bytes) {
  std::lock_guard lock(state().mutex);
  return find_allocation(state().device_allocations, pointer, bytes) != nullptr;
}

cudaError_t record_error(cudaError_t code, const std::string& report, bool sticky) {
  DeviceState& device = state();
  std::lock_guard lock(device.mutex);
  if (!report.empty()) record_report(report);
  device.last = code;
  if (sticky) device.sticky = code;
  return code;
}

cudaError_t sticky_error() {
  std::lock_guard lock(state().mutex);
  return state().sticky;
}

std::size_t max_dynamic_shared_bytes(const void* kernel) {
  std::lock_guard lock(state().mutex);
  const auto it = state().dynamic_shared_limits.find(kernel);
  return it != state().dynamic_shared_limits.end() ? it->second : default_shared_bytes_per_block;
}

std::uint64_t next_launch_seed() {
  std::lock_guard lock(state().mutex);
  std::uint64_t mixed = state().seed + 0x9e3779b97f4a7c15ull * ++state().launch_sequence;
  mixed = (mixed ^ (mixed >> 30)) * 0xbf58476d1ce4e5b9ull;
  mixed = (mixed ^ (mixed >> 27)) * 0x94d049bb133111ebull;
  return mixed ^ (mixed >> 31);
}

void count_launch(const std::string& kernel_name) {
  std::lock_guard lock(state().mutex);
  ++state().launches[kernel_name];
}

bool is_legacy_stream(cudaStream_t stream) {
  return stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread;
}

namespace {

// A live created stream; the caller holds DeviceState::mutex.
bool is_created_stream(cudaStream_t stream) {
  return std::find(state().streams.begin(), state().streams.end(), stream) != state().streams.end();
}

// Held while device work runs; recursive because a queued cudaStreamWaitEvent runs the work of
// another stream. Taken before DeviceState::mutex, never after it.
std::recursive_mutex& execution() {
  static std::recursive_mutex mutex;
  return mutex;
}

// Runs the queued items of `stream`, in order, until `position` of them have run. The
// execution lock is held, so the stream stays live.
void run_until(cudaStream_t stream, std::uint64_t position) {
  while (true) {
    Queued item;
    {
      std::lock_guard lock(state().mutex);
      if (stream->completed >= position || stream->queue.empty()) return;
      item = std::move(stream->queue.front());
      stream->queue.pop_front();
    }
    if (!item.device_work || sticky_error() == cudaSuccess) item.work();
    std::lock_guard lock(state().mutex);
    ++stream->completed;
  }
}

// Runs what is queued now on every created stream, or on the blocking ones only (the work the
// legacy stream waits for), stream by stream in creation order. The execution lock is held.
void run_queued(bool blocking_only) {
  std::vector<std::pair<cudaStream_t, std::uint64_t>> pending;
  {
    std::lock_guard lock(state().mutex);
    for (cudaStream_t stream : state().streams)
      if (stream->submitted > stream->completed && (!blocking_only || (stream->flags & cudaStreamNonBlocking) == 0))
        pending.emplace_back(stream, stream->submitted);
  }
  for (const auto& [stream, position] : pending) run_until(stream, position);
}

// Runs the work up to `marker` unless it has run.
void complete(const std::shared_ptr<Marker>& marker) {
  std::lock_guard run(execution());
  cudaStream_t stream = nullptr;
  std::uint64_t position = 0;
  {
    std::lock_guard lock(state().mutex);
    if (marker->done) return;
    stream = marker->stream;
    position = marker->position;
  }
  run_until(stream, position);
}

void synchronize_device() {
  std::lock_guard run(execution());
  run_queued(false);
}

// Queues `item` behind the work of the created stream `stream`.
cudaError_t enqueue(const char* api, cudaStream_t stream, Queued item) {
  std::lock_guard lock(state().mutex);
  if (!is_created_stream(stream))
    return record_error(cudaErrorInvalidResourceHandle,
                        std::string("fovea emu: ") + api + ": the stream was destroyed or never created", false);
  stream->queue.push_back(std::move(item));
  ++stream->submitted;
  return cudaSuccess;
}

}  // namespace

bool is_live_stream(cudaStream_t stream) {
  if (is_legacy_stream(stream)) return true;
  std::lock_guard lock(state().mutex);
  return is_created_stream(stream);
}

cudaError_t submit(const char* api, cudaStream_t stream, Work work) {
  if (!is_legacy_stream(stream)) return enqueue(api, stream, Queued{std::move(work), true});
  std::lock_guard run(execution());
  run_queued(true);
  if (const cudaError_t sticky = sticky_error()) return sticky;
  return work();
}

std::size_t configured_stack_bytes() {
  std::lock_guard lock(state().mutex);
  return state().stack_bytes;
}

int configured_workers() {
  std::lock_guard lock(state().mutex);
  return state().workers;
}

}  // namespace fovea::emu::detail

// ---- fovea::emu ----

namespace fovea::emu {

using detail::state;

void set_seed(std::uint64_t seed) {
  std::lock_guard lock(state().mutex);
  state().seed = seed;
  state().launch_sequence = 0;
}

std::uint64_t seed() {
  std::lock_guard lock(state().mutex);
  return state().seed;
}

void set_workers(int count) {
  {
    std::lock_guard lock(state().mutex);
    state().workers = std::max(1, count);
  }
  detail::reset_worker_pool();
}

int workers() { return detail::configured_workers(); }

void set_stack_bytes(std::size_t bytes) {
  std::lock_guard lock(state().mutex);
  state().stack_bytes = std::max<std::size_t>(bytes, 16 * 1024);
}

std::size_t stack_bytes() { return detail::configured_stack_bytes(); }

std::string last_report() {
  std::lock_guard lock(state().mutex);
  return state().report;
}

void clear_error() {
  std::lock_guard lock(state().mutex);
  state().sticky = cudaSuccess;
  state().last = cudaSuccess;
  state().report.clear();
}

bool race_detector_enabled() {
#if defined(FOVEA_EMU_RACE_DETECTOR)
  return true;
#else
  return false;
#endif
}

std::vector<LaunchCount> launch_counts() {
  std::lock_guard lock(state().mutex);
  std::vector<LaunchCount> counts;
  for (const auto& [name, launches] : state().launches) counts.push_back({name, launches});
  return counts;
}

}  // namespace fovea::emu

// ---- The CUDA runtime API ----

using fovea::emu::detail::check_copy;
using fovea::emu::detail::invalid;
using fovea::emu::detail::record_error;
using fovea::emu::detail::is_legacy_stream;
using fovea::emu::detail::is_live_stream;
using fovea::emu::detail::state;
using fovea::emu::detail::sticky_error;
using fovea::emu::detail::submit;
using fovea::emu::detail::synchronize_device;

extern "C" {

cudaError_t cudaGetLastError(void) {
  std::lock_guard lock(state().mutex);
  const cudaError_t last = state().last;
  state().last = state().sticky;
  return last;
}

cudaError_t cudaPeekAtLastError(void) {
  std::lock_guard lock(state().mutex);
  return state().last;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidSymbol: return "cudaErrorInvalidSymbol";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInvalidDeviceFunction: return "cudaErrorInvalidDeviceFunction";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorIllegalInstruction: return "cudaErrorIllegalInstruction";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    default: return "cudaErrorUnknown";
  }
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidSymbol: return "invalid device symbol";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInvalidDeviceFunction: return "invalid device function";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources: return "too many resources requested for launch";
    case cudaErrorIllegalInstruction: return "an illegal instruction was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    default: return "unknown error";
  }
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return invalid("cudaDriverGetVersion: null pointer");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return invalid("cudaRuntimeGetVersion: null pointer");
  *version = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return invalid("cudaGetDeviceCount: null pointer");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return invalid("cudaGetDevice: null pointer");
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return record_error(cudaErrorInvalidDevice,
                        "fovea emu: cudaSetDevice(" + std::to_string(device) + "): the emulator has one device, 0", false);
  return sticky_error();
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return invalid("cudaGetDeviceProperties: null pointer");
  if (device != 0) return record_error(cudaErrorInvalidDevice, "fovea emu: the emulator has one device, 0", false);
  using namespace fovea::emu::detail;
  *prop = cudaDeviceProp{};
  const int worker_count = configured_workers();
  std::snprintf(prop->name, sizeof prop->name, "fovea SIMT emulator (CPU, %d workers, emulated sm_80 limits)", worker_count);
  const long pages = sysconf(_SC_PHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  prop->totalGlobalMem = static_cast<size_t>(pages) * static_cast<size_t>(page_bytes);
  prop->sharedMemPerBlock = default_shared_bytes_per_block;
  prop->sharedMemPerBlockOptin = max_shared_bytes_per_block_optin;
  prop->sharedMemPerMultiprocessor = 164 * 1024;
  prop->regsPerBlock = 65536;
  prop->regsPerMultiprocessor = 65536;
  prop->warpSize = 32;
  prop->memPitch = SIZE_MAX;
  prop->maxThreadsPerBlock = static_cast<int>(max_threads_per_block);
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->totalConstMem = 64 * 1024;
  prop->major = 8;
  prop->minor = 0;
  prop->multiProcessorCount = worker_count;
  prop->maxThreadsPerMultiProcessor = 2048;
  prop->maxBlocksPerMultiProcessor = 32;
  prop->l2CacheSize = 40 * 1024 * 1024;
  prop->unifiedAddressing = 1;
  prop->canMapHostMemory = 1;
  prop->concurrentKernels = 0;
  prop->asyncEngineCount = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attribute, int device) {
  if (value == nullptr) return invalid("cudaDeviceGetAttribute: null pointer");
  cudaDeviceProp prop;
  if (const cudaError_t e = cudaGetDeviceProperties(&prop, device)) return e;
  switch (attribute) {
    case cudaDevAttrMaxThreadsPerBlock: *value = prop.maxThreadsPerBlock; break;
    case cudaDevAttrMaxBlockDimX: *value = prop.maxThreadsDim[0]; break;
    case cudaDevAttrMaxBlockDimY: *value = prop.maxThreadsDim[1]; break;
    case cudaDevAttrMaxBlockDimZ: *value = prop.maxThreadsDim[2]; break;
    case cudaDevAttrMaxGridDimX: *value = prop.maxGridSize[0]; break;
    case cudaDevAttrMaxGridDimY: *value = prop.maxGridSize[1]; break;
    case cudaDevAttrMaxGridDimZ: *value = prop.maxGridSize[2]; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(prop.sharedMemPerBlock); break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = static_cast<int>(prop.sharedMemPerBlockOptin); break;
    case cudaDevAttrWarpSize: *value = prop.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = prop.multiProcessorCount; break;
    case cudaDevAttrComputeCapabilityMajor: *value = prop.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = prop.minor; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = prop.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrL2CacheSize: *value = prop.l2CacheSize; break;
    default:
      return invalid("cudaDeviceGetAttribute: attribute " + std::to_string(static_cast<int>(attribute)) +
                     " is not emulated; read it from cudaGetDeviceProperties or add it to kernels/emu/runtime.cpp");
  }
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  synchronize_device();
  return sticky_error();
}

cudaError_t cudaDeviceReset(void) {
  synchronize_device();
  fovea::emu::clear_error();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* func, cudaFuncAttribute attribute, int value) {
  if (func == nullptr) return record_error(cudaErrorInvalidDeviceFunction, "fovea emu: cudaFuncSetAttribute: null kernel", false);
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize) return cudaSuccess;
  if (value < 0 || static_cast<std::size_t>(value) > fovea::emu::detail::max_shared_bytes_per_block_optin)
    return invalid("cudaFuncSetAttribute: cudaFuncAttributeMaxDynamicSharedMemorySize " + std::to_string(value) +
                   " is outside [0, " + std::to_string(fovea::emu::detail::max_shared_bytes_per_block_optin) + "]");
  std::lock_guard lock(state().mutex);
  state().dynamic_shared_limits[func] = static_cast<std::size_t>(value);
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
  if (const cudaError_t e = sticky_error()) return e;
  if (pointer == nullptr) return invalid("cudaMalloc: null pointer");
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  void* memory = nullptr;
  if (posix_memalign(&memory, 256, bytes) != 0)
    return record_error(cudaErrorMemoryAllocation,
                        "fovea emu: cudaMalloc(" + std::to_string(bytes) + " bytes): host memory exhausted", false);
  std::lock_guard lock(state().mutex);
  state().device_allocations[reinterpret_cast<std::uintptr_t>(memory)] = bytes;
  state().device_bytes += bytes;
  *pointer = memory;
  return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  synchronize_device();
  {
    std::lock_guard lock(state().mutex);
    const auto it = state().device_allocations.find(reinterpret_cast<std::uintptr_t>(pointer));
    if (it == state().device_allocations.end()) {
      char text[32];
      std::snprintf(text, sizeof text, "%p", pointer);
      return record_error(cudaErrorInvalidValue,
                          std::string("fovea emu: cudaFree(") + text +
                              "): not the start of a live cudaMalloc allocation (double free, or host memory?)",
                          false);
    }
    state().device_bytes -= it->second;
    state().device_allocations.erase(it);
  }
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** pointer, size_t bytes, unsigned int) {
  if (pointer == nullptr) return invalid("cudaHostAlloc: null pointer");
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  void* memory = nullptr;
  if (posix_memalign(&memory, 256, bytes) != 0)
    return record_error(cudaErrorMemoryAllocation,
                        "fovea emu: cudaHostAlloc(" + std::to_string(bytes) + " bytes): host memory exhausted", false);
  std::lock_guard lock(state().mutex);
  state().host_allocations[reinterpret_cast<std::uintptr_t>(memory)] = bytes;
  *pointer = memory;
  return cudaSuccess;
}

cudaError_t cudaMallocHost(void** pointer, size_t bytes) { return cudaHostAlloc(pointer, bytes, 0); }

cudaError_t cudaFreeHost(void* pointer) {
  if (pointer == nullptr) return cudaSuccess;
  synchronize_device();
  {
    std::lock_guard lock(state().mutex);
    if (state().host_allocations.erase(reinterpret_cast<std::uintptr_t>(pointer)) == 0)
      return invalid("cudaFreeHost: not a live cudaMallocHost/cudaHostAlloc allocation");
  }
  std::free(pointer);
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return invalid("cudaMemGetInfo: null pointer");
  const long pages = sysconf(_SC_PHYS_PAGES), available = sysconf(_SC_AVPHYS_PAGES), page_bytes = sysconf(_SC_PAGESIZE);
  *total_bytes = static_cast<size_t>(pages) * static_cast<size_t>(page_bytes);
  *free_bytes = static_cast<size_t>(available) * static_cast<size_t>(page_bytes);
  return sticky_error();
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind) {
  if (const cudaError_t e = sticky_error()) return e;
  if (const cudaError_t e = check_copy("cudaMemcpy", dst, src, bytes, kind)) return e;
  if (bytes == 0) return cudaSuccess;
  return submit("cudaMemcpy", nullptr, [=] {
    std::memmove(dst, src, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream) {
  if (!is_live_stream(stream))
    return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaMemcpyAsync: the stream is not live", false);
  if (const cudaError_t e = sticky_error()) return e;
  if (const cudaError_t e = check_copy("cudaMemcpyAsync", dst, src, bytes, kind)) return e;
  if (bytes == 0) return cudaSuccess;
  if (is_legacy_stream(stream) || !fovea::emu::detail::is_pageable(src, bytes))
    return submit("cudaMemcpyAsync", stream, [=] {
      std::memmove(dst, src, bytes);
      return cudaSuccess;
    });
  // The driver stages pageable host memory before the call returns; the copy itself waits.
  auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                             static_cast<const unsigned char*>(src) + bytes);
  return submit("cudaMemcpyAsync", stream, [=] {
    std::memcpy(dst, staged->data(), bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemset(void* pointer, int value, size_t bytes) { return cudaMemsetAsync(pointer, value, bytes, nullptr); }

cudaError_t cudaMemsetAsync(void* pointer, int value, size_t bytes, cudaStream_t stream) {
  if (!is_live_stream(stream))
    return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaMemsetAsync: the stream is not live", false);
  if (const cudaError_t e = sticky_error()) return e;
  if (bytes == 0) return cudaSuccess;
  if (!fovea::emu::detail::is_device_range(pointer, bytes))
    return invalid("cudaMemset: [pointer, pointer + " + std::to_string(bytes) +
                   ") is not inside a cudaMalloc allocation; check the pointer and the size");
  return submit("cudaMemsetAsync", stream, [=] {
    std::memset(pointer, value, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemcpyToSymbol(const void* symbol, const void* src, size_t bytes, size_t offset, cudaMemcpyKind kind) {
  if (const cudaError_t e = sticky_error()) return e;
  if (symbol == nullptr || src == nullptr) return invalid("cudaMemcpyToSymbol: null pointer");
  if (kind != cudaMemcpyHostToDevice && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return record_error(cudaErrorInvalidMemcpyDirection, "fovea emu: cudaMemcpyToSymbol: the kind must copy to the device", false);
  return submit("cudaMemcpyToSymbol", nullptr, [=] {
    std::memmove(static_cast<char*>(const_cast<void*>(symbol)) + offset, src, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaMemcpyFromSymbol(void* dst, const void* symbol, size_t bytes, size_t offset, cudaMemcpyKind kind) {
  if (const cudaError_t e = sticky_error()) return e;
  if (symbol == nullptr || dst == nullptr) return invalid("cudaMemcpyFromSymbol: null pointer");
  if (kind != cudaMemcpyDeviceToHost && kind != cudaMemcpyDeviceToDevice && kind != cudaMemcpyDefault)
    return record_error(cudaErrorInvalidMemcpyDirection, "fovea emu: cudaMemcpyFromSymbol: the kind must copy from the device", false);
  return submit("cudaMemcpyFromSymbol", nullptr, [=] {
    std::memmove(dst, static_cast<const char*>(symbol) + offset, bytes);
    return cudaSuccess;
  });
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  if (stream == nullptr) return invalid("cudaStreamCreate: null pointer");
  if ((flags & ~unsigned{cudaStreamNonBlocking}) != 0) return invalid("cudaStreamCreateWithFlags: unknown flags");
  *stream = new CUstream_st{flags, {}, 0, 0};
  std::lock_guard lock(state().mutex);
  state().streams.push_back(*stream);
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

// Runs the stream's work, then forgets it; work queued meanwhile by another thread runs too.
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  using namespace fovea::emu::detail;
  std::lock_guard run(execution());
  while (true) {
    std::uint64_t position = 0;
    {
      std::lock_guard lock(state().mutex);
      auto& streams = state().streams;
      const auto it = std::find(streams.begin(), streams.end(), stream);
      if (it == streams.end())
        return record_error(cudaErrorInvalidResourceHandle,
                            "fovea emu: cudaStreamDestroy: not a live stream (destroyed twice, or the default stream?)", false);
      if (stream->queue.empty()) {
        streams.erase(it);
        break;
      }
      position = stream->submitted;
    }
    run_until(stream, position);
  }
  delete stream;
  return cudaSuccess;
}

// The legacy stream has nothing queued: its work ran at the call.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  using namespace fovea::emu::detail;
  if (is_legacy_stream(stream)) return sticky_error();
  std::lock_guard run(execution());
  std::uint64_t position = 0;
  {
    std::lock_guard lock(state().mutex);
    if (!is_created_stream(stream))
      return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaStreamSynchronize: the stream is not live", false);
    position = stream->submitted;
  }
  run_until(stream, position);
  return sticky_error();
}

// The emulator has no concurrent device: querying a stream runs its work.
cudaError_t cudaStreamQuery(cudaStream_t stream) { return cudaStreamSynchronize(stream); }

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  using namespace fovea::emu::detail;
  if (!is_live_stream(stream))
    return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaStreamWaitEvent: the stream is not live", false);
  std::shared_ptr<Marker> marker;
  {
    std::lock_guard lock(state().mutex);
    if (state().events.count(event) == 0)
      return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaStreamWaitEvent: the event is not live", false);
    marker = event->marker;
    if (marker == nullptr || marker->done) return state().sticky;
  }
  if (is_legacy_stream(stream)) {
    complete(marker);
    return sticky_error();
  }
  const auto wait = [marker] {
    complete(marker);
    return cudaSuccess;
  };
  if (const cudaError_t e = enqueue("cudaStreamWaitEvent", stream, Queued{wait, false})) return e;
  return sticky_error();
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  if (event == nullptr) return invalid("cudaEventCreate: null pointer");
  *event = new CUevent_st{flags, nullptr};
  std::lock_guard lock(state().mutex);
  state().events.insert(*event);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

// A record still queued keeps its marker alive; destroying the event forgets only the handle.
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  {
    std::lock_guard lock(state().mutex);
    if (state().events.erase(event) == 0)
      return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaEventDestroy: not a live event", false);
  }
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  using namespace fovea::emu::detail;
  if (!is_live_stream(stream))
    return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaEventRecord: the stream is not live", false);
  const auto live_event = [event] { return state().events.count(event) != 0; };
  auto marker = std::make_shared<Marker>();
  if (is_legacy_stream(stream)) {
    std::lock_guard run(execution());
    run_queued(true);
    std::lock_guard lock(state().mutex);
    if (!live_event()) return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaEventRecord: not a live event", false);
    marker->done = true;
    marker->when = Clock::now();
    event->marker = std::move(marker);
    return state().sticky;
  }
  std::lock_guard lock(state().mutex);
  if (!live_event()) return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaEventRecord: not a live event", false);
  const auto reached = [marker] {
    std::lock_guard done(state().mutex);
    marker->done = true;
    marker->when = Clock::now();
    return cudaSuccess;
  };
  if (const cudaError_t e = enqueue("cudaEventRecord", stream, Queued{reached, false})) return e;
  marker->stream = stream;
  marker->position = stream->submitted;
  event->marker = std::move(marker);
  return state().sticky;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::shared_ptr<fovea::emu::detail::Marker> marker;
  {
    std::lock_guard lock(state().mutex);
    if (state().events.count(event) == 0)
      return record_error(cudaErrorInvalidResourceHandle, "fovea emu: cudaEventSynchronize: not a live event", false);
    marker = event->marker;
  }
  if (marker != nullptr) fovea::emu::detail::complete(marker);
  return sticky_error();
}

// The emulator has no concurrent device: querying an event runs the work before it.
cudaError_t cudaEventQuery(cudaEvent_t event) { return cudaEventSynchronize(event); }

cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
  if (milliseconds == nullptr) return invalid("cudaEventElapsedTime: null pointer");
  std::lock_guard lock(state().mutex);
  if (state().events.count(start) == 0 || state().events.count(end) == 0 || start->marker == nullptr ||
      end->marker == nullptr || (start->flags & cudaEventDisableTiming) != 0 || (end->flags & cudaEventDisableTiming) != 0)
    return record_error(cudaErrorInvalidResourceHandle,
                        "fovea emu: cudaEventElapsedTime: both events must be live, recorded and created with timing", false);
  if (!start->marker->done || !end->marker->done)
    return record_error(cudaErrorNotReady,
                        "fovea emu: cudaEventElapsedTime: an event has not completed; synchronise with it first", false);
  *milliseconds = std::chrono::duration<float, std::milli>(end->marker->when - start->marker->when).count();
  return state().sticky;
}

}  // extern "C"
