// The cuDNN convolution path through the cuDNN 9 graph (backend) API only: tensor, convolution
// and operation descriptors form a one-operation graph, heuristics (mode A, then the fallback
// list) rank engine configurations, and the first that finalizes into an execution plan is
// cached under a key of everything the plan depends on. Device properties are given through a
// DEVICEPROP descriptor (cuDNN >= 9.8), so no deprecated attribute or entry point is used:
// CUDNN_WARN_DEPRECATED below turns any such use into a compile warning.
//
// 2-D convolutions (depth 1, kernel depth 1, no depth padding) are described as 4-D tensors so
// that cuDNN's 2-D engines take them. Groups follow from the shapes: w [K, C/groups, ...].
// The bias is added by the handwritten conv_add_bias kernel after the convolution.
#define CUDNN_WARN_DEPRECATED
#include <cudnn_graph.h>

#include <array>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/cuda/cudnn.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "engine/cuda/runtime.h"
#include "kernels/conv.h"

namespace fovea::cuda {
namespace {

[[noreturn]] void throw_cudnn_error(cudnnStatus_t status, const char* expression, const char* file, int line) {
  std::array<char, 1024> last{};
  cudnnGetLastErrorString(last.data(), last.size());
  throw Error("cudnn",
              detail::concat(expression, " failed with ", cudnnGetErrorString(status),
                             last[0] ? std::string(" (") + last.data() + ")" : std::string(),
                             "; run with CUDNN_LOGLEVEL_DBG=2 CUDNN_LOGDEST_DBG=stderr for cuDNN's log, and pass "
                             "ConvBackend::handwritten (or call set_conv_backend(ConvBackend::handwritten)) to use "
                             "the handwritten convolution kernels instead"),
              file, line);
}

#define FOVEA_CUDNN_CHECK(expression)                                          \
  do {                                                                         \
    const cudnnStatus_t fovea_cudnn_status = (expression);                     \
    if (fovea_cudnn_status != CUDNN_STATUS_SUCCESS) [[unlikely]]               \
      throw_cudnn_error(fovea_cudnn_status, #expression, __FILE__, __LINE__);  \
  } while (0)

#define FOVEA_CUDNN_SET(descriptor, name, type, count, values) \
  FOVEA_CUDNN_CHECK(cudnnBackendSetAttribute((descriptor).get(), name, type, count, values))

// An owned backend descriptor.
class Descriptor {
 public:
  explicit Descriptor(cudnnBackendDescriptorType_t type) { FOVEA_CUDNN_CHECK(cudnnBackendCreateDescriptor(type, &d_)); }
  ~Descriptor() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Descriptor(Descriptor&& other) noexcept : d_(other.d_) { other.d_ = nullptr; }
  Descriptor& operator=(Descriptor&&) = delete;
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  cudnnBackendDescriptor_t* address() { return &d_; }
  void finalize() { FOVEA_CUDNN_CHECK(cudnnBackendFinalize(d_)); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

enum class Kind : int64_t { forward, backward_data, backward_filter };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::forward: return "forward";
    case Kind::backward_data: return "backward-data";
    case Kind::backward_filter: return "backward-filter";
  }
  return "?";
}

// Unique ids of the three tensors of every convolution operation: the x-shaped, the
// weight-shaped and the output-shaped one (x/w/y, dx/w/dy or x/dw/dy).
constexpr std::array<int64_t, 3> kUids = {'x', 'w', 'y'};

// Dims and contiguous strides of the x, w and y tensors, and the convolution parameters, with
// the depth dim left out for 2-D convolutions.
struct Layout {
  std::array<std::vector<int64_t>, 3> dims, strides;
  std::vector<int64_t> stride, padding, dilation;
};

Layout layout_of(const cpu::ConvGeometry& g) {
  const bool two_d = g.in[0] == 1 && g.kernel[0] == 1 && g.padding[0] == 0;
  const int first = two_d ? 1 : 0;
  Layout l;
  l.dims[0] = {g.batch, g.in_channels};
  l.dims[1] = {g.out_channels, g.in_channels / g.groups};
  l.dims[2] = {g.batch, g.out_channels};
  for (int d = first; d < 3; ++d) {
    l.dims[0].push_back(g.in[d]);
    l.dims[1].push_back(g.kernel[d]);
    l.dims[2].push_back(g.out[d]);
    l.stride.push_back(g.stride[d]);
    l.padding.push_back(g.padding[d]);
    l.dilation.push_back(g.dilation[d]);
  }
  for (int t = 0; t < 3; ++t) {
    l.strides[t].assign(l.dims[t].size(), 1);
    for (int d = static_cast<int>(l.dims[t].size()) - 2; d >= 0; --d)
      l.strides[t][d] = l.strides[t][d + 1] * l.dims[t][d + 1];
  }
  return l;
}

// Byte alignment of an address, up to 16 (what the tensor descriptors promise cuDNN).
int64_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  int64_t alignment = 1;
  while (alignment < 16 && address % (2 * alignment) == 0) alignment *= 2;
  return alignment;
}

struct Request {
  Kind kind;
  DType dtype;
  bool allow_tf32;
  int device;
  Layout layout;
  int64_t groups;
  std::array<int64_t, 3> alignment;
};

std::vector<int64_t> key_of(const Request& r) {
  std::vector<int64_t> key = {static_cast<int64_t>(r.kind), static_cast<int64_t>(r.dtype), r.allow_tf32, r.device,
                              r.groups};
  const auto append = [&key](const std::vector<int64_t>& values) {
    key.push_back(static_cast<int64_t>(values.size()));
    key.insert(key.end(), values.begin(), values.end());
  };
  for (int t = 0; t < 3; ++t) {
    append(r.layout.dims[t]);
    append(r.layout.strides[t]);
  }
  append(r.layout.stride);
  append(r.layout.padding);
  append(r.layout.dilation);
  key.insert(key.end(), r.alignment.begin(), r.alignment.end());
  return key;
}

std::string describe(const Request& r) {
  return detail::concat("convolution ", kind_name(r.kind), " with x ", shape_str(r.layout.dims[0]), ", weight ",
                        shape_str(r.layout.dims[1]), ", output ", shape_str(r.layout.dims[2]), ", stride ",
                        shape_str(r.layout.stride), ", padding ", shape_str(r.layout.padding), ", dilation ",
                        shape_str(r.layout.dilation), ", ", dtype_name(r.dtype), r.allow_tf32 ? ", TF32 allowed" : "",
                        " on cuda:", r.device);
}

// A finalized execution plan and the descriptors it was built from.
struct Plan {
  std::vector<Descriptor> parts;
  std::unique_ptr<Descriptor> plan;
  int64_t workspace_bytes = 0;
};

// The device-properties descriptor of each device, created on first use (with the plan cache's
// lock held) and never destroyed (cuDNN may already be unloaded at exit).
cudnnBackendDescriptor_t device_properties(int device) {
  static auto* properties = new std::map<int, cudnnBackendDescriptor_t>();
  cudnnBackendDescriptor_t& p = (*properties)[device];
  if (p == nullptr) {
    Descriptor d(CUDNN_BACKEND_DEVICEPROP_DESCRIPTOR);
    const int32_t id = device;
    FOVEA_CUDNN_SET(d, CUDNN_ATTR_DEVICEPROP_DEVICE_ID, CUDNN_TYPE_INT32, 1, &id);
    d.finalize();
    p = d.get();
    *d.address() = nullptr;
  }
  return p;
}

Descriptor tensor_descriptor(const Request& r, int t, cudnnDataType_t type) {
  Descriptor d(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const auto& dims = r.layout.dims[t];
  const auto& strides = r.layout.strides[t];
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &kUids[t]);
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, static_cast<int64_t>(dims.size()), dims.data());
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, static_cast<int64_t>(strides.size()), strides.data());
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &r.alignment[t]);
  d.finalize();
  return d;
}

