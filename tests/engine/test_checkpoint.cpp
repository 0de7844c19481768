// safetensors and checkpoints: round trips of every dtype and field, the byte layout, a
// file laid out as PyTorch's safetensors writer does, save → load → continue giving
// bit-identical losses, restore's full problem report, truncated / corrupt / hostile files,
// and atomic writes that keep the previous file when a write fails.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/autograd.h"
#include "engine/checkpoint.h"
#include "engine/nn/layers.h"
#include "engine/ops.h"
#include "tests/gradcheck.h"

using namespace fovea;
namespace fs = std::filesystem;

namespace {

// A fresh directory under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("fovea_checkpoint_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(path_)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path path_;
};

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string le64(uint64_t v) {
  std::string out(8, '\0');
  std::memcpy(out.data(), &v, 8);
  return out;
}

// A safetensors file with the given header text and data section, and a header length
// field that is the header's size unless overridden.
std::string safetensors_bytes(const std::string& header, const std::string& data,
                              std::optional<uint64_t> length = std::nullopt) {
  return le64(length.value_or(header.size())) + header + data;
}

// load_safetensors(path) must throw a fovea::Error naming the path and `fragment`.
void expect_load_error(const std::string& path, const std::string& fragment) {
  try {
    load_safetensors(path);
    FAIL("loaded a bad file; expected an error containing: ", fragment);
  } catch (const Error& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find(fragment) != std::string::npos);
  }
}

void expect_header_error(const TempDir& dir, const std::string& header, const std::string& data,
                         const std::string& fragment) {
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, safetensors_bytes(header, data));
  CAPTURE(header);
  expect_load_error(path, fragment);
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && to_vector(a) == to_vector(b);
}

// The small training setup of the resume tests: model, optimiser with a no-decay group for
// biases, warm-up chained with a step schedule, and generators for data and dropout.
struct Trainer {
  Generator init_gen, data_gen{100}, drop_gen{200};
  std::shared_ptr<nn::Sequential> model;
  std::unique_ptr<Optimizer> opt;
  std::unique_ptr<LinearLR> warmup;
  std::unique_ptr<MultiStepLR> steps;
  int64_t step = 0;

  Trainer(uint64_t init_seed, bool adam) : init_gen(init_seed) {
    model = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(6, 16, true, DType::f32, &init_gen), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Dropout>(0.2, &drop_gen),
        std::make_shared<nn::Linear>(16, 3, true, DType::f32, &init_gen)});
    std::vector<Tensor> weights, biases;
    for (const auto& [name, p] : model->named_parameters()) (p.dim() > 1 ? weights : biases).push_back(p);
    if (adam) {
      opt = std::make_unique<AdamW>(std::vector<ParamGroup<AdamOptions>>{
          {weights, {.lr = 0.01, .weight_decay = 0.05}}, {biases, {.lr = 0.01, .weight_decay = 0}}});
    } else {
      opt = std::make_unique<SGD>(std::vector<ParamGroup<SgdOptions>>{
          {weights, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3}}, {biases, {.lr = 0.1, .momentum = 0.9}}});
    }
    warmup = std::make_unique<LinearLR>(*opt, 0.2, 1.0, 3);
    steps = std::make_unique<MultiStepLR>(*opt, std::vector<int64_t>{4, 6}, 0.5);
  }

  double train_step() {
    const Tensor x = randn({8, 6}, DType::f32, &data_gen);
    const Tensor y = randint(0, 3, {8}, &data_gen);
    opt->zero_grad();
    const Tensor loss = cross_entropy(model->forward(x), y);
    loss.backward();
    clip_grad_norm(model->parameters(), 0.5);
    opt->step();
    if (++step % 2 == 0) {
      warmup->step();
      steps->step();
    }
    return loss.item();
  }

  Checkpoint capture() const {
    Checkpoint c = Checkpoint::capture(*model, opt.get(), {warmup.get(), steps.get()});
    c.step = step;
    c.epoch = step / 2;
    c.generators = {{"data", data_gen}, {"dropout", drop_gen}};
    return c;
  }

  void restore(const Checkpoint& c) {
    c.restore(*model, opt.get(), {warmup.get(), steps.get()});
    step = c.step;
    data_gen = c.generators.at("data");
    drop_gen = c.generators.at("dropout");
  }
};

}  // namespace

