// Checkpoints in the safetensors format, so a PyTorch state_dict exported with
// safetensors.torch.save_file loads here and fovea's files load in PyTorch.
//
// safetensors file: u64 little-endian header length N, N bytes of JSON header (padded with
// spaces), then the data section. The header maps each tensor name to {"dtype" (F32, F64,
// I32, I64, U8), "shape", "data_offsets": [begin, end) in the data section}, plus an
// optional "__metadata__" string-to-string map. Loading validates the header completely
// before reading data: length against the file size, JSON syntax, known dtypes, shapes
// whose byte size fits in 64 bits, offsets inside the data section matching the byte size,
// and ranges that tile the data section exactly (no overlap, gap or trailing bytes).
//
// Writes are atomic: a temporary file in the destination's directory is written, fsynced,
// renamed over the destination and the directory fsynced, so a failure at any point (full
// disk, crash, unwritable directory) leaves the previous file intact.
//
// A Checkpoint is one safetensors file laid out as:
//   tensors  "model/<state_dict key>", "optimizer/<OptimizerState key>", "extra/<name>"
//   metadata "format" = "fovea.checkpoint.1", "step", "epoch",
//            "optimizer/<OptimizerState scalar key>", "schedules" (count),
//            "schedule/<k>/<ScheduleState key>", "rng/<name>" = "<seed> <offset>",
//            "scalar/<name>"
// Scalars are stored as text in __metadata__ (doubles in shortest round-trip form, so they
// come back bit for bit, inf and nan included); counters as decimal integers.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/generator.h"
#include "engine/nn/module.h"
#include "engine/optim.h"
#include "engine/schedule.h"

namespace fovea {

using TensorMap = std::map<std::string, Tensor>;
using Metadata = std::map<std::string, std::string>;

// Tensors are written from the CPU in row-major order, whatever their device or layout.
void save_safetensors(const std::string& path, const TensorMap& tensors, const Metadata& metadata = {});
// CPU tensors; fills *metadata with __metadata__ when given. Throws fovea::Error naming the
// path and the problem for any malformed, truncated or hostile file.
TensorMap load_safetensors(const std::string& path, Metadata* metadata = nullptr);

struct Checkpoint {
  nn::StateDict model;
  OptimizerState optimizer;
  std::vector<ScheduleState> schedules;  // in the order of the schedules given to capture
  int64_t step = 0;
  int64_t epoch = 0;
  std::map<std::string, Generator> generators;  // state (seed, offset) of named generators
  TensorMap tensors;                            // memory banks, queues, ...
  std::map<std::string, double> scalars;        // frozen constants, sampler positions, ...

  // The state of a model and optionally its optimiser and schedules.
  static Checkpoint capture(const nn::Module& model, const Optimizer* optimizer = nullptr,
                            const std::vector<const LRScheduler*>& schedules = {});
  // Loads model (strict), optimiser and schedules after checking all of them; on any
  // problem throws one fovea::Error naming every missing/unexpected key and mismatch, and
  // changes nothing. Generators, tensors and scalars are the caller's to read.
  void restore(nn::Module& model, Optimizer* optimizer = nullptr,
               const std::vector<LRScheduler*>& schedules = {}) const;
};

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint load_checkpoint(const std::string& path);

}  // namespace fovea
