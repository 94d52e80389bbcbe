// The sparse down projection (layers/sparse_ffn.hpp) against a double
// product over every unit: zero activations must contribute nothing and the
// non-zero ones everything, for one token and for tiles of many, with a
// partial panel, a bias, and bf16 weights, on the sparse path and (many tokens,
// dense activations) the GEMM path. The composed sparse FFNs are
// checked against the float64 reference models in test_variants.cpp.
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/layers/sparse_ffn.hpp"
#include "support/safetensors_writer.hpp"

using namespace strata;

TEST_CASE("sparse down projection equals the dense product", "[layers][variants]") {
  const std::int64_t out = 300, in = 96;  // 300 outputs: 18 full panels of 16 and a partial one
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<std::size_t>(out * in)), b(static_cast<std::size_t>(out));
  for (auto& x : w) x = nd(rng);
  for (auto& x : b) x = nd(rng);
  test::TempDir dir;
  test::write_safetensors(dir / "m.safetensors", {test::TensorSpec::f32("down.weight", {out, in}, w),
                                                  test::TensorSpec::f32("down.bias", {out}, b)});
  const auto ck = io::Checkpoint::open_files({dir / "m.safetensors"});
  const int threads = GENERATE(1, 2);
  ThreadPool pool(threads);
  const std::int64_t T = GENERATE(1, 13);
  // Below SparseDown::kDenseAbove a multi-token call takes the sparse path, above it the GEMM.
  const double density = GENERATE(0.0, 0.03, 0.1, 1.0);
  INFO(T << " tokens, density " << density << ", " << threads << " threads");
  std::vector<float> h(static_cast<std::size_t>(T * in));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (auto& x : h) x = u(rng) < density ? nd(rng) : 0.0f;

  const auto expect = [&](bool bias, std::int64_t t, std::int64_t n) {
    double s = bias ? b[std::size_t(n)] : 0.0;
    for (std::int64_t i = 0; i < in; ++i) s += double(h[std::size_t(t * in + i)]) * w[std::size_t(n * in + i)];
    return s;
  };
  const bool bias = GENERATE(false, true);
  std::vector<float> y(static_cast<std::size_t>(T * out), -1.0f);
  SECTION("f32 weights") {
    SparseDown<float> d;
    d.load(ck, MatrixSource{{"down"}, {out}, false}, in, bias);
    d.forward(h.data(), T, y.data(), pool);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t n = 0; n < out; ++n) REQUIRE(y[std::size_t(t * out + n)] == Approx(expect(bias, t, n)).margin(1e-4));
  }
  SECTION("bf16 weights") {
    SparseDown<bf16> d;
    d.load(ck, MatrixSource{{"down"}, {out}, false}, in, bias);
    d.forward(h.data(), T, y.data(), pool);
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t n = 0; n < out; ++n)  // bf16 keeps 8 bits of mantissa: |error| ≲ 2^-8 Σ|h·w|
        REQUIRE(y[std::size_t(t * out + n)] == Approx(expect(bias, t, n)).margin(0.1));
  }
}