Descriptor convolution_descriptor(const Request& r, cudnnDataType_t type) {
  Descriptor d(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR);
  const Layout& l = r.layout;
  const int64_t spatial = static_cast<int64_t>(l.stride.size());
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, spatial, l.dilation.data());
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, spatial, l.stride.data());
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, spatial, l.padding.data());
  FOVEA_CUDNN_SET(d, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, spatial, l.padding.data());
  d.finalize();
  return d;
}

// The operation descriptor of r.kind on tensors[0..2] (x-, w- and y-shaped) with alpha = 1, beta = 0.
Descriptor operation_descriptor(const Request& r, std::array<cudnnBackendDescriptor_t, 3> tensors,
                                cudnnBackendDescriptor_t convolution) {
  struct Names {
    cudnnBackendDescriptorType_t type;
    cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
  };
  static const Names kNames[] = {
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA},
      {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC, CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
       CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA},
  };
  const Names& n = kNames[static_cast<int>(r.kind)];
  Descriptor d(n.type);
  FOVEA_CUDNN_SET(d, n.x, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tensors[0]);
  FOVEA_CUDNN_SET(d, n.w, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tensors[1]);
  FOVEA_CUDNN_SET(d, n.y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tensors[2]);
  FOVEA_CUDNN_SET(d, n.conv, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &convolution);
  if (r.dtype == DType::f64) {
    const double alpha = 1.0, beta = 0.0;
    FOVEA_CUDNN_SET(d, n.alpha, CUDNN_TYPE_DOUBLE, 1, &alpha);
    FOVEA_CUDNN_SET(d, n.beta, CUDNN_TYPE_DOUBLE, 1, &beta);
  } else {
    const float alpha = 1.0f, beta = 0.0f;
    FOVEA_CUDNN_SET(d, n.alpha, CUDNN_TYPE_FLOAT, 1, &alpha);
    FOVEA_CUDNN_SET(d, n.beta, CUDNN_TYPE_FLOAT, 1, &beta);
  }
  d.finalize();
  return d;
}

