// Access to ../shared: the real models and their golden values.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

namespace strata::test {

inline std::string shared_path(const std::string& rel) { return std::string(STRATA_SHARED_DIR) + "/" + rel; }
inline std::string fixture_path(const std::string& rel) { return std::string(STRATA_TEST_FIXTURES) + "/" + rel; }

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot open " + path);
  return nlohmann::json::parse(in);
}

inline const nlohmann::json& tinystories_golden() {
  static const nlohmann::json j = read_json(shared_path("golden/tinystories-656k.json"));
  return j;
}

}  // namespace strata::test
