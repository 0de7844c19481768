// CPU kernels of the joining and indexing ops: concatenation, index_select / index_add
// along one dim, gather / scatter_add, and the range check every index goes through
// before any kernel writes. Index tensors are i32 or i64; accumulating kernels add in a
// fixed order per output element, so results do not depend on the thread count.
#pragma once
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace fovea::cpu {

// Throws fovea::Error naming `op` when a value of `index` (contiguous) lies outside
// [0, limit); the message names the first such value, its position and `what_is_indexed`.
void check_index_range(const Tensor& index, int64_t limit, const char* op, const std::string& what_is_indexed);

// Copies each input into its slice of `out` along `dim`, converting to out's dtype.
// Inputs may be strided; those with no elements are skipped.
void cat(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out);

// With `a` contiguous and viewed as [outer, a.size(dim), inner] and `index` contiguous of k
// values: out[o, j, i] = a[o, index[j], i], out contiguous with outer·k·inner elements.
void index_select(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out);
// The adjoint of index_select: out[o, index[j], i] += src[o, j, i]; out and src contiguous
// and of one dtype. Each output element accumulates in increasing j.
void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

// out[p] = a[p with coordinate dim replaced by index[p]] for every position p of index;
// a and out may be strided, index is contiguous.
void gather(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out);
// out[p with coordinate dim replaced by index[p]] += src[p] for every position p of index;
// out and src share a dtype and may be strided. Each output element accumulates in
// increasing position along dim.
void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src);

}  // namespace fovea::cpu
