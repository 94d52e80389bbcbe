// Byte-level BPE support (GPT-2, Llama 3, Qwen2): the GPT-2 byte-to-unicode
// alphabet, lossy UTF-8 decoding as Rust's String::from_utf8_lossy, and
// hand-written matchers for the pre-tokenizer regexes these tokenizers use
// (no general regex engine: an unknown pattern is refused by the caller).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "strata/io/tokenizer/unicode.hpp"

namespace strata::tokenizer_detail::byte_level {

// GPT-2's bytes_to_unicode(): printable Latin-1 bytes stand for themselves, the
// other 68 bytes map to U+0100.. in byte order.
inline const std::array<char32_t, 256>& byte_to_char() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (unsigned b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      t[b] = printable ? char32_t(b) : next++;
    }
    return t;
  }();
  return table;
}

// The inverse: code point (< 0x144) -> byte, or -1.
inline const std::array<std::int16_t, 0x144>& char_to_byte() {
  static const std::array<std::int16_t, 0x144> table = [] {
    std::array<std::int16_t, 0x144> t{};
    t.fill(-1);
    for (unsigned b = 0; b < 256; ++b) t[byte_to_char()[b]] = std::int16_t(b);
    return t;
  }();
  return table;
}

inline void append_utf8(char32_t c, std::string& out) {
  if (c < 0x80) {
    out.push_back(char(c));
  } else if (c < 0x800) {
    out.push_back(char(0xC0 | (c >> 6)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(char(0xE0 | (c >> 12)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (c >> 18)));
    out.push_back(char(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(char(0x80 | (c & 0x3F)));
  }
}

// Every byte of s as its alphabet character.
inline std::string encode_bytes(std::string_view s) {
  std::string out;
  out.reserve(s.size() * 2);
  for (const char b : s) append_utf8(byte_to_char()[static_cast<unsigned char>(b)], out);
  return out;
}

// One step of UTF-8 validation at s[i]: {length, valid}. For an ill-formed
// sequence the length is that of its maximal valid prefix (at least 1), the
// unit that from_utf8_lossy replaces by one U+FFFD.
inline std::pair<std::size_t, bool> utf8_step(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {1, true};
  std::size_t need = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {1, false};
  }
  std::size_t k = 1;
  for (; k <= need; ++k) {
    if (i + k >= s.size()) return {k, false};
    const auto b = static_cast<unsigned char>(s[i + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) return {k, false};
  }
  return {k, true};
}

// String::from_utf8_lossy.
inline std::string lossy_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const auto [n, ok] = utf8_step(s, i);
    if (ok) {
      out.append(s.substr(i, n));
    } else {
      out.append("\xEF\xBF\xBD");
    }
    i += n;
  }
  return out;
}

// Bytes at the end of s that begin a UTF-8 character the next bytes may still
// complete (0 when s ends on a character boundary or with an invalid unit).
inline std::size_t incomplete_tail(std::string_view s) {
  std::size_t i = 0, last = 0;
  bool last_ok = true;
  while (i < s.size()) {
    const auto [n, ok] = utf8_step(s, i);
    last = i, last_ok = ok;
    i += n;
  }
  if (s.empty() || last_ok) return 0;
  // Invalid only because the input ended: the unit runs to the end and its
  // lead byte announces more bytes than there are.
  const auto [n, ok] = utf8_step(s, last);
  (void)ok;
  if (last + n != s.size()) return 0;
  const auto b0 = static_cast<unsigned char>(s[last]);
  const std::size_t want = b0 >= 0xF0 ? 4 : b0 >= 0xE0 ? 3 : b0 >= 0xC2 ? 2 : 1;
  return n < want ? n : 0;
}

// ---- pre-tokenizer patterns --------------------------------------------------

// The regexes recognised in a Split pre-tokenizer, and the one ByteLevel uses.
enum class Pattern { Gpt2, Llama3, Qwen2 };

inline constexpr std::string_view gpt2_regex =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view llama3_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view qwen2_regex =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

inline std::optional<Pattern> recognise(std::string_view regex) {
  if (regex == gpt2_regex) return Pattern::Gpt2;
  if (regex == llama3_regex) return Pattern::Llama3;
  if (regex == qwen2_regex) return Pattern::Qwen2;
  return std::nullopt;
}

// Leftmost-first matching of one of the patterns over a text given as code
// points; each match is [begin, end) in code point indices. Every position is
// matched by some alternative, so the matches tile the text; the code still
// handles a position where nothing matches (it is skipped), as a regex would.
class Matcher {
 public:
  Matcher(Pattern p, std::u32string_view text) : p_(p), t_(text) {
    cls_.reserve(text.size());
    for (const char32_t c : text) {
      std::uint8_t k = 0;
      if (unicode::is_white_space(c)) {
        k = c == '\r' || c == '\n' ? (W | NL) : W;
      } else if (unicode::is_letter(c)) {
        k = L;
      } else if (unicode::is_number(c)) {
        k = N;
      } else {
        k = O;
      }
      cls_.push_back(k);
    }
  }

  std::vector<std::pair<std::size_t, std::size_t>> find_all() const {
    std::vector<std::pair<std::size_t, std::size_t>> out;
    for (std::size_t i = 0; i < t_.size();) {
      const std::size_t n = match_at(i);
      if (n == 0) {
        ++i;
        continue;
      }
      out.emplace_back(i, i + n);
      i += n;
    }
    return out;
  }

 private:
  static constexpr std::uint8_t W = 1, NL = 2, L = 4, N = 8, O = 16;

  bool is(std::size_t i, std::uint8_t k) const { return i < cls_.size() && (cls_[i] & k) != 0; }
  std::size_t run(std::size_t i, std::uint8_t k) const {
    std::size_t j = i;
    while (is(j, k)) ++j;
    return j;
  }

  bool letter_is(std::size_t i, char lower) const {
    if (i >= t_.size()) return false;
    const char32_t c = t_[i];
    if (c == char32_t(lower)) return true;
    if (p_ == Pattern::Gpt2) return false;  // case-sensitive
    if (c == char32_t(lower - 32)) return true;
    return lower == 's' && c == 0x17F;  // LATIN SMALL LETTER LONG S folds to s
  }

  std::size_t contraction(std::size_t i) const {
    if (t_[i] != '\'') return 0;
    for (const std::string_view suffix : {"s", "t", "re", "ve", "m", "ll", "d"}) {
      std::size_t k = 0;
      while (k < suffix.size() && letter_is(i + 1 + k, suffix[k])) ++k;
      if (k == suffix.size()) return 1 + k;
    }
    return 0;
  }

  // ` ?X+` for a class X: an optional space followed by a run of X.
  std::size_t space_then_run(std::size_t i, std::uint8_t k) const {
    if (t_[i] == ' ' && is(i + 1, k)) return run(i + 1, k) - i;
    if (is(i, k)) return run(i, k) - i;
    return 0;
  }

  std::size_t whitespace(std::size_t i) const {
    if (!is(i, W)) return 0;
    const std::size_t end = run(i, W);
    if (p_ != Pattern::Gpt2) {
      // \s*[\r\n]+ : up to the last line break of the whitespace run.
      for (std::size_t j = end; j > i; --j) {
        if (is(j - 1, NL)) return j - i;
      }
    }
    // \s+(?!\S), then \s+
    if (end == t_.size() || end - i == 1) return end - i;
    return end - 1 - i;
  }

  std::size_t match_at(std::size_t i) const {
    if (std::size_t n = contraction(i)) return n;
    if (p_ == Pattern::Gpt2) {
      if (std::size_t n = space_then_run(i, L)) return n;
      if (std::size_t n = space_then_run(i, N)) return n;
      if (std::size_t n = space_then_run(i, O)) return n;
      return whitespace(i);
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!is(i, NL | L | N) && is(i + 1, L)) return run(i + 1, L) - i;
    if (is(i, L)) return run(i, L) - i;
    // \p{N}{1,3} or \p{N}
    if (is(i, N)) {
      const std::size_t most = p_ == Pattern::Llama3 ? 3 : 1;
      std::size_t j = i;
      while (j - i < most && is(j, N)) ++j;
      return j - i;
    }
    // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
    if (std::size_t n = space_then_run(i, O)) return run(i + n, NL) - i;
    return whitespace(i);
  }

  Pattern p_;
  std::u32string_view t_;
  std::vector<std::uint8_t> cls_;
};

}  // namespace strata::tokenizer_detail::byte_level
