// emu/selftest/race, built only with FOVEA_EMU_SANITIZE=race: a missing __syncthreads between
// a shared-memory write and another thread's read is reported with both sites, and correct
// kernels synchronised by __syncthreads or __syncwarp raise no report, and a race in a launch
// deferred on a stream is reported when the stream is synchronised.
#include "emu/emu_gemm.h"
#include "emu_test_util.h"
#include "tests/emu/test_kernels.h"

#include <numeric>

namespace fovea::emu_test {

TEST_SUITE("emu") {

TEST_CASE("emu/selftest/race") {
  REQUIRE(fovea::emu::race_detector_enabled());
  std::vector<int> values(64);
  std::iota(values.begin(), values.end(), 0);
  for (std::uint64_t seed = 1; seed <= 4; ++seed) {
    CAPTURE(seed);
    CleanEmulator clean(seed);
    DeviceBuffer<int> in(values), out(64);

    CHECK(launch_reverse(false, in.get(), out.get()) == cudaErrorLaunchFailure);
    const std::string report = fovea::emu::last_report();
    CHECK_MESSAGE(contains(report, "shared-memory race in kernel 'fovea::emu_test::reverse_without_barrier' block (0,0,0) "
                                   "thread ("),
                  report);
    CHECK_MESSAGE(contains(report, kernel_site("race-write")), report);
    CHECK_MESSAGE(contains(report, kernel_site("race-read")), report);
    fovea::emu::clear_error();

    CHECK(launch_reverse(true, in.get(), out.get()) == cudaSuccess);
    CHECK(launch_warp_rotate(true, in.get(), out.get()) == cudaSuccess);
    CHECK(launch_dynamic_reverse(64, 0, out.get()) == cudaSuccess);
    CHECK(launch_shuffle_with_ballot_mask(out.get()) == cudaSuccess);
    DeviceBuffer<float> a(40 * 24), b(24 * 50), c(40 * 50);
    CHECK(fovea::launch_emu_gemm(a.get(), b.get(), c.get(), 40, 50, 24, nullptr) == cudaSuccess);
    CHECK_MESSAGE(fovea::emu::last_report().empty(), fovea::emu::last_report());
  }
}

TEST_CASE("emu/stream race in a deferred launch is reported at the synchronisation") {
  REQUIRE(fovea::emu::race_detector_enabled());
  CleanEmulator clean;
  std::vector<int> values(64);
  std::iota(values.begin(), values.end(), 0);
  DeviceBuffer<int> in(values), out(64);
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
  CHECK(launch_reverse(false, in.get(), out.get(), stream) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());
  CHECK(cudaStreamSynchronize(stream) == cudaErrorLaunchFailure);
  const std::string report = fovea::emu::last_report();
  CHECK_MESSAGE(contains(report, "shared-memory race in kernel 'fovea::emu_test::reverse_without_barrier'"), report);
  CHECK_MESSAGE(contains(report, kernel_site("race-write")), report);
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
