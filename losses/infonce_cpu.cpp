// CPU kernels of the memory-bank losses (declared in losses/infonce_kernels.h). A task per query
// row reads its bank rows in place through the indices (prefetching a few candidates ahead) and
// folds each score into an online log-sum-exp, so the fused InfoNCE forward touches every
// gathered row once and its backward none. Rows are independent and each sums in a fixed order,
// so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "engine/dtype.h"
#include "engine/error.h"
#include "losses/infonce_kernels.h"

namespace fovea::cpu {
namespace {

constexpr int64_t kParallelWork = 1 << 15;  // multiply-adds below which one thread does it all
constexpr int64_t kPrefetchAhead = 4;       // candidates
constexpr int64_t kCacheLine = 64;
constexpr double kNormEps = 1e-12;

// Eight partial sums combined in a fixed tree, so the compiler can vectorise without reassociating.
template <typename T>
T dot(const T* a, const T* b, int64_t n) {
  T partial[8] = {};
  int64_t d = 0;
  for (; d + 8 <= n; d += 8)
    for (int u = 0; u < 8; ++u) partial[u] += a[d + u] * b[d + u];
  T total = ((partial[0] + partial[1]) + (partial[2] + partial[3])) + ((partial[4] + partial[5]) + (partial[6] + partial[7]));
  for (; d < n; ++d) total += a[d] * b[d];
  return total;
}

template <typename T>
void prefetch_row(const T* row, int64_t dim) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (int64_t offset = 0; offset < dim * static_cast<int64_t>(sizeof(T)); offset += kCacheLine)
    __builtin_prefetch(bytes + offset);
}

template <typename T, typename I>
void infonce_row(const T* query, const T* positive, const T* bank, const I* indices, int64_t count, int64_t dim,
                 T inv_temperature, T& loss, T& positive_prob, T* expectation) {
  const T positive_logit = dot(query, positive, dim) * inv_temperature;
  T max = positive_logit;
  double sum = 1;
  if (expectation != nullptr) std::copy_n(positive, dim, expectation);
  for (int64_t k = 0; k < count; ++k) {
    if (k + kPrefetchAhead < count) prefetch_row(bank + static_cast<int64_t>(indices[k + kPrefetchAhead]) * dim, dim);
    const T* x = bank + static_cast<int64_t>(indices[k]) * dim;
    const T s = dot(query, x, dim) * inv_temperature;
    T old_scale = 1, weight = 1;
    if (s > max) {
      old_scale = std::exp(max - s);
      max = s;
    } else {
      weight = std::exp(s - max);
    }
    sum = sum * old_scale + weight;
    if (expectation != nullptr)
      for (int64_t d = 0; d < dim; ++d) expectation[d] = expectation[d] * old_scale + weight * x[d];
  }
  const T log_sum = max + static_cast<T>(std::log(sum));
  loss = log_sum - positive_logit;
  positive_prob = std::exp(positive_logit - log_sum);
  if (expectation != nullptr) {
    const T inverse = static_cast<T>(1.0 / sum);
    for (int64_t d = 0; d < dim; ++d) expectation[d] *= inverse;
  }
}

template <typename T, typename I>
void infonce_forward_typed(const T* queries, const T* positives, const T* bank, const I* indices, int64_t batch,
                           int64_t count, int64_t dim, T inv_temperature, T* losses, T* positive_probs,
                           T* expectation) {
#pragma omp parallel for schedule(static) if (batch > 1 && batch * (count + 1) * dim > kParallelWork)
  for (int64_t b = 0; b < batch; ++b)
    infonce_row(queries + b * dim, positives + b * dim, bank, indices + b * count, count, dim, inv_temperature,
                losses[b], positive_probs[b], expectation != nullptr ? expectation + b * dim : nullptr);
}

template <typename T>
void infonce_backward_typed(const T* grad_losses, const T* queries, const T* positives, const T* positive_probs,
                            const T* expectation, T inv_temperature, int64_t batch, int64_t dim, T* grad_queries,
                            T* grad_positives) {
#pragma omp parallel for schedule(static) if (batch * dim > kParallelWork)
  for (int64_t b = 0; b < batch; ++b) {
    const T scale = grad_losses[b] * inv_temperature;
    for (int64_t i = b * dim; i < (b + 1) * dim; ++i) {
      grad_queries[i] = scale * (expectation[i] - positives[i]);
      grad_positives[i] = scale * (positive_probs[b] - T(1)) * queries[i];
    }
  }
}

template <typename T, typename I>
void gather_scores_typed(const T* queries, const T* bank, const I* indices, int64_t batch, int64_t count, int64_t dim,
                         T* scores) {
#pragma omp parallel for schedule(static) if (batch > 1 && batch * count * dim > kParallelWork)
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < count; ++j) {
      const I* row_indices = indices + b * count;
      if (j + kPrefetchAhead < count) prefetch_row(bank + static_cast<int64_t>(row_indices[j + kPrefetchAhead]) * dim, dim);
      scores[b * count + j] = dot(queries + b * dim, bank + static_cast<int64_t>(row_indices[j]) * dim, dim);
    }
}

template <typename T, typename I>
void gather_scores_backward_typed(const T* grad_scores, const T* bank, const I* indices, int64_t batch, int64_t count,
                                  int64_t dim, T* grad_queries) {
#pragma omp parallel for schedule(static) if (batch > 1 && batch * count * dim > kParallelWork)
  for (int64_t b = 0; b < batch; ++b) {
    T* out = grad_queries + b * dim;
    std::fill_n(out, dim, T(0));
    for (int64_t j = 0; j < count; ++j) {
      const T g = grad_scores[b * count + j];
      const T* x = bank + static_cast<int64_t>(indices[b * count + j]) * dim;
      for (int64_t d = 0; d < dim; ++d) out[d] += g * x[d];
    }
  }
}

