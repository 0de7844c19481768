// The SIMT emulator's execution engine: a pool of worker threads takes the blocks of a grid in
// a seeded random order; each worker runs a block start to end with one fiber per CUDA thread.
// Fibers run independently between synchronisation points (no warp lockstep) in a seeded random
// order per round; barriers and warp collectives are resolved by the worker between rounds,
// which is also where barrier divergence and collective deadlocks are detected and reported.
// A launch is validated at the call and then submitted to its stream (runtime.cpp), so it runs
// at once on the legacy stream and when its stream is synchronised otherwise.
#include "emu/internal.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <numeric>
#include <sstream>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

constinit thread_local uint3 threadIdx{};
constinit thread_local uint3 blockIdx{};
constinit thread_local dim3 blockDim{};
constinit thread_local dim3 gridDim{};

namespace fovea::emu::detail {

thread_local Worker* current_worker = nullptr;
thread_local EmulatedThread* current_thread = nullptr;

namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

bool same_site(Site a, Site b) {
  return a.line == b.line && (a.file == b.file || std::strcmp(a.file, b.file) == 0);
}

const char* barrier_name(BarrierOp op) {
  switch (op) {
    case BarrierOp::sync: return "__syncthreads";
    case BarrierOp::count: return "__syncthreads_count";
    case BarrierOp::all: return "__syncthreads_and";
    case BarrierOp::any: return "__syncthreads_or";
  }
  return "?";
}

const char* collective_name(WarpOp op) {
  switch (op) {
    case WarpOp::syncwarp: return "__syncwarp";
    case WarpOp::shfl_idx: return "__shfl_sync";
    case WarpOp::shfl_up: return "__shfl_up_sync";
    case WarpOp::shfl_down: return "__shfl_down_sync";
    case WarpOp::shfl_xor: return "__shfl_xor_sync";
    case WarpOp::ballot: return "__ballot_sync";
    case WarpOp::any: return "__any_sync";
    case WarpOp::all: return "__all_sync";
    case WarpOp::match_any: return "__match_any_sync";
    case WarpOp::match_all: return "__match_all_sync";
    case WarpOp::reduce_add: return "__reduce_add_sync";
    case WarpOp::reduce_min: return "__reduce_min_sync";
    case WarpOp::reduce_max: return "__reduce_max_sync";
    case WarpOp::reduce_and: return "__reduce_and_sync";
    case WarpOp::reduce_or: return "__reduce_or_sync";
    case WarpOp::reduce_xor: return "__reduce_xor_sync";
  }
  return "?";
}

std::string hex(unsigned mask) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%08x", mask);
  return text;
}

// What a parked thread is doing, e.g. "waits in __shfl_sync(mask 0xffffffff) at k.cu:12".
std::string describe_wait(const EmulatedThread& t) {
  switch (t.state) {
    case ThreadState::at_barrier: return std::string("waits at ") + barrier_name(t.barrier_op) + " at " + describe(t.site);
    case ThreadState::at_warp_collective:
      return std::string("waits in ") + collective_name(t.warp_op) + "(mask " + hex(t.mask) + ") at " + describe(t.site);
    case ThreadState::exited: return "has exited";
    case ThreadState::runnable: return "is running";
  }
  return "?";
}

#if defined(__SANITIZE_ADDRESS__)
void start_switch(void** fake_stack, const void* bottom, std::size_t bytes) {
  __sanitizer_start_switch_fiber(fake_stack, bottom, bytes);
}
void finish_switch(void* fake_stack, const void** bottom_old, std::size_t* bytes_old) {
  __sanitizer_finish_switch_fiber(fake_stack, bottom_old, bytes_old);
}
#else
void start_switch(void**, const void*, std::size_t) {}
void finish_switch(void*, const void**, std::size_t*) {}
#endif

EmulatedThread& running_thread(const char* what) {
  if (current_thread == nullptr) {
    std::fprintf(stderr, "fovea emu: %s was called outside a kernel; it is only valid in device code\n", what);
    std::abort();
  }
  return *current_thread;
}

}  // namespace

std::string describe(Site site) {
  return relative_path(site.file) + ":" + std::to_string(site.line);
}

