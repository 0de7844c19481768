// Self-tests of the SIMT emulator: each bug class it must catch is caught and reported with
// kernel, block, thread and file:line, the matching correct kernel runs without a report, and
// launch validation returns the error codes a real device returns.
#include "emu_test_util.h"
#include "tests/emu/test_kernels.h"

#include <numeric>

namespace fovea::emu_test {
namespace {

std::vector<int> iota(int n, int start = 0) {
  std::vector<int> values(static_cast<std::size_t>(n));
  std::iota(values.begin(), values.end(), start);
  return values;
}

}  // namespace

TEST_SUITE("emu") {

TEST_CASE("emu/selftest/divergence") {
  CleanEmulator clean;
  DeviceBuffer<int> out(64);

  CHECK(launch_barrier_after_early_exit(out.get()) == cudaErrorLaunchFailure);
  const std::string exit_report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(exit_report, "barrier divergence in kernel 'fovea::emu_test::barrier_after_early_exit' block (0,0,0) "
                                      "thread (0,0,0) at " + kernel_site("divergent-exit")),
                exit_report);
  CHECK_MESSAGE(contains(exit_report, "thread (16,0,0) has exited"), exit_report);

  // The failure is sticky, as a launch failure on a GPU is, until the device is reset.
  CHECK(cudaGetLastError() == cudaErrorLaunchFailure);
  CHECK(cudaDeviceSynchronize() == cudaErrorLaunchFailure);
  CHECK(cudaDeviceReset() == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);

  CHECK(launch_barrier_in_both_branches(out.get()) == cudaErrorLaunchFailure);
  const std::string branch_report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(branch_report, "block (0,0,0) thread (0,0,0) at " + kernel_site("divergent-even")), branch_report);
  CHECK_MESSAGE(contains(branch_report, "thread (1,0,0) waits at __syncthreads at " + kernel_site("divergent-odd")), branch_report);
  fovea::emu::clear_error();

  DeviceBuffer<int> in(iota(64));
  CHECK(launch_reverse(true, in.get(), out.get()) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());
  const std::vector<int> reversed = out.download();
  for (int i = 0; i < 64; ++i) CHECK(reversed[static_cast<std::size_t>(i)] == 63 - i);
}

TEST_CASE("emu/selftest/deadlock") {
  CleanEmulator clean;
  DeviceBuffer<int> out(64);

  CHECK(launch_shuffle_after_early_exit(out.get()) == cudaErrorLaunchFailure);
  const std::string exit_report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(exit_report, "warp-collective deadlock in kernel 'fovea::emu_test::shuffle_after_early_exit' "
                                      "block (0,0,0) thread (0,0,0) at " + kernel_site("deadlock-exit") +
                                      ": __shfl_down_sync(mask 0xffffffff)"),
                exit_report);
  CHECK_MESSAGE(contains(exit_report, "lane 16 (thread (16,0,0)) has exited"), exit_report);
  fovea::emu::clear_error();

  CHECK(launch_shuffle_beside_barrier(out.get()) == cudaErrorLaunchFailure);
  const std::string barrier_report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(barrier_report, "block (0,0,0) thread (0,0,0) at " + kernel_site("deadlock-barrier-shfl") +
                                         ": __shfl_xor_sync(mask 0xffffffff)"),
                barrier_report);
  CHECK_MESSAGE(contains(barrier_report, "lane 16 (thread (16,0,0)) waits at __syncthreads at " + kernel_site("deadlock-barrier")),
                barrier_report);
  fovea::emu::clear_error();

  CHECK(launch_shuffle_with_ballot_mask(out.get()) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());
  const std::vector<int> values = out.download();
  for (int t = 0; t < 64; ++t) {
    const int lane = t % 32;
    CHECK(values[static_cast<std::size_t>(t)] == (lane < 16 ? lane ^ 1 : lane));
  }
}

