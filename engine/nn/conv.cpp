// Conv2d/Conv3d, BatchNorm1d/2d/3d and the pooling modules: argument and input checks that
// name the module, torch's default initialisation, and the running-statistics bookkeeping.
#include "engine/nn/conv.h"

#include <cmath>

#include "engine/nn/init.h"
#include "engine/ops.h"

namespace fovea::nn {
namespace {

void check_rank(const Tensor& input, int64_t rank, const std::string& name, const char* layout) {
  FOVEA_CHECK(input.defined(), name, "input is undefined");
  FOVEA_CHECK(input.dim() == rank, name, "expected a ", rank, "-D input ", layout, ", got shape ",
              shape_str(input.shape()));
}

}  // namespace

ConvNd::ConvNd(int64_t spatial_dims, const char* name, int64_t in_channels, int64_t out_channels,
               const Shape& kernel_size, const ConvOptions& options, Generator* gen)
    : in_channels_(in_channels), options_(options), spatial_dims_(spatial_dims) {
  FOVEA_CHECK(in_channels > 0 && out_channels > 0, name, "channel counts must be positive, got in_channels=",
              in_channels, ", out_channels=", out_channels);
  FOVEA_CHECK(options.groups > 0 && in_channels % options.groups == 0 && out_channels % options.groups == 0, name,
              "groups=", options.groups, " must be positive and divide in_channels=", in_channels,
              " and out_channels=", out_channels);
  FOVEA_CHECK(kernel_size.size() == 1 || static_cast<int64_t>(kernel_size.size()) == spatial_dims, name,
              "kernel_size needs 1 or ", spatial_dims, " values, got ", shape_str(kernel_size));
  Shape weight_shape{out_channels, in_channels / options.groups};
  for (int64_t d = 0; d < spatial_dims; ++d) {
    const int64_t k = kernel_size.size() == 1 ? kernel_size[0] : kernel_size[d];
    FOVEA_CHECK(k > 0, name, "kernel_size must be positive, got ", shape_str(kernel_size));
    weight_shape.push_back(k);
  }
  weight_ = register_parameter("weight", empty(weight_shape, options.dtype));
  init::kaiming_uniform_(weight_, std::sqrt(5.0), init::FanMode::fan_in, init::Nonlinearity::leaky_relu, gen);
  if (options.bias) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(init::fan_in_and_fan_out(weight_).first));
    bias_ = register_parameter("bias", empty({out_channels}, options.dtype));
    init::uniform_(bias_, -bound, bound, gen);
  }
}

void ConvNd::check_input(const Tensor& input) const {
  check_rank(input, spatial_dims_ + 2, type_name(), spatial_dims_ == 2 ? "[N, C, H, W]" : "[N, C, D, H, W]");
  FOVEA_CHECK(input.size(1) == in_channels_, type_name(), "expected ", in_channels_,
              " input channels, got input of shape ", shape_str(input.shape()));
}

Tensor Conv2d::forward(const Tensor& input) {
  check_input(input);
  return conv2d(input, weight_, bias_, options_.stride, options_.padding, options_.dilation, options_.groups);
}

Tensor Conv3d::forward(const Tensor& input) {
  check_input(input);
  return conv3d(input, weight_, bias_, options_.stride, options_.padding, options_.dilation, options_.groups);
}

BatchNormNd::BatchNormNd(const char* name, const char* layout, int64_t min_rank, int64_t max_rank,
                         int64_t num_features, const BatchNormOptions& options)
    : name_(name),
      layout_(layout),
      min_rank_(min_rank),
      max_rank_(max_rank),
      num_features_(num_features),
      options_(options) {
  FOVEA_CHECK(num_features > 0, name, "num_features must be positive, got ", num_features);
  FOVEA_CHECK(options.eps > 0, name, "eps must be positive, got ", options.eps);
  FOVEA_CHECK(!options.momentum || (*options.momentum >= 0 && *options.momentum <= 1), name,
              "momentum must be in [0, 1], got ", options.momentum.value_or(0));
  if (options.affine) {
    weight_ = register_parameter("weight", ones({num_features}, options.dtype));
    bias_ = register_parameter("bias", zeros({num_features}, options.dtype));
  }
  if (options.track_running_stats) {
    running_mean_ = register_buffer("running_mean", zeros({num_features}, options.dtype));
    running_var_ = register_buffer("running_var", ones({num_features}, options.dtype));
    num_batches_tracked_ = register_buffer("num_batches_tracked", zeros({}, DType::i64));
  }
}

Tensor BatchNormNd::forward(const Tensor& input) {
  FOVEA_CHECK(input.defined(), name_, "input is undefined");
  FOVEA_CHECK(input.dim() >= min_rank_ && input.dim() <= max_rank_, name_, "expected an input ", layout_,
              ", got shape ", shape_str(input.shape()));
  FOVEA_CHECK(input.size(1) == num_features_, name_, "expected ", num_features_,
              " channels (num_features), got input of shape ", shape_str(input.shape()));
  const bool tracking = options_.track_running_stats;
  double momentum = options_.momentum.value_or(0.0);
  if (tracking && is_training()) {
    const double count = num_batches_tracked_.item() + 1;
    num_batches_tracked_.fill_(count);
    if (!options_.momentum) momentum = 1.0 / count;
  }
  return batch_norm(input, running_mean_, running_var_, weight_, bias_, is_training() || !tracking, momentum,
                    options_.eps);
}

Tensor MaxPool2d::forward(const Tensor& input) {
  check_rank(input, 4, type_name(), "[N, C, H, W]");
  return max_pool2d(input, kernel_size_, options_.stride, options_.padding, options_.dilation, options_.ceil_mode);
}

Tensor MaxPool3d::forward(const Tensor& input) {
  check_rank(input, 5, type_name(), "[N, C, D, H, W]");
  return max_pool3d(input, kernel_size_, options_.stride, options_.padding, options_.dilation, options_.ceil_mode);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  check_rank(input, 4, type_name(), "[N, C, H, W]");
  return avg_pool2d(input, kernel_size_, options_.stride, options_.padding, options_.ceil_mode,
                    options_.count_include_pad);
}

Tensor AvgPool3d::forward(const Tensor& input) {
  check_rank(input, 5, type_name(), "[N, C, D, H, W]");
  return avg_pool3d(input, kernel_size_, options_.stride, options_.padding, options_.ceil_mode,
                    options_.count_include_pad);
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  check_rank(input, 4, type_name(), "[N, C, H, W]");
  return adaptive_avg_pool2d(input, output_size_);
}

Tensor AdaptiveAvgPool3d::forward(const Tensor& input) {
  check_rank(input, 5, type_name(), "[N, C, D, H, W]");
  return adaptive_avg_pool3d(input, output_size_);
}

}  // namespace fovea::nn