std::string describe(uint3 v) {
  char text[48];
  std::snprintf(text, sizeof text, "(%u,%u,%u)", v.x, v.y, v.z);
  return text;
}

// ---- Worker ----

Worker::Worker() {
  threads_.resize(max_threads_per_block);
  run_queue_.reserve(max_threads_per_block);
  warp_generation_.resize(max_threads_per_block / 32);
  dynamic_shared_ = static_cast<unsigned char*>(std::aligned_alloc(128, max_shared_bytes_per_block_optin));
}

Worker::~Worker() {
  for (auto& stack : stacks_) munmap(stack->mapping, stack->mapping_bytes);
  std::free(dynamic_shared_);
}

std::uint64_t Worker::random() { return splitmix64(rng_state_); }

Stack* Worker::acquire_stack() {
  if (!free_stacks_.empty()) {
    Stack* stack = free_stacks_.back();
    free_stacks_.pop_back();
    return stack;
  }
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  auto stack = std::make_unique<Stack>();
  stack->bytes = (stack_bytes_ + page - 1) / page * page;
  stack->mapping_bytes = stack->bytes + page;
  stack->mapping = mmap(nullptr, stack->mapping_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (stack->mapping == MAP_FAILED) {
    std::fprintf(stderr, "fovea emu: cannot map a %zu-byte fiber stack; lower FOVEA_EMU_STACK_KB or the block size\n",
                 stack->mapping_bytes);
    std::abort();
  }
  mprotect(stack->mapping, page, PROT_NONE);  // guard page: a stack overflow faults instead of corrupting
  stack->bottom = static_cast<char*>(stack->mapping) + page;
  stacks_.push_back(std::move(stack));
  return stacks_.back().get();
}

void Worker::release_stack(Stack* stack) { free_stacks_.push_back(stack); }

void Worker::run_grid(Grid& grid) {
  grid_ = &grid;
  if (stack_bytes_ != configured_stack_bytes()) {
    for (auto& stack : stacks_) munmap(stack->mapping, stack->mapping_bytes);
    stacks_.clear();
    free_stacks_.clear();
    stack_bytes_ = configured_stack_bytes();
  }
  while (!grid.stop.load(std::memory_order_relaxed)) {
    const std::uint64_t position = grid.next_position.fetch_add(1, std::memory_order_relaxed);
    if (position >= grid.block_count) break;
    const auto linear = static_cast<std::uint64_t>(
        (static_cast<unsigned __int128>(grid.order_multiplier) * position + grid.order_offset) % grid.block_count);
    run_block(linear);
    if (failed_) {
      std::lock_guard lock(grid.failure_mutex);
      if (position < grid.failure_position) {
        grid.failure_position = position;
        grid.failure_code = failure_code_;
        grid.failure_report = failure_report_;
      }
      grid.stop.store(true, std::memory_order_relaxed);
    }
  }
  grid_ = nullptr;
}

void Worker::run_block(std::uint64_t linear_block) {
  const Grid& g = *grid_;
  blockIdx = uint3{static_cast<unsigned>(linear_block % g.grid_dim.x),
                   static_cast<unsigned>(linear_block / g.grid_dim.x % g.grid_dim.y),
                   static_cast<unsigned>(linear_block / (static_cast<std::uint64_t>(g.grid_dim.x) * g.grid_dim.y))};
  blockDim = g.block_dim;
  gridDim = g.grid_dim;
  thread_count_ = g.block_dim.x * g.block_dim.y * g.block_dim.z;
  live_ = thread_count_;
  failed_ = false;
  unwinding_ = false;
  failure_report_.clear();
  rng_state_ = g.seed ^ (linear_block * 0xd1b54a32d192ed03ull);

  run_queue_.clear();
  for (unsigned i = 0; i < thread_count_; ++i) {
    EmulatedThread& t = threads_[i];
    t = EmulatedThread{};
    t.linear = i;
    t.index = uint3{i % g.block_dim.x, i / g.block_dim.x % g.block_dim.y, i / (g.block_dim.x * g.block_dim.y)};
    run_queue_.push_back(i);
  }
  std::fill(warp_generation_.begin(), warp_generation_.end(), 0u);
  // Uninitialised dynamic shared memory reads as NaN / -1, never as a lucky zero.
  std::memset(dynamic_shared_, 0xff, g.dynamic_shared_bytes);
#if defined(__SANITIZE_ADDRESS__)
  ASAN_POISON_MEMORY_REGION(dynamic_shared_, max_shared_bytes_per_block_optin);
  ASAN_UNPOISON_MEMORY_REGION(dynamic_shared_, g.dynamic_shared_bytes);
#endif
  race_begin_block(*this);

  while (true) {
    run_round();
    if (failed_ || live_ == 0) break;
    resolve();
    if (failed_) break;
  }
  if (failed_) unwind_all();
  race_end_block();
#if defined(__SANITIZE_ADDRESS__)
  ASAN_UNPOISON_MEMORY_REGION(dynamic_shared_, max_shared_bytes_per_block_optin);
#endif
}

void Worker::shuffle_run_queue() {
  for (std::size_t i = run_queue_.size(); i > 1; --i) {
    const auto j = static_cast<std::size_t>(((random() >> 32) * i) >> 32);
    std::swap(run_queue_[i - 1], run_queue_[j]);
  }
}

void Worker::run_round() {
  shuffle_run_queue();
  round_next_ = 0;
  if (EmulatedThread* first = next_in_round()) switch_to(nullptr, first, false);
}

EmulatedThread* Worker::next_in_round() {
  if (failed_ || unwinding_ || round_next_ >= run_queue_.size()) return nullptr;
  return &threads_[run_queue_[round_next_++]];
}

// Control passes straight from one emulated thread to the next of the round; the worker's own
// context (`from`/`to` nullptr) only runs between rounds.
void Worker::switch_to(EmulatedThread* from, EmulatedThread* to, bool from_exits) {
  fctx::fcontext_t target = main_context_;
  const void* target_bottom = main_stack_bottom_;
  std::size_t target_bytes = main_stack_bytes_;
  if (to != nullptr) {
    if (!to->started) {
      to->stack = acquire_stack();
      to->context = fctx::make_fcontext(static_cast<char*>(to->stack->bottom) + to->stack->bytes, to->stack->bytes,
                                        &Worker::fiber_main);
      to->started = true;
    }
    target = to->context;
    target_bottom = to->stack->bottom;
    target_bytes = to->stack->bytes;
    threadIdx = to->index;
  }
  current_thread = to;
  void* fake_stack = nullptr;
  start_switch(from_exits ? nullptr : &fake_stack, target_bottom, target_bytes);
  const fctx::transfer_t back = fctx::jump_fcontext(target, from);
  const void* from_bottom = nullptr;
  std::size_t from_bytes = 0;
  finish_switch(fake_stack, &from_bottom, &from_bytes);
  arrived(back, from_bottom, from_bytes);
}

// First thing after gaining control: remember where the previous context stopped, and free the
// stack of a thread that has just exited (it could not free the stack it was running on).
void Worker::arrived(fctx::transfer_t back, const void* from_bottom, std::size_t from_bytes) {
  auto* from = static_cast<EmulatedThread*>(back.data);
  if (from == nullptr) {
    main_context_ = back.fctx;
    main_stack_bottom_ = from_bottom;
    main_stack_bytes_ = from_bytes;
  } else if (from->state != ThreadState::exited) {
    from->context = back.fctx;
  }
  if (exited_stack_ != nullptr) {
    release_stack(exited_stack_);
    exited_stack_ = nullptr;
  }
}

void Worker::fiber_main(fctx::transfer_t from) {
  Worker& worker = *current_worker;
  const void* from_bottom = nullptr;
  std::size_t from_bytes = 0;
  finish_switch(nullptr, &from_bottom, &from_bytes);
  worker.arrived(from, from_bottom, from_bytes);
  EmulatedThread& thread = *current_thread;
  try {
    worker.grid_->invoke(worker.grid_->kernel, worker.grid_->arguments);
  } catch (const Unwind&) {
  } catch (const std::exception& error) {
    worker.fail_here(cudaErrorLaunchFailure,
                     worker.header("C++ exception", thread) + ": the kernel threw '" + error.what() + "'");
  }
  thread.state = ThreadState::exited;
  --worker.live_;
  worker.exited_stack_ = thread.stack;
  thread.stack = nullptr;
  worker.switch_to(&thread, worker.next_in_round(), true);
  __builtin_unreachable();
}

void Worker::suspend() {
  EmulatedThread* self = current_thread;
  switch_to(self, next_in_round(), false);
  if (unwinding_) throw Unwind{};
}

std::string Worker::header(const char* what, const EmulatedThread& thread) const {
  return std::string(what) + " in kernel '" + grid_->name + "' block " + describe(blockIdx) + " thread " +
         describe(thread.index);
}

void Worker::fail_here(cudaError_t code, std::string report) {
  if (failed_) return;
  failed_ = true;
  failure_code_ = code;
  failure_report_ = std::move(report);
}

void Worker::fail(cudaError_t code, std::string report) {
  fail_here(code, std::move(report));
  throw Unwind{};
}

void Worker::note_failure(cudaError_t code, std::string report) { fail_here(code, std::move(report)); }

void Worker::unwind_all() {
  unwinding_ = true;
  for (unsigned i = 0; i < thread_count_; ++i) {
    EmulatedThread& t = threads_[i];
    if (t.started && t.state != ThreadState::exited) switch_to(nullptr, &t, false);
  }
  unwinding_ = false;
}

unsigned Worker::active_mask_of(const EmulatedThread& thread) const {
  const unsigned base = thread.linear & ~31u;
  const unsigned lanes = std::min(32u, thread_count_ - base);
  unsigned mask = 0;
  for (unsigned lane = 0; lane < lanes; ++lane)
    if (threads_[base + lane].state != ThreadState::exited) mask |= 1u << lane;
  return mask;
}

// Between rounds no thread is runnable: complete every warp collective whose lanes have all
// arrived; otherwise release the block barrier if every live thread waits at the same one;
// otherwise the block can never make progress, and the report says why.
void Worker::resolve() {
  run_queue_.clear();
  const unsigned warps = (thread_count_ + 31) / 32;
  for (unsigned warp = 0; warp < warps; ++warp) {
    const unsigned base = warp * 32;
    const unsigned lanes = std::min(32u, thread_count_ - base);
    unsigned completed = 0;
    for (unsigned lane = 0; lane < lanes; ++lane) {
      const EmulatedThread& t = threads_[base + lane];
      if (t.state != ThreadState::at_warp_collective || (completed >> lane & 1u)) continue;
      const unsigned mask = t.mask;
      const std::string where = header("warp-collective deadlock", t) + " at " + describe(t.site) + ": " +
                                collective_name(t.warp_op) + "(mask " + hex(mask) + ")";
      if ((mask >> lane & 1u) == 0) {
        fail_here(cudaErrorLaunchFailure,
                  header("invalid warp collective", t) + " at " + describe(t.site) + ": " + collective_name(t.warp_op) +
                      "(mask " + hex(mask) + ") is called by lane " + std::to_string(lane) +
                      ", which its mask leaves out. The mask must include every calling lane.");
        return;
      }
      if (lanes < 32 && (mask >> lanes) != 0) {
        fail_here(cudaErrorLaunchFailure,
                  where + " names lane " + std::to_string(std::countr_zero(mask >> lanes) + lanes) +
                      ", which does not exist: the block has " + std::to_string(thread_count_) +
                      " threads, so warp " + std::to_string(warp) + " has only " + std::to_string(lanes) +
                      " lanes. Build the mask from the lanes that exist (e.g. __ballot_sync over them).");
        return;
      }
      bool complete = true;
      for (unsigned other = 0; other < lanes; ++other) {
        if ((mask >> other & 1u) == 0) continue;
        const EmulatedThread& u = threads_[base + other];
        if (u.state == ThreadState::exited) {
          fail_here(cudaErrorLaunchFailure,
                    where + " can never complete: lane " + std::to_string(other) + " (thread " + describe(u.index) +
                        ") has exited. Every lane named in the mask must reach the collective; compute the "
                        "mask of the lanes that take this path (e.g. __ballot_sync before the branch).");
          return;
        }
        if (u.state != ThreadState::at_warp_collective) {
          complete = false;
          continue;
        }
        if (u.mask != mask || u.warp_op != t.warp_op) {
          fail_here(cudaErrorLaunchFailure,
                    where + " can never complete: lane " + std::to_string(other) + " (thread " + describe(u.index) +
                        ") " + describe_wait(u) + ". All lanes of the mask must call the same collective with the "
                        "same mask.");
          return;
        }
      }
      if (!complete) continue;
      complete_collective(base, mask);
      completed |= mask;
      ++warp_generation_[warp];
      for (unsigned other = 0; other < lanes; ++other) {
        if ((mask >> other & 1u) == 0) continue;
        threads_[base + other].state = ThreadState::runnable;
        run_queue_.push_back(base + other);
      }
    }
  }
  if (!run_queue_.empty()) return;

  const EmulatedThread* first_in_collective = nullptr;
  const EmulatedThread* first_at_barrier = nullptr;
  const EmulatedThread* first_exited = nullptr;
  for (unsigned i = 0; i < thread_count_; ++i) {
    const EmulatedThread& t = threads_[i];
    if (t.state == ThreadState::at_warp_collective && first_in_collective == nullptr) first_in_collective = &t;
    if (t.state == ThreadState::at_barrier && first_at_barrier == nullptr) first_at_barrier = &t;
    if (t.state == ThreadState::exited && first_exited == nullptr) first_exited = &t;
  }
  if (first_in_collective != nullptr) {
    const EmulatedThread& t = *first_in_collective;
    const unsigned base = t.linear & ~31u;
    unsigned blocker = 0;
    while (blocker < 31 && (threads_[base + blocker].state == ThreadState::at_warp_collective || (t.mask >> blocker & 1u) == 0))
      ++blocker;
    const EmulatedThread& u = threads_[base + blocker];
    fail_here(cudaErrorLaunchFailure,
              header("warp-collective deadlock", t) + " at " + describe(t.site) + ": " + collective_name(t.warp_op) +
                  "(mask " + hex(t.mask) + ") can never complete: lane " + std::to_string(blocker) + " (thread " +
                  describe(u.index) + ") " + describe_wait(u) +
                  ". Every lane named in the mask must reach the collective before any of them moves on.");
    return;
  }
  const EmulatedThread& waiting = *first_at_barrier;
  const std::string where = header("barrier divergence", waiting) + " at " + describe(waiting.site) + ": ";
  if (first_exited != nullptr) {
    fail_here(cudaErrorLaunchFailure,
              where + "it waits at " + barrier_name(waiting.barrier_op) + " but thread " +
                  describe(first_exited->index) + " has exited without reaching it. Every thread of the block must "
                  "reach every __syncthreads: guard the work, not the barrier.");
    return;
  }
  for (unsigned i = 0; i < thread_count_; ++i) {
    const EmulatedThread& t = threads_[i];
    if (!same_site(t.site, waiting.site) || t.barrier_op != waiting.barrier_op) {
      fail_here(cudaErrorLaunchFailure,
                where + "it waits at " + barrier_name(waiting.barrier_op) + " while thread " + describe(t.index) + " " +
                    describe_wait(t) + ". Every thread of the block must reach the same __syncthreads.");
      return;
    }
  }
  release_barrier();
}

void Worker::release_barrier() {
  int count = 0;
  for (unsigned i = 0; i < thread_count_; ++i) count += threads_[i].predicate != 0;
  const BarrierOp op = threads_[0].barrier_op;
  const int result = op == BarrierOp::count ? count
                     : op == BarrierOp::all ? count == static_cast<int>(thread_count_)
                     : op == BarrierOp::any ? count > 0
                                            : 0;
  for (unsigned i = 0; i < thread_count_; ++i) {
    threads_[i].barrier_result = result;
    threads_[i].state = ThreadState::runnable;
    run_queue_.push_back(i);
  }
  race_new_epoch();
}

void Worker::complete_collective(unsigned base, unsigned mask) {
  EmulatedThread* lane_threads[32] = {};
  for (unsigned lane = 0; lane < 32; ++lane)
    if (mask >> lane & 1u) lane_threads[lane] = &threads_[base + lane];
  const EmulatedThread& first = *lane_threads[std::countr_zero(mask)];
  const WarpOp op = first.warp_op;
  const std::uint64_t poison = ~std::uint64_t{0};  // value read from a lane outside the mask

  std::uint64_t ballot = 0;
  for (unsigned lane = 0; lane < 32; ++lane)
    if (lane_threads[lane] != nullptr && lane_threads[lane]->value != 0) ballot |= 1u << lane;

  std::uint64_t reduced = 0;
  const bool is_reduce = op == WarpOp::reduce_add || op == WarpOp::reduce_min || op == WarpOp::reduce_max ||
                         op == WarpOp::reduce_and || op == WarpOp::reduce_or || op == WarpOp::reduce_xor;
  if (is_reduce) {
    bool seeded = false;
    std::uint32_t acc = 0;
    for (unsigned lane = 0; lane < 32; ++lane) {
      if (lane_threads[lane] == nullptr) continue;
      const auto v = static_cast<std::uint32_t>(lane_threads[lane]->value);
      if (!seeded) {
        acc = v;
        seeded = true;
        continue;
      }
      const bool is_signed = first.param == operand_signed;
      switch (op) {
        case WarpOp::reduce_add: acc += v; break;
        case WarpOp::reduce_and: acc &= v; break;
        case WarpOp::reduce_or: acc |= v; break;
        case WarpOp::reduce_xor: acc ^= v; break;
        case WarpOp::reduce_min:
          acc = is_signed ? static_cast<std::uint32_t>(std::min(static_cast<int>(acc), static_cast<int>(v))) : std::min(acc, v);
          break;
        case WarpOp::reduce_max:
          acc = is_signed ? static_cast<std::uint32_t>(std::max(static_cast<int>(acc), static_cast<int>(v))) : std::max(acc, v);
          break;
        default: break;
      }
    }
    reduced = acc;
  }

  for (unsigned lane = 0; lane < 32; ++lane) {
    EmulatedThread* t = lane_threads[lane];
    if (t == nullptr) continue;
    const unsigned width = static_cast<unsigned>(t->width);
    const unsigned segment_first = lane & ~(width - 1);
    const unsigned segment_last = segment_first | (width - 1);
    const unsigned b = static_cast<unsigned>(t->param) & 31u;
    unsigned source = lane;
    switch (op) {
      case WarpOp::shfl_idx: source = segment_first | (b & (width - 1)); break;
      case WarpOp::shfl_up: source = (lane - segment_first) >= b ? lane - b : lane; break;
      case WarpOp::shfl_down: source = lane + b <= segment_last ? lane + b : lane; break;
      case WarpOp::shfl_xor: source = (lane ^ b) <= segment_last ? lane ^ b : lane; break;
      default: break;
    }
    switch (op) {
      case WarpOp::shfl_idx:
      case WarpOp::shfl_up:
      case WarpOp::shfl_down:
      case WarpOp::shfl_xor:
        t->result = lane_threads[source] != nullptr ? lane_threads[source]->value : poison;
        break;
      case WarpOp::ballot: t->result = ballot; break;
      case WarpOp::any: t->result = ballot != 0; break;
      case WarpOp::all: t->result = ballot == mask; break;
      case WarpOp::match_any: {
        unsigned matches = 0;
        for (unsigned other = 0; other < 32; ++other)
          if (lane_threads[other] != nullptr && lane_threads[other]->value == t->value) matches |= 1u << other;
        t->result = matches;
        break;
      }
      case WarpOp::match_all: {
        bool all_equal = true;
        for (unsigned other = 0; other < 32; ++other)
          if (lane_threads[other] != nullptr && lane_threads[other]->value != first.value) all_equal = false;
        t->result = all_equal ? mask : 0;
        break;
      }
      case WarpOp::syncwarp: t->result = 0; break;
      default: t->result = reduced; break;
    }
  }
}

// ---- Entry points called from device code ----

int block_barrier(BarrierOp op, int predicate, const char* file, int line) {
  EmulatedThread& t = running_thread("__syncthreads");
  t.state = ThreadState::at_barrier;
  t.barrier_op = op;
  t.predicate = predicate;
  t.site = Site{file, line};
  current_worker->suspend();
  return t.barrier_result;
}

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int param, int width, const char* file,
                              int line) {
  EmulatedThread& t = running_thread(collective_name(op));
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    current_worker->fail(cudaErrorLaunchFailure,
                         current_worker->header("invalid warp shuffle", t) + " at " + describe(Site{file, line}) + ": " +
                             collective_name(op) + " width " + std::to_string(width) +
                             " is not a power of two between 1 and 32.");
  }
  t.state = ThreadState::at_warp_collective;
  t.warp_op = op;
  t.mask = mask;
  t.value = value;
  t.param = param;
  t.width = width;
  t.site = Site{file, line};
  current_worker->suspend();
  return t.result;
}

