// Parses the golden text files: "tensor <name> <dtype> <rank> <sizes...>" headers, each
// followed by its row-major values; '#' starts a comment line.
#include "tests/golden.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "engine/ops.h"

namespace fovea::testing {
namespace {

std::string golden_path(const std::string& name) {
  const char* root = std::getenv("FOVEA_SOURCE_DIR");
  return std::string(root && *root ? root : ".") + "/tests/golden/" + name + ".txt";
}

DType parse_dtype(const std::string& text, const std::string& path) {
  if (text == "f64") return DType::f64;
  if (text == "f32") return DType::f32;
  if (text == "i64") return DType::i64;
  FOVEA_FAIL("golden", path, ": unknown dtype '", text, "' (expected f64, f32 or i64)");
}

}  // namespace

GoldenFile GoldenFile::load(const std::string& name) {
  GoldenFile file;
  file.path_ = golden_path(name);
  std::ifstream in(file.path_);
  FOVEA_CHECK(in.good(), "golden", "cannot open ", file.path_,
              "; run the test from the source root or set FOVEA_SOURCE_DIR (ctest sets it)");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream header(line);
    std::string keyword, tensor_name, dtype_text;
    int64_t rank = -1;
    header >> keyword >> tensor_name >> dtype_text >> rank;
    FOVEA_CHECK(keyword == "tensor" && rank >= 0, "golden", file.path_, ": expected a 'tensor <name> <dtype> <rank> ",
                "<sizes>' header, got '", line, "'");
    Shape shape(rank);
    for (int64_t& size : shape) header >> size;
    FOVEA_CHECK(!header.fail(), "golden", file.path_, ": header of '", tensor_name, "' lists fewer than ", rank,
                " sizes");
    const int64_t count = shape_numel(shape);
    std::vector<double> values(count);
    for (double& v : values) {
      std::string token;
      FOVEA_CHECK(static_cast<bool>(in >> token), "golden", file.path_, ": tensor '", tensor_name, "' ends after ",
                  &v - values.data(), " of ", count, " values");
      v = std::strtod(token.c_str(), nullptr);
    }
    FOVEA_CHECK(!file.has(tensor_name), "golden", file.path_, ": tensor '", tensor_name, "' appears twice");
    file.tensors_[tensor_name] = from_vector(values, shape, parse_dtype(dtype_text, file.path_));
    file.order_.push_back(tensor_name);
  }
  return file;
}

const Tensor& GoldenFile::get(const std::string& tensor) const {
  const auto it = tensors_.find(tensor);
  FOVEA_CHECK(it != tensors_.end(), "golden", path_, " has no tensor '", tensor,
              "'; regenerate the goldens with tools/make_goldens.py");
  return it->second;
}

Shape GoldenFile::get_shape(const std::string& tensor) const {
  Shape out;
  for (double v : to_vector(get(tensor))) out.push_back(static_cast<int64_t>(v));
  return out;
}

Tensor GoldenFile::get_leaf(const std::string& tensor, DType dtype) const {
  Tensor t = get(tensor).to(dtype).clone();
  t.requires_grad_();
  return t;
}

int64_t GoldenFile::get_int(const std::string& tensor) const {
  const Tensor& t = get(tensor);
  FOVEA_CHECK(t.numel() == 1, "golden", path_, ": '", tensor, "' should hold one value, has shape ",
              shape_str(t.shape()));
  return static_cast<int64_t>(t.item());
}

std::vector<std::string> GoldenFile::cases() const {
  std::vector<std::string> out;
  for (const std::string& name : order_) {
    const size_t slash = name.find('/');
    if (slash == std::string::npos) continue;
    const std::string prefix = name.substr(0, slash);
    if (out.empty() || out.back() != prefix) out.push_back(prefix);
  }
  return out;
}

}  // namespace fovea::testing
