// Entry point of `fovea bench`: runs the registered benchmarks matching a regex.
#pragma once
#include <string>

#include "profiling/bench.h"

namespace fovea::bench {

// Runs every registered benchmark whose "kernel/variant" contains a match of `filter`,
// prints a table and, when json_path is set, writes the records there atomically.
// Returns 0 when every timed variant validated, 1 when one did not, 2 when none matched.
int run_benchmarks(const std::string& filter, const std::string& json_path);

// Prints, for every record of `candidate_path` that `baseline_path` also has (same kernel,
// variant, shape and device), both medians and their ratio B/A. Returns 2 when none match.
int compare_runs(const std::string& baseline_path, const std::string& candidate_path);

}  // namespace fovea::bench
