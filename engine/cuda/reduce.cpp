// CUDA backend of the row reductions: plans the launch of kernels/reduce.cu, allocates the
// workspace of split rows on the tensors' device, and launches on the current stream.
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/reduce.h"

namespace fovea::cuda {
namespace {

const char* op_name(cpu::ReduceOp op) {
  switch (op) {
    case cpu::ReduceOp::sum: return "sum";
    case cpu::ReduceOp::max: return "max";
    case cpu::ReduceOp::min: return "min";
  }
  return "reduce";
}

// Device scratch for the partial results of a plan; undefined when it needs none.
Tensor workspace_for(const kernels::ReducePlan& plan, const Device& device) {
  if (plan.workspace_bytes == 0) return Tensor();
  return make_tensor({static_cast<int64_t>(plan.workspace_bytes)}, DType::u8, device);
}

void* address(const Tensor& workspace) { return workspace.defined() ? workspace.raw_data() : nullptr; }

}  // namespace

void reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& out) {
  const kernels::ReducePlan plan = kernels::plan_reduce_rows(rows, length);
  const Tensor workspace = workspace_for(plan, out.device());
  check_launch(kernels::launch_reduce_rows(static_cast<kernels::ReduceKind>(op), element_type(in.dtype()),
                                           in.raw_data(), rows, length, out.raw_data(), nullptr, plan,
                                           address(workspace), current_stream()),
               op_name(op));
}

void arg_reduce_rows(cpu::ReduceOp op, const Tensor& in, int64_t rows, int64_t length, const Tensor& values,
                     const Tensor& indices) {
  FOVEA_CHECK(op != cpu::ReduceOp::sum, "arg_reduce_rows", "op must be max or min, got sum");
  const kernels::ReducePlan plan = kernels::plan_reduce_rows(rows, length);
  const Tensor workspace = workspace_for(plan, values.device());
  check_launch(kernels::launch_reduce_rows(static_cast<kernels::ReduceKind>(op), element_type(in.dtype()),
                                           in.raw_data(), rows, length, values.raw_data(), indices.data<int64_t>(),
                                           plan, address(workspace), current_stream()),
               op_name(op));
}

void var_rows(const Tensor& in, int64_t rows, int64_t length, int64_t correction, const Tensor& out) {
  const kernels::ReducePlan plan = kernels::plan_reduce_rows(rows, length);
  const Tensor workspace = workspace_for(plan, out.device());
  check_launch(kernels::launch_var_rows(element_type(in.dtype()), in.raw_data(), rows, length, correction,
                                        out.raw_data(), plan, address(workspace), current_stream()),
               "var");
}

}  // namespace fovea::cuda