TEST_SUITE("unit") {
  TEST_CASE("safetensors round trip of every dtype, scalars, empty and strided tensors") {
    TempDir dir;
    const std::string path = dir.file("all.safetensors");
    const Tensor strided = testing::random_input({3, 4}, 1, -1, 1, false).to(DType::f32).t();
    const TensorMap tensors{{"f32", from_vector({1.5, -2, 3e-38, 7}, {2, 2}, DType::f32)},
                            {"f64 scalar", scalar_tensor(std::acos(-1.0), DType::f64)},
                            {"i32", from_vector({-2147483648.0, 2147483647.0, 0}, {3}, DType::i32)},
                            {"i64", from_vector({-9007199254740993.0, 42}, {2, 1}, DType::i64)},
                            {"u8", from_vector({0, 255, 7}, {3}, DType::u8)},
                            {"empty", zeros({0, 5})},
                            {"strided", strided},
                            {"name \"quoted\" \\ é", ones({1}, DType::u8)}};
    const Metadata metadata{{"format", "pt"}, {"note", "line\nbreak \"q\" \\ \x01 é 😀"}, {"", ""}};
    save_safetensors(path, tensors, metadata);
    Metadata loaded_metadata;
    const TensorMap loaded = load_safetensors(path, &loaded_metadata);
    CHECK(loaded_metadata == metadata);
    REQUIRE(loaded.size() == tensors.size());
    for (const auto& [name, t] : tensors) {
      CAPTURE(name);
      REQUIRE(loaded.count(name));
      CHECK(same_tensor(loaded.at(name), t));
      CHECK(loaded.at(name).is_contiguous());
    }
    CHECK(dir.entries() == std::vector<std::string>{"all.safetensors"});
  }

  TEST_CASE("safetensors byte layout: aligned header, wide dtypes first, tiled data") {
    TempDir dir;
    const std::string path = dir.file("layout.safetensors");
    save_safetensors(path, {{"a", ones({3}, DType::u8)}, {"b", ones({2}, DType::f64)}, {"c", ones({1}, DType::i32)}});
    const std::string bytes = read_bytes(path);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    CHECK(n % 8 == 0);
    CHECK(bytes.size() == 8 + n + 16 + 4 + 3);
    const std::string header = bytes.substr(8, n);
    CHECK(header.find("\"b\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}") != std::string::npos);
    CHECK(header.find("\"c\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[16,20]}") != std::string::npos);
    CHECK(header.find("\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[20,23]}") != std::string::npos);
    CHECK(header.find("__metadata__") == std::string::npos);
    double first = 0;
    std::memcpy(&first, bytes.data() + 8 + n, 8);
    CHECK(first == 1.0);
  }

  TEST_CASE("safetensors file as written by pytorch loads into a module") {
    // The layout of safetensors.torch.save_file(model.state_dict()): __metadata__ first,
    // 8-byte aligned dtypes first, then by name, header padded with spaces.
    TempDir dir;
    std::string data;
    const int64_t tracked = 12;
    const float bias[2] = {0.5f, -0.25f};
    const float weight[6] = {1, 2, 3, 4, 5, 6};
    data.append(reinterpret_cast<const char*>(&tracked), 8);
    data.append(reinterpret_cast<const char*>(bias), 8);
    data.append(reinterpret_cast<const char*>(weight), 24);
    std::string header =
        "{\"__metadata__\":{\"format\":\"pt\"},\"1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
        "\"data_offsets\":[0,8]},\"0.bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
        "\"0.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[16,40]}}";
    header.append((8 - header.size() % 8) % 8, ' ');
    const std::string path = dir.file("torch.safetensors");
    write_bytes(path, safetensors_bytes(header, data));

    class Counter : public nn::Module {
     public:
      Counter() { register_buffer("num_batches_tracked", zeros({}, DType::i64)); }
    };
    nn::Sequential model({std::make_shared<nn::Linear>(3, 2), std::make_shared<Counter>()});
    Metadata metadata;
    model.load_state_dict(load_safetensors(path, &metadata));
    CHECK(metadata.at("format") == "pt");
    const nn::StateDict state = model.state_dict();
    CHECK(to_vector(state.at("0.weight")) == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(to_vector(state.at("0.bias")) == std::vector<double>{0.5, -0.25});
    CHECK(state.at("1.num_batches_tracked").item() == 12);
  }

  TEST_CASE("safetensors header json escapes and unicode decode") {
    TempDir dir;
    const std::string path = dir.file("escapes.safetensors");
    write_bytes(path, safetensors_bytes("{ \"__metadata__\" : { \"k\\u00e9\" : \"a\\/b\\t\\ud83d\\ude00\\\"\" } ,"
                                        "\"x\":{\"shape\":[],\"dtype\":\"U8\",\"data_offsets\":[0,1]}}  \n ",
                                        std::string(1, '\x05')));
    Metadata metadata;
    const TensorMap t = load_safetensors(path, &metadata);
    CHECK(metadata.at("k\xc3\xa9") == "a/b\t\xf0\x9f\x98\x80\"");
    CHECK(t.at("x").item() == 5);
  }

  TEST_CASE("checkpoint round trip keeps every field exactly") {
    TempDir dir;
    Generator init(3);
    nn::Sequential model({std::make_shared<nn::Linear>(4, 3, true, DType::f32, &init)});
    SGD sgd({{{model.parameters()[0]}, {.lr = 0.1, .momentum = 0.9}}, {{model.parameters()[1]}, {.lr = 0.3}}});
    LinearLR warmup(sgd, 0.1, 1.0, 5);
    ReduceLROnPlateau plateau(sgd, {.patience = 0});
    sum(model.forward(ones({2, 4}))).backward();
    sgd.step();
    warmup.step();
    plateau.step(3.0);
    plateau.step(4.0);

    Checkpoint c = Checkpoint::capture(model, &sgd, {&warmup, &plateau});
    c.step = 123456789012;
    c.epoch = 7;
    c.generators["data"] = Generator(5);
    c.generators["data"].advance(17);
    c.generators["big"].set_state(std::numeric_limits<uint64_t>::max(), uint64_t{1} << 40);
    c.tensors["memory_bank"] = randn({10, 4}, DType::f32, &init);
    c.tensors["queue_ptr"] = scalar_tensor(37, DType::i64);
    c.scalars = {{"nce_z", 1234.5678901234567}, {"sampler_position", 987654321},
                 {"lr_floor", 0.1},             {"denormal", 5e-324},
                 {"inf", std::numeric_limits<double>::infinity()}};
    const std::string path = dir.file("ckpt.safetensors");
    save_checkpoint(path, c);
    const Checkpoint back = load_checkpoint(path);

    CHECK(back.step == c.step);
    CHECK(back.epoch == 7);
    CHECK(back.scalars == c.scalars);
    CHECK(back.generators.at("data").seed() == 5);
    CHECK(back.generators.at("data").offset() == 17);
    CHECK(back.generators.at("big").seed() == std::numeric_limits<uint64_t>::max());
    CHECK(back.generators.at("big").offset() == uint64_t{1} << 40);
    REQUIRE(back.model.size() == c.model.size());
    for (const auto& [k, t] : c.model) CHECK(same_tensor(back.model.at(k), t));
    REQUIRE(back.tensors.size() == 2);
    for (const auto& [k, t] : c.tensors) CHECK(same_tensor(back.tensors.at(k), t));
    CHECK(back.optimizer.scalars == c.optimizer.scalars);
    REQUIRE(back.optimizer.tensors.size() == 1);
    CHECK(same_tensor(back.optimizer.tensors.at("0.0.momentum_buffer"), c.optimizer.tensors.at("0.0.momentum_buffer")));
    CHECK(back.schedules == c.schedules);
    CHECK(back.schedules.at(1).at("best") == 3.0);
  }

  TEST_CASE("checkpoint save load continue gives bit-identical losses") {
    for (const bool adam : {false, true}) {
      CAPTURE(adam);
      TempDir dir;
      const std::string path = dir.file("resume.safetensors");
      Trainer first(1, adam);
      for (int i = 0; i < 5; ++i) first.train_step();
      save_checkpoint(path, first.capture());
      std::vector<double> expected;
      for (int i = 0; i < 7; ++i) expected.push_back(first.train_step());

      Trainer second(999, adam);  // different weights until restored
      second.restore(load_checkpoint(path));
      std::vector<double> resumed;
      for (int i = 0; i < 7; ++i) resumed.push_back(second.train_step());
      CHECK(resumed == expected);
      CHECK(second.opt->lr(0) == first.opt->lr(0));
      for (size_t k = 0; k < first.model->parameters().size(); ++k)
        CHECK(to_vector(second.model->parameters()[k]) == to_vector(first.model->parameters()[k]));
    }
  }

  TEST_CASE("checkpoint overwrite replaces the file and leaves no temporary files") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    save_safetensors(path, {{"v", ones({4})}});
    save_safetensors(path, {{"w", zeros({2}, DType::i64)}});
    const TensorMap loaded = load_safetensors(path);
    CHECK(loaded.size() == 1);
    CHECK(loaded.count("w"));
    CHECK(dir.entries() == std::vector<std::string>{"model.safetensors"});
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("safetensors truncated files give clear errors") {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    write_bytes(path, "");
    expect_load_error(path, "shorter than the 8-byte header length");
    write_bytes(path, "\x10\0\0");
    expect_load_error(path, "shorter than the 8-byte header length");
    const std::string header = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    write_bytes(path, safetensors_bytes(header, "").substr(0, 20));
    expect_load_error(path, "exceeds the");
    write_bytes(path, safetensors_bytes(header, std::string(10, '\0')));  // data cut short
    expect_load_error(path, "outside the data section of 10 bytes");
    expect_load_error(dir.file("missing.safetensors"), "cannot open");
    expect_load_error(dir.file(""), "not a regular file");
  }

  TEST_CASE("safetensors corrupt headers give clear errors") {
    TempDir dir;
    const std::string t = "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
    expect_header_error(dir, "not json at all", "", "must be a JSON object starting with '{'");
    expect_header_error(dir, "{garbage}", "", "not valid JSON");
    expect_header_error(dir, t, "x", "not valid JSON: expected '}'");
    expect_header_error(dir, t + "} trailing", "x", "unexpected trailing characters");
    expect_header_error(dir, "{\"a\":\"unterminated", "", "unterminated string");
    expect_header_error(dir, "{\"a\":\"tab\there\"}", "", "unescaped control character");
    expect_header_error(dir, "{\"a\":\"\\q\"}", "", "invalid escape");
    expect_header_error(dir, "{\"a\":\"\\ud800\"}", "", "unpaired surrogate");
    expect_header_error(dir, "{\"a\":01}", "", "not valid JSON");
    expect_header_error(dir, "{\"a\":-}", "", "unexpected character");
    expect_header_error(dir, "{\"a\":tru}", "", "invalid literal");
    expect_header_error(dir, t + ",\"x\":{}}", "x", "duplicate key \"x\"");
    expect_header_error(dir, "{\"a\":" + std::string(5000, '[') + std::string(5000, ']') + "}", "", "nesting deeper");
    expect_header_error(dir, "{\"x\":[1,2]}", "", "tensor 'x' must be an object, got an array");
    expect_header_error(dir, "{\"__metadata__\":{\"k\":1}}", "", "__metadata__ entry 'k' must be a string");
    expect_header_error(dir, "{\"__metadata__\":[]}", "", "__metadata__ must be an object");
    expect_header_error(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1]}}", "x", "must have the fields dtype, shape");
    expect_header_error(dir, "{\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1],\"extra\":0}}", "x",
                        "unknown field 'extra'");
  }

  TEST_CASE("safetensors hostile headers give clear errors") {
    TempDir dir;
    const std::string path = dir.file("hostile.safetensors");
    write_bytes(path, safetensors_bytes("{}", "", uint64_t{1} << 63));
    expect_load_error(path, "exceeds the limit of 100000000 bytes");
    write_bytes(path, safetensors_bytes("{}", "", 1000));
    expect_load_error(path, "header length 1000 exceeds the 2 bytes after the length field");
    auto entry = [](const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                    uint64_t e) {
      return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
             std::to_string(b) + "," + std::to_string(e) + "]}";
    };
    const std::string data(16, '\0');
    expect_header_error(dir, "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[2]", 4, 12) + "}", data,
                        "tensor 'b' data_offsets [4, 12) overlap those of tensor 'a'");
    expect_header_error(dir, "{" + entry("a", "F32", "[2]", 0, 8) + "," + entry("b", "F32", "[1]", 12, 16) + "}", data,
                        "4 unused bytes in the data section before tensor 'b'");
    expect_header_error(dir, "{" + entry("a", "F32", "[2]", 0, 8) + "}", data, "8 trailing bytes after the last");
    expect_header_error(dir, "{" + entry("a", "F32", "[4]", 1000, 1016) + "}", data,
                        "lie outside the data section of 16 bytes");
    expect_header_error(dir, "{" + entry("a", "F32", "[4]", 18446744073709551600ull, 18446744073709551615ull) + "}",
                        data, "span 15 bytes");
    expect_header_error(dir, "{" + entry("a", "F64", "[4294967296,4294967296]", 0, 16) + "}", data,
                        "byte size overflows 64 bits");
    expect_header_error(dir, "{" + entry("a", "U8", "[-1]", 0, 16) + "}", data, "non-negative integer");
    expect_header_error(dir, "{" + entry("a", "U8", "[1.5]", 0, 16) + "}", data, "non-negative integer");
    expect_header_error(dir, "{" + entry("a", "U8", "[99999999999999999999]", 0, 16) + "}", data, "below 2^64");
    expect_header_error(dir, "{" + entry("a", "Q7", "[16]", 0, 16) + "}", data, "unknown dtype 'Q7'");
    expect_header_error(dir, "{" + entry("a", "BF16", "[8]", 0, 16) + "}", data,
                        "dtype 'BF16', which fovea does not support");
    expect_header_error(dir, "{" + entry("a", "U8", "[2]", 0, 16) + "}", data,
                        "span 16 bytes, but shape [2] of U8 needs 2");
    expect_header_error(dir, "{" + entry("a", "U8", "[0]", 9, 3) + "}", data, "end before they begin");
    expect_header_error(dir, "{\"a\":{\"dtype\":7,\"shape\":[16],\"data_offsets\":[0,16]}}", data,
                        "dtype must be a string");
    expect_header_error(dir, "{\"a\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0]}}", data,
                        "data_offsets must be an array [begin, end]");
  }

  TEST_CASE("safetensors save rejects bad names and undefined tensors") {
    TempDir dir;
    const std::string path = dir.file("x.safetensors");
    CHECK_THROWS_WITH_AS(save_safetensors(path, {{"__metadata__", ones({1})}}),
                         doctest::Contains("invalid tensor name"), Error);
    CHECK_THROWS_WITH_AS(save_safetensors(path, {{"a", Tensor()}}), doctest::Contains("undefined"), Error);
    CHECK(dir.entries().empty());
  }

  TEST_CASE("checkpoint load rejects plain safetensors and malformed metadata") {
    TempDir dir;
    const std::string path = dir.file("plain.safetensors");
    save_safetensors(path, {{"w", ones({1})}});
    CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("not a fovea checkpoint"), Error);
    save_safetensors(path, {{"w", ones({1})}}, {{"format", "fovea.checkpoint.1"}, {"step", "12x"}, {"epoch", "0"},
                                                {"schedules", "0"}});
    CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("'step' = '12x' is not a valid number"), Error);
    save_safetensors(path, {{"w", ones({1})}, {"model/a", ones({1})}},
                     {{"format", "fovea.checkpoint.1"}, {"step", "1"}, {"epoch", "0"}, {"schedules", "1"},
                      {"schedule/3/last_epoch", "1"}, {"rng/data", "5"}});
    CHECK_THROWS_WITH_AS(load_checkpoint(path), doctest::Contains("'rng/data' = '5' is not a generator state"), Error);
    save_safetensors(path, {{"w", ones({1})}, {"model/a", ones({1})}},
                     {{"format", "fovea.checkpoint.1"}, {"step", "1"}, {"epoch", "0"}, {"schedules", "1"},
                      {"schedule/3/last_epoch", "1"}, {"other", "x"}});
    try {
      load_checkpoint(path);
      FAIL("accepted unexpected entries");
    } catch (const Error& e) {
      const std::string message = e.what();
      CHECK(message.find(path) != std::string::npos);
      CHECK(message.find("unexpected entries (3): tensor 'w', metadata 'other', metadata 'schedule/3/last_epoch'") !=
            std::string::npos);
    }
  }

  TEST_CASE("checkpoint restore names every problem and changes nothing") {
    Trainer source(1, false);
    source.train_step();
    const Checkpoint c = source.capture();

    Generator gen(2);
    nn::Sequential other({std::make_shared<nn::Linear>(6, 16, true, DType::f32, &gen),
                          std::make_shared<nn::Linear>(16, 4, true, DType::f32, &gen)});
    const std::vector<double> before = to_vector(other.parameters()[2]);
    SGD sgd(other.parameters(), {.lr = 0.5, .momentum = 0.9});
    MultiStepLR steps(sgd, {3});
    try {
      c.restore(other, &sgd, {&steps});
      FAIL("restore accepted a checkpoint of another model");
    } catch (const Error& e) {
      const std::string message = e.what();
      INFO(message);
      for (const char* expected :
           {"model: missing keys (2): 1.bias, 1.weight", "unexpected keys (2): 3.bias, 3.weight",
            "optimizer: unexpected key '1.dampening'", "unexpected key '1.0.momentum_buffer'",
            "schedules: the checkpoint holds 2 schedule states, 1 schedules were given"})
        CHECK(message.find(expected) != std::string::npos);
    }
    CHECK(to_vector(other.parameters()[2]) == before);
    CHECK(sgd.lr(0) == 0.5);

    Trainer target(5, false);
    Checkpoint wrong_shape = c;
    wrong_shape.model["3.weight"] = zeros({2, 16});
    CHECK_THROWS_WITH_AS(target.restore(wrong_shape),
                         doctest::Contains("'3.weight': given [2, 16] f32, module has [3, 16] f32"), Error);
  }

  TEST_CASE("checkpoint atomic write keeps the previous file when a write fails midway") {
    TempDir dir;
    const std::string path = dir.file("ckpt.safetensors");
    Checkpoint small;
    small.tensors["bank"] = full({16}, 3.0);
    small.step = 1;
    save_checkpoint(path, small);
    const std::string previous = read_bytes(path);

    // A file-size limit makes write() stop short (then fail with EFBIG) after 64 KiB, as a
    // full disk would; the 4 MiB checkpoint cannot be completed.
    Checkpoint large;
    large.tensors["bank"] = zeros({1 << 20});
    large.step = 2;
    struct rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    const auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved;
    limited.rlim_cur = 64 * 1024;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    std::string message;
    try {
      save_checkpoint(path, large);
    } catch (const Error& e) {
      message = e.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, old_handler);
    INFO(message);
    CHECK(message.find(path) != std::string::npos);
    CHECK(message.find("failed after 65536 of") != std::string::npos);
    CHECK(message.find("previous file at this path, if any, is untouched") != std::string::npos);
    CHECK(read_bytes(path) == previous);
    CHECK(load_checkpoint(path).step == 1);
    CHECK(dir.entries() == std::vector<std::string>{"ckpt.safetensors"});
  }

  TEST_CASE("checkpoint write into a missing directory or over a directory fails cleanly") {
    TempDir dir;
    Checkpoint c;
    c.step = 3;
    const std::string missing = dir.file("no/such/dir/ckpt.safetensors");
    CHECK_THROWS_WITH_AS(save_checkpoint(missing, c), doctest::Contains("cannot create a temporary file"), Error);
    fs::create_directory(dir.file("occupied"));
    write_bytes(dir.file("occupied/keep"), "x");
    CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("occupied"), c), doctest::Contains("cannot rename"), Error);
    CHECK(read_bytes(dir.file("occupied/keep")) == "x");
    CHECK(dir.entries() == std::vector<std::string>{"occupied"});
    CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("occupied") + "/", c), doctest::Contains("names a directory"),
                         Error);
    if (::geteuid() != 0) {  // root ignores directory permissions
      fs::create_directory(dir.file("readonly"));
      fs::permissions(dir.file("readonly"), fs::perms::owner_read | fs::perms::owner_exec);
      CHECK_THROWS_WITH_AS(save_checkpoint(dir.file("readonly/c.safetensors"), c),
                           doctest::Contains("cannot create a temporary file"), Error);
      fs::permissions(dir.file("readonly"), fs::perms::owner_all);
    }
  }
}