unsigned active_mask() {
  const EmulatedThread& t = running_thread("__activemask");
  return current_worker->active_mask_of(t);
}

void trap(const char* file, int line) {
  EmulatedThread& t = running_thread("__trap");
  current_worker->fail(cudaErrorIllegalInstruction,
                       current_worker->header("__trap()", t) + " at " + describe(Site{file, line}) +
                           ": the kernel called __trap().");
}

void* dynamic_shared_base() {
  running_thread("dynamic shared memory");
  return current_worker->dynamic_shared();
}

std::size_t dynamic_shared_bytes() { return current_worker->grid().dynamic_shared_bytes; }

void dynamic_shared_overrun(const char* name, const char* file, int line, long long index, std::size_t element_bytes) {
  const EmulatedThread& t = running_thread("dynamic shared memory");
  const std::size_t bytes = current_worker->grid().dynamic_shared_bytes;
  const std::string access = caller_location();
  current_worker->fail(
      cudaErrorIllegalAddress,
      current_worker->header("dynamic shared memory overrun", t) + (access.empty() ? "" : " at " + access) + ": index " +
          std::to_string(index) + " of '" + name + "' (declared at " + describe(Site{file, line}) + ") is outside the " +
          std::to_string(bytes) + " bytes (" + std::to_string(bytes / element_bytes) + " elements of " +
          std::to_string(element_bytes) + " bytes) given at launch. Pass a larger dynamicSmemBytes or fix the index.");
}

