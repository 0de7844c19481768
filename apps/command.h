// Registry of `fovea <subcommand>` handlers. Each apps/cmd_*.cpp registers its commands with
// FOVEA_COMMAND; apps/fovea.cpp dispatches on argv[1] and prints them in `fovea --help`.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace fovea::cli {

struct Command {
  std::string name;     // e.g. "info", "bench", "data"
  std::string summary;  // one line for `fovea --help`
  std::function<int(int argc, char** argv)> run;  // argv[0] is the subcommand name
};

std::vector<Command>& commands();

struct CommandRegistrar {
  CommandRegistrar(std::string name, std::string summary, std::function<int(int, char**)> run) {
    commands().push_back({std::move(name), std::move(summary), std::move(run)});
  }
};

}  // namespace fovea::cli

#define FOVEA_COMMAND_CAT2(a, b) a##b
#define FOVEA_COMMAND_CAT(a, b) FOVEA_COMMAND_CAT2(a, b)
#define FOVEA_COMMAND(name, summary, fn) \
  static ::fovea::cli::CommandRegistrar FOVEA_COMMAND_CAT(fovea_command_, __LINE__)(name, summary, fn)
