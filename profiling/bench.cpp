// The benchmark runner: filter by regex over "kernel/variant", validate each variant,
// time it (warm-up, then repeats until both a count and a time budget are reached), print
// a table and write JSON records.
#include "profiling/bench_runner.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <regex>
#include <sstream>

#include "fovea/build_config.h"
#include "engine/error.h"
#include "engine/ops.h"
#include "engine/info.h"
#include "engine/json.h"
#if FOVEA_HAS_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace fovea::bench {

std::vector<Registered>& registry() {
  static std::vector<Registered> all;
  return all;
}

Registrar::Registrar(const char* name, BenchFn fn) { registry().push_back({name, fn}); }

std::vector<Target> targets() {
  std::vector<Target> out{{Device::cpu(), "cpu"}};
#if FOVEA_HAS_CUDA
  if (cuda::available()) out.push_back({Device::cuda(0), cuda::emulated() ? "cuda-emu" : "cuda"});
#endif
  return out;
}

std::string compare(const std::string& what, const Tensor& actual, const Tensor& expected, double tolerance) {
  const std::vector<double> a = to_vector(actual.detach().to(Device::cpu())), e = to_vector(expected.detach().to(Device::cpu()));
  if (a.size() != e.size())
    return what + " has " + std::to_string(a.size()) + " elements, expected " + std::to_string(e.size());
  size_t worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double excess = std::abs(a[i] - e[i]) - tolerance * (1 + std::abs(e[i]));
    if (excess > worst_excess || std::isnan(excess)) {
      worst = i;
      worst_excess = excess;
      if (std::isnan(excess)) break;
    }
  }
  if (!(worst_excess > 0) && !std::isnan(worst_excess)) return "";
  std::ostringstream out;
  out << what << "[" << worst << "] = " << a[worst] << ", expected " << e[worst] << " (tolerance " << tolerance
      << " abs + rel)";
  return out.str();
}

void synchronize(const Device& device) {
#if FOVEA_HAS_CUDA
  if (device.is_cuda()) cuda::synchronize();
#else
  (void)device;
#endif
}

namespace {

// Peak DRAM bandwidth of the device a record ran on, in GB/s; 0 when unknown (the CPU, whose
// peak the runtime cannot read, and the emulator).
double peak_bandwidth_gbps(const std::string& device) {
#if FOVEA_HAS_CUDA
  if (device == "cuda" && cuda::available()) return cuda::device_peak_bandwidth_gbps(0);
#endif
  (void)device;
  return 0.0;
}

std::string quoted(const std::string& s) {
  std::string out;
  write_json_string(out, s);
  return out;
}

class TimingRunner final : public Runner {
 public:
  explicit TimingRunner(const std::string& filter) : filter_(filter), filter_text_(filter) {}

  bool matches(const std::string& kernel, const std::string& variant) const {
    return filter_text_.empty() || std::regex_search(kernel + "/" + variant, filter_);
  }
  bool wants(const std::string& kernel, const std::vector<std::string>& variants) const override {
    for (const auto& v : variants)
      if (matches(kernel, v)) return true;
    return false;
  }

  void run(Case c) override {
    for (Variant& v : c.variants) {
      if (!matches(c.kernel, v.name)) continue;
      Record r;
      r.kernel = c.kernel;
      r.variant = v.name;
      r.shape = c.shape;
      r.device = c.device;
      r.bytes = v.bytes;
      r.flops = v.flops;
      std::fprintf(stderr, "bench %s/%s [%s] ...", c.kernel.c_str(), v.name.c_str(), c.shape.c_str());
      std::fflush(stderr);
      v.run();
      r.check = v.check ? v.check() : "no reference check defined";
      r.validated = r.check.empty();
      if (!r.validated) {
        std::fprintf(stderr, " NOT VALIDATED: %s\n", r.check.c_str());
        records_.push_back(r);
        continue;
      }
      std::vector<double> ms;
      const auto start = std::chrono::steady_clock::now();
      while (static_cast<int>(ms.size()) < c.min_repeats ||
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < c.min_seconds) {
        const auto t0 = std::chrono::steady_clock::now();
        v.run();
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (ms.size() >= 1000) break;
      }
      std::sort(ms.begin(), ms.end());
      r.repeats = static_cast<int>(ms.size());
      r.min_ms = ms.front();
      r.max_ms = ms.back();
      r.median_ms = ms[ms.size() / 2];
      r.gflops = r.flops / (r.median_ms * 1e6);
      r.gbps = r.bytes / (r.median_ms * 1e6);
      r.peak_gbps = peak_bandwidth_gbps(r.device);
      std::fprintf(stderr, " %.3f ms\n", r.median_ms);
      records_.push_back(r);
    }
  }

  struct Record {
    std::string kernel, variant, shape, device, check;
    double bytes = 0, flops = 0, median_ms = 0, min_ms = 0, max_ms = 0, gflops = 0, gbps = 0;
    double peak_gbps = 0;  // the device's peak DRAM bandwidth; 0 when unknown
    double peak_percent() const { return peak_gbps > 0 ? 100.0 * gbps / peak_gbps : 0.0; }
    int repeats = 0;
    bool validated = false;
  };
  const std::vector<Record>& records() const { return records_; }

 private:
  std::regex filter_;
  std::string filter_text_;
  std::vector<Record> records_;
};

}  // namespace

