// CUDA backend of the memory-bank kernels (losses/infonce_kernels.h): launches kernels/infonce.cu
// on the current stream. scan_gather_inputs reads its 4-entry status back to the host, the one
// synchronisation of these ops.
#include "engine/cuda/kernel_args.h"
#include "engine/ops.h"
#include "kernels/infonce.h"
#include "losses/infonce_kernels.h"

namespace fovea::cuda {
namespace {

kernels::BankGather bank_gather(const Tensor& queries, const Tensor& positives, const Tensor& bank,
                                const Tensor& indices) {
  kernels::BankGather g;
  g.type = element_type(bank.dtype());
  g.index_type = element_type(indices.dtype());
  g.queries = queries.defined() ? queries.raw_data() : nullptr;
  g.positives = positives.defined() ? positives.raw_data() : nullptr;
  g.bank = bank.raw_data();
  g.indices = indices.raw_data();
  g.batch = indices.size(0);
  g.dim = bank.size(1);
  g.count = indices.size(1);
  return g;
}

}  // namespace

GatherScan scan_gather_inputs(const Tensor& indices, int64_t bank_rows, const std::vector<Tensor>& features) {
  FOVEA_CHECK(features.size() <= 3, "scan_gather_inputs", "scans at most 3 feature tensors, got ", features.size());
  kernels::FiniteScan scan;
  kernels::ElementType type = kernels::ElementType::f32;
  for (const Tensor& f : features) {
    scan.data[scan.count] = f.raw_data();
    scan.numel[scan.count++] = f.numel();
    type = element_type(f.dtype());
  }
  const Tensor status = make_tensor({4}, DType::i64, indices.device());
  check_launch(kernels::launch_gather_scan(element_type(indices.dtype()), indices.raw_data(), indices.numel(),
                                           bank_rows, type, scan, reinterpret_cast<long long*>(status.data<int64_t>()),
                                           current_stream()),
               "scan_gather_inputs");
  const Tensor host = status.to(Device::cpu());
  const int64_t* found = host.data<int64_t>();
  GatherScan result;
  if (found[0] != kernels::kScanNotFound) {
    result.bad_index_position = found[0];
    result.bad_index_value = static_cast<int64_t>(indices.view({-1}).narrow(0, found[0], 1).to(Device::cpu()).item());
  }
  for (size_t k = 0; k < features.size(); ++k)
    if (found[1 + k] != kernels::kScanNotFound) result.non_finite_position[k] = found[1 + k];
  return result;
}

void infonce_forward(const Tensor& queries, const Tensor& positives, const Tensor& bank, const Tensor& indices,
                     double temperature, const Tensor& losses, const Tensor& positive_probs, const Tensor& expectation) {
  const kernels::BankGather g = bank_gather(queries, positives, bank, indices);
  const int64_t max_dim = kernels::infonce_max_dim(g.type);
  FOVEA_CHECK(g.dim <= max_dim, "infonce", "the fused CUDA kernel takes feature sizes up to ", max_dim, " for ",
              dtype_name(bank.dtype()), ", got D = ", g.dim, "; use infonce_unfused for wider features");
  const Tensor workspace = make_tensor({kernels::infonce_workspace_elements(g)}, bank.dtype(), bank.device());
  check_launch(kernels::launch_infonce_forward(g, temperature, losses.raw_data(), positive_probs.raw_data(),
                                               expectation.defined() ? expectation.raw_data() : nullptr,
                                               workspace.raw_data(), current_stream()),
               "infonce");
}

void infonce_backward(const Tensor& grad_losses, const Tensor& queries, const Tensor& positives,
                      const Tensor& positive_probs, const Tensor& expectation, double temperature,
                      const Tensor& grad_queries, const Tensor& grad_positives) {
  check_launch(kernels::launch_infonce_backward(element_type(queries.dtype()), grad_queries.raw_data(),
                                                grad_positives.raw_data(), grad_losses.raw_data(), queries.raw_data(),
                                                positives.raw_data(), positive_probs.raw_data(),
                                                expectation.raw_data(), queries.size(0), queries.size(1), temperature,
                                                current_stream()),
               "infonce");
}

void gather_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices, const Tensor& scores) {
  check_launch(kernels::launch_gather_scores(bank_gather(queries, Tensor(), bank, indices), scores.raw_data(),
                                             current_stream()),
               "gather_scores");
}

void gather_scores_backward(const Tensor& grad_scores, const Tensor& bank, const Tensor& indices,
                            const Tensor& grad_queries) {
  check_launch(kernels::launch_gather_scores_backward(bank_gather(Tensor(), Tensor(), bank, indices),
                                                      grad_scores.raw_data(), grad_queries.raw_data(),
                                                      current_stream()),
               "gather_scores");
}

void bank_momentum_update(const Tensor& bank, const Tensor& indices, const Tensor& values, double momentum,
                          bool renormalize) {
  check_launch(kernels::launch_bank_momentum_update(element_type(bank.dtype()), element_type(indices.dtype()),
                                                    bank.raw_data(), bank.size(1), indices.raw_data(), indices.numel(),
                                                    values.raw_data(), momentum, renormalize, current_stream()),
               "memory_bank_update");
}

}  // namespace fovea::cuda