TEST_CASE("emu/selftest/warp_sync") {
  const std::vector<int> input = iota(32, 1000);
  std::vector<int> rotated(32);
  for (int lane = 0; lane < 32; ++lane) rotated[static_cast<std::size_t>(lane)] = input[static_cast<std::size_t>((lane + 1) % 32)];

  for (std::uint64_t seed = 1; seed <= 8; ++seed) {
    CAPTURE(seed);
    CleanEmulator clean(seed);
    DeviceBuffer<int> in(input), out(32);
    CHECK(launch_warp_rotate(true, in.get(), out.get()) == cudaSuccess);
    CHECK(fovea::emu::last_report().empty());
    CHECK(out.download() == rotated);

    // Without __syncwarp between the read and the write, lanes that run ahead overwrite slots
    // their neighbours have not read: under independent thread scheduling no order is right.
    const cudaError_t status = launch_warp_rotate(false, in.get(), out.get());
    if (fovea::emu::race_detector_enabled()) {
      CHECK(status == cudaErrorLaunchFailure);
      const std::string report = fovea::emu::last_report();
      CHECK_MESSAGE(contains(report, "shared-memory race in kernel 'fovea::emu_test::warp_rotate_lockstep' block (0,0,0) thread ("),
                    report);
      CHECK_MESSAGE(contains(report, kernel_site("lockstep-read")), report);
      CHECK_MESSAGE(contains(report, kernel_site("lockstep-write")), report);
    } else {
      CHECK(status == cudaSuccess);
      CHECK(out.download() != rotated);
    }
  }
}

TEST_CASE("emu/selftest/launch") {
  CleanEmulator clean;
  DeviceBuffer<int> out(2048);

  CHECK(launch_write_each_thread(1, 1025, 0, out.get()) == cudaErrorInvalidConfiguration);
  CHECK_MESSAGE(contains(fovea::emu::last_report(), "launch of kernel 'fovea::emu_test::write_each_thread' at " +
                                                        kernel_site("launch-site") +
                                                        " rejected: block (1025,1,1) has 1025 threads"),
                fovea::emu::last_report());
  CHECK_MESSAGE(contains(fovea::emu::last_report(), "(cudaErrorInvalidConfiguration)"), fovea::emu::last_report());
  // A configuration error is not sticky: reported once, then the device works on.
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(launch_write_each_thread(1, dim3(32, 33), 0, out.get()) == cudaErrorInvalidConfiguration);
  CHECK(launch_write_each_thread(1, dim3(1, 1, 65), 0, out.get()) == cudaErrorInvalidConfiguration);
  CHECK(launch_write_each_thread(dim3(1, 65536), 1, 0, out.get()) == cudaErrorInvalidConfiguration);
  CHECK(launch_write_each_thread(0, 32, 0, out.get()) == cudaErrorInvalidConfiguration);
  CHECK(launch_write_each_thread(2, 1024, 0, out.get()) == cudaSuccess);

  CHECK(launch_write_each_thread(1, 32, 48 * 1024 + 4, out.get()) == cudaErrorInvalidValue);
  CHECK_MESSAGE(contains(fovea::emu::last_report(), "49156 bytes of dynamic shared memory exceed the 49152-byte limit"),
                fovea::emu::last_report());
  CHECK(launch_write_each_thread(1, 32, 48 * 1024, out.get()) == cudaSuccess);
  CHECK(allow_write_each_thread_shared_bytes(100 * 1024) == cudaSuccess);
  CHECK(launch_write_each_thread(1, 32, 100 * 1024, out.get()) == cudaSuccess);
  CHECK(allow_write_each_thread_shared_bytes(200 * 1024) == cudaErrorInvalidValue);
  CHECK(allow_write_each_thread_shared_bytes(48 * 1024) == cudaSuccess);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("emu/selftest/dynamic_shared") {
  CleanEmulator clean;
  DeviceBuffer<int> out(64);
  CHECK(launch_dynamic_reverse(64, 0, out.get()) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());
  const std::vector<int> reversed = out.download();
  for (int i = 0; i < 64; ++i) CHECK(reversed[static_cast<std::size_t>(i)] == 63 - i);

  CHECK(launch_dynamic_reverse(64, 1, out.get()) == cudaErrorIllegalAddress);
  const std::string report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(report, "dynamic shared memory overrun in kernel 'fovea::emu_test::dynamic_reverse' block (0,0,0) "
                                 "thread (0,0,0) at " + kernel_site("dynamic-read") + ": index 64 of 'values'"),
                report);
  CHECK_MESSAGE(contains(report, "outside the 256 bytes (64 elements of 4 bytes)"), report);
}