// ---- The worker pool and the launch ----

namespace {

class WorkerPool {
 public:
  explicit WorkerPool(int count) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this] { work(); });
  }
  ~WorkerPool() {
    {
      std::lock_guard lock(mutex_);
      quit_ = true;
    }
    work_ready_.notify_all();
    for (auto& thread : threads_) thread.join();
  }
  int size() const { return static_cast<int>(threads_.size()); }

  void run(Grid& grid) {
    std::unique_lock lock(mutex_);
    grid_ = &grid;
    busy_ = static_cast<int>(threads_.size());
    ++generation_;
    work_ready_.notify_all();
    work_done_.wait(lock, [this] { return busy_ == 0; });
    grid_ = nullptr;
  }

 private:
  void work() {
    Worker worker;
    current_worker = &worker;
    std::uint64_t seen = 0;
    while (true) {
      Grid* grid = nullptr;
      {
        std::unique_lock lock(mutex_);
        work_ready_.wait(lock, [&] { return quit_ || generation_ != seen; });
        if (quit_) return;
        seen = generation_;
        grid = grid_;
      }
      worker.run_grid(*grid);
      std::lock_guard lock(mutex_);
      if (--busy_ == 0) work_done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mutex_;
  std::condition_variable work_ready_, work_done_;
  Grid* grid_ = nullptr;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool quit_ = false;
};

std::mutex launch_mutex;
std::unique_ptr<WorkerPool> pool;

}  // namespace

