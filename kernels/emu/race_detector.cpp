// Opt-in shared-memory race detector (FOVEA_EMU_SANITIZE=race). Kernel files are compiled with
// GCC's ThreadSanitizer instrumentation alone (libtsan is never linked); this file supplies the
// __tsan_* callbacks the instrumentation calls. Only the current block's shared memory is
// tracked: the worker's thread_local blocks (where static __shared__ arrays live) and the
// dynamic shared buffer. Shadow state per 4 bytes: epoch (bumped at every released barrier),
// last writer, last reader and a summary of older readers, each with the collective generation
// of its warp. Two accesses race when they share an epoch, come from different threads, one of
// them writes, and no warp collective of a warp holding both separates them. The first race of
// a block becomes the launch's report.
#include "emu/internal.h"

#include <link.h>

#include <algorithm>

namespace fovea::emu::detail {
namespace {

constexpr std::uint16_t nobody = 0xffff;
constexpr std::uint16_t several_warps = 0xfffe;

struct Cell {
  std::uint32_t epoch = 0;
  std::uint16_t writer = nobody;
  std::uint16_t reader = nobody;
  std::uint16_t older_readers_warp = nobody;  // warp of the readers before `reader`, or several_warps
  std::uint32_t writer_generation = 0;
  std::uint32_t reader_generation = 0;
  std::uint32_t older_readers_generation = 0;
  const void* writer_pc = nullptr;
  const void* reader_pc = nullptr;
};

struct Region {
  std::uintptr_t begin = 0, end = 0;
  bool dynamic = false;
  std::vector<Cell> cells;
};

struct Race {
  bool found = false;
  unsigned thread = 0, other = nobody;
  bool write = false, other_write = false;
  const void* pc = nullptr;
  const void* other_pc = nullptr;
  std::size_t bytes = 0;
  std::uintptr_t offset = 0;
  bool dynamic = false;
};

struct RaceState {
  Worker* worker = nullptr;  // set while a block runs on this worker
  std::vector<Region> regions;
  std::uint32_t epoch = 0;
  bool in_callback = false;
  Race race;
};

thread_local RaceState state;

void add_tls_regions(std::vector<Region>& regions) {
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        if (info->dlpi_tls_data == nullptr) return 0;
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type != PT_TLS) continue;
          Region region;
          region.begin = reinterpret_cast<std::uintptr_t>(info->dlpi_tls_data);
          region.end = region.begin + info->dlpi_phdr[i].p_memsz;
          region.cells.resize((info->dlpi_phdr[i].p_memsz + 3) / 4);
          static_cast<std::vector<Region>*>(data)->push_back(std::move(region));
        }
        return 0;
      },
      &regions);
}

void report(const EmulatedThread& thread, const Region& region, std::uintptr_t address, std::size_t bytes, bool write,
            const void* pc, std::uint16_t other, bool other_write, const void* other_pc) {
  Race& race = state.race;
  if (race.found) return;
  race = Race{true, thread.linear, other, write, other_write, pc, other_pc, bytes, address - region.begin, region.dynamic};
}

void check(const void* address, std::size_t bytes, bool write, const void* pc) {
  if (state.worker == nullptr || state.in_callback || current_thread == nullptr) return;
  const auto begin = reinterpret_cast<std::uintptr_t>(address);
  Region* region = nullptr;
  for (Region& candidate : state.regions)
    if (begin >= candidate.begin && begin < candidate.end) region = &candidate;
  if (region == nullptr) return;
  state.in_callback = true;
  const EmulatedThread& thread = *current_thread;
  const auto me = static_cast<std::uint16_t>(thread.linear);
  const unsigned warp = thread.linear / 32;
  const std::uint32_t generation = state.worker->warp_generation(warp);
  const auto ordered = [&](std::uint16_t other, std::uint32_t other_generation) {
    return other == me || (other / 32u == warp && generation > other_generation);
  };
  const std::size_t first = (begin - region->begin) / 4;
  const std::size_t last = std::min(region->cells.size() - 1, (begin + bytes - 1 - region->begin) / 4);
  for (std::size_t i = first; i <= last; ++i) {
    Cell& cell = region->cells[i];
    if (cell.epoch != state.epoch) {
      cell = Cell{};
      cell.epoch = state.epoch;
    }
    if (cell.writer != nobody && !ordered(cell.writer, cell.writer_generation))
      report(thread, *region, begin, bytes, write, pc, cell.writer, true, cell.writer_pc);
    if (write) {
      if (cell.reader != nobody && !ordered(cell.reader, cell.reader_generation))
        report(thread, *region, begin, bytes, write, pc, cell.reader, false, cell.reader_pc);
      if (cell.older_readers_warp != nobody &&
          !(cell.older_readers_warp == warp && generation > cell.older_readers_generation))
        report(thread, *region, begin, bytes, write, pc, nobody, false, nullptr);
      cell.writer = me;
      cell.writer_generation = generation;
      cell.writer_pc = pc;
      cell.reader = nobody;
      cell.older_readers_warp = nobody;
    } else if (cell.reader == me) {
      cell.reader_generation = generation;
      cell.reader_pc = pc;
    } else {
      if (cell.reader != nobody) {
        const auto reader_warp = static_cast<std::uint16_t>(cell.reader / 32u);
        cell.older_readers_warp = cell.older_readers_warp == nobody || cell.older_readers_warp == reader_warp
                                      ? reader_warp
                                      : several_warps;
        cell.older_readers_generation = std::max(cell.older_readers_generation, cell.reader_generation);
      }
      cell.reader = me;
      cell.reader_generation = generation;
      cell.reader_pc = pc;
    }
  }
  state.in_callback = false;
}

