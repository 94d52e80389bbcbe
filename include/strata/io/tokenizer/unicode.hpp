// Unicode character data for the tokenizer: general categories, lowercase,
// NFD and NFC, on code points. The tables (unicode_tables.hpp) are generated
// by tests/reference/make_unicode_tables.py; their Unicode version is
// unicode_data::unicode_version.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>

#include "strata/io/tokenizer/unicode_tables.hpp"

namespace strata::tokenizer_detail::unicode {

using unicode_data::Category;

inline Category category(char32_t c) {
  const auto& t = unicode_data::categories;
  const auto* it = std::upper_bound(std::begin(t), std::end(t), std::uint32_t(c),
                                    [](std::uint32_t v, const unicode_data::Range& r) { return v < r.first; });
  if (it == std::begin(t)) return unicode_data::Cn;
  --it;
  return c <= it->last ? Category(it->value) : unicode_data::Cn;
}

// \p{L}, \p{N}, \p{P}, Mn, and category C (Cc, Cf, Cs, Co, Cn).
inline bool is_letter(char32_t c) {
  const Category k = category(c);
  return k >= unicode_data::Lu && k <= unicode_data::Lo;
}
inline bool is_number(char32_t c) {
  const Category k = category(c);
  return k >= unicode_data::Nd && k <= unicode_data::No;
}
inline bool is_punctuation(char32_t c) {
  const Category k = category(c);
  return k >= unicode_data::Pc && k <= unicode_data::Po;
}
inline bool is_mark_nonspacing(char32_t c) { return category(c) == unicode_data::Mn; }
inline bool is_other(char32_t c) { return category(c) <= unicode_data::Cs; }

// Unicode White_Space: Rust's char::is_whitespace, and `\s` in Oniguruma and
// Rust's regex.
inline bool is_white_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

inline std::uint8_t combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const auto& t = unicode_data::combining_classes;
  const auto* it = std::upper_bound(std::begin(t), std::end(t), std::uint32_t(c),
                                    [](std::uint32_t v, const unicode_data::Range& r) { return v < r.first; });
  if (it == std::begin(t)) return 0;
  --it;
  return c <= it->last ? it->value : 0;
}

// Appends the full lowercase mapping of c (Rust's char::to_lowercase).
inline void append_lowercase(char32_t c, std::u32string& out) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  for (const auto& m : unicode_data::lowercase_multi) {
    if (m.cp == c) {
      out.append(m.lower, m.lower + m.length);
      return;
    }
  }
  const auto& t = unicode_data::lowercase;
  const auto* it = std::lower_bound(std::begin(t), std::end(t), std::uint32_t(c),
                                    [](const unicode_data::Lowercase& e, std::uint32_t v) { return e.cp < v; });
  out.push_back(it != std::end(t) && it->cp == c ? char32_t(it->lower) : c);
}

// ---- NFD / NFC (UAX #15) -------------------------------------------------------

inline constexpr char32_t s_base = 0xAC00, l_base = 0x1100, v_base = 0x1161, t_base = 0x11A7;
inline constexpr char32_t l_count = 19, v_count = 21, t_count = 28, n_count = v_count * t_count,
                          s_count = l_count * n_count;

inline void append_decomposed(char32_t c, std::u32string& out) {
  if (c >= s_base && c < s_base + s_count) {
    const char32_t s = c - s_base;
    out.push_back(l_base + s / n_count);
    out.push_back(v_base + (s % n_count) / t_count);
    if (s % t_count != 0) out.push_back(t_base + s % t_count);
    return;
  }
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  const auto& t = unicode_data::decompositions;
  const auto* it = std::lower_bound(std::begin(t), std::end(t), std::uint32_t(c),
                                    [](const unicode_data::Decomposition& e, std::uint32_t v) { return e.cp < v; });
  if (it == std::end(t) || it->cp != c) {
    out.push_back(c);
    return;
  }
  const std::uint32_t* d = unicode_data::decomposition_data + it->offset;
  out.append(d, d + it->length);
}

// Canonical ordering: a stable sort by combining class of each run of
// non-starters.
inline void canonical_order(std::u32string& s) {
  for (std::size_t i = 0; i < s.size();) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    std::stable_sort(s.begin() + std::ptrdiff_t(i), s.begin() + std::ptrdiff_t(j),
                     [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

inline std::u32string nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (const char32_t c : s) append_decomposed(c, out);
  canonical_order(out);
  return out;
}

// The primary composite of (a, b), or 0.
inline char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= l_base && a < l_base + l_count && b >= v_base && b < v_base + v_count) {
    return s_base + ((a - l_base) * v_count + (b - v_base)) * t_count;
  }
  if (a >= s_base && a < s_base + s_count && (a - s_base) % t_count == 0 && b > t_base && b < t_base + t_count) {
    return a + (b - t_base);
  }
  const auto& t = unicode_data::compositions;
  const auto* it = std::lower_bound(std::begin(t), std::end(t), std::pair{std::uint32_t(a), std::uint32_t(b)},
                                    [](const unicode_data::Composition& e, std::pair<std::uint32_t, std::uint32_t> v) {
                                      return e.first != v.first ? e.first < v.first : e.second < v.second;
                                    });
  return it != std::end(t) && it->first == a && it->second == b ? char32_t(it->composite) : char32_t(0);
}

inline std::u32string nfc(std::u32string_view s) {
  std::u32string d = nfd(s);
  if (d.empty()) return d;
  std::u32string out;
  out.reserve(d.size());
  std::size_t starter = std::u32string::npos;  // index in out of the last starter
  int last_ccc = -1;                             // class of the last character appended after it
  for (const char32_t c : d) {
    const int ccc = combining_class(c);
    if (starter != std::u32string::npos) {
      // c is not blocked from the starter if nothing between has class 0 or >= ccc.
      const bool blocked = last_ccc != -1 && (last_ccc == 0 || last_ccc >= ccc);
      if (!blocked) {
        if (const char32_t comp = compose_pair(out[starter], c)) {
          out[starter] = comp;
          continue;
        }
      }
    }
    if (ccc == 0) {
      starter = out.size();
      last_ccc = -1;
    } else {
      last_ccc = ccc;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace strata::tokenizer_detail::unicode