TEST_CASE("emu/shuffles follow cuda width and clamping rules") {
  CleanEmulator clean;
  for (const int width : {32, 16, 8, 4, 2, 1}) {
    CAPTURE(width);
    DeviceBuffer<int> out(32 * 8);
    REQUIRE(launch_shuffle_table(width, out.get()) == cudaSuccess);
    const std::vector<int> table = out.download();
    for (int lane = 0; lane < 32; ++lane) {
      CAPTURE(lane);
      const int segment = lane / width * width;
      const auto value = [](int source) { return 100 + source; };
      const auto at = [&](int column) { return table[static_cast<std::size_t>(lane * 8 + column)]; };
      CHECK(at(0) == value(segment + 3 % width));
      CHECK(at(1) == value(segment + (lane + 5) % width));
      CHECK(at(2) == value(segment + width - 1));
      CHECK(at(3) == (lane - segment >= 3 ? value(lane - 3) : value(lane)));
      CHECK(at(4) == (lane - segment + 3 < width ? value(lane + 3) : value(lane)));
      const int xor5 = lane ^ 5, xor16 = lane ^ 16;
      CHECK(at(5) == (xor5 / width > lane / width ? value(lane) : value(xor5)));
      CHECK(at(6) == (xor16 / width > lane / width ? value(lane) : value(xor16)));
      CHECK(at(7) == 1 + 2 * (segment + (31 - lane) % width));
    }
  }
}

TEST_CASE("emu/votes barriers with predicates and warp reductions") {
  CleanEmulator clean;
  DeviceBuffer<int> out(64 * 12);
  REQUIRE(launch_votes(out.get()) == cudaSuccess);
  const std::vector<int> rows = out.download();
  unsigned every_third = 0;
  for (int lane = 0; lane < 32; lane += 3) every_third |= 1u << lane;
  for (int t = 0; t < 64; ++t) {
    CAPTURE(t);
    const int lane = t % 32;
    const auto at = [&](int column) { return rows[static_cast<std::size_t>(t * 12 + column)]; };
    CHECK(static_cast<unsigned>(at(0)) == every_third);
    CHECK(at(1) == 1);
    CHECK(at(2) == 0);
    CHECK(at(3) == 13);
    CHECK(at(4) == 1);
    CHECK(at(5) == 1);
    CHECK(static_cast<unsigned>(at(6)) == 0xffu << (lane / 8 * 8));
    CHECK(static_cast<unsigned>(at(7)) == 0xffffffffu);
    CHECK(at(8) == 1);
    CHECK(at(9) == 496);
    CHECK(at(10) == -21);
    CHECK(static_cast<unsigned>(at(11)) == 0xffffffffu);
  }
}

TEST_CASE("emu/atomics from concurrent blocks") {
  CleanEmulator clean;
  DeviceBuffer<int> counters(std::vector<int>{0, -1, 1 << 30, 0});
  DeviceBuffer<float> sum(1);
  DeviceBuffer<unsigned> wrap(1);
  REQUIRE(launch_atomics(40, 128, counters.get(), sum.get(), wrap.get()) == cudaSuccess);
  const std::vector<int> c = counters.download();
  CHECK(c[0] == 40 * 128);
  CHECK(c[1] == 40 * 128 - 1);
  CHECK(c[2] == 0);
  CHECK(c[3] >= 1);
  CHECK(sum.download()[0] == doctest::Approx(0.5 * 40 * 128));
  CHECK(wrap.download()[0] == (40u * 128u) % 10u);
}

