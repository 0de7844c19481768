// CUDA backend of the joining and indexing ops. Index ranges are checked on the host: the index
// is copied there and goes through the CPU check, so errors read the same on both devices. cat
// is a strided copy of each input into its slice of the output; index_select and index_add are
// gather and scatter_add with the index broadcast over the dims around `dim`.
#include "engine/cpu/index.h"
#include "engine/cuda/kernel_args.h"
#include "engine/cuda/ops.h"
#include "kernels/index.h"

namespace fovea::cuda {
namespace {

// `t` (contiguous) seen as [outer, t.size(dim), inner].
Tensor around_dim(const Tensor& t, int64_t dim) {
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (d < dim) outer *= t.shape()[d];
    if (d > dim) inner *= t.shape()[d];
  }
  return t.view({outer, t.shape()[dim], inner});
}

// [outer, index.numel(), inner] for the [outer, size, inner] view `t3`: the shape of
// index_select's output and of index_add's src.
Shape selected_shape(const Tensor& t3, const Tensor& index) { return {t3.shape()[0], index.numel(), t3.shape()[2]}; }

// The 1-D `index` broadcast to selected_shape(t3, index) along its middle dim.
Tensor broadcast_index(const Tensor& index, const Tensor& t3) {
  return index.view({1, index.numel(), 1}).expand(selected_shape(t3, index));
}

void gather_along(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out, const char* op) {
  kernels::StridedSpace<3> space = strided_space<3>(index.shape(), {&out, &index, &a}, op);
  space.strides[2][dim] = 0;  // the coordinate along dim comes from the index value
  check_launch(kernels::launch_gather(element_type(a.dtype()), element_type(index.dtype()), out.raw_data(),
                                      index.raw_data(), a.raw_data(), a.strides()[dim], space, current_stream()),
               op);
}

void scatter_add_along(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src, const char* op) {
  Shape lines = index.shape();
  lines[dim] = 1;
  kernels::ScatterAxis axis;
  axis.length = index.shape()[dim];
  axis.out_stride = out.strides()[dim];
  axis.index_stride = index.strides()[dim];
  axis.src_stride = src.strides()[dim];
  axis.out_size = out.shape()[dim];
  check_launch(kernels::launch_scatter_add(element_type(out.dtype()), element_type(index.dtype()), out.raw_data(),
                                           index.raw_data(), src.raw_data(),
                                           strided_space<3>(lines, {&out, &index, &src}, op), axis,
                                           current_stream()),
               op);
}

}  // namespace

void check_index_range(const Tensor& index, int64_t limit, const char* op, const std::string& what_is_indexed) {
  cpu::check_index_range(index.to(Device::cpu()), limit, op, what_is_indexed);
}

void cat(const std::vector<Tensor>& inputs, int64_t dim, const Tensor& out) {
  if (out.numel() == 0) return;
  // As on the CPU: with a non-empty output, inputs without elements occupy no slice.
  int64_t offset = 0;
  for (const Tensor& input : inputs) {
    if (input.numel() == 0) continue;
    copy(input, out.narrow(dim, offset, input.shape()[dim]));
    offset += input.shape()[dim];
  }
}

void index_select(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  const Tensor a3 = around_dim(a, dim);
  gather_along(a3, 1, broadcast_index(index, a3), out.view(selected_shape(a3, index)), "index_select");
}

void index_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  const Tensor out3 = around_dim(out, dim);
  scatter_add_along(out3, 1, broadcast_index(index, out3), src.view(selected_shape(out3, index)), "index_add");
}

void gather(const Tensor& a, int64_t dim, const Tensor& index, const Tensor& out) {
  gather_along(a, dim, index, out, "gather");
}

void scatter_add(const Tensor& out, int64_t dim, const Tensor& index, const Tensor& src) {
  scatter_add_along(out, dim, index, src, "scatter_add");
}

}  // namespace fovea::cuda