template <typename T, typename I>
void bank_momentum_update_typed(T* bank, int64_t dim, const I* indices, int64_t count, const T* values, T momentum,
                                bool renormalize) {
  std::unordered_map<int64_t, int64_t> last;
  for (int64_t n = 0; n < count; ++n) last[indices[n]] = n;
  std::vector<int64_t> winners;
  winners.reserve(last.size());
  for (int64_t n = 0; n < count; ++n)
    if (last[indices[n]] == n) winners.push_back(n);
  const int64_t rows = static_cast<int64_t>(winners.size());
#pragma omp parallel for schedule(static) if (rows * dim > kParallelWork)
  for (int64_t w = 0; w < rows; ++w) {
    const int64_t n = winners[w];
    T* row = bank + static_cast<int64_t>(indices[n]) * dim;
    const T* v = values + n * dim;
    double squares = 0;
    for (int64_t d = 0; d < dim; ++d) {
      row[d] = momentum * row[d] + (T(1) - momentum) * v[d];
      squares += static_cast<double>(row[d]) * row[d];
    }
    if (!renormalize) continue;
    const T scale = static_cast<T>(1.0 / std::max(std::sqrt(squares), kNormEps));
    for (int64_t d = 0; d < dim; ++d) row[d] *= scale;
  }
}

// The first i < n with bad(i), or -1.
template <typename Bad>
int64_t first_position(int64_t n, Bad&& bad) {
  int64_t first = n;
#pragma omp parallel for reduction(min : first) if (n > kParallelWork)
  for (int64_t i = 0; i < n; ++i)
    if (i < first && bad(i)) first = i;
  return first < n ? first : -1;
}

template <typename Fn>
void with_types(const Tensor& features, const Tensor& indices, const char* op, Fn&& fn) {
  FOVEA_DISPATCH_FLOAT(features.dtype(), op, [&] {
    using T = scalar_t;
    FOVEA_DISPATCH_INDEX(indices.dtype(), op, [&] { fn(T{}, scalar_t{}); });
  });
}

}  // namespace

GatherScan scan_gather_inputs(const Tensor& indices, int64_t bank_rows, const std::vector<Tensor>& features) {
  GatherScan scan;
  FOVEA_DISPATCH_INDEX(indices.dtype(), "scan_gather_inputs", [&] {
    const scalar_t* idx = indices.data<scalar_t>();
    scan.bad_index_position = first_position(indices.numel(), [&](int64_t i) {
      return idx[i] < 0 || static_cast<int64_t>(idx[i]) >= bank_rows;
    });
    if (scan.bad_index_position >= 0) scan.bad_index_value = idx[scan.bad_index_position];
  });
  for (size_t k = 0; k < features.size(); ++k) {
    FOVEA_DISPATCH_FLOAT(features[k].dtype(), "scan_gather_inputs", [&] {
      const scalar_t* x = features[k].data<scalar_t>();
      scan.non_finite_position[k] = first_position(features[k].numel(), [&](int64_t i) { return !std::isfinite(x[i]); });
    });
  }
  return scan;
}

void infonce_forward(const Tensor& queries, const Tensor& positives, const Tensor& bank, const Tensor& indices,
                     double temperature, const Tensor& losses, const Tensor& positive_probs, const Tensor& expectation) {
  with_types(queries, indices, "infonce", [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    infonce_forward_typed(queries.data<T>(), positives.data<T>(), bank.data<T>(), indices.data<I>(), queries.size(0),
                          indices.size(1), queries.size(1), static_cast<T>(1.0 / temperature), losses.data<T>(),
                          positive_probs.data<T>(), expectation.defined() ? expectation.data<T>() : nullptr);
  });
}

void infonce_backward(const Tensor& grad_losses, const Tensor& queries, const Tensor& positives,
                      const Tensor& positive_probs, const Tensor& expectation, double temperature,
                      const Tensor& grad_queries, const Tensor& grad_positives) {
  FOVEA_DISPATCH_FLOAT(queries.dtype(), "infonce", [&] {
    using T = scalar_t;
    infonce_backward_typed(grad_losses.data<T>(), queries.data<T>(), positives.data<T>(), positive_probs.data<T>(),
                           expectation.data<T>(), static_cast<T>(1.0 / temperature), queries.size(0), queries.size(1),
                           grad_queries.data<T>(), grad_positives.data<T>());
  });
}

void gather_scores(const Tensor& queries, const Tensor& bank, const Tensor& indices, const Tensor& scores) {
  with_types(queries, indices, "gather_scores", [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    gather_scores_typed(queries.data<T>(), bank.data<T>(), indices.data<I>(), queries.size(0), indices.size(1),
                        queries.size(1), scores.data<T>());
  });
}

void gather_scores_backward(const Tensor& grad_scores, const Tensor& bank, const Tensor& indices,
                            const Tensor& grad_queries) {
  with_types(bank, indices, "gather_scores", [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    gather_scores_backward_typed(grad_scores.data<T>(), bank.data<T>(), indices.data<I>(), grad_queries.size(0),
                                 indices.size(1), grad_queries.size(1), grad_queries.data<T>());
  });
}

void bank_momentum_update(const Tensor& bank, const Tensor& indices, const Tensor& values, double momentum,
                          bool renormalize) {
  with_types(bank, indices, "memory_bank_update", [&](auto tag, auto index_tag) {
    using T = decltype(tag);
    using I = decltype(index_tag);
    bank_momentum_update_typed(bank.data<T>(), bank.size(1), indices.data<I>(), indices.numel(), values.data<T>(),
                               static_cast<T>(momentum), renormalize);
  });
}

}  // namespace fovea::cpu
