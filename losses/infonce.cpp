// Front-ends of infonce, infonce_unfused and gather_scores: argument checks, the scan of indices
// and features before any kernel, dispatch to the CPU or CUDA kernels, and the backward nodes.
#include "losses/infonce.h"

#include <cmath>

#include "engine/dispatch.h"
#include "engine/ops/common.h"
#include "losses/infonce_kernels.h"

namespace fovea {
namespace {

void check_gather_shapes(const char* op, const Tensor& queries, const Tensor& bank, const Tensor& indices,
                         const char* indices_name) {
  check_defined(queries, op, "queries");
  check_defined(bank, op, "bank");
  check_defined(indices, op, indices_name);
  check_same_device(queries, bank, op);
  check_same_device(queries, indices, op);
  check_floating(queries, op, "queries");
  check_index_dtype(indices, op, indices_name);
  FOVEA_CHECK(bank.dtype() == queries.dtype(), op, "bank is ", dtype_name(bank.dtype()), " but queries are ",
              dtype_name(queries.dtype()), "; convert one of them with .to(dtype)");
  FOVEA_CHECK(queries.dim() == 2, op, "queries must be [B, D], got shape ", shape_str(queries.shape()));
  FOVEA_CHECK(bank.dim() == 2, op, "bank must be [M, D], got shape ", shape_str(bank.shape()));
  FOVEA_CHECK(bank.size(1) == queries.size(1), op, "feature sizes differ: queries of shape ", shape_str(queries.shape()),
              " have D = ", queries.size(1), " but the bank of shape ", shape_str(bank.shape()), " has D = ",
              bank.size(1), "; both must come from the same embedding head");
  FOVEA_CHECK(indices.dim() == 2 && indices.size(0) == queries.size(0), op, "'", indices_name, "' of shape ",
              shape_str(indices.shape()), " must be [B, K] with B = ", queries.size(0),
              " (a row of bank indices per query)");
}

void check_infonce_args(const char* op, const Tensor& queries, const Tensor& positives, const Tensor& bank,
                        const Tensor& negative_indices, double temperature, Reduction reduction) {
  check_gather_shapes(op, queries, bank, negative_indices, "negative_indices");
  check_defined(positives, op, "positives");
  check_same_device(queries, positives, op);
  FOVEA_CHECK(positives.dtype() == queries.dtype(), op, "positives are ", dtype_name(positives.dtype()),
              " but queries are ", dtype_name(queries.dtype()), "; convert one of them with .to(dtype)");
  FOVEA_CHECK(positives.shape() == queries.shape(), op, "positives of shape ", shape_str(positives.shape()),
              " must have the shape of the queries ", shape_str(queries.shape()), " (one positive per query)");
  FOVEA_CHECK(std::isfinite(temperature) && temperature > 0, op, "temperature must be finite and > 0, got ",
              temperature, " (the saccade model uses 0.07)");
  FOVEA_CHECK(queries.size(0) > 0 || reduction != Reduction::mean, op,
              "the mean over an empty batch is undefined; pass Reduction::sum or Reduction::none, or skip the batch");
}

Tensor reduce(const Tensor& losses, Reduction reduction, const char* op) {
  switch (reduction) {
    case Reduction::none: return losses;
    case Reduction::sum: return sum(losses);
    case Reduction::mean: return mean(losses);
  }
  FOVEA_FAIL(op, "unknown reduction ", static_cast<int>(reduction), " (expected none, mean or sum)");
}

}  // namespace

void check_gather_inputs(const char* op, const Tensor& indices, const Tensor& bank,
                         const std::vector<std::pair<const char*, Tensor>>& features) {
  std::vector<Tensor> tensors;
  for (const auto& feature : features) tensors.push_back(feature.second);
  const int64_t rows = bank.size(0);
  const GatherScan scan = FOVEA_ON_DEVICE(indices.device(), scan_gather_inputs, indices, rows, tensors);
  if (scan.bad_index_position >= 0) {
    const int64_t at = scan.bad_index_position, per_row = indices.dim() == 2 ? indices.size(1) : 0;
    const std::string where = per_row > 0 ? detail::concat("[", at / per_row, ", ", at % per_row, "]")
                                          : detail::concat("position ", at);
    FOVEA_FAIL(op, "index ", scan.bad_index_value, " at ", where, " of indices of shape ", shape_str(indices.shape()),
               " is outside the bank of ", rows, " rows (shape ", shape_str(bank.shape()),
               "); bank indices must lie in [0, ", rows - 1, "]");
  }
  for (size_t k = 0; k < features.size(); ++k)
    FOVEA_CHECK(scan.non_finite_position[k] < 0, op, "'", features[k].first, "' of shape ",
                shape_str(features[k].second.shape()), " holds a non-finite value (NaN or inf) at flat position ",
                scan.non_finite_position[k], "; check the encoder output and the learning rate");
}

Tensor infonce(const Tensor& queries, const Tensor& positives, const Tensor& bank, const Tensor& negative_indices,
               double temperature, Reduction reduction) {
  FOVEA_NVTX_RANGE("infonce");
  const char* op = "infonce";
  check_infonce_args(op, queries, positives, bank, negative_indices, temperature, reduction);
  const Tensor q = queries.detach().contiguous(), p = positives.detach().contiguous();
  const Tensor memory = bank.detach().contiguous(), indices = negative_indices.contiguous();
  check_gather_inputs(op, indices, memory, {{"queries", q}, {"positives", p}});

  const int64_t batch = q.size(0), dim = q.size(1);
  const bool grad = needs_grad({&queries, &positives});
  const Tensor losses = make_tensor({batch}, q.dtype(), q.device());
  const Tensor positive_probs = make_tensor({batch}, q.dtype(), q.device());
  const Tensor expectation = grad ? make_tensor({batch, dim}, q.dtype(), q.device()) : Tensor();
  FOVEA_ON_DEVICE(q.device(), infonce_forward, q, p, memory, indices, temperature, losses, positive_probs, expectation);
  if (grad)
    record_op(op, {losses}, {queries, positives},
              [sq = SavedTensor(q, op), sp = SavedTensor(p, op), positive_probs, expectation,
               temperature](const std::vector<Tensor>& g) {
                const Tensor q = sq.get(), p = sp.get();
                Tensor grad_q = make_tensor(q.shape(), q.dtype(), q.device());
                Tensor grad_p = make_tensor(p.shape(), p.dtype(), p.device());
                FOVEA_ON_DEVICE(q.device(), infonce_backward, g[0].contiguous(), q, p, positive_probs, expectation,
                                temperature, grad_q, grad_p);
                return std::vector<Tensor>{grad_q, grad_p};
              });
  return reduce(losses, reduction, op);
}

Tensor infonce_unfused(const Tensor& queries, const Tensor& positives, const Tensor& bank,
                       const Tensor& negative_indices, double temperature, Reduction reduction) {
  FOVEA_NVTX_RANGE("infonce_unfused");
  check_infonce_args("infonce_unfused", queries, positives, bank, negative_indices, temperature, reduction);
  const Tensor negatives = embedding(bank.detach(), negative_indices);
  const Tensor negative_logits = bmm(negatives, queries.unsqueeze(2)).squeeze(2);
  const Tensor positive_logits = sum(mul(queries, positives), {1}, true);
  const Tensor logits = div(cat({positive_logits, negative_logits}, 1), temperature);
  return cross_entropy(logits, zeros({queries.size(0)}, DType::i64, queries.device()), -100, reduction);
}

Tensor gather_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices) {
  FOVEA_NVTX_RANGE("gather_scores");
  const char* op = "gather_scores";
  check_gather_shapes(op, queries, bank, indices, "indices");
  const Tensor q = queries.detach().contiguous(), memory = bank.detach().contiguous(), idx = indices.contiguous();
  check_gather_inputs(op, idx, memory, {{"queries", q}});
  const Tensor scores = make_tensor({q.size(0), idx.size(1)}, q.dtype(), q.device());
  FOVEA_ON_DEVICE(q.device(), gather_scores, q, memory, idx, scores);
  if (needs_grad({&queries}))
    record_op(op, {scores}, {queries},
              [sm = SavedTensor(memory, op), si = SavedTensor(idx, op), shape = q.shape()](const std::vector<Tensor>& g) {
                const Tensor memory = sm.get();
                Tensor grad_q = make_tensor(shape, memory.dtype(), memory.device());
                FOVEA_ON_DEVICE(memory.device(), gather_scores_backward, g[0].contiguous(), memory, si.get(), grad_q);
                return std::vector<Tensor>{grad_q};
              });
  return scores;
}

}  // namespace fovea