// False for an f32 engine that computes in TF32 (or other down-converted inputs) on tensor
// cores when TF32 is not allowed.
bool numerics_allowed(const Descriptor& config, const Request& r) {
  if (r.dtype != DType::f32 || r.allow_tf32) return true;
  Descriptor engine(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
  int64_t count = 0;
  FOVEA_CUDNN_CHECK(
      cudnnBackendGetAttribute(config.get(), CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &count,
                               engine.address()));
  std::array<cudnnBackendNumericalNote_t, CUDNN_NUMERICAL_NOTE_TYPE_COUNT> notes{};
  FOVEA_CUDNN_CHECK(cudnnBackendGetAttribute(engine.get(), CUDNN_ATTR_ENGINE_NUMERICAL_NOTE,
                                             CUDNN_TYPE_NUMERICAL_NOTE, static_cast<int64_t>(notes.size()), &count,
                                             notes.data()));
  for (int64_t i = 0; i < count; ++i)
    if (notes[i] == CUDNN_NUMERICAL_NOTE_TENSOR_CORE || notes[i] == CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS)
      return false;
  return true;
}

// The engine configurations heuristics `mode` ranks for the graph, best first; none when the
// heuristics do not support the graph.
std::vector<Descriptor> engine_configs(cudnnBackendDescriptor_t graph, cudnnBackendHeurMode_t mode, int device) {
  Descriptor heuristics(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  cudnnBackendDescriptor_t properties = device_properties(device);
  FOVEA_CUDNN_SET(heuristics, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph);
  FOVEA_CUDNN_SET(heuristics, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode);
  FOVEA_CUDNN_SET(heuristics, CUDNN_ATTR_ENGINEHEUR_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &properties);
  if (cudnnBackendFinalize(heuristics.get()) != CUDNN_STATUS_SUCCESS) return {};
  int64_t available = 0;
  FOVEA_CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, 0, &available, nullptr));
  std::vector<Descriptor> configs;
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < available; ++i) {
    configs.emplace_back(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
    raw.push_back(configs.back().get());
  }
  int64_t returned = 0;
  FOVEA_CUDNN_CHECK(cudnnBackendGetAttribute(heuristics.get(), CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                             CUDNN_TYPE_BACKEND_DESCRIPTOR, available, &returned, raw.data()));
  while (static_cast<int64_t>(configs.size()) > returned) configs.pop_back();
  return configs;
}