int run_benchmarks(const std::string& filter, const std::string& json_path) {
  TimingRunner runner(filter);
  for (const Registered& r : registry()) r.fn(runner);
  const auto& records = runner.records();
  if (records.empty()) {
    std::fprintf(stderr, "no benchmark matches --filter '%s'\n", filter.c_str());
    return 2;
  }
  std::printf("%-22s %-14s %-22s %-8s %10s %10s %10s %9s %9s %6s %s\n", "kernel", "variant", "shape", "device",
              "median_ms", "min_ms", "max_ms", "GFLOP/s", "GB/s", "%peak", "valid");
  for (const auto& r : records) {
    char peak[16] = "-";
    if (r.peak_gbps > 0) std::snprintf(peak, sizeof peak, "%.1f", r.peak_percent());
    std::printf("%-22s %-14s %-22s %-8s %10.3f %10.3f %10.3f %9.2f %9.2f %6s %s\n", r.kernel.c_str(),
                r.variant.c_str(), r.shape.c_str(), r.device.c_str(), r.median_ms, r.min_ms, r.max_ms, r.gflops,
                r.gbps, peak, r.validated ? "yes" : "NO");
  }
  bool all_valid = true;
  for (const auto& r : records) all_valid = all_valid && r.validated;

  if (!json_path.empty()) {
    const BuildInfo info = build_info();
    const std::string tmp = json_path + ".tmp";
    std::ofstream out(tmp);
    FOVEA_CHECK(out.good(), "bench", "cannot write '", tmp, "'; check the directory exists and is writable");
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    out << "[\n";
    for (size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      out << "  {\"kernel\": " << quoted(r.kernel) << ", \"variant\": " << quoted(r.variant)
          << ", \"device\": " << quoted(r.device) << ", \"shape\": " << quoted(r.shape)
          << ", \"median_ms\": " << r.median_ms << ", \"min_ms\": " << r.min_ms << ", \"max_ms\": " << r.max_ms
          << ", \"repeats\": " << r.repeats << ", \"gflops\": " << r.gflops << ", \"gbps\": " << r.gbps
          << ", \"bytes\": " << r.bytes << ", \"flops\": " << r.flops;
      if (r.peak_gbps > 0)
        out << ", \"peak_gbps\": " << r.peak_gbps << ", \"peak_bandwidth_percent\": " << r.peak_percent();
      out
          << ", \"validated\": " << (r.validated ? "true" : "false") << ", \"check\": " << quoted(r.check)
          << ", \"blas\": " << quoted(info.blas) << ", \"threads\": " << info.threads
          << ", \"commit\": " << quoted(info.commit) << ", \"build\": " << quoted(info.build_type)
          << ", \"date\": " << quoted(date) << "}" << (i + 1 < records.size() ? "," : "") << "\n";
    }
    out << "]\n";
    out.close();
    FOVEA_CHECK(out.good(), "bench", "writing '", tmp, "' failed (disk full?)");
    FOVEA_CHECK(std::rename(tmp.c_str(), json_path.c_str()) == 0, "bench", "cannot rename '", tmp, "' to '",
                json_path, "'");
    std::fprintf(stderr, "wrote %zu records to %s\n", records.size(), json_path.c_str());
  }
  return all_valid ? 0 : 1;
}

namespace {

struct Timing {
  std::string key;
  double median_ms = 0;
};

std::vector<Timing> read_records(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  FOVEA_CHECK(in.good(), "bench --compare", "cannot read '", path, "'; pass two files written by fovea bench --json");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Json root = parse_json(text, "bench --compare", "'" + path + "'", "pass a file written by fovea bench --json");
  FOVEA_CHECK(root.kind == Json::Kind::array, "bench --compare", "'", path, "' must hold a JSON array of records, got ",
              kind_name(root.kind));
  std::vector<Timing> out;
  for (const Json& record : root.items) {
    auto text_of = [&](const char* name) {
      const Json* field = record.kind == Json::Kind::object ? find_member(record, name) : nullptr;
      FOVEA_CHECK(field && field->kind == Json::Kind::string, "bench --compare", "a record in '", path,
                  "' has no string field '", name, "'");
      return field->text;
    };
    const Json* median = find_member(record, "median_ms");
    FOVEA_CHECK(median && median->kind == Json::Kind::number, "bench --compare", "a record in '", path,
                "' has no number field 'median_ms'");
    out.push_back({text_of("kernel") + "/" + text_of("variant") + " [" + text_of("shape") + ", " +
                       text_of("device") + "]",
                   std::stod(median->text)});
  }
  return out;
}

}  // namespace

int compare_runs(const std::string& baseline_path, const std::string& candidate_path) {
  const std::vector<Timing> baseline = read_records(baseline_path), candidate = read_records(candidate_path);
  std::printf("%-60s %12s %12s %9s\n", "kernel/variant [shape, device]", "A median_ms", "B median_ms", "B/A");
  int matched = 0;
  for (const Timing& b : candidate) {
    for (const Timing& a : baseline) {
      if (a.key != b.key) continue;
      ++matched;
      std::printf("%-60s %12.3f %12.3f %8.2fx\n", b.key.c_str(), a.median_ms, b.median_ms,
                  a.median_ms > 0 ? b.median_ms / a.median_ms : 0.0);
      break;
    }
  }
  if (matched == 0) {
    std::fprintf(stderr, "no record of '%s' matches one of '%s' (kernel, variant, shape and device must agree)\n",
                 candidate_path.c_str(), baseline_path.c_str());
    return 2;
  }
  return 0;
}

}  // namespace fovea::bench
