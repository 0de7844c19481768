// Tensor factories: constant fills, ranges, host vectors and the Philox random draws.
#include <cmath>

#include "engine/dispatch.h"
#include "engine/ops/common.h"

namespace fovea {

Shape reduction_dims(const Shape& dims, int64_t rank, const char* op) {
  Shape out;
  if (dims.empty()) {
    for (int64_t d = 0; d < rank; ++d) out.push_back(d);
    return out;
  }
  std::vector<bool> seen(std::max<int64_t>(rank, 1), false);
  for (int64_t d : dims) {
    const int64_t w = wrap_dim(d, rank, op);
    FOVEA_CHECK(!seen[w], op, "dimension ", w, " appears twice in ", shape_str(dims));
    seen[w] = true;
  }
  for (int64_t d = 0; d < rank; ++d)
    if (seen[d]) out.push_back(d);
  return out;
}

Tensor empty(const Shape& shape, DType dtype, Device device) { return make_tensor(shape, dtype, device); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = make_tensor(shape, dtype, device);
  FOVEA_ON_DEVICE(device, fill, t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
Tensor full_like(const Tensor& t, double value) { return full(t.shape(), value, t.dtype(), t.device()); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  FOVEA_CHECK(step != 0, "arange", "step must be non-zero");
  FOVEA_CHECK(std::isfinite(start) && std::isfinite(end), "arange", "start and end must be finite");
  const double count = std::ceil((end - start) / step);
  Tensor t = make_tensor({std::max<int64_t>(0, static_cast<int64_t>(count))}, dtype);
  FOVEA_DISPATCH_ALL(dtype, "arange", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<scalar_t>(start + static_cast<double>(i) * step);
  });
  return t.to(device);
}
Tensor arange(int64_t end, DType dtype) { return arange(0.0, static_cast<double>(end), 1.0, dtype); }

Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  FOVEA_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector", "got ", values.size(),
              " values for shape ", shape_str(shape), " (", shape_numel(shape), " elements)");
  Tensor t = make_tensor(shape, dtype);
  FOVEA_DISPATCH_ALL(dtype, "from_vector", [&] {
    scalar_t* p = t.data<scalar_t>();
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<scalar_t>(values[i]);
  });
  return t;
}

std::vector<double> to_vector(const Tensor& t) {
  check_defined(t, "to_vector", "t");
  const Tensor c = t.detach().to(Device::cpu()).contiguous();
  std::vector<double> out(c.numel());
  FOVEA_DISPATCH_ALL(c.dtype(), "to_vector", [&] {
    const scalar_t* p = c.data<scalar_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(p[i]);
  });
  return out;
}

namespace {

// A fresh tensor filled by `fill(tensor, seed, first counter)` from the generator's stream.
template <typename Fill>
Tensor random_tensor(const Shape& shape, DType dtype, Generator* gen, Device device, Fill&& fill) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = make_tensor(shape, dtype, device);
  const uint64_t first = g.advance(static_cast<uint64_t>(t.numel()));
  fill(t, g.seed(), first);
  return t;
}

}  // namespace

Tensor rand(const Shape& shape, DType dtype, Generator* gen, Device device) {
  FOVEA_NVTX_RANGE("rand");
  FOVEA_CHECK(is_floating(dtype), "rand", "dtype must be f32 or f64, got ", dtype_name(dtype));
  return random_tensor(shape, dtype, gen, device, [&](const Tensor& t, uint64_t seed, uint64_t first) {
    FOVEA_ON_DEVICE(device, fill_uniform, t, seed, first);
  });
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen, Device device) {
  FOVEA_NVTX_RANGE("randn");
  FOVEA_CHECK(is_floating(dtype), "randn", "dtype must be f32 or f64, got ", dtype_name(dtype));
  return random_tensor(shape, dtype, gen, device, [&](const Tensor& t, uint64_t seed, uint64_t first) {
    FOVEA_ON_DEVICE(device, fill_normal, t, seed, first);
  });
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen, Device device) {
  FOVEA_NVTX_RANGE("randint");
  FOVEA_CHECK(low < high, "randint", "empty range [", low, ", ", high, ")");
  return random_tensor(shape, DType::i64, gen, device, [&](const Tensor& t, uint64_t seed, uint64_t first) {
    FOVEA_ON_DEVICE(device, fill_randint, t, low, high, seed, first);
  });
}

}  // namespace fovea
