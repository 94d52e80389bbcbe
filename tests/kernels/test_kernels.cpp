// Each fast kernel against its scalar double-precision reference.
#include <cmath>
#include <random>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/activation.hpp"
#include "strata/kernels/norm.hpp"
#include "strata/kernels/softmax.hpp"
#include "support/random.hpp"

namespace {
using strata::test::random_vec;
float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}
}  // namespace

TEST_CASE("bf16 rounding is round-to-nearest-even", "[kernels][dtype]") {
  CHECK(strata::f32_to_bf16(1.0f) == 0x3f80);
  CHECK(strata::f32_to_bf16(strata::bits_to_f32(0x3f808000u)) == 0x3f80);  // tie → even
  CHECK(strata::f32_to_bf16(strata::bits_to_f32(0x3f818000u)) == 0x3f82);  // tie → even (up)
  CHECK(strata::f32_to_bf16(strata::bits_to_f32(0x3f808001u)) == 0x3f81);  // above half → up
  CHECK(std::isnan(strata::bf16_to_f32(strata::f32_to_bf16(NAN))));
}

TEST_CASE("rmsnorm matches the reference", "[kernels]") {
  for (int n : {1, 64, 200, 1031}) {
    auto x = random_vec(std::size_t(n), 6, 3.0f), w = random_vec(std::size_t(n), 7);
    std::vector<float> y(static_cast<std::size_t>(n)), ref(static_cast<std::size_t>(n));
    strata::kernels::rmsnorm(x.data(), w.data(), n, 1e-6f, y.data());
    strata::kernels::rmsnorm_ref(x.data(), w.data(), n, 1e-6, ref.data());
    CHECK(max_abs_diff(y, ref) < 1e-5f);
  }
}

TEST_CASE("silu_mul matches the reference", "[kernels]") {
  auto g = random_vec(500, 8, 4.0f), u = random_vec(500, 9);
  std::vector<float> y(500), ref(500);
  strata::kernels::silu_mul(g.data(), u.data(), 500, y.data());
  strata::kernels::silu_mul_ref(g.data(), u.data(), 500, ref.data());
  CHECK(max_abs_diff(y, ref) < 1e-5f);
}

TEST_CASE("softmax and argmax", "[kernels]") {
  std::vector<float> x{1.0f, 3.0f, 3.0f, -1000.0f, 2.0f};
  CHECK(strata::kernels::argmax(x.data(), 5) == 1);  // first of the ties, as torch.argmax
  strata::kernels::softmax_inplace(x.data(), 5);
  double sum = 0;
  for (float p : x) sum += p;
  CHECK(sum == Approx(1.0).epsilon(1e-6));
  CHECK(x[3] == 0.0f);
  CHECK(x[1] == Approx(std::exp(0.0) / (std::exp(-2.0) + 2 + std::exp(-1.0))).epsilon(1e-6));
}

TEST_CASE("f16 narrowing rounds to nearest even and round-trips", "[kernels][dtype]") {
  // Every finite f16 value survives f16 → f32 → f16 exactly.
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    if ((h & 0x7c00u) == 0x7c00u) continue;  // inf / NaN
    REQUIRE(strata::f32_to_f16(strata::f16_to_f32(std::uint16_t(h))) == h);
  }
  CHECK(strata::f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);  // tie → even (down)
  CHECK(strata::f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);  // tie → even (up)
  CHECK(strata::f32_to_f16(65520.0f) == 0x7c00);            // overflow → inf
  CHECK(strata::f32_to_f16(-1e-9f) == 0x8000);              // underflow keeps the sign
  CHECK(strata::f32_to_f16(NAN) == 0x7e00);
}
