// Internal state of the SIMT emulator shared by its source files: the device-wide error state,
// stream submission, the grid being executed, the per-worker block scheduler with its fibers,
// and the helpers that turn what went wrong into a report naming kernel, block, thread and
// file:line.
#pragma once

#include "emu/device.h"

#include <boost/context/detail/fcontext.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace fovea::emu::detail {

namespace fctx = boost::context::detail;

inline constexpr unsigned max_threads_per_block = 1024;
inline constexpr std::size_t default_shared_bytes_per_block = 48 * 1024;
inline constexpr std::size_t max_shared_bytes_per_block_optin = 163 * 1024;  // sm_80, the smallest target

// ---- Device-wide state (runtime.cpp) ----

// Records an error: prints the report to stderr (when not empty), keeps it for last_report(),
// sets the last error, and for sticky errors poisons every later runtime call until
// cudaDeviceReset(). Returns `code`.
cudaError_t record_error(cudaError_t code, const std::string& report, bool sticky);
// Prints `report` to stderr and keeps it for last_report(), leaving the CUDA error state as it is
// (argument errors of the emulated libraries, which report through their own status codes).
void record_report(const std::string& report);
// True when [pointer, pointer + bytes) lies inside one live cudaMalloc allocation.
bool is_device_range(const void* pointer, std::size_t bytes);
cudaError_t sticky_error();
std::size_t max_dynamic_shared_bytes(const void* kernel);
std::uint64_t next_launch_seed();
void count_launch(const std::string& kernel_name);
bool is_live_stream(cudaStream_t stream);
// 0, cudaStreamLegacy or cudaStreamPerThread (which the emulator treats as the legacy stream).
bool is_legacy_stream(cudaStream_t stream);

// Device work (a kernel, copy, memset or gemm) that reports its outcome; a failure it records
// through record_error(..., sticky = true) poisons the device.
using Work = std::function<cudaError_t()>;
// Runs `work` in `stream`'s order. On the legacy stream it runs now, after the queued work of
// every blocking stream, and its outcome (or the sticky error that work left) is returned. On a
// created stream it is queued and runs when something synchronises with the stream (see
// runtime.cpp); the result is then cudaSuccess, or cudaErrorInvalidResourceHandle, reported as
// from `api`, when the stream is not live. Validate arguments before submitting: queued work
// can only fail as a fault, reported when it runs.
cudaError_t submit(const char* api, cudaStream_t stream, Work work);

// ---- Symbols (symbols.cpp) ----

// "emu_gemm", "fovea::reduce_rows<256>": the kernel's demangled name without its parameters.
std::string kernel_name(const void* kernel);
// The innermost source location of `pc` outside the emulator's own headers, as
// "kernels/x.cu:42"; empty when the binary has no line information.
std::string source_location(const void* pc);
// The innermost calling frame outside the emulator and the standard library, as "file:line";
// empty without line information.
std::string caller_location();
// Repository-relative form of a compiler-supplied path.
std::string relative_path(const char* path);

// ---- Execution (scheduler.cpp) ----

struct Site {
  const char* file = nullptr;
  int line = 0;
};
std::string describe(Site site);
std::string describe(uint3 v);

struct Grid {
  const void* kernel = nullptr;
  KernelInvoker invoke = nullptr;
  void* arguments = nullptr;
  std::string name;
  dim3 grid_dim, block_dim;
  std::size_t dynamic_shared_bytes = 0;
  std::uint64_t seed = 0;
  std::uint64_t block_count = 0;
  std::uint64_t order_multiplier = 1, order_offset = 0;  // block order: position -> block
  std::atomic<std::uint64_t> next_position{0};
  std::atomic<bool> stop{false};

  std::mutex failure_mutex;
  std::uint64_t failure_position = UINT64_MAX;
  cudaError_t failure_code = cudaSuccess;
  std::string failure_report;
};

enum class ThreadState : std::uint8_t { runnable, at_barrier, at_warp_collective, exited };

