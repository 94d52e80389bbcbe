// Loading projections straight from checkpoint tensors into the packed panel
// layout (layers/packed_weights.hpp) must give exactly the layout's
// definition: PackedMatrix::at(n, k) equals the stored W[n, k] converted on
// its own (bit for bit when stored as the weight type, else widened and
// rounded to nearest even), and the padding rows of the last panel stay zero.
// Odd shapes (N not a multiple of 16, K odd and not a multiple of the 64
// columns a block covers), stacked parts whose boundaries fall inside panels,
// Conv1D (transposed) tensors, shapes large enough to take several reads, and
// every stored dtype × weight type. WeightTensor<W>::load is checked the same
// way.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/kernels/gemm.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/packed_weights.hpp"
#include "strata/layers/weights.hpp"
#include "support/safetensors_writer.hpp"

using namespace strata;

namespace {

// A tensor of random values as stored in dtype dt, and the exact floats it holds.
struct Stored {
  test::TensorSpec spec;
  std::vector<float> exact;    // the stored values, widened
  std::vector<std::uint32_t> bits;  // the stored bit patterns (16-bit types in the low half)
};

Stored make_tensor(const std::string& name, std::vector<std::int64_t> shape, DType dt, std::uint32_t seed) {
  std::size_t n = 1;
  for (auto d : shape) n *= std::size_t(d);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  Stored s;
  s.exact.resize(n);
  s.bits.resize(n);
  std::vector<float> f(n);
  std::vector<std::uint16_t> h(n);
  for (std::size_t i = 0; i < n; ++i) {
    // Values across a wide range, so bf16 / f16 rounding and f16 subnormals occur.
    const float v = nd(rng) * std::ldexp(1.0f, int(rng() % 24) - 16);
    if (dt == DType::F32) {
      f[i] = v;
      s.exact[i] = v;
      s.bits[i] = f32_to_bits(v);
    } else if (dt == DType::BF16) {
      h[i] = f32_to_bf16(v);
      s.exact[i] = bf16_to_f32(h[i]);
      s.bits[i] = h[i];
    } else {
      h[i] = f32_to_f16(v);
      s.exact[i] = f16_to_f32(h[i]);
      s.bits[i] = h[i];
    }
  }
  s.spec = dt == DType::F32    ? test::TensorSpec::f32(name, std::move(shape), f)
           : dt == DType::BF16 ? test::TensorSpec::bf16(name, std::move(shape), h)
                               : test::TensorSpec::f16(name, std::move(shape), h);
  return s;
}

// The bits of the stored element converted to W on its own: the old loader's
// definition (read_row: a copy when stored as W, else narrow<W>(exact)).
template <class W>
std::uint32_t expected_bits(const Stored& s, DType dt, std::size_t i) {
  if (dt == dtype_of<W>()) return s.bits[i];
  const W w = narrow<W>(s.exact[i]);
  if constexpr (std::is_same_v<W, float>) return f32_to_bits(w);
  else return w.bits;
}

template <class W>
std::uint32_t bits_of(W w) {
  if constexpr (std::is_same_v<W, float>) return f32_to_bits(w);
  else return w.bits;
}

// Checks p against the row-major [N, K] matrix `elem(n, k)` (an index into
// the stored tensors) and that the padding rows are zero.
template <class W, class Elem>
void check_packed(const kernels::PackedMatrix<W>& p, std::int64_t N, std::int64_t K, Elem elem) {
  REQUIRE(p.rows() == N);
  REQUIRE(p.cols() == K);
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) {
      const auto [want, got] = elem(n, k, p.at(n, k));
      if (want != got) FAIL("W[" << n << ", " << k << "]: packed bits " << got << ", expected " << want);
    }
  const std::int64_t P = p.panels();
  for (std::int64_t k = 0; k < K; ++k)
    for (std::int64_t r = N - (P - 1) * kernels::kPanel; r < kernels::kPanel; ++r)
      REQUIRE(bits_of(p.data()[std::size_t(((P - 1) * K + k) * kernels::kPanel + r)]) == 0);
}

const char* dtype_label(DType d) { return d == DType::F32 ? "F32" : d == DType::BF16 ? "BF16" : "F16"; }