TEST_CASE("emu/scheduling order is seeded") {
  const auto order_for = [](std::uint64_t seed) {
    CleanEmulator clean(seed);
    DeviceBuffer<int> next(1), order(64);
    REQUIRE(launch_arrival_order(next.get(), order.get()) == cudaSuccess);
    return order.download();
  };
  const std::vector<int> first = order_for(7);
  CHECK(order_for(7) == first);
  CHECK(order_for(8) != first);
  CHECK(first != iota(64));
}

TEST_CASE("emu/runtime memory, streams, events and device properties") {
  CleanEmulator clean;
  int count = 0;
  CHECK(cudaGetDeviceCount(&count) == cudaSuccess);
  CHECK(count == 1);
  cudaDeviceProp prop{};
  CHECK(cudaGetDeviceProperties(&prop, 0) == cudaSuccess);
  CHECK(contains(prop.name, "emulator"));
  CHECK(prop.maxThreadsPerBlock == 1024);
  CHECK(prop.sharedMemPerBlock == 48 * 1024);
  CHECK(prop.warpSize == 32);
  CHECK(cudaSetDevice(1) == cudaErrorInvalidDevice);

  std::vector<float> host(16, 1.5f);
  float* device = nullptr;
  REQUIRE(cudaMalloc(&device, 16 * sizeof(float)) == cudaSuccess);
  CHECK(cudaMemcpy(device, host.data(), 16 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess);
  // Wrong direction, and one element past the allocation, fail as on a GPU.
  CHECK(cudaMemcpy(host.data(), device, 16 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(contains(fovea::emu::last_report(), "is device memory, but cudaMemcpyHostToDevice says it is host memory"));
  CHECK(cudaMemcpy(device, host.data(), 17 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  CHECK(cudaMemset(device + 8, 0, 9 * sizeof(float)) == cudaErrorInvalidValue);

  cudaStream_t stream = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  CHECK(cudaStreamCreate(&stream) == cudaSuccess);
  CHECK(cudaEventCreate(&start) == cudaSuccess);
  CHECK(cudaEventCreate(&stop) == cudaSuccess);
  CHECK(cudaEventRecord(start, stream) == cudaSuccess);
  CHECK(cudaMemsetAsync(device, 0, 16 * sizeof(float), stream) == cudaSuccess);
  CHECK(cudaMemcpyAsync(host.data(), device, 16 * sizeof(float), cudaMemcpyDeviceToHost, stream) == cudaSuccess);
  CHECK(cudaEventRecord(stop, stream) == cudaSuccess);
  CHECK(cudaStreamSynchronize(stream) == cudaSuccess);
  float milliseconds = -1.0f;
  CHECK(cudaEventElapsedTime(&milliseconds, start, stop) == cudaSuccess);
  CHECK(milliseconds >= 0.0f);
  CHECK(host[3] == 0.0f);
  CHECK(cudaEventDestroy(start) == cudaSuccess);
  CHECK(cudaEventDestroy(stop) == cudaSuccess);
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
  CHECK(cudaStreamDestroy(stream) == cudaErrorInvalidResourceHandle);
  CHECK(cudaStreamSynchronize(stream) == cudaErrorInvalidResourceHandle);

  CHECK(cudaFree(device) == cudaSuccess);
  CHECK(cudaFree(device) == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("emu/launch counts name each kernel") {
  CleanEmulator clean;
  DeviceBuffer<int> in(iota(64)), out(64);
  REQUIRE(launch_reverse(true, in.get(), out.get()) == cudaSuccess);
  bool found = false;
  for (const auto& entry : fovea::emu::launch_counts())
    if (entry.kernel == "fovea::emu_test::reverse_with_barrier" && entry.launches >= 1) found = true;
  CHECK(found);
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
