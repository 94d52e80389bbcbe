// Strict command-line parsing shared by the example programs: every value is
// checked in full and against its range, and an option given twice (e.g.
// `--weights f32 --weights bf16`) is refused rather than silently overridden;
// any fault is a strata::Error whose message names the flag.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "strata/core/error.hpp"
#include "strata/io/hf_config.hpp"
#include "strata/models/llama.hpp"

namespace strata::cli {

class Args {
 public:
  Args(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  bool done() const { return i_ >= args_.size(); }
  // Whether the next argument is an option ("-..."), not an operand such as a file name.
  bool next_is_flag() const { return !done() && !args_[i_].empty() && args_[i_][0] == '-'; }
  // The next argument as an operand (a file name may repeat; options may not).
  std::string operand() { return args_[i_++]; }
  std::string_view next_flag() {
    const std::string& f = args_[i_++];
    check(seen_.insert(f).second, "option '", f, "' is given more than once");
    return f;
  }

  std::string value(std::string_view flag) {
    check(i_ < args_.size(), "missing value after ", flag);
    return args_[i_++];
  }

  std::int64_t integer(std::string_view flag, std::int64_t lo, std::int64_t hi) {
    const std::string v = value(flag);
    return parse_int(v, flag, lo, hi);
  }

  double number(std::string_view flag, double lo, double hi) {
    const std::string v = value(flag);
    double x = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    const bool whole = p == v.data() + v.size() && !v.empty();
    check(!(ec == std::errc::result_out_of_range && whole), flag, ": '", v, "' is out of range [", lo, ", ", hi, "]");
    check(ec == std::errc() && whole && std::isfinite(x), flag, ": '", v, "' is not a number");
    check(x >= lo && x <= hi, flag, ": ", v, " is out of range [", lo, ", ", hi, "]");
    return x;
  }

  static std::int64_t parse_int(std::string_view v, std::string_view flag, std::int64_t lo, std::int64_t hi) {
    std::int64_t x = 0;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    check(ec != std::errc::result_out_of_range, flag, ": '", v, "' is out of range [", lo, ", ", hi, "]");
    check(ec == std::errc() && p == v.data() + v.size() && !v.empty(), flag, ": '", v, "' is not an integer");
    check(x >= lo && x <= hi, flag, ": ", x, " is out of range [", lo, ", ", hi, "]");
    return x;
  }

  // "1,2,3" → {1, 2, 3}
  static std::vector<std::int32_t> parse_id_list(std::string_view v, std::string_view flag) {
    std::vector<std::int32_t> ids;
    check(!v.empty(), flag, ": empty list");
    std::size_t start = 0;
    while (start <= v.size()) {
      const std::size_t comma = v.find(',', start);
      const std::string_view item = v.substr(start, comma == std::string_view::npos ? v.npos : comma - start);
      ids.push_back(std::int32_t(parse_int(item, flag, 0, INT32_MAX)));
      if (comma == std::string_view::npos) break;
      start = comma + 1;
    }
    return ids;
  }

 private:
  std::vector<std::string> args_;
  std::size_t i_ = 0;
  std::set<std::string> seen_;
};

// --weights f32|bf16|f16: the in-memory type of dense weights.
inline WeightType weight_type_flag(Args& a, std::string_view flag) {
  const std::string w = a.value(flag);
  check(w == "f32" || w == "bf16" || w == "f16", flag, ": '", w, "' is not one of f32, bf16, f16");
  return w == "bf16" ? WeightType::BF16 : w == "f16" ? WeightType::F16 : WeightType::F32;
}

// --compute f32|bf16: how projections compute (LoadOptions::compute).
inline Compute compute_flag(Args& a, std::string_view flag) {
  const std::string c = a.value(flag);
  check(c == "f32" || c == "bf16", flag, ": '", c, "' is not one of f32, bf16");
  return c == "bf16" ? Compute::BF16 : Compute::F32;
}

// The quantization flags shared by generate, strata-bench and quantize:
//   --quant q8|q4|fp4   --group 32|64|128   --asym   --quant-head   --keep NAME[,NAME...]
// parse_quant_flag consumes one of them (returns false for other flags);
// finish_quant checks they make sense together.
struct QuantFlags {
  QuantSpec spec;
  bool group_given = false, asym_given = false, head_given = false, keep_given = false;
};

inline bool parse_quant_flag(Args& a, std::string_view f, QuantFlags& q) {
  if (f == "--quant") {
    const std::string v = a.value(f);
    const auto t = quant_type_from_name(v);
    check(t.has_value(), "--quant: '", v, "' is not one of q8, q4, fp4");
    q.spec.enabled = true;
    q.spec.type = *t;
  } else if (f == "--group") {
    q.spec.group = a.integer(f, 1, 1 << 20);
    check(q.spec.group == 32 || q.spec.group == 64 || q.spec.group == 128, "--group: ", q.spec.group,
          " is not one of 32, 64, 128");
    q.group_given = true;
  } else if (f == "--asym") {
    q.spec.asym = q.asym_given = true;
  } else if (f == "--quant-head") {
    q.spec.quantize_head = q.head_given = true;
  } else if (f == "--keep") {
    const std::string v = a.value(f);
    std::size_t start = 0;
    while (start <= v.size()) {
      const std::size_t comma = v.find(',', start);
      const std::string item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      check(!item.empty(), "--keep: empty module name in '", v, "'");
      q.spec.keep_dense.push_back(item);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    q.keep_given = true;
  } else {
    return false;
  }
  return true;
}

inline void finish_quant(const QuantFlags& q) {
  const bool extras = q.group_given || q.asym_given || q.head_given || q.keep_given;
  check(q.spec.enabled || !extras, "--group, --asym, --quant-head and --keep need --quant");
  if (!q.spec.enabled) return;
  check(!(q.spec.type == QuantType::Q8 && q.group_given && q.spec.group != 32), "--group: q8 uses groups of 32, not ",
        q.spec.group);
  check(!q.asym_given || q.spec.type == QuantType::Q4, "--asym: only q4 has an asymmetric variant");
}

}  // namespace strata::cli