std::string where(const void* pc) {
  const std::string location = pc != nullptr ? source_location(pc) : std::string();
  return location.empty() ? "(no line information: build kernels with -g)" : location;
}

}  // namespace

void race_begin_block(Worker& worker) {
  if (state.regions.empty()) {
    add_tls_regions(state.regions);
    Region dynamic;
    dynamic.begin = reinterpret_cast<std::uintptr_t>(worker.dynamic_shared());
    dynamic.end = dynamic.begin + max_shared_bytes_per_block_optin;
    dynamic.dynamic = true;
    dynamic.cells.resize(max_shared_bytes_per_block_optin / 4);
    state.regions.push_back(std::move(dynamic));
  }
  state.worker = &worker;
  state.race = Race{};
  ++state.epoch;
}

void race_new_epoch() { ++state.epoch; }

void race_end_block() {
  Worker& worker = *state.worker;
  state.worker = nullptr;
  const Race& race = state.race;
  if (!race.found) return;
  const std::string kind = race.write ? "write" : "read";
  std::string other;
  if (race.other == nobody) {
    other = "reads by other threads";
  } else {
    other = std::string(race.other_write ? "write" : "read") + " by thread " +
            describe(worker.thread(race.other).index) + " at " + where(race.other_pc);
  }
  const std::string memory = race.dynamic ? "dynamic shared memory at byte offset " + std::to_string(race.offset)
                                          : std::string("a static __shared__ variable");
  worker.note_failure(cudaErrorLaunchFailure,
                      worker.header("shared-memory race", worker.thread(race.thread)) + " at " + where(race.pc) + ": " +
                          kind + " of " + std::to_string(race.bytes) + " bytes of " + memory + " conflicts with the " +
                          other + ", with no __syncthreads (or, within one warp, __syncwarp or warp collective) "
                          "between them. Order the accesses with a barrier.");
}

}  // namespace fovea::emu::detail

// ---- Callbacks of GCC's -fsanitize=thread instrumentation ----

using fovea::emu::detail::check;

#define FOVEA_TSAN_ACCESS(prefix, bytes)                                                                  \
  extern "C" void __tsan_##prefix##read##bytes(void* a) { check(a, bytes, false, __builtin_return_address(0)); } \
  extern "C" void __tsan_##prefix##write##bytes(void* a) { check(a, bytes, true, __builtin_return_address(0)); }
FOVEA_TSAN_ACCESS(, 1)
FOVEA_TSAN_ACCESS(, 2)
FOVEA_TSAN_ACCESS(, 4)
FOVEA_TSAN_ACCESS(, 8)
FOVEA_TSAN_ACCESS(, 16)
FOVEA_TSAN_ACCESS(unaligned_, 2)
FOVEA_TSAN_ACCESS(unaligned_, 4)
FOVEA_TSAN_ACCESS(unaligned_, 8)
FOVEA_TSAN_ACCESS(unaligned_, 16)
#undef FOVEA_TSAN_ACCESS

extern "C" void __tsan_read_range(void* a, unsigned long bytes) { check(a, bytes, false, __builtin_return_address(0)); }
extern "C" void __tsan_write_range(void* a, unsigned long bytes) { check(a, bytes, true, __builtin_return_address(0)); }
extern "C" void __tsan_vptr_read(void**) {}
extern "C" void __tsan_vptr_update(void**, void*) {}
extern "C" void __tsan_init() {}
