// Reading the float64 references' JSON files and comparing against them.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace strata::test {

inline nlohmann::json read_json_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) throw std::runtime_error("cannot open " + p.string());
  return nlohmann::json::parse(in);
}

// Largest |got[i] - want[i]| over the reference's values.
inline double max_diff(const float* got, const nlohmann::json& want) {
  double d = 0;
  for (std::size_t i = 0; i < want.size(); ++i) d = std::max(d, std::abs(double(got[i]) - want[i].get<double>()));
  return d;
}

}  // namespace strata::test
