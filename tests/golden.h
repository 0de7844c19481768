// Loader of the PyTorch golden files under tests/golden/ (written by tools/make_goldens.py):
// named tensors in a small text format, described at the top of that script.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace fovea::testing {

class GoldenFile {
 public:
  // Reads tests/golden/<name>.txt under $FOVEA_SOURCE_DIR, or under the current directory
  // when that variable is unset. Throws fovea::Error naming the path on any problem.
  static GoldenFile load(const std::string& name);

  bool has(const std::string& tensor) const { return tensors_.count(tensor) > 0; }
  const Tensor& get(const std::string& tensor) const;  // throws when absent
  int64_t get_int(const std::string& tensor) const;    // the value of a one-element tensor
  Shape get_shape(const std::string& tensor) const;    // a 1-D tensor of sizes as a Shape
  // A fresh copy of `tensor` in `dtype` that requires grad (a leaf for backward checks).
  Tensor get_leaf(const std::string& tensor, DType dtype) const;
  // The distinct "<case>" prefixes of "<case>/<field>" names, in file order.
  std::vector<std::string> cases() const;

 private:
  std::string path_;
  std::map<std::string, Tensor> tensors_;
  std::vector<std::string> order_;
};

}  // namespace fovea::testing
