// The `fovea` command-line program: dispatches `fovea <subcommand>` to the handlers that
// apps/cmd_*.cpp register, and prints them for --help.
#include <cstdio>
#include <cstring>
#include <exception>

#include "apps/command.h"
#include "engine/error.h"

namespace fovea::cli {
std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
}  // namespace fovea::cli

namespace {

void print_help() {
  std::printf("usage: fovea <command> [options]\n\ncommands:\n");
  for (const auto& c : fovea::cli::commands()) std::printf("  %-10s %s\n", c.name.c_str(), c.summary.c_str());
  std::printf("\n`fovea <command> --help` describes a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    print_help();
    return argc < 2 ? 2 : 0;
  }
  for (const auto& c : fovea::cli::commands()) {
    if (c.name != argv[1]) continue;
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const fovea::Error& e) {
      std::fprintf(stderr, "fovea %s: error: %s\n", argv[1], e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "fovea %s: error: %s\n", argv[1], e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "fovea: unknown command '%s'\n\n", argv[1]);
  print_help();
  return 2;
}