std::unique_ptr<Plan> build_plan(const Request& r) {
  const cudnnDataType_t type = r.dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  auto plan = std::make_unique<Plan>();
  std::array<cudnnBackendDescriptor_t, 3> tensors{};
  for (int t = 0; t < 3; ++t) {
    plan->parts.push_back(tensor_descriptor(r, t, type));
    tensors[t] = plan->parts.back().get();
  }
  plan->parts.push_back(convolution_descriptor(r, type));
  plan->parts.push_back(operation_descriptor(r, tensors, plan->parts.back().get()));
  cudnnBackendDescriptor_t operation = plan->parts.back().get();
  Descriptor graph(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  FOVEA_CUDNN_SET(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &operation);
  graph.finalize();
  plan->parts.push_back(std::move(graph));
  cudnnBackendDescriptor_t properties = device_properties(r.device);

  int64_t ranked = 0, rejected_numerics = 0;
  for (const cudnnBackendHeurMode_t mode : {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK}) {
    for (Descriptor& config : engine_configs(plan->parts.back().get(), mode, r.device)) {
      ++ranked;
      if (!numerics_allowed(config, r)) {
        ++rejected_numerics;
        continue;
      }
      auto candidate = std::make_unique<Descriptor>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
      cudnnBackendDescriptor_t raw_config = config.get();
      FOVEA_CUDNN_SET(*candidate, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                      &raw_config);
      FOVEA_CUDNN_SET(*candidate, CUDNN_ATTR_EXECUTION_PLAN_DEVICEPROP, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1,
                      &properties);
      if (cudnnBackendFinalize(candidate->get()) != CUDNN_STATUS_SUCCESS) continue;
      int64_t count = 0;
      FOVEA_CUDNN_CHECK(cudnnBackendGetAttribute(candidate->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE,
                                                 CUDNN_TYPE_INT64, 1, &count, &plan->workspace_bytes));
      plan->parts.push_back(std::move(config));
      plan->plan = std::move(candidate);
      return plan;
    }
  }
  FOVEA_FAIL("cudnn", "no cuDNN engine can run the ", describe(r), " (", ranked, " engine configurations ranked, ",
             rejected_numerics, " of them left out because they compute f32 in TF32 while TF32 is off, the rest did "
             "not finalize); pass ConvBackend::handwritten for this call, or call set_allow_tf32(true) if TF32 "
             "precision is acceptable");
}

struct PlanCache {
  std::mutex mutex;
  std::map<std::vector<int64_t>, std::unique_ptr<Plan>> plans;
};

PlanCache& plan_cache() {
  static auto* cache = new PlanCache();  // never destroyed: cuDNN may be unloaded before static destructors
  return *cache;
}

// One handle per device, created on first use and kept for the life of the process; the lock
// is held while the handle is bound to the caller's stream and used.
struct BoundHandle {
  std::unique_lock<std::mutex> lock;
  cudnnHandle_t handle;
};

BoundHandle handle_for(int device) {
  static std::mutex mutex;
  static auto* handles = new std::map<int, cudnnHandle_t>();
  std::unique_lock lock(mutex);
  FOVEA_CUDA_CHECK(cudaSetDevice(device));
  cudnnHandle_t& handle = (*handles)[device];
  if (handle == nullptr) FOVEA_CUDNN_CHECK(cudnnCreate(&handle));
  FOVEA_CUDNN_CHECK(cudnnSetStream(handle, current_stream()));
  return {std::move(lock), handle};
}

// Runs r.kind on the x-, w- and y-shaped buffers (inputs read, the output overwritten).
void run(Request r, const Tensor& x_like, const Tensor& w_like, const Tensor& y_like) {
  const std::array<void*, 3> pointers = {x_like.raw_data(), w_like.raw_data(), y_like.raw_data()};
  for (int t = 0; t < 3; ++t) r.alignment[t] = alignment_of(pointers[t]);
  const Plan* plan = nullptr;
  {
    PlanCache& cache = plan_cache();
    std::lock_guard lock(cache.mutex);
    const std::vector<int64_t> key = key_of(r);
    auto found = cache.plans.find(key);
    if (found == cache.plans.end()) {
      FOVEA_CUDA_CHECK(cudaSetDevice(r.device));
      found = cache.plans.emplace(key, build_plan(r)).first;
    }
    plan = found->second.get();
  }
  const Tensor workspace =
      plan->workspace_bytes > 0 ? make_tensor({plan->workspace_bytes}, DType::u8, x_like.device()) : Tensor();
  Descriptor pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
  void* workspace_pointer = workspace.defined() ? workspace.raw_data() : nullptr;
  FOVEA_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, kUids.data());
  FOVEA_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, pointers.data());
  FOVEA_CUDNN_SET(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &workspace_pointer);
  pack.finalize();
  const BoundHandle bound = handle_for(r.device);
  FOVEA_CUDNN_CHECK(cudnnBackendExecute(bound.handle, plan->plan->get(), pack.get()));
}

