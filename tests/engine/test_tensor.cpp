// Tensor basics: factories, views sharing storage, strides, dtype promotion and conversion,
// printing, the host caching allocator and the Philox generator.
#include <doctest/doctest.h>

#include "engine/allocator.h"
#include "engine/ops.h"
#include "fovea/build_config.h"
#include "kernels/philox.h"
#include "tests/gradcheck.h"

using namespace fovea;

TEST_SUITE("unit") {
  TEST_CASE("tensor factories zeros ones full arange") {
    CHECK(to_vector(zeros({2, 2})) == std::vector<double>{0, 0, 0, 0});
    CHECK(to_vector(ones({3}, DType::i32)) == std::vector<double>{1, 1, 1});
    CHECK(to_vector(full({2}, 2.5, DType::f64)) == std::vector<double>{2.5, 2.5});
    CHECK(to_vector(arange(0.0, 1.0, 0.25, DType::f32)) == std::vector<double>{0, 0.25, 0.5, 0.75});
    CHECK(arange(5).dtype() == DType::i64);
    CHECK(empty({0, 3}).numel() == 0);
  }

  TEST_CASE("tensor view shares storage and reshape copies when needed") {
    Tensor a = arange(0.0, 6.0, 1.0, DType::f32).view({2, 3});
    Tensor v = a.view({3, 2});
    CHECK(v.impl()->storage == a.impl()->storage);
    Tensor t = a.t();
    CHECK_FALSE(t.is_contiguous());
    CHECK(t.strides() == Shape{1, 3});
    Tensor r = t.reshape({6});
    CHECK(r.impl()->storage != a.impl()->storage);
    CHECK(to_vector(r) == std::vector<double>{0, 3, 1, 4, 2, 5});
    CHECK(a.view({-1}).shape() == Shape{6});
    CHECK(a.unsqueeze(0).shape() == Shape{1, 2, 3});
    CHECK(a.unsqueeze(-1).shape() == Shape{2, 3, 1});
    CHECK(a.unsqueeze(1).squeeze(1).shape() == Shape{2, 3});
    CHECK(a.flatten().shape() == Shape{6});
  }

  TEST_CASE("tensor narrow select expand permute views") {
    Tensor a = arange(0.0, 24.0, 1.0, DType::f64).view({2, 3, 4});
    CHECK(to_vector(a.narrow(2, 1, 2).select(0, 1).select(0, 2)) == std::vector<double>{21, 22});
    CHECK(to_vector(a.select(-1, -1).select(0, 0)) == std::vector<double>{3, 7, 11});
    Tensor p = a.permute({2, 0, 1});
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.select(0, 1).select(0, 1).select(0, 2).item() == 21);
    Tensor e = arange(3).view({3, 1}).expand({3, 4});
    CHECK(e.is_expanded());
    CHECK(to_vector(e.contiguous()) == std::vector<double>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2});
    Tensor e2 = arange(2).expand({3, 2});
    CHECK(e2.shape() == Shape{3, 2});
  }

  TEST_CASE("tensor writes through views reach the base") {
    Tensor a = zeros({3, 4});
    a.narrow(1, 1, 2).fill_(7);
    a.select(0, 2).copy_(arange(0.0, 4.0, 1.0, DType::f64));
    CHECK(to_vector(a) == std::vector<double>{0, 7, 7, 0, 0, 7, 7, 0, 0, 1, 2, 3});
    CHECK(a.version() == 2);
  }

  TEST_CASE("tensor type promotion follows pytorch") {
    Tensor i32 = ones({2}, DType::i32), f32 = ones({2}), f64 = ones({2}, DType::f64), u8 = ones({2}, DType::u8);
    CHECK(add(i32, f32).dtype() == DType::f32);
    CHECK(add(f32, f64).dtype() == DType::f64);
    CHECK(add(u8, i32).dtype() == DType::i32);
    CHECK(add(i32, ones({2}, DType::i64)).dtype() == DType::i64);
    CHECK(div(i32, i32).dtype() == DType::f32);
    CHECK(add(i32, 2.5).dtype() == DType::f32);
    CHECK(add(i32, 2.0).dtype() == DType::i32);
    CHECK(add(f32, 2.5).dtype() == DType::f32);
    CHECK(add(f32, scalar_tensor(1, DType::f64)).dtype() == DType::f32);  // zero-dim, same category
    CHECK(add(i32, scalar_tensor(1, DType::f64)).dtype() == DType::f64);  // zero-dim, higher category
    CHECK(to_vector(div(from_vector({3, 4}, {2}, DType::i64), 2.0)) == std::vector<double>{1.5, 2});
  }

  TEST_CASE("tensor dtype conversion truncates like a c++ cast") {
    Tensor a = from_vector({1.7, -1.7, 255}, {3}, DType::f32);
    CHECK(to_vector(a.to(DType::i64)) == std::vector<double>{1, -1, 255});
    CHECK(to_vector(a.to(DType::f64).to(DType::f32)) == to_vector(a));
  }

  TEST_CASE("tensor printing is readable and elided when large") {
    const std::string s = from_vector({1, 2, 3, 4}, {2, 2}).str();
    CHECK(s.find("[[1.0000, 2.0000],") != std::string::npos);
    CHECK(s.find("shape=[2, 2]") != std::string::npos);
    const std::string big = zeros({2000}).str();
    CHECK(big.find("...") != std::string::npos);
    CHECK(big.size() < 200);
    CHECK(arange(3).str().find("[0, 1, 2]") != std::string::npos);
  }

  TEST_CASE("tensor host caching allocator reuses large blocks") {
    HostAllocator::instance().empty_cache();
    const AllocatorStats before = HostAllocator::instance().stats();
    for (int i = 0; i < 4; ++i) {
      Tensor t = empty({1 << 20});  // 4 MiB
      (void)t;
    }
    const AllocatorStats after = HostAllocator::instance().stats();
    CHECK(after.cache_hits - before.cache_hits >= 3);
    CHECK(after.cached_bytes >= (4 << 20));
  }

  TEST_CASE("tensor rand randn randint are deterministic for a seed and independent of chunking") {
    Generator g1(42), g2(42);
    Tensor a = rand({1000}, DType::f32, &g1);
    Tensor b1 = rand({400}, DType::f32, &g2);
    Tensor b2 = rand({600}, DType::f32, &g2);
    CHECK(to_vector(a) == to_vector(cat({b1, b2})));
    Generator g3(7);
    Tensor n = randn({20000}, DType::f64, &g3);
    CHECK(std::abs(mean(n).item()) < 0.03);
    CHECK(std::abs(var(n).item() - 1.0) < 0.05);
    const double lo = min(a).item(), hi = max(a).item();
    CHECK(lo >= 0.0);
    CHECK(hi < 1.0);
    Tensor r = randint(3, 9, {5000}, &g3);
    CHECK(min(r).item() == 3);
    CHECK(max(r).item() == 8);
  }

  TEST_CASE("tensor philox matches the published known-answer vector") {
    // Philox4x32-10 test vector (Random123): key 0, counter 0.
    const auto w = kernels::philox_block(0, 0);
    CHECK(w[0] == 0x6627e8d5u);
    CHECK(w[1] == 0xe169c58du);
    CHECK(w[2] == 0xbc57ac4cu);
    CHECK(w[3] == 0x9b00dbd8u);
  }
}