struct Stack {
  void* mapping = nullptr;
  std::size_t mapping_bytes = 0;
  void* bottom = nullptr;  // lowest usable address
  std::size_t bytes = 0;
};

struct EmulatedThread {
  fctx::fcontext_t context = nullptr;
  Stack* stack = nullptr;
  uint3 index{};
  unsigned linear = 0;
  ThreadState state = ThreadState::runnable;
  bool started = false;
  Site site;
  BarrierOp barrier_op = BarrierOp::sync;
  int predicate = 0;
  int barrier_result = 0;
  WarpOp warp_op = WarpOp::syncwarp;
  unsigned mask = 0;
  int param = 0;
  int width = 32;
  std::uint64_t value = 0;
  std::uint64_t result = 0;
};

class Worker;
extern thread_local Worker* current_worker;
extern thread_local EmulatedThread* current_thread;

struct Unwind {};

class Worker {
 public:
  Worker();
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void run_grid(Grid& grid);

  // Called on an emulated thread's fiber: park until the scheduler resumes it.
  void suspend();
  // Called on an emulated thread's fiber: record the failure and unwind the thread.
  [[noreturn]] void fail(cudaError_t code, std::string report);
  // The report header for the current thread: "<what> in kernel 'k' block (..) thread (..)".
  std::string header(const char* what, const EmulatedThread& thread) const;
  // Records a failure found outside the failing thread (race detector); keeps the first.
  void note_failure(cudaError_t code, std::string report);

  unsigned active_mask_of(const EmulatedThread& thread) const;
  unsigned char* dynamic_shared() const { return dynamic_shared_; }
  const Grid& grid() const { return *grid_; }
  const EmulatedThread& thread(unsigned linear) const { return threads_[linear]; }
  std::uint32_t warp_generation(unsigned warp) const { return warp_generation_[warp]; }

  // Entry of every fiber.
  static void fiber_main(fctx::transfer_t from);

 private:
  void run_block(std::uint64_t linear_block);
  void run_round();
  EmulatedThread* next_in_round();
  void switch_to(EmulatedThread* from, EmulatedThread* to, bool from_exits);
  void arrived(fctx::transfer_t back, const void* from_bottom, std::size_t from_bytes);
  void resolve();
  void complete_collective(unsigned warp_base, unsigned mask);
  void release_barrier();
  void unwind_all();
  void fail_here(cudaError_t code, std::string report);
  Stack* acquire_stack();
  void release_stack(Stack* stack);
  void shuffle_run_queue();
  std::uint64_t random();

  Grid* grid_ = nullptr;
  std::vector<EmulatedThread> threads_;
  std::vector<unsigned> run_queue_;  // threads runnable in this round, in scheduling order
  std::size_t round_next_ = 0;
  std::vector<std::uint32_t> warp_generation_;
  unsigned thread_count_ = 0;
  unsigned live_ = 0;
  bool unwinding_ = false;
  bool failed_ = false;
  cudaError_t failure_code_ = cudaSuccess;
  std::string failure_report_;
  std::uint64_t rng_state_ = 0;

  fctx::fcontext_t main_context_ = nullptr;
  std::vector<std::unique_ptr<Stack>> stacks_;
  std::vector<Stack*> free_stacks_;
  Stack* exited_stack_ = nullptr;
  std::size_t stack_bytes_ = 0;
  unsigned char* dynamic_shared_ = nullptr;

  // AddressSanitizer fiber bookkeeping.
  const void* main_stack_bottom_ = nullptr;
  std::size_t main_stack_bytes_ = 0;
};

std::size_t configured_stack_bytes();
int configured_workers();
// Stops the worker threads; the next launch starts configured_workers() new ones.
void reset_worker_pool();

// Shared-memory race detector hooks: race_detector.cpp in race builds, no-ops otherwise.
#if defined(FOVEA_EMU_RACE_DETECTOR)
void race_begin_block(Worker& worker);
void race_end_block();
void race_new_epoch();
#else
inline void race_begin_block(Worker&) {}
inline void race_end_block() {}
inline void race_new_epoch() {}
#endif

}  // namespace fovea::emu::detail
