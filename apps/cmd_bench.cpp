// `fovea bench [--filter REGEX] [--json FILE] [--list]`: runs the registered benchmarks.
#include <cstdio>
#include <cstring>
#include <string>

#include "apps/command.h"
#include "profiling/bench_runner.h"

namespace {

void usage() {
  std::printf(
      "usage: fovea bench [--filter REGEX] [--json FILE] [--list]\n"
      "       fovea bench --compare A.json B.json\n\n"
      "Validates, then times, every benchmark variant whose \"kernel/variant\" contains a match\n"
      "of REGEX (all when omitted). Prints a table; --json writes the records to FILE.\n"
      "--list prints the registered benchmark groups. --compare prints the median times of two\n"
      "runs side by side with their ratio B/A.\n");
}

int run_bench(int argc, char** argv) {
  std::string filter, json;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* flag) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "fovea bench: %s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else if (arg == "--filter") {
      filter = value("--filter");
    } else if (arg == "--json") {
      json = value("--json");
    } else if (arg == "--compare") {
      if (i + 2 >= argc) {
        std::fprintf(stderr, "fovea bench: --compare needs two JSON files\n");
        return 2;
      }
      return fovea::bench::compare_runs(argv[i + 1], argv[i + 2]);
    } else if (arg == "--list") {
      for (const auto& r : fovea::bench::registry()) std::printf("%s\n", r.name);
      return 0;
    } else {
      std::fprintf(stderr, "fovea bench: unknown option '%s'\n\n", arg.c_str());
      usage();
      return 2;
    }
  }
  return fovea::bench::run_benchmarks(filter, json);
}

}  // namespace

FOVEA_COMMAND("bench", "validate and time kernel variants, write JSON records", run_bench);
