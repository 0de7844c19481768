// emu/selftest/oob, built only with FOVEA_EMU_SANITIZE=address: an emulated kernel's
// out-of-bounds global write is caught by AddressSanitizer (the emulator annotates its fiber
// switches, so stack switching raises no false reports). ASan stops the process, so the test
// runs the faulty launch in a child copy of this executable and reads its report.
#include "emu_test_util.h"
#include "tests/emu/test_kernels.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>

namespace fovea::emu_test {

TEST_SUITE("emu") {

TEST_CASE("emu/selftest/oob") {
  CleanEmulator clean;
  DeviceBuffer<int> out(64);
  if (std::getenv("FOVEA_EMU_OOB_CHILD") != nullptr) {
    launch_write_each_thread(1, 65, 0, out.get());
    FAIL("AddressSanitizer let thread 64 write past the 64-int buffer");
  }

  CHECK(launch_write_each_thread(1, 64, 0, out.get()) == cudaSuccess);
  CHECK(fovea::emu::last_report().empty());

  std::array<char, 4096> self{};
  REQUIRE(readlink("/proc/self/exe", self.data(), self.size() - 1) > 0);
  const std::string command =
      std::string("FOVEA_EMU_OOB_CHILD=1 '") + self.data() + "' --test-case=emu/selftest/oob 2>&1";
  FILE* child = popen(command.c_str(), "r");
  REQUIRE(child != nullptr);
  std::string output;
  std::array<char, 4096> chunk{};
  while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), child) != nullptr) output += chunk.data();
  const int status = pclose(child);

  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) != 0);
  CHECK_MESSAGE(contains(output, "AddressSanitizer: heap-buffer-overflow"), output);
  CHECK_MESSAGE(contains(output, "WRITE of size 4"), output);
  CHECK_MESSAGE(contains(output, "fovea emu: AddressSanitizer report in kernel 'fovea::emu_test::write_each_thread' "
                                 "block (0,0,0) thread (64,0,0)"),
                output);
  CHECK_MESSAGE(contains(output, kernel_site("oob-write")), output);
  CHECK_MESSAGE(!contains(output, "AddressSanitizer failed to allocate"), output);
}

}  // TEST_SUITE

}  // namespace fovea::emu_test