TEST_SUITE("badinput") {
  TEST_CASE("tensor view with incompatible strides or sizes is rejected") {
    Tensor a = zeros({2, 3});
    CHECK_THROWS_WITH_AS(a.view({4}), doctest::Contains("invalid for a tensor of 6 elements"), Error);
    CHECK_THROWS_WITH_AS(a.t().view({6}), doctest::Contains("use reshape()"), Error);
    CHECK_THROWS_WITH_AS(a.view({-1, -1}), doctest::Contains("only one dimension can be -1"), Error);
    CHECK_THROWS_WITH_AS(a.permute({0, 0}), doctest::Contains("repeats"), Error);
    CHECK_THROWS_WITH_AS(a.narrow(1, 2, 2), doctest::Contains("outside dimension 1"), Error);
    CHECK_THROWS_WITH_AS(a.select(0, 2), doctest::Contains("out of range"), Error);
    CHECK_THROWS_WITH_AS(a.expand({3, 3}), doctest::Contains("only size-1 dimensions expand"), Error);
    CHECK_THROWS_WITH_AS(a.size(2), doctest::Contains("dimension 2 is out of range"), Error);
  }

  TEST_CASE("tensor write into an expanded view is an error") {
    Tensor e = zeros({3, 1}).expand({3, 4});
    CHECK_THROWS_WITH_AS(e.fill_(1), doctest::Contains("expanded view"), Error);
    CHECK_THROWS_WITH_AS(e.copy_(ones({3, 4})), doctest::Contains("expanded view"), Error);
    CHECK_THROWS_WITH_AS(e.add_(ones({3, 4})), doctest::Contains("expanded view"), Error);
  }

  TEST_CASE("tensor factories reject bad arguments") {
    CHECK_THROWS_WITH_AS(zeros({2, -1}), doctest::Contains("negative size"), Error);
    CHECK_THROWS_WITH_AS(arange(0.0, 1.0, 0.0), doctest::Contains("step must be non-zero"), Error);
    CHECK_THROWS_WITH_AS(from_vector({1, 2, 3}, {2}), doctest::Contains("3 values for shape [2]"), Error);
    CHECK_THROWS_WITH_AS(randint(3, 3, {2}), doctest::Contains("empty range"), Error);
#if FOVEA_HAS_CUDA
    CHECK_THROWS_WITH_AS(zeros({2}, DType::f32, Device::cuda(7)), doctest::Contains("does not exist"), Error);
#else
    CHECK_THROWS_WITH_AS(zeros({2}, DType::f32, Device::cuda()), doctest::Contains("no CUDA backend"), Error);
#endif
    CHECK_THROWS_WITH_AS(Device::parse("gpu0"), doctest::Contains("expected cpu, cuda or cuda:N"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).data<double>(), doctest::Contains("expected f64"), Error);
    CHECK_THROWS_WITH_AS(ones({2}).item(), doctest::Contains("one element"), Error);
  }
}