template <class W>
void check_all_layouts(DType dt) {
  test::TempDir dir;
  // Single tensors: small odd, several reads (12 KB rows: 16 rows per 256 KB read).
  const std::int64_t N1 = 37, K1 = 101, N2 = 40, K2 = 3001;
  // Stacked parts of 7, 20 and 13 rows: boundaries inside panels.
  const std::vector<std::int64_t> parts{7, 20, 13};
  const std::int64_t Ks = 67;
  // Conv1D [K, N]: one small, one taking several reads.
  const std::int64_t Nc = 37, Kc = 101, Kc2 = 5003;
  std::vector<Stored> t;
  t.push_back(make_tensor("a.weight", {N1, K1}, dt, 1));
  t.push_back(make_tensor("b.weight", {N2, K2}, dt, 2));
  for (std::size_t i = 0; i < parts.size(); ++i)
    t.push_back(make_tensor("s" + std::to_string(i) + ".weight", {parts[i], Ks}, dt, 10 + std::uint32_t(i)));
  t.push_back(make_tensor("c.weight", {Kc, Nc}, dt, 3));
  t.push_back(make_tensor("d.weight", {Kc2, Nc}, dt, 4));
  for (std::size_t i = 0; i < parts.size(); ++i)
    t.push_back(make_tensor("cs" + std::to_string(i) + ".weight", {Kc, parts[i]}, dt, 20 + std::uint32_t(i)));
  std::vector<test::TensorSpec> specs;
  for (const auto& s : t) specs.push_back(s.spec);
  test::write_safetensors(dir / "m.safetensors", specs);
  const auto ck = io::Checkpoint::open_files({dir / "m.safetensors"});

  auto plain = [&](const Stored& s, std::int64_t K) {
    return [&s, K, dt](std::int64_t n, std::int64_t k, W got) {
      return std::pair{expected_bits<W>(s, dt, std::size_t(n * K + k)), bits_of(got)};
    };
  };
  auto transposed = [&](const Stored& s, std::int64_t N) {
    return [&s, N, dt](std::int64_t n, std::int64_t k, W got) {
      return std::pair{expected_bits<W>(s, dt, std::size_t(k * N + n)), bits_of(got)};
    };
  };
  SECTION("single tensor, N and K odd") { check_packed(load_packed<W>(ck, MatrixSource{{"a"}, {N1}}, K1), N1, K1, plain(t[0], K1)); }
  SECTION("single tensor, several reads") { check_packed(load_packed<W>(ck, MatrixSource{{"b"}, {N2}}, K2), N2, K2, plain(t[1], K2)); }
  SECTION("stacked parts") {
    const auto p = load_packed<W>(ck, MatrixSource{{"s0", "s1", "s2"}, parts}, Ks);
    check_packed(p, 40, Ks, [&](std::int64_t n, std::int64_t k, W got) {
      std::size_t i = 0;
      while (n >= parts[i]) n -= parts[i++];
      return std::pair{expected_bits<W>(t[2 + i], dt, std::size_t(n * Ks + k)), bits_of(got)};
    });
  }
  SECTION("Conv1D") { check_packed(load_packed<W>(ck, MatrixSource{{"c"}, {Nc}, true}, Kc), Nc, Kc, transposed(t[5], Nc)); }
  SECTION("Conv1D, several reads") {
    check_packed(load_packed<W>(ck, MatrixSource{{"d"}, {Nc}, true}, Kc2), Nc, Kc2, transposed(t[6], Nc));
  }
  SECTION("stacked Conv1D parts") {
    const auto p = load_packed<W>(ck, MatrixSource{{"cs0", "cs1", "cs2"}, parts, true}, Kc);
    check_packed(p, 40, Kc, [&](std::int64_t n, std::int64_t k, W got) {
      std::size_t i = 0;
      while (n >= parts[i]) n -= parts[i++];
      return std::pair{expected_bits<W>(t[7 + i], dt, std::size_t(k * parts[i] + n)), bits_of(got)};
    });
  }
  SECTION("equals kernels::pack_weights of the converted matrix") {
    std::vector<W> rows(std::size_t(N1 * K1));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const std::uint32_t b = expected_bits<W>(t[0], dt, i);
      if constexpr (std::is_same_v<W, float>) rows[i] = bits_to_f32(b);
      else rows[i].bits = std::uint16_t(b);
    }
    const auto want = kernels::pack_weights(rows.data(), N1, K1);
    const auto got = load_packed<W>(ck, MatrixSource{{"a"}, {N1}}, K1);
    REQUIRE(got.bytes() == want.bytes());
    REQUIRE(std::memcmp(got.data(), want.data(), want.bytes()) == 0);
  }
}

template <class W>
void check_weight_tensor(DType dt) {
  test::TempDir dir;
  const std::int64_t R = 300, C = 1001;  // 300,300 elements: several staged blocks for every dtype
  const Stored s = make_tensor("e.weight", {R, C}, dt, 7);
  test::write_safetensors(dir / "m.safetensors", {s.spec});
  const auto ck = io::Checkpoint::open_files({dir / "m.safetensors"});
  const auto w = WeightTensor<W>::load(ck, "e.weight", {R, C});
  for (std::size_t i = 0; i < std::size_t(R * C); ++i)
    if (bits_of(w.data()[i]) != expected_bits<W>(s, dt, i)) FAIL("element " << i << " differs");
}

}  // namespace

TEST_CASE("projections packed from the checkpoint equal the panel layout's definition", "[layers][load]") {
  const DType dt = GENERATE(DType::F32, DType::BF16, DType::F16);
  INFO("stored " << dtype_label(dt));
  SECTION("as f32") { check_all_layouts<float>(dt); }
  SECTION("as bf16") { check_all_layouts<bf16>(dt); }
  SECTION("as f16") { check_all_layouts<f16>(dt); }
}

TEST_CASE("WeightTensor<W>::load converts every element on its own", "[layers][load]") {
  const DType dt = GENERATE(DType::F32, DType::BF16, DType::F16);
  INFO("stored " << dtype_label(dt));
  SECTION("as f32") { check_weight_tensor<float>(dt); }
  SECTION("as bf16") { check_weight_tensor<bf16>(dt); }
  SECTION("as f16") { check_weight_tensor<f16>(dt); }
}

TEST_CASE("a projection stored as integers is an error naming it", "[layers][load][bad-input]") {
  test::TempDir dir;
  test::write_safetensors(dir / "m.safetensors",
                          {test::TensorSpec{"q.weight", "I32", {2, 2}, std::vector<std::byte>(16)}});
  const auto ck = io::Checkpoint::open_files({dir / "m.safetensors"});
  Linear<float> lin;
  REQUIRE_THROWS_WITH(lin.load(ck, "q", 2, 2, false),
                      Catch::Contains("tensor \"q.weight\" is I32, expected a float type (F32, F16, BF16)"));
}
