// The benchmark harness behind `fovea bench`: kernels register benchmark functions with
// FOVEA_BENCH; each function builds its inputs and hands the runner a list of variants.
// The runner validates every variant against the reference before timing it, then records
// warm-up + repeated timings (median/min/max) with the variant's declared bytes and flops.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/tensor.h"

namespace fovea::bench {

// Where benchmarks run: the CPU and, in builds with a CUDA backend and a device, "cuda" (a GPU)
// or "cuda-emu" (the SIMT emulator, where benchmarks use reduced sizes).
struct Target {
  Device device;
  std::string name;
  bool emulated() const { return name == "cuda-emu"; }
};
std::vector<Target> targets();

// Waits for the work queued on `device` (none on the CPU); timed runs end with it.
void synchronize(const Device& device);

// Compares a variant's result (any device, dtype and shape with expected's element count) with
// an f64 CPU reference: "" when |actual - expected| <= tolerance·(1 + |expected|) everywhere,
// else `what`, the worst element and the tolerance.
std::string compare(const std::string& what, const Tensor& actual, const Tensor& expected, double tolerance);

struct Variant {
  std::string name;     // e.g. "fovea", "openblas", "fused", "unfused"
  double bytes = 0;     // analytical minimum memory traffic of one run (read + write)
  double flops = 0;     // analytical work of one run
  std::function<void()> run;
  // Runs the variant once more if needed and compares with the reference; returns an
  // empty string when it agrees, else a description of the worst mismatch.
  std::function<std::string()> check;
};

struct Case {
  std::string kernel;             // e.g. "matmul"
  std::string shape;              // e.g. "1024x1024x1024"
  std::string device = "cpu";     // "cpu", "cuda", "cuda-emu"
  std::vector<Variant> variants;
  int min_repeats = 5;            // repeats continue until min_seconds has also elapsed
  double min_seconds = 0.5;
};

class Runner {
 public:
  virtual ~Runner() = default;
  // True when the --filter regex matches "kernel/variant" for some listed variant; lets a
  // benchmark skip building large inputs nobody asked for.
  virtual bool wants(const std::string& kernel, const std::vector<std::string>& variants) const = 0;
  virtual void run(Case c) = 0;
};

using BenchFn = void (*)(Runner&);
struct Registrar {
  Registrar(const char* name, BenchFn fn);
};
struct Registered {
  const char* name;
  BenchFn fn;
};
std::vector<Registered>& registry();

}  // namespace fovea::bench

#define FOVEA_BENCH(ident)                                                       \
  static void ident(::fovea::bench::Runner&);                                    \
  static ::fovea::bench::Registrar fovea_bench_registrar_##ident(#ident, ident); \
  static void ident(::fovea::bench::Runner& runner)