Request request(Kind kind, const Tensor& like, const cpu::ConvGeometry& g, bool allow_tf32) {
  return {kind, like.dtype(), allow_tf32, like.device().index, layout_of(g), g.groups, {}};
}

}  // namespace

void cudnn_conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const cpu::ConvGeometry& g,
                        const Tensor& out, bool allow_tf32) {
  if (out.numel() == 0) return;
  if (x.numel() == 0) {
    fill(out, 0.0);
  } else {
    run(request(Kind::forward, x, g, allow_tf32), x, weight, out);
  }
  if (bias.defined())
    check_launch(kernels::launch_conv_add_bias(element_type(out.dtype()), out.raw_data(), bias.raw_data(), g.batch,
                                               g.out_channels, g.out_plane(), current_stream()),
                 "conv_forward");
}

void cudnn_conv_backward(const Tensor& grad_out, const Tensor& x, const Tensor& weight, const cpu::ConvGeometry& g,
                         const Tensor& grad_x, const Tensor& grad_weight, bool allow_tf32) {
  const bool empty = grad_out.numel() == 0;
  if (grad_x.defined() && grad_x.numel() > 0) {
    if (empty) {
      fill(grad_x, 0.0);
    } else {
      run(request(Kind::backward_data, grad_out, g, allow_tf32), grad_x, weight, grad_out);
    }
  }
  if (grad_weight.defined() && grad_weight.numel() > 0) {
    if (empty || x.numel() == 0) {
      fill(grad_weight, 0.0);
    } else {
      run(request(Kind::backward_filter, grad_out, g, allow_tf32), x, grad_weight, grad_out);
    }
  }
}

int64_t cudnn_plan_count() {
  PlanCache& cache = plan_cache();
  std::lock_guard lock(cache.mutex);
  return static_cast<int64_t>(cache.plans.size());
}

void cudnn_clear_plans() {
  PlanCache& cache = plan_cache();
  std::lock_guard lock(cache.mutex);
  cache.plans.clear();
}

std::string cudnn_version() {
  const size_t v = cudnnGetVersion();
  return detail::concat(v / 10000, ".", v / 100 % 100, ".", v % 100);
}

}  // namespace fovea::cuda
