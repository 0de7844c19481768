// The convolutional-network layers: Conv2d/Conv3d, BatchNorm1d/2d/3d and the pooling
// modules, thin wrappers over the ops of engine/ops.h with torch.nn's parameter and buffer
// names, shapes, defaults and initialisation, and input checks that name the module.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "engine/generator.h"
#include "engine/nn/module.h"

namespace fovea::nn {

// Per-dimension options take one value for every spatial dim or one value per dim.
struct ConvOptions {
  Shape stride{1};
  Shape padding{0};
  Shape dilation{1};
  int64_t groups = 1;
  bool bias = true;
  DType dtype = DType::f32;
};

// Shared by Conv2d and Conv3d: weight [out, in/groups, k...] initialised as torch does,
// kaiming_uniform(a = √5) (bound 1/√fan_in), bias U(±1/√fan_in), drawn from gen (the default
// generator if null).
class ConvNd : public Module {
 public:
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }  // undefined without bias

 protected:
  ConvNd(int64_t spatial_dims, const char* name, int64_t in_channels, int64_t out_channels, const Shape& kernel_size,
         const ConvOptions& options, Generator* gen);
  void check_input(const Tensor& input) const;

  int64_t in_channels_;
  ConvOptions options_;
  Tensor weight_, bias_;

 private:
  int64_t spatial_dims_;
};

class Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in_channels, int64_t out_channels, const Shape& kernel_size, const ConvOptions& options = {},
         Generator* gen = nullptr)
      : ConvNd(2, "Conv2d", in_channels, out_channels, kernel_size, options, gen) {}
  std::string type_name() const override { return "Conv2d"; }
  Tensor forward(const Tensor& input) override;
};

class Conv3d : public ConvNd {
 public:
  Conv3d(int64_t in_channels, int64_t out_channels, const Shape& kernel_size, const ConvOptions& options = {},
         Generator* gen = nullptr)
      : ConvNd(3, "Conv3d", in_channels, out_channels, kernel_size, options, gen) {}
  std::string type_name() const override { return "Conv3d"; }
  Tensor forward(const Tensor& input) override;
};

// momentum = nullopt gives torch's cumulative moving average (factor 1/num_batches_tracked).
struct BatchNormOptions {
  double eps = 1e-5;
  std::optional<double> momentum = 0.1;
  bool affine = true;
  bool track_running_stats = true;
  DType dtype = DType::f32;
};

// Parameters weight (ones) and bias (zeros) when affine; buffers running_mean (zeros),
// running_var (ones) and num_batches_tracked (i64 scalar) when tracking running stats.
// Training uses batch statistics, updates the running ones and counts the batch; eval uses
// the running statistics. Without tracking, batch statistics are used in both modes (DPC).
class BatchNormNd : public Module {
 public:
  std::string type_name() const override { return name_; }
  Tensor forward(const Tensor& input) override;
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  const Tensor& running_mean() const { return running_mean_; }
  const Tensor& running_var() const { return running_var_; }
  const Tensor& num_batches_tracked() const { return num_batches_tracked_; }

 protected:
  // Accepted input ranks are min_rank..max_rank; layout describes them in messages.
  BatchNormNd(const char* name, const char* layout, int64_t min_rank, int64_t max_rank, int64_t num_features,
              const BatchNormOptions& options);

 private:
  std::string name_, layout_;
  int64_t min_rank_, max_rank_, num_features_;
  BatchNormOptions options_;
  Tensor weight_, bias_, running_mean_, running_var_, num_batches_tracked_;
};

class BatchNorm1d : public BatchNormNd {
 public:
  explicit BatchNorm1d(int64_t num_features, const BatchNormOptions& options = {})
      : BatchNormNd("BatchNorm1d", "[N, C] or [N, C, L]", 2, 3, num_features, options) {}
};

class BatchNorm2d : public BatchNormNd {
 public:
  explicit BatchNorm2d(int64_t num_features, const BatchNormOptions& options = {})
      : BatchNormNd("BatchNorm2d", "[N, C, H, W]", 4, 4, num_features, options) {}
};

class BatchNorm3d : public BatchNormNd {
 public:
  explicit BatchNorm3d(int64_t num_features, const BatchNormOptions& options = {})
      : BatchNormNd("BatchNorm3d", "[N, C, D, H, W]", 5, 5, num_features, options) {}
};

// An empty stride means stride = kernel_size, as in torch.
struct MaxPoolOptions {
  Shape stride{};
  Shape padding{0};
  Shape dilation{1};
  bool ceil_mode = false;
};

struct AvgPoolOptions {
  Shape stride{};
  Shape padding{0};
  bool ceil_mode = false;
  bool count_include_pad = true;
};

class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Shape kernel_size, MaxPoolOptions options = {})
      : kernel_size_(std::move(kernel_size)), options_(std::move(options)) {}
  std::string type_name() const override { return "MaxPool2d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape kernel_size_;
  MaxPoolOptions options_;
};

class MaxPool3d : public Module {
 public:
  explicit MaxPool3d(Shape kernel_size, MaxPoolOptions options = {})
      : kernel_size_(std::move(kernel_size)), options_(std::move(options)) {}
  std::string type_name() const override { return "MaxPool3d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape kernel_size_;
  MaxPoolOptions options_;
};

class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Shape kernel_size, AvgPoolOptions options = {})
      : kernel_size_(std::move(kernel_size)), options_(std::move(options)) {}
  std::string type_name() const override { return "AvgPool2d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape kernel_size_;
  AvgPoolOptions options_;
};

class AvgPool3d : public Module {
 public:
  explicit AvgPool3d(Shape kernel_size, AvgPoolOptions options = {})
      : kernel_size_(std::move(kernel_size)), options_(std::move(options)) {}
  std::string type_name() const override { return "AvgPool3d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape kernel_size_;
  AvgPoolOptions options_;
};

class AdaptiveAvgPool2d : public Module {
 public:
  explicit AdaptiveAvgPool2d(Shape output_size) : output_size_(std::move(output_size)) {}
  std::string type_name() const override { return "AdaptiveAvgPool2d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape output_size_;
};

class AdaptiveAvgPool3d : public Module {
 public:
  explicit AdaptiveAvgPool3d(Shape output_size) : output_size_(std::move(output_size)) {}
  std::string type_name() const override { return "AdaptiveAvgPool3d"; }
  Tensor forward(const Tensor& input) override;

 private:
  Shape output_size_;
};

}  // namespace fovea::nn