void reset_worker_pool() {
  std::lock_guard lock(launch_mutex);
  pool.reset();
}

cudaError_t launch(const cudaLaunchConfig_t* config, const void* kernel, KernelInvoker invoke, void* arguments,
                   ArgumentsDeleter release) {
  std::shared_ptr<void> owned(arguments, release);
  if (const cudaError_t sticky = sticky_error()) return sticky;
  if (current_worker != nullptr)
    return record_error(cudaErrorNotSupported, "fovea emu: kernels cannot launch kernels (dynamic parallelism is not emulated)", false);
  if (config == nullptr) return record_error(cudaErrorInvalidValue, "fovea emu: cudaLaunchKernelEx got a null config", false);
  if (kernel == nullptr) return record_error(cudaErrorInvalidDeviceFunction, "fovea emu: cudaLaunchKernelEx got a null kernel", false);

  const std::string name = kernel_name(kernel);
  const auto reject = [&](cudaError_t code, const std::string& why) {
    const std::string site = caller_location();
    return record_error(code,
                        "fovea emu: launch of kernel '" + name + "'" + (site.empty() ? "" : " at " + site) +
                            " rejected: " + why + " (" + cudaGetErrorName(code) + ")",
                        false);
  };
  const dim3 block = config->blockDim, grid = config->gridDim;
  const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return reject(cudaErrorInvalidConfiguration, "grid " + describe(uint3{grid.x, grid.y, grid.z}) + " and block " +
                                                     describe(uint3{block.x, block.y, block.z}) + " must have no zero dimension");
  if (block.x > 1024 || block.y > 1024 || block.z > 64 || threads > max_threads_per_block)
    return reject(cudaErrorInvalidConfiguration, "block " + describe(uint3{block.x, block.y, block.z}) + " has " +
                                                     std::to_string(threads) +
                                                     " threads; a block may have at most 1024 (x, y <= 1024, z <= 64)");
  if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535)
    return reject(cudaErrorInvalidConfiguration,
                  "grid " + describe(uint3{grid.x, grid.y, grid.z}) + " exceeds (2^31-1, 65535, 65535)");
  const std::size_t shared_limit = max_dynamic_shared_bytes(kernel);
  if (config->dynamicSmemBytes > shared_limit)
    return reject(cudaErrorInvalidValue,
                  std::to_string(config->dynamicSmemBytes) + " bytes of dynamic shared memory exceed the " +
                      std::to_string(shared_limit) +
                      "-byte limit for this kernel (above 48 KiB, opt in with cudaFuncSetAttribute(kernel, "
                      "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes), at most 163 KiB)");
  if (config->numAttrs != 0) return reject(cudaErrorNotSupported, "launch attributes are not emulated; launch without attrs");
  if (!is_live_stream(config->stream))
    return reject(cudaErrorInvalidResourceHandle, "the stream was destroyed or never created");

  // The seed follows the order of the calls, so a launch's schedule does not depend on when, or
  // on which host thread, its stream runs.
  const std::uint64_t seed = next_launch_seed();
  const std::size_t dynamic_shared_bytes = config->dynamicSmemBytes;
  return submit("cudaLaunchKernelEx", config->stream, [=, owned = std::move(owned)] {
    std::lock_guard lock(launch_mutex);
    if (!pool) pool = std::make_unique<WorkerPool>(configured_workers());
    Grid g;
    g.kernel = kernel;
    g.invoke = invoke;
    g.arguments = owned.get();
    g.name = name;
    g.grid_dim = grid;
    g.block_dim = block;
    g.dynamic_shared_bytes = dynamic_shared_bytes;
    g.seed = seed;
    g.block_count = std::uint64_t{grid.x} * grid.y * grid.z;
    std::uint64_t order_state = g.seed;
    g.order_offset = splitmix64(order_state) % g.block_count;
    do {
      g.order_multiplier = splitmix64(order_state) % g.block_count;
    } while (std::gcd(g.order_multiplier, g.block_count) != 1);
    count_launch(name);
    pool->run(g);
    if (g.failure_code != cudaSuccess) return record_error(g.failure_code, "fovea emu: " + g.failure_report, true);
    return cudaSuccess;
  });
}

}  // namespace fovea::emu::detail

#if defined(__SANITIZE_ADDRESS__)
// Called by AddressSanitizer before it prints a report: names the emulated thread it is about.
extern "C" void __asan_on_error() {
  using namespace fovea::emu::detail;
  if (current_worker == nullptr || current_thread == nullptr) return;
  std::fprintf(stderr, "fovea emu: %s follows\n",
               current_worker->header("AddressSanitizer report", *current_thread).c_str());
}
#endif
