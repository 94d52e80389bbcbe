// Rope<RotateHalf> and Rope<Interleaved> against the float64 reference
// (tests/fixtures/rope/cases.json), including llama3 frequency scaling.
#include <cmath>

#include <catch2/catch.hpp>

#include "strata/layers/rope.hpp"
#include "support/golden.hpp"

namespace {
strata::RopeScaling scaling_of(const nlohmann::json& j) {
  strata::RopeScaling s;
  if (j.is_null()) return s;
  s.kind = strata::RopeScaling::Kind::Llama3;
  s.factor = j["factor"];
  s.low_freq_factor = j["low_freq_factor"];
  s.high_freq_factor = j["high_freq_factor"];
  s.original_max_position_embeddings = j["original_max_position_embeddings"];
  return s;
}

template <class Layout>
void check_layout(const nlohmann::json& c, const char* key) {
  const std::int64_t hd = c["head_dim"];
  strata::Rope<Layout> rope;
  rope.init(hd, c["rope_theta"].get<double>(), scaling_of(c["rope_scaling"]));
  const auto& positions = c["positions"];
  for (std::size_t i = 0; i < positions.size(); ++i) {
    const std::int64_t pos = positions[i];
    std::vector<float> cos(std::size_t(hd / 2)), sin(cos.size());
    rope.tables(pos, 1, cos.data(), sin.data());
    auto v = c["input"][i].get<std::vector<float>>();
    rope.apply(v.data(), cos.data(), sin.data());
    const auto want = c[key][i].get<std::vector<double>>();
    for (std::size_t d = 0; d < v.size(); ++d) {
      INFO(c["name"].get<std::string>() << " " << key << " position " << pos << " element " << d);
      CHECK(v[d] == Approx(want[d]).margin(2e-5));
    }
  }
}
}  // namespace

TEST_CASE("rotary embeddings match the reference in both layouts", "[layers][rope]") {
  const auto cases = strata::test::read_json(strata::test::fixture_path("rope/cases.json"));
  for (const auto& c : cases["cases"]) {
    const auto inv = strata::rope_inv_freq(c["head_dim"], c["rope_theta"].get<double>(), scaling_of(c["rope_scaling"]));
    const auto want = c["inv_freq"].get<std::vector<double>>();
    REQUIRE(inv.size() == want.size());
    for (std::size_t i = 0; i < inv.size(); ++i) CHECK(inv[i] == Approx(want[i]).epsilon(1e-12));
    check_layout<strata::RotateHalf>(c, "rotate_half");
    check_layout<strata::Interleaved>(c, "interleaved");
  }
}
