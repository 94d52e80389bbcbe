// Hugging Face tokenizer.json: SentencePiece-style BPE (Llama, Mistral,
// TinyLlama, the llama2.c "stories" models), WordPiece (BERT, MiniLM) and
// byte-level BPE (GPT-2, Llama 3, Qwen2). Encodes text (or a pair of texts) to
// ids and decodes ids to text with the same results as the Rust `tokenizers`
// library. docs/TOKENIZERS.md lists what is supported and the known differences.
//
// The pipeline mirrors `tokenizers::TokenizerImpl`:
//   encode: added tokens split out of the raw text -> normalizer per segment
//           -> normalized added tokens split out -> pre-tokenizer -> model
//           -> truncation (encode_pair) -> post-processor when add_special_tokens.
//   decode: id -> piece (added tokens first) -> optional removal of special
//           tokens -> decoder chain -> concatenation.
//
// Supported components (everything else is rejected with a strata::Error that
// names tokenizer.json and the field):
//   normalizer     null, Sequence, Prepend, Replace (String pattern), NFD, NFC,
//                  Lowercase, StripAccents, BertNormalizer
//   pre_tokenizer  null, Sequence, Metaspace (prepend_scheme always/first/never, split),
//                  BertPreTokenizer, WhitespaceSplit, Punctuation, ByteLevel,
//                  Split (String pattern, or the GPT-2 / Llama 3 / Qwen2 Regex)
//   model          BPE (vocab, merges as "a b" strings or [a, b] pairs, unk_token,
//                  fuse_unk, byte_fallback, ignore_merges; dropout null/0,
//                  continuing_subword_prefix and end_of_word_suffix null/"");
//                  WordPiece (vocab, unk_token, continuing_subword_prefix,
//                  max_input_chars_per_word)
//   post_processor null, TemplateProcessing (single and pair), BertProcessing,
//                  RobertaProcessing, ByteLevel, Sequence (at most one of them
//                  adding tokens)
//   decoder        null, Sequence, Replace (String pattern), ByteFallback, Fuse,
//                  Strip, Metaspace, WordPiece, ByteLevel
//   added_tokens   lstrip, rstrip, normalized, special (single_word=true is rejected)
//   truncation     null or direction Right, strategy LongestFirst (max_length is
//                  exposed; encode_pair truncates when asked)
//   padding        null or any object (its pad_id is exposed; no effect on one sequence)
//
// Deliberate differences from HF:
//   - decode() of an id that is in neither the vocab nor the added tokens throws
//     (HF silently drops it);
//   - a tokenizer.json whose added token disagrees with the vocab about an id, or
//     whose vocab gives one id to two pieces, is rejected (HF warns or picks one);
//   - a Metaspace with the legacy add_prefix_space=false and no prepend_scheme
//     means prepend_scheme "never", as in HF before 0.19 (newer HF rejects it);
//   - a WordPiece unk_token that is not in the vocab is rejected when loading
//     (HF fails at the first unknown word);
//   - encode() never truncates (HF's encode truncates when the file asks for it);
//     encode_pair(.., max_length) does;
//   - encode() accepts bytes that are not valid UTF-8 (HF's API cannot receive
//     them): each byte that does not start a well-formed UTF-8 sequence is its own
//     character, so it becomes a <0xXX> byte token with byte_fallback, or unk;
//     Unicode normalizers leave such bytes as they are (BertNormalizer's
//     clean_text removes them), byte-level pre-tokenizers map them as bytes.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/error.hpp"
#include "strata/io/json_file.hpp"
#include "strata/io/tokenizer/byte_level.hpp"
#include "strata/io/tokenizer/unicode.hpp"

namespace strata {

namespace tokenizer_detail {

using json = nlohmann::json;

// Largest id accepted in a tokenizer.json: far above any published vocabulary.
// (Pieces are looked up by id in hash maps, so a large id costs no memory.)
inline constexpr std::int64_t max_token_id = (std::int64_t{1} << 24) - 1;

// tokenizer.json size: the largest published ones are a few tens of MB.
inline constexpr std::uint64_t max_file_bytes = std::uint64_t{1} << 30;

// How much longer the normalizer, or the decoder's Replace steps, may make a
// text: chained Replace steps multiply (a -> aa, ten times, is 1024-fold), so
// a small hostile file could otherwise make encode() or decode() allocate
// without bound. Real tokenizers grow text at most 3-fold (" " -> U+2581) and
// prepend 3 bytes.
inline constexpr std::uint64_t max_growth_factor = 64;
inline constexpr std::uint64_t max_prepend_bytes = 256;

// ---- UTF-8 ------------------------------------------------------------------

// Length of the character starting at s[i]: a well-formed UTF-8 sequence
// (no overlongs, surrogates or values above U+10FFFF) or, for any other byte,
// 1 (that byte alone is a character; see the note at the top of the file).
inline std::size_t char_len(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  std::size_t n = 0;
  char32_t min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    n = 2, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    n = 3, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    n = 4, min = 0x10000;
  } else {
    return 1;
  }
  if (i + n > s.size()) return 1;
  char32_t cp = b0 & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 1;
  return n;
}

// The code point of the character at s[i] (char_len bytes), or U+FFFD for a
// lone byte that is not valid UTF-8.
inline char32_t code_point(std::string_view s, std::size_t i, std::size_t len) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (len == 1) return b0 < 0x80 ? char32_t(b0) : char32_t(0xFFFD);
  char32_t cp = b0 & (0x7F >> len);
  for (std::size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return cp;
}

// Splits valid-or-not UTF-8 into characters (string_views into s).
inline std::vector<std::string_view> split_chars(std::string_view s) {
  std::vector<std::string_view> out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_len(s, i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// Unicode White_Space, which is what Rust's regex `\s` (used by HF for
// lstrip/rstrip of added tokens) matches.
using unicode::is_white_space;

// Text as code points for the Unicode steps. A byte that does not start a
// well-formed UTF-8 sequence becomes invalid_byte + byte (outside Unicode, so
// category Cn and no mappings) and is written back as that byte.
inline constexpr char32_t invalid_byte = 0x110000;

inline std::u32string to_code_points(std::string_view s, std::vector<std::size_t>* offsets = nullptr) {
  std::u32string out;
  out.reserve(s.size());
  if (offsets) offsets->clear();
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_len(s, i);
    const auto b0 = static_cast<unsigned char>(s[i]);
    out.push_back(n == 1 && b0 >= 0x80 ? invalid_byte + b0 : code_point(s, i, n));
    if (offsets) offsets->push_back(i);
    i += n;
  }
  if (offsets) offsets->push_back(s.size());
  return out;
}

inline std::string from_code_points(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char32_t c : s) {
    if (c >= invalid_byte) {
      out.push_back(static_cast<char>(c - invalid_byte));
    } else {
      byte_level::append_utf8(c, out);
    }
  }
  return out;
}

// Replaces every non-overlapping occurrence of `pattern` (non-empty), scanning
// left to right, as HF's Replace with a String pattern does. Byte-wise search is
// character-exact: a UTF-8 pattern can only match at a character boundary.
inline std::string replace_all(std::string_view s, std::string_view pattern, std::string_view content) {
  std::string out;
  out.reserve(s.size());
  std::size_t pos = 0;
  for (std::size_t hit; (hit = s.find(pattern, pos)) != std::string_view::npos; pos = hit + pattern.size()) {
    out.append(s.substr(pos, hit - pos));
    out.append(content);
  }
  out.append(s.substr(pos));
  return out;
}

// Text from the file or the input, for a message: quoted, one line, cut short.
inline std::string shown(std::string_view s) { return "'" + io::detail::printable(s, 60) + "'"; }

// ---- JSON access with errors that name the file and the field -----------------

// A JSON value plus its dotted path ("model.merges[3]") for error messages.
class Field {
 public:
  Field(const json& v, std::string path, const std::string& source) : v_(&v), path_(std::move(path)), src_(&source) {}

  const json& value() const { return *v_; }
  const std::string& path() const { return path_; }
  const std::string& source() const { return *src_; }

  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    strata::fail(*src_, ": ", path_.empty() ? "top level" : path_, ": ", std::forward<Args>(args)...);
  }

  // Present and not null.
  bool has(const char* key) const { return v_->is_object() && v_->contains(key) && !v_->at(key).is_null(); }

  Field at(const char* key) const {
    require_object();
    if (!has(key)) Field(*v_, child_path(key), *src_).fail("required field is missing");
    return Field(v_->at(key), child_path(key), *src_);
  }
  std::optional<Field> get(const char* key) const {
    require_object();
    if (!has(key)) return std::nullopt;
    return Field(v_->at(key), child_path(key), *src_);
  }
  Field item(std::size_t i) const { return Field((*v_)[i], path_ + "[" + std::to_string(i) + "]", *src_); }

  void require_object() const {
    if (!v_->is_object()) fail("expected a JSON object, got ", kind());
  }
  std::size_t array_size() const {
    if (!v_->is_array()) fail("expected a JSON array, got ", kind());
    return v_->size();
  }
  std::string str() const {
    if (!v_->is_string()) fail("expected a string, got ", kind());
    return v_->get<std::string>();
  }
  bool boolean() const {
    if (!v_->is_boolean()) fail("expected true or false, got ", kind());
    return v_->get<bool>();
  }
  std::int64_t integer(std::int64_t lo, std::int64_t hi) const {
    if (!v_->is_number_integer()) fail("expected an integer, got ", kind());
    if (v_->is_number_unsigned() && v_->get<std::uint64_t>() > std::uint64_t(hi)) {
      fail("value ", v_->get<std::uint64_t>(), " is out of range [", lo, ", ", hi, "]");
    }
    const auto x = v_->get<std::int64_t>();
    if (x < lo || x > hi) fail("value ", x, " is out of range [", lo, ", ", hi, "]");
    return x;
  }
  // A string holding exactly one character (Rust `char` fields).
  std::string one_char() const {
    std::string s = str();
    if (s.empty() || char_len(s, 0) != s.size()) fail("expected a single character, got ", shown(s));
    return s;
  }
  bool boolean_or(const char* key, bool dflt) const {
    auto f = get(key);
    return f ? f->boolean() : dflt;
  }
  std::string type_tag() const { return at("type").str(); }

 private:
  std::string child_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }
  std::string kind() const {
    std::string k = v_->type_name();
    return k == "number" ? v_->dump() : k;
  }

  const json* v_;
  std::string path_;
  const std::string* src_;
};

// ---- normalizer -----------------------------------------------------------------

// HF normalizers::Prepend: prepends its text to a non-empty string.
struct PrependNorm {
  std::string prepend;
};
// HF normalizers::Replace with a String pattern: replaces every occurrence.
struct ReplaceNorm {
  std::string pattern, content;
};
// HF normalizers::NFD / NFC (unicode-normalization), Lowercase (char-wise
// to_lowercase), StripAccents (drops every combining mark, General_Category M).
struct NfdNorm {};
struct NfcNorm {};
struct LowercaseNorm {};
struct StripAccentsNorm {};
// HF normalizers::BertNormalizer.
struct BertNorm {
  bool clean_text = true, handle_chinese_chars = true, strip_accents = true, lowercase = true;
};
using NormStep = std::variant<PrependNorm, ReplaceNorm, NfdNorm, NfcNorm, LowercaseNorm, StripAccentsNorm, BertNorm>;

// The CJK ideograph blocks BertNormalizer pads with spaces. HF's range for
// Extension E starts at U+2B920 (BERT's Python code has U+2B820): HF's is kept.
inline bool is_bert_chinese(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

inline std::u32string lowercase(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (const char32_t c : s) unicode::append_lowercase(c, out);
  return out;
}

inline std::u32string bert_normalize(const BertNorm& b, std::u32string s) {
  if (b.clean_text) {
    // BertNormalizer::do_clean_text: drop NUL, U+FFFD and category C except
    // \t \n \r; whitespace becomes ' '.
    std::u32string out;
    out.reserve(s.size());
    for (const char32_t c : s) {
      const bool tnr = c == '\t' || c == '\n' || c == '\r';
      if (c == 0 || c == 0xFFFD || (!tnr && unicode::is_other(c))) continue;
      out.push_back(tnr || is_white_space(c) ? char32_t(' ') : c);
    }
    s = std::move(out);
  }
  if (b.handle_chinese_chars) {
    std::u32string out;
    out.reserve(s.size());
    for (const char32_t c : s) {
      if (is_bert_chinese(c)) {
        out.push_back(' ');
        out.push_back(c);
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    s = std::move(out);
  }
  if (b.strip_accents) {
    s = unicode::nfd(s);
    std::erase_if(s, [](char32_t c) { return unicode::is_mark_nonspacing(c); });
  }
  if (b.lowercase) s = lowercase(s);
  return s;
}

// Most bytes out per byte in for a Unicode step (ceiling of the table's ratio).
inline std::uint64_t growth(double ratio) { return std::uint64_t(ratio + 0.999); }

class Normalizer {
 public:
  void parse(const Field& f) {
    const std::string type = f.type_tag();
    if (type == "Sequence") {
      const Field list = f.at("normalizers");
      for (std::size_t i = 0, n = list.array_size(); i < n; ++i) parse(list.item(i));
    } else if (type == "Prepend") {
      steps_.push_back(PrependNorm{f.at("prepend").str()});
      prepended_ += std::get<PrependNorm>(steps_.back()).prepend.size();
      if (prepended_ > max_prepend_bytes)
        f.fail("the normalizer prepends more than ", max_prepend_bytes, " bytes (not supported)");
    } else if (type == "Replace") {
      auto [pattern, content] = parse_replace(f);
      grow(f, replace_growth(pattern, content));
      steps_.push_back(ReplaceNorm{std::move(pattern), std::move(content)});
    } else if (type == "NFD") {
      grow(f, growth(unicode_data::nfd_growth));
      steps_.push_back(NfdNorm{});
    } else if (type == "NFC") {
      grow(f, growth(unicode_data::nfc_growth));
      steps_.push_back(NfcNorm{});
    } else if (type == "Lowercase") {
      grow(f, growth(unicode_data::lowercase_growth));
      steps_.push_back(LowercaseNorm{});
    } else if (type == "StripAccents") {
      steps_.push_back(StripAccentsNorm{});
    } else if (type == "BertNormalizer") {
      BertNorm b;
      b.clean_text = f.boolean_or("clean_text", true);
      b.handle_chinese_chars = f.boolean_or("handle_chinese_chars", true);
      b.lowercase = f.boolean_or("lowercase", true);
      b.strip_accents = f.boolean_or("strip_accents", b.lowercase);  // null: as lowercase
      // Chinese padding: 3 bytes -> 5; NFD; lowercase.
      grow(f, 2 * growth(unicode_data::nfd_growth) * growth(unicode_data::lowercase_growth));
      steps_.push_back(b);
    } else {
      f.fail("unsupported normalizer ", shown(type),
             " (supported: Sequence, Prepend, Replace, NFD, NFC, Lowercase, StripAccents, BertNormalizer)");
    }
  }

  std::string apply(std::string s) const {
    for (const NormStep& step : steps_) {
      if (const auto* p = std::get_if<PrependNorm>(&step)) {
        if (!s.empty()) s.insert(0, p->prepend);
      } else if (const auto* r = std::get_if<ReplaceNorm>(&step)) {
        s = replace_all(s, r->pattern, r->content);
      } else if (std::holds_alternative<NfdNorm>(step)) {
        s = from_code_points(unicode::nfd(to_code_points(s)));
      } else if (std::holds_alternative<NfcNorm>(step)) {
        s = from_code_points(unicode::nfc(to_code_points(s)));
      } else if (std::holds_alternative<LowercaseNorm>(step)) {
        s = from_code_points(lowercase(to_code_points(s)));
      } else if (std::holds_alternative<StripAccentsNorm>(step)) {
        std::u32string cps = to_code_points(s);
        std::erase_if(cps, [](char32_t c) {
          const auto k = unicode::category(c);
          return k >= unicode_data::Mn && k <= unicode_data::Me;
        });
        s = from_code_points(cps);
      } else {
        s = from_code_points(bert_normalize(std::get<BertNorm>(step), to_code_points(s)));
      }
    }
    return s;
  }

  // Shared with the Replace decoder: {"pattern": {"String": "x"}, "content": "y"}.
  static std::pair<std::string, std::string> parse_replace(const Field& f) {
    const Field pattern = f.at("pattern");
    pattern.require_object();
    if (!pattern.has("String")) {
      const std::string kind = pattern.value().empty() ? "empty" : pattern.value().begin().key();
      pattern.fail("unsupported Replace pattern ", shown(kind), " (only String patterns are supported)");
    }
    std::string s = pattern.at("String").str();
    if (s.empty()) pattern.at("String").fail("Replace pattern must not be empty");
    return {std::move(s), f.at("content").str()};
  }

  // How many times longer one Replace step can make a text (at least 1).
  static std::uint64_t replace_growth(const std::string& pattern, const std::string& content) {
    return std::max<std::uint64_t>(1, (content.size() + pattern.size() - 1) / pattern.size());
  }

 private:
  // Refuses a chain of steps that could make a text too long.
  void grow(const Field& f, std::uint64_t step) {
    factor_ *= step;
    prepended_ *= step;
    if (factor_ > max_growth_factor || prepended_ > max_prepend_bytes)
      f.fail("the normalizer's steps can make a text more than ", max_growth_factor, " times longer (not supported)");
  }

  std::vector<NormStep> steps_;
  std::uint64_t factor_ = 1;     // output bytes per input byte, at most
  std::uint64_t prepended_ = 0;  // plus at most this many
};

// ---- added tokens -----------------------------------------------------------------

struct AddedToken {
  std::string content;
  std::int32_t id = 0;
  bool special = false, lstrip = false, rstrip = false, normalized = true;
};

// A piece of the input on its way through the pipeline: either text still to be
// tokenized or an added token already recognised.
struct Segment {
  std::string text;
  std::optional<std::int32_t> id;
  bool at_text_start = false;  // starts at byte 0 of the original input (Metaspace "first")
};

// Finds added tokens in text the way HF's AddedVocabulary::find_matches does with
// its Aho-Corasick automaton in LeftmostLongest mode: scanning left to right, at
// the first position where some pattern matches take the longest one, then go on
// after its end. lstrip/rstrip widen the match over Unicode whitespace.
class AddedTokenMatcher {
 public:
  void add(std::string pattern, std::size_t token_index) {
    std::int32_t node = 0;
    for (const char c : pattern) {
      const std::uint64_t key = edge_key(node, c);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, std::int32_t(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    terminal_[std::size_t(node)] = std::int64_t(token_index);
  }

  bool empty() const { return edges_.empty(); }

  // Splits `text` into gaps and added-token segments. `text_start` tells whether
  // text begins the original input.
  std::vector<Segment> split(std::string_view text, const std::vector<AddedToken>& tokens, bool text_start) const {
    std::vector<Segment> out;
    if (empty()) {
      if (!text.empty()) out.push_back({std::string(text), {}, text_start});
      return out;
    }
    std::size_t start_offset = 0;
    for (std::size_t search = 0; search < text.size();) {
      const auto m = find_leftmost_longest(text, search);
      if (!m) break;
      const auto [mstart, mend, index] = *m;
      const AddedToken& tok = tokens[index];
      std::size_t start = mstart, stop = mend;
      // lstrip: HF takes the trailing whitespace run before the match, but never
      // reaches back before the end of the previous match.
      if (tok.lstrip) start = std::max(whitespace_run_end_start(text, start_offset, start), start_offset);
      if (tok.rstrip) stop += leading_whitespace(text.substr(stop));
      if (start_offset < start) out.push_back(gap(text, start_offset, start, text_start));
      out.push_back({std::string(), tok.id, false});
      start_offset = stop;
      search = mend;  // the automaton resumes after the raw match, as HF's find_iter does
    }
    if (start_offset < text.size()) out.push_back(gap(text, start_offset, text.size(), text_start));
    return out;
  }

 private:
  struct Match {
    std::size_t start, end, index;
  };

  static Segment gap(std::string_view text, std::size_t begin, std::size_t end, bool text_start) {
    return {std::string(text.substr(begin, end - begin)), std::nullopt, text_start && begin == 0};
  }

  static std::uint64_t edge_key(std::int32_t node, char c) {
    return (std::uint64_t(std::uint32_t(node)) << 8) | static_cast<unsigned char>(c);
  }

  std::optional<Match> longest_at(std::string_view text, std::size_t pos) const {
    std::optional<Match> best;
    std::int32_t node = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
      const auto it = edges_.find(edge_key(node, text[i]));
      if (it == edges_.end()) break;
      node = it->second;
      if (terminal_[std::size_t(node)] >= 0) best = Match{pos, i + 1, std::size_t(terminal_[std::size_t(node)])};
    }
    return best;
  }

  std::optional<Match> find_leftmost_longest(std::string_view text, std::size_t from) const {
    for (std::size_t pos = from; pos < text.size(); ++pos) {
      if (auto m = longest_at(text, pos)) return m;
    }
    return std::nullopt;
  }

  // Start of the whitespace run that ends at `end`, scanning from `from` (a
  // character boundary) forward.
  static std::size_t whitespace_run_end_start(std::string_view text, std::size_t from, std::size_t end) {
    std::size_t run = from;
    for (std::size_t i = from; i < end;) {
      const std::size_t n = char_len(text, i);
      if (!is_white_space(code_point(text, i, n))) run = i + n;
      i += n;
    }
    return run;
  }

  static std::size_t leading_whitespace(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
      const std::size_t n = char_len(text, i);
      if (!is_white_space(code_point(text, i, n))) break;
      i += n;
    }
    return i;
  }

  std::unordered_map<std::uint64_t, std::int32_t> edges_;  // (node, byte) -> node
  std::vector<std::int64_t> terminal_{-1};                 // node -> token index or -1
};

// ---- pre-tokenizer ------------------------------------------------------------------

enum class PrependScheme { Always, First, Never };

// HF pre_tokenizers::Metaspace (also its decoder): spaces become `replacement`,
// which is prepended per `scheme`, and with `split` each replacement starts a
// new word (SplitDelimiterBehavior::MergedWithNext).
struct Metaspace {
  std::string replacement = "\u2581";
  PrependScheme scheme = PrependScheme::Always;
  bool split = true;

  static Metaspace parse(const Field& f) {
    Metaspace m;
    m.replacement = f.at("replacement").one_char();
    if (auto ps = f.get("prepend_scheme")) {
      const std::string s = ps->str();
      if (s == "always") {
        m.scheme = PrependScheme::Always;
      } else if (s == "first") {
        m.scheme = PrependScheme::First;
      } else if (s == "never") {
        m.scheme = PrependScheme::Never;
      } else {
        ps->fail("unknown prepend_scheme ", shown(s), " (expected always, first or never)");
      }
    }
    // Older files: add_prefix_space=false means "never" (HF rejects a contradiction).
    if (!f.boolean_or("add_prefix_space", true)) {
      if (f.has("prepend_scheme") && m.scheme != PrependScheme::Never) {
        f.fail("add_prefix_space=false contradicts prepend_scheme");
      }
      m.scheme = PrependScheme::Never;
    }
    m.split = f.boolean_or("split", true);
    return m;
  }

  void pre_tokenize(const Segment& seg, std::vector<Segment>& out) const {
    std::string s = replace_all(seg.text, " ", replacement);
    const bool prepend = scheme == PrependScheme::Always || (scheme == PrependScheme::First && seg.at_text_start);
    if (prepend && !s.starts_with(replacement)) s.insert(0, replacement);
    if (!split) {
      out.push_back({std::move(s), {}, seg.at_text_start});
      return;
    }
    std::size_t begin = 0;
    for (std::size_t hit = s.find(replacement, 1); hit != std::string::npos; hit = s.find(replacement, hit + 1)) {
      out.push_back({s.substr(begin, hit - begin), {}, seg.at_text_start && begin == 0});
      begin = hit;
    }
    out.push_back({s.substr(begin), {}, seg.at_text_start && begin == 0});
  }
};

// HF SplitDelimiterBehavior.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

inline Behavior parse_behavior(const Field& f) {
  const std::string s = f.str();
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  f.fail("unknown split behavior ", shown(s),
         " (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

// A piece of a text, in bytes, and whether the pattern matched it.
struct Piece {
  std::size_t begin, end;
  bool is_match;
};

// HF NormalizedString::split: the pieces (matches and the gaps between them,
// covering the text) grouped per behavior; empty results are dropped later.
inline void split_pieces(const Segment& seg, std::vector<Piece> pieces, Behavior behavior, bool invert,
                         std::vector<Segment>& out) {
  if (invert) {
    for (Piece& p : pieces) p.is_match = !p.is_match;
  }
  std::vector<Piece> kept;  // is_match now means "remove"
  bool previous_match = false;
  switch (behavior) {
    case Behavior::Isolated:
      for (const Piece& p : pieces) kept.push_back({p.begin, p.end, false});
      break;
    case Behavior::Removed:
      kept = pieces;
      break;
    case Behavior::Contiguous:
      for (const Piece& p : pieces) {
        if (p.is_match == previous_match && !kept.empty()) {
          kept.back().end = p.end;
        } else {
          kept.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case Behavior::MergedWithPrevious:
      for (const Piece& p : pieces) {
        if (p.is_match && !previous_match && !kept.empty()) {
          kept.back().end = p.end;
        } else {
          kept.push_back({p.begin, p.end, false});
        }
        previous_match = p.is_match;
      }
      break;
    case Behavior::MergedWithNext:
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->is_match && !previous_match && !kept.empty()) {
          kept.back().begin = it->begin;
        } else {
          kept.push_back({it->begin, it->end, false});
        }
        previous_match = it->is_match;
      }
      std::reverse(kept.begin(), kept.end());
      break;
  }
  for (const Piece& p : kept) {
    if (p.is_match || p.end == p.begin) continue;
    out.push_back({seg.text.substr(p.begin, p.end - p.begin), {}, seg.at_text_start && p.begin == 0});
  }
}

// Pieces where every character for which `pred` holds is a match of its own
// (HF's Pattern for Fn(char) -> bool).
template <class Pred>
std::vector<Piece> char_pieces(std::string_view s, Pred pred) {
  std::vector<Piece> out;
  std::size_t gap = 0;
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_len(s, i);
    const auto b0 = static_cast<unsigned char>(s[i]);
    const char32_t c = n == 1 && b0 >= 0x80 ? invalid_byte + b0 : code_point(s, i, n);
    if (pred(c)) {
      if (gap < i) out.push_back({gap, i, false});
      out.push_back({i, i + n, true});
      gap = i + n;
    }
    i += n;
  }
  if (gap < s.size() || s.empty()) out.push_back({gap, s.size(), false});
  return out;
}

// Pieces from one of the recognised regexes.
inline std::vector<Piece> regex_pieces(std::string_view s, byte_level::Pattern pattern) {
  std::vector<std::size_t> offsets;
  const std::u32string cps = to_code_points(s, &offsets);
  std::vector<Piece> out;
  std::size_t gap = 0;
  for (const auto& [b, e] : byte_level::Matcher(pattern, cps).find_all()) {
    if (gap < offsets[b]) out.push_back({gap, offsets[b], false});
    out.push_back({offsets[b], offsets[e], true});
    gap = offsets[e];
  }
  if (gap < s.size() || s.empty()) out.push_back({gap, s.size(), false});
  return out;
}

// Pieces from a literal pattern (non-empty): its non-overlapping occurrences.
inline std::vector<Piece> literal_pieces(std::string_view s, std::string_view pattern) {
  std::vector<Piece> out;
  std::size_t gap = 0;
  for (std::size_t hit; (hit = s.find(pattern, gap)) != std::string_view::npos;) {
    if (gap < hit) out.push_back({gap, hit, false});
    out.push_back({hit, hit + pattern.size(), true});
    gap = hit + pattern.size();
  }
  if (gap < s.size() || s.empty()) out.push_back({gap, s.size(), false});
  return out;
}

// BERT's punctuation: ASCII punctuation (symbols included) or category P.
inline bool is_bert_punctuation(char32_t c) {
  return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126) ||
         unicode::is_punctuation(c);
}

// HF pre_tokenizers::BertPreTokenizer (split on whitespace, removed; each
// punctuation character isolated), WhitespaceSplit, Punctuation.
struct BertPre {};
struct WhitespaceSplitPre {};
struct PunctuationPre {
  Behavior behavior = Behavior::Isolated;
};
// HF pre_tokenizers::ByteLevel: optional prefix space, optional split with
// the GPT-2 regex, then every byte becomes its alphabet character.
struct ByteLevelPre {
  bool add_prefix_space = true, use_regex = true;
};
// HF pre_tokenizers::Split.
struct SplitPre {
  std::optional<byte_level::Pattern> regex;  // else the literal
  std::string literal;
  Behavior behavior = Behavior::Isolated;
  bool invert = false;
};
using PreStep = std::variant<Metaspace, BertPre, WhitespaceSplitPre, PunctuationPre, ByteLevelPre, SplitPre>;

class PreTokenizer {
 public:
  void parse(const Field& f) {
    const std::string type = f.type_tag();
    if (type == "Sequence") {
      const Field list = f.at("pretokenizers");
      for (std::size_t i = 0, n = list.array_size(); i < n; ++i) parse(list.item(i));
    } else if (type == "Metaspace") {
      steps_.push_back(Metaspace::parse(f));
    } else if (type == "BertPreTokenizer") {
      steps_.push_back(BertPre{});
    } else if (type == "WhitespaceSplit") {
      steps_.push_back(WhitespaceSplitPre{});
    } else if (type == "Punctuation") {
      PunctuationPre p;
      if (auto b = f.get("behavior")) p.behavior = parse_behavior(*b);
      steps_.push_back(p);
    } else if (type == "ByteLevel") {
      // HF has no defaults for add_prefix_space and trim_offsets.
      ByteLevelPre b;
      b.add_prefix_space = f.at("add_prefix_space").boolean();
      (void)f.at("trim_offsets").boolean();  // offsets only
      b.use_regex = f.boolean_or("use_regex", true);
      steps_.push_back(b);
    } else if (type == "Split") {
      steps_.push_back(parse_split(f));
    } else {
      f.fail("unsupported pre_tokenizer ", shown(type),
             " (supported: null, Sequence, Metaspace, BertPreTokenizer, WhitespaceSplit, Punctuation, ByteLevel, "
             "Split)");
    }
  }

  // Splits a normalized segment into words; empty words are dropped, as
  // HF's PreTokenizedString::split does.
  std::vector<Segment> apply(Segment seg) const {
    std::vector<Segment> words;
    words.push_back(std::move(seg));
    for (const PreStep& step : steps_) {
      std::vector<Segment> next;
      for (const Segment& w : words) std::visit([&](const auto& s) { run(s, w, next); }, step);
      std::erase_if(next, [](const Segment& w) { return w.text.empty(); });
      words = std::move(next);
    }
    return words;
  }

 private:
  static SplitPre parse_split(const Field& f) {
    SplitPre s;
    const Field pattern = f.at("pattern");
    pattern.require_object();
    if (auto lit = pattern.get("String")) {
      s.literal = lit->str();
      if (s.literal.empty()) lit->fail("Split pattern must not be empty");
    } else if (auto re = pattern.get("Regex")) {
      const std::string text = re->str();
      s.regex = byte_level::recognise(text);
      if (!s.regex) {
        re->fail("unsupported Split regex ", shown(text),
                 " (only the GPT-2, Llama 3 and Qwen2 patterns are recognised)");
      }
    } else {
      pattern.fail("expected {\"String\": ...} or {\"Regex\": ...}");
    }
    s.behavior = parse_behavior(f.at("behavior"));
    s.invert = f.boolean_or("invert", false);
    return s;
  }

  static void run(const Metaspace& m, const Segment& w, std::vector<Segment>& out) { m.pre_tokenize(w, out); }
  static void run(const BertPre&, const Segment& w, std::vector<Segment>& out) {
    std::vector<Segment> words;
    split_pieces(w, char_pieces(w.text, is_white_space), Behavior::Removed, false, words);
    for (const Segment& word : words) {
      split_pieces(word, char_pieces(word.text, is_bert_punctuation), Behavior::Isolated, false, out);
    }
  }
  static void run(const WhitespaceSplitPre&, const Segment& w, std::vector<Segment>& out) {
    split_pieces(w, char_pieces(w.text, is_white_space), Behavior::Removed, false, out);
  }
  static void run(const PunctuationPre& p, const Segment& w, std::vector<Segment>& out) {
    split_pieces(w, char_pieces(w.text, is_bert_punctuation), p.behavior, false, out);
  }
  static void run(const ByteLevelPre& b, const Segment& w, std::vector<Segment>& out) {
    Segment s = w;
    if (b.add_prefix_space && !s.text.starts_with(' ')) s.text.insert(0, " ");
    std::vector<Segment> pieces;
    if (b.use_regex) {
      split_pieces(s, regex_pieces(s.text, byte_level::Pattern::Gpt2), Behavior::Isolated, false, pieces);
    } else {
      pieces.push_back(std::move(s));
    }
    for (Segment& p : pieces) {
      p.text = byte_level::encode_bytes(p.text);
      out.push_back(std::move(p));
    }
  }
  static void run(const SplitPre& sp, const Segment& w, std::vector<Segment>& out) {
    split_pieces(w, sp.regex ? regex_pieces(w.text, *sp.regex) : literal_pieces(w.text, sp.literal), sp.behavior,
                 sp.invert, out);
  }

  std::vector<PreStep> steps_;
};

// ---- BPE model ----------------------------------------------------------------------

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
using Vocab = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

// "<0xXX>" as HF's BPE builds it for byte_fallback: format!("<{b:#04X}>").
inline std::string byte_piece(unsigned b) {
  constexpr char hex[] = "0123456789ABCDEF";
  return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

// HF models::bpe::BPE with dropout disabled (tokenize_with_cache -> merge_word).
class BpeModel {
 public:
  void parse(const Field& f) {
    const std::string type = f.type_tag();
    if (type != "BPE") f.at("type").fail("unsupported model type ", shown(type), " (supported: BPE)");
    parse_vocab(f.at("vocab"));
    parse_merges(f.at("merges"));
    parse_options(f);
  }

  const Vocab& vocab() const { return vocab_; }

  std::optional<std::int32_t> find(std::string_view piece) const {
    const auto it = vocab_.find(piece);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }

  // The vocab piece with this id, if any.
  const std::string* piece(std::int32_t id) const {
    const auto it = pieces_.find(id);
    return it == pieces_.end() ? nullptr : &it->second;
  }

  // Appends the ids of one word (a pre-tokenized, normalized piece of text).
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    if (word.empty()) return;
    if (ignore_merges_) {  // HF: a word that is itself in the vocab is emitted whole
      if (auto id = find(word)) {
        out.push_back(*id);
        return;
      }
    }
    std::vector<Symbol> symbols = initial_symbols(word);
    merge_all(symbols);
    for (const Symbol& s : symbols) {
      if (s.len != 0) out.push_back(s.id);
    }
  }

 private:
  struct Symbol {
    std::int32_t id;
    std::int32_t prev, next;  // neighbours in the linked list, -1 at the ends
    std::size_t len;          // bytes of text covered; 0 once merged into its left neighbour
  };
  struct MergeRule {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  struct QueuedMerge {
    std::uint32_t rank;
    std::int32_t pos;
    std::int32_t new_id;
  };
  // Lowest rank first, then leftmost: the order of HF's Merge in its min-heap.
  struct PopsLater {
    bool operator()(const QueuedMerge& a, const QueuedMerge& b) const {
      return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
    }
  };

  static std::uint64_t pair_key(std::int32_t a, std::int32_t b) {
    return (std::uint64_t(std::uint32_t(a)) << 32) | std::uint32_t(b);
  }

  std::optional<MergeRule> rule(std::int32_t a, std::int32_t b) const {
    const auto it = merges_.find(pair_key(a, b));
    if (it == merges_.end()) return std::nullopt;
    return it->second;
  }

  void parse_vocab(const Field& f) {
    f.require_object();
    for (const auto& [text, value] : f.value().items()) {
      const Field entry(value, f.path() + "[" + shown(text) + "]", f.source());
      const auto id = std::int32_t(entry.integer(0, max_token_id));
      if (const std::string* other = piece(id)) entry.fail("id ", id, " is already used by ", shown(*other));
      vocab_.emplace(text, id);
      pieces_.emplace(id, text);
    }
  }

  // "a b" strings (lines starting with "#version" skipped, as HF does) or [a, b]
  // pairs. The rank is the position; a repeated pair keeps its last rank, as
  // HF's HashMap collect does.
  void parse_merges(const Field& f) {
    std::uint32_t rank = 0;
    for (std::size_t i = 0, n = f.array_size(); i < n; ++i) {
      const Field m = f.item(i);
      std::string a, b;
      if (m.value().is_string()) {
        const std::string line = m.str();
        if (line.starts_with("#version")) continue;
        const std::size_t sp = line.find(' ');
        if (sp == std::string::npos || line.find(' ', sp + 1) != std::string::npos) {
          m.fail("expected two pieces separated by one space, got ", shown(line));
        }
        a = line.substr(0, sp), b = line.substr(sp + 1);
      } else if (m.value().is_array()) {
        if (m.array_size() != 2) m.fail("expected a pair of pieces, got ", m.array_size(), " elements");
        a = m.item(0).str(), b = m.item(1).str();
      } else {
        m.fail("expected a string \"a b\" or a pair [a, b]");
      }
      add_merge(m, a, b, rank++);
    }
  }

  void add_merge(const Field& m, const std::string& a, const std::string& b, std::uint32_t rank) {
    const auto ia = find(a), ib = find(b), inew = find(a + b);
    if (!ia) m.fail("piece ", shown(a), " is not in model.vocab");
    if (!ib) m.fail("piece ", shown(b), " is not in model.vocab");
    if (!inew) m.fail("merged piece ", shown(a + b), " is not in model.vocab");
    merges_[pair_key(*ia, *ib)] = MergeRule{rank, *inew};
  }

  void parse_options(const Field& f) {
    if (auto d = f.get("dropout")) {
      if (!d->value().is_number() || d->value().get<double>() != 0.0) {
        d->fail("BPE dropout is not supported (must be null)");
      }
    }
    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
      if (auto v = f.get(key); v && !v->str().empty()) v->fail("not supported (must be null)");
    }
    if (auto unk = f.get("unk_token")) {
      const std::string piece = unk->str();
      unk_id_ = find(piece);
      if (!unk_id_) unk->fail("unk_token ", shown(piece), " is not in model.vocab");
    }
    fuse_unk_ = f.boolean_or("fuse_unk", false);
    byte_fallback_ = f.boolean_or("byte_fallback", false);
    ignore_merges_ = f.boolean_or("ignore_merges", false);
    byte_ids_.fill(-1);
    for (unsigned b = 0; b < 256; ++b) {
      if (auto id = find(byte_piece(b))) byte_ids_[b] = *id;
    }
  }

  // HF BPE::merge_word, before merging: one symbol per character; a character
  // not in the vocab becomes its <0xXX> byte tokens when byte_fallback is on and
  // all of them exist, else unk (runs fused with fuse_unk), else is dropped.
  // HF quirk kept on purpose: byte-fallback characters do not flush a pending
  // unk, so "unk, bytes, unk" comes out as "bytes, unk" (one fused unk).
  std::vector<Symbol> initial_symbols(std::string_view word) const {
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    auto add = [&](std::int32_t id, std::size_t len) {
      const auto n = std::int32_t(symbols.size());
      if (n > 0) symbols.back().next = n;
      symbols.push_back(Symbol{id, n - 1, -1, len});
    };
    std::size_t unk_bytes = 0;  // a pending unk covering this many bytes (0: none)
    for (std::string_view c : split_chars(word)) {
      if (auto id = find(c)) {
        if (unk_bytes > 0) add(*unk_id_, unk_bytes), unk_bytes = 0;
        add(*id, c.size());
      } else if (byte_fallback_ && has_all_byte_pieces(c)) {
        for (const char b : c) add(byte_ids_[static_cast<unsigned char>(b)], 1);
      } else if (unk_id_) {
        if (unk_bytes > 0 && fuse_unk_) {
          unk_bytes += c.size();
        } else {
          if (unk_bytes > 0) add(*unk_id_, unk_bytes);
          unk_bytes = c.size();
        }
      }
    }
    if (unk_bytes > 0) add(*unk_id_, unk_bytes);
    return symbols;
  }

  bool has_all_byte_pieces(std::string_view c) const {
    return std::all_of(c.begin(), c.end(), [&](char b) { return byte_ids_[static_cast<unsigned char>(b)] >= 0; });
  }

  // HF Word::merge_all: a priority queue of candidate merges, lowest rank
  // first and leftmost among equals; an entry whose pair has changed since it
  // was queued is skipped. O(n log n) for a word of n symbols.
  void merge_all(std::vector<Symbol>& sym) const {
    std::priority_queue<QueuedMerge, std::vector<QueuedMerge>, PopsLater> queue;
    auto push_if_rule = [&](std::int32_t pos) {
      const std::int32_t next = sym[std::size_t(pos)].next;
      if (next < 0) return;
      if (auto r = rule(sym[std::size_t(pos)].id, sym[std::size_t(next)].id)) queue.push({r->rank, pos, r->new_id});
    };
    for (std::size_t i = 0; i + 1 < sym.size(); ++i) push_if_rule(std::int32_t(i));
    while (!queue.empty()) {
      const QueuedMerge top = queue.top();
      queue.pop();
      Symbol& left = sym[std::size_t(top.pos)];
      if (left.len == 0 || left.next < 0) continue;
      const Symbol right = sym[std::size_t(left.next)];
      const auto current = rule(left.id, right.id);
      if (!current || current->new_id != top.new_id) continue;  // stale entry
      sym[std::size_t(left.next)].len = 0;
      left.id = top.new_id;
      left.len += right.len;
      left.next = right.next;
      if (right.next >= 0) sym[std::size_t(right.next)].prev = top.pos;
      if (left.prev >= 0) push_if_rule(left.prev);
      push_if_rule(top.pos);
    }
  }

  Vocab vocab_;
  std::unordered_map<std::int32_t, std::string> pieces_;  // id -> vocab piece
  std::unordered_map<std::uint64_t, MergeRule> merges_;  // (left id, right id) -> rule
  std::optional<std::int32_t> unk_id_;
  bool fuse_unk_ = false, byte_fallback_ = false, ignore_merges_ = false;
  std::array<std::int32_t, 256> byte_ids_{};  // id of "<0xXX>" or -1
};

// HF models::wordpiece::WordPiece: greedy longest-match-first. The longest
// vocab piece at each position is found by walking a byte trie of the vocab,
// so a word costs at most O(length * longest piece); pieces are bounded
// (real vocabularies stay far below the bound).
class WordPieceModel {
 public:
  static constexpr std::size_t max_piece_bytes = 256;

  void parse(const Field& f) {
    const Field vocab = f.at("vocab");
    vocab.require_object();
    for (const auto& [text, value] : vocab.value().items()) {
      const Field entry(value, vocab.path() + "[" + shown(text) + "]", vocab.source());
      const auto id = std::int32_t(entry.integer(0, max_token_id));
      if (const auto it = pieces_.find(id); it != pieces_.end()) {
        entry.fail("id ", id, " is already used by ", shown(it->second));
      }
      if (text.size() > max_piece_bytes) {
        entry.fail("a WordPiece piece longer than ", max_piece_bytes, " bytes is not supported");
      }
      vocab_.emplace(text, id);
      pieces_.emplace(id, text);
      add_to_trie(text, id);
    }
    const Field unk = f.at("unk_token");
    const std::string unk_piece = unk.str();
    const auto it = vocab_.find(unk_piece);
    if (it == vocab_.end()) unk.fail("unk_token ", shown(unk_piece), " is not in model.vocab");
    unk_id_ = it->second;
    if (auto p = f.get("continuing_subword_prefix")) prefix_ = p->str();
    if (auto m = f.get("max_input_chars_per_word")) {
      max_chars_ = std::uint64_t(m->integer(0, std::numeric_limits<std::int64_t>::max()));
    }
    // The trie node after the prefix, where continuation pieces start.
    prefix_node_ = walk(0, prefix_);
  }

  const Vocab& vocab() const { return vocab_; }
  std::optional<std::int32_t> find(std::string_view piece) const {
    const auto it = vocab_.find(piece);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const std::string* piece(std::int32_t id) const {
    const auto it = pieces_.find(id);
    return it == pieces_.end() ? nullptr : &it->second;
  }
  const std::string& prefix() const { return prefix_; }

  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    if (word.empty()) return;
    std::vector<bool> boundary(word.size() + 1, false);
    std::uint64_t chars = 0;
    for (std::size_t i = 0; i < word.size(); i += char_len(word, i)) boundary[i] = true, ++chars;
    boundary[word.size()] = true;
    if (chars > max_chars_) {
      out.push_back(unk_id_);
      return;
    }
    const std::size_t first = out.size();
    for (std::size_t start = 0; start < word.size();) {
      std::int64_t node = start == 0 ? 0 : prefix_node_;
      std::size_t best_end = 0;
      std::int32_t best_id = -1;
      for (std::size_t i = start; node >= 0 && i < word.size(); ++i) {
        node = step(node, word[i]);
        if (node >= 0 && boundary[i + 1] && terminal_[std::size_t(node)] >= 0) {
          best_end = i + 1;
          best_id = terminal_[std::size_t(node)];
        }
      }
      if (best_id < 0) {  // no piece fits: the whole word is unk
        out.resize(first);
        out.push_back(unk_id_);
        return;
      }
      out.push_back(best_id);
      start = best_end;
    }
  }

 private:
  std::int64_t step(std::int64_t node, char c) const {
    const auto it = edges_.find((std::uint64_t(node) << 8) | static_cast<unsigned char>(c));
    return it == edges_.end() ? -1 : it->second;
  }
  std::int64_t walk(std::int64_t node, std::string_view s) const {
    for (const char c : s) {
      if (node < 0) break;
      node = step(node, c);
    }
    return node;
  }
  void add_to_trie(const std::string& text, std::int32_t id) {
    std::int64_t node = 0;
    for (const char c : text) {
      const std::uint64_t key = (std::uint64_t(node) << 8) | static_cast<unsigned char>(c);
      auto it = edges_.find(key);
      if (it == edges_.end()) {
        it = edges_.emplace(key, std::int64_t(terminal_.size())).first;
        terminal_.push_back(-1);
      }
      node = it->second;
    }
    terminal_[std::size_t(node)] = id;
  }

  Vocab vocab_;
  std::unordered_map<std::int32_t, std::string> pieces_;
  std::unordered_map<std::uint64_t, std::int64_t> edges_;  // (node, byte) -> node
  std::vector<std::int32_t> terminal_{-1};                 // node -> id or -1
  std::int32_t unk_id_ = 0;
  std::string prefix_ = "##";
  std::int64_t prefix_node_ = 0;
  std::uint64_t max_chars_ = 100;
};

// The model: BPE or WordPiece.
class Model {
 public:
  void parse(const Field& f) {
    const std::string type = f.type_tag();
    if (type == "BPE") {
      model_.emplace<BpeModel>().parse(f);
    } else if (type == "WordPiece") {
      model_.emplace<WordPieceModel>().parse(f);
    } else {
      f.at("type").fail("unsupported model type ", shown(type), " (supported: BPE, WordPiece)");
    }
  }
  const Vocab& vocab() const {
    return std::visit([](const auto& m) -> const Vocab& { return m.vocab(); }, model_);
  }
  std::optional<std::int32_t> find(std::string_view piece) const {
    return std::visit([&](const auto& m) { return m.find(piece); }, model_);
  }
  const std::string* piece(std::int32_t id) const {
    return std::visit([&](const auto& m) { return m.piece(id); }, model_);
  }
  void encode_word(std::string_view word, std::vector<std::int32_t>& out) const {
    std::visit([&](const auto& m) { m.encode_word(word, out); }, model_);
  }
  bool is_wordpiece() const { return std::holds_alternative<WordPieceModel>(model_); }
  std::string continuing_subword_prefix() const {
    return is_wordpiece() ? std::get<WordPieceModel>(model_).prefix() : std::string();
  }

 private:
  std::variant<BpeModel, WordPieceModel> model_;
};

// ---- post-processor -------------------------------------------------------------------

}  // namespace tokenizer_detail

// The result of Tokenizer::encode_pair.
struct Encoding {
  std::vector<std::int32_t> ids;
  std::vector<std::int32_t> type_ids;  // token type (segment) ids, same length as ids
  bool truncated = false;              // true if tokens were dropped to fit max_length
};

namespace tokenizer_detail {

// HF processors: TemplateProcessing (single and pair templates), BertProcessing,
// RobertaProcessing, ByteLevel (ids unchanged) and Sequence of them.
class PostProcessor {
 public:
  using IdExists = std::function<bool(std::int32_t)>;

  void parse(const Field& f, const IdExists& id_exists) {
    source_ = f.source();
    parse_one(f, id_exists);
  }

  // Special tokens added around one sequence or a pair (HF added_tokens).
  std::size_t added_tokens(bool pair) const {
    switch (kind_) {
      case Kind::Template:
        return count_specials(pair ? pair_ : single_);
      case Kind::Bert:
        return pair ? 3 : 2;
      case Kind::Roberta:
        return pair ? 4 : 2;
      case Kind::None:
        break;
    }
    return 0;
  }

  // HF Tokenizer::post_process after truncation: the encoding of A has type
  // id 0, that of B type id 1, before the processor.
  Encoding apply(std::vector<std::int32_t> a, const std::optional<std::vector<std::int32_t>>& b,
                 bool add_special) const {
    Encoding out;
    auto append = [&](const std::vector<std::int32_t>& ids, std::int32_t type) {
      out.ids.insert(out.ids.end(), ids.begin(), ids.end());
      out.type_ids.insert(out.type_ids.end(), ids.size(), type);
    };
    // RobertaProcessing sets every type id to 0, special tokens or not.
    const std::int32_t b_type = kind_ == Kind::Roberta ? 0 : 1;
    const bool plain = kind_ == Kind::None || (!add_special && kind_ != Kind::Template);
    if (plain) {
      append(a, 0);
      if (b) append(*b, b_type);
      return out;
    }
    if (kind_ == Kind::Template) {
      const std::vector<Item>& items = b ? pair_ : single_;
      if (b && pair_.empty()) fail(source_, ": post_processor.pair: no pair template, so a pair cannot be encoded");
      for (const Item& item : items) {
        if (item.sequence) {
          append(item.is_b ? *b : a, item.type_id);
        } else if (add_special) {
          append(item.special_ids, item.type_id);
        }
      }
      return out;
    }
    append({cls_}, 0);
    append(a, 0);
    append({sep_}, 0);
    if (b) {
      if (kind_ == Kind::Bert) {
        append(*b, 1);
        append({sep_}, 1);
      } else {  // Roberta: </s> B </s>
        append({sep_}, 0);
        append(*b, 0);
        append({sep_}, 0);
      }
    }
    return out;
  }

 private:
  enum class Kind { None, Template, Bert, Roberta };
  struct Item {
    bool sequence = false;
    bool is_b = false;
    std::int32_t type_id = 0;
    std::vector<std::int32_t> special_ids;
  };

  void parse_one(const Field& f, const IdExists& id_exists) {
    const std::string type = f.type_tag();
    if (type == "Sequence") {
      const Field list = f.at("processors");
      for (std::size_t i = 0, n = list.array_size(); i < n; ++i) parse_one(list.item(i), id_exists);
      return;
    }
    if (type == "ByteLevel") return;  // offsets only
    if (type != "TemplateProcessing" && type != "BertProcessing" && type != "RobertaProcessing") {
      f.at("type").fail("unsupported post_processor ", shown(type),
                        " (supported: null, TemplateProcessing, BertProcessing, RobertaProcessing, ByteLevel, "
                        "Sequence)");
    }
    if (kind_ != Kind::None) f.fail("only one post-processor that adds tokens is supported in a Sequence");
    if (type == "TemplateProcessing") {
      kind_ = Kind::Template;
      const Field specials = f.at("special_tokens");
      specials.require_object();
      single_ = parse_template(f.at("single"), specials, false, id_exists);
      if (auto pair = f.get("pair"); pair && pair->array_size() > 0) {
        pair_ = parse_template(*pair, specials, true, id_exists);
      }
    } else {
      kind_ = type == "BertProcessing" ? Kind::Bert : Kind::Roberta;
      sep_ = token_pair(f.at("sep"), id_exists);
      cls_ = token_pair(f.at("cls"), id_exists);
    }
  }

  // ["[SEP]", 102]
  static std::int32_t token_pair(const Field& f, const IdExists& id_exists) {
    if (f.array_size() != 2) f.fail("expected [token, id]");
    (void)f.item(0).str();
    const auto id = std::int32_t(f.item(1).integer(0, max_token_id));
    if (!id_exists(id)) f.item(1).fail("id ", id, " is not in the vocabulary");
    return id;
  }

  static std::vector<Item> parse_template(const Field& tmpl, const Field& specials, bool pair,
                                          const IdExists& id_exists) {
    const char* which = pair ? "pair" : "single";
    std::vector<Item> items;
    bool has_a = false, has_b = false;
    for (std::size_t i = 0, n = tmpl.array_size(); i < n; ++i) {
      const Field item = tmpl.item(i);
      Item it;
      if (auto seq = item.get("Sequence")) {
        const std::string id = seq->at("id").str();
        if (id != "A" && !(pair && id == "B")) {
          seq->at("id").fail("the ", which, " template can only hold sequence", pair ? "s 'A' and 'B'" : " 'A'",
                             ", got ", shown(id));
        }
        bool& seen = id == "A" ? has_a : has_b;
        if (seen) item.fail("sequence ", shown(id), " appears twice");
        seen = true;
        it.sequence = true;
        it.is_b = id == "B";
        if (auto t = seq->get("type_id")) it.type_id = std::int32_t(t->integer(0, 1 << 30));
      } else if (auto tok = item.get("SpecialToken")) {
        it.special_ids = special_ids(specials, tok->at("id").str(), *tok, id_exists);
        if (auto t = tok->get("type_id")) it.type_id = std::int32_t(t->integer(0, 1 << 30));
      } else {
        item.fail("expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
      }
      items.push_back(std::move(it));
    }
    if (!has_a) tmpl.fail("the template has no sequence 'A'");
    if (pair && !has_b) tmpl.fail("the pair template has no sequence 'B'");
    return items;
  }

  static std::size_t count_specials(const std::vector<Item>& items) {
    std::size_t n = 0;
    for (const Item& it : items) n += it.special_ids.size();
    return n;
  }

  static std::vector<std::int32_t> special_ids(const Field& specials, const std::string& name, const Field& use,
                                               const IdExists& id_exists) {
    if (!specials.has(name.c_str())) {
      use.fail("special token ", shown(name), " is not in post_processor.special_tokens");
    }
    const Field ids = specials.at(name.c_str()).at("ids");
    std::vector<std::int32_t> out;
    for (std::size_t i = 0, n = ids.array_size(); i < n; ++i) {
      const auto id = std::int32_t(ids.item(i).integer(0, max_token_id));
      if (!id_exists(id)) ids.item(i).fail("id ", id, " is not in the vocabulary");
      out.push_back(id);
    }
    return out;
  }

  std::string source_;
  Kind kind_ = Kind::None;
  std::vector<Item> single_, pair_;
  std::int32_t cls_ = 0, sep_ = 0;
};

// ---- decoder ------------------------------------------------------------------------

struct ReplaceDec {
  std::string pattern, content;
};
struct ByteFallbackDec {};
struct FuseDec {};
struct StripDec {
  std::string content;  // one character
  std::size_t start = 0, stop = 0;
};
// HF decoders::WordPiece: pieces after the first lose the prefix, or get a
// space before them; `cleanup` removes spaces before punctuation.
struct WordPieceDec {
  std::string prefix = "##";
  bool cleanup = true;
};
// HF decoders::ByteLevel: alphabet characters back to bytes, all tokens fused,
// invalid UTF-8 replaced (String::from_utf8_lossy).
struct ByteLevelDec {};
using DecodeStep = std::variant<ReplaceDec, ByteFallbackDec, FuseDec, StripDec, Metaspace, WordPieceDec, ByteLevelDec>;

// HF ByteFallback's test for a byte token: exactly 6 bytes "<0x" HH ">", with
// HH parsed by Rust's u8::from_str_radix(.., 16), which takes either case and
// also a leading '+' ("<0x+A>" is byte 10).
inline std::optional<unsigned char> parse_byte_piece(std::string_view t) {
  if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  const int hi = t[3] == '+' ? 0 : hex(t[3]), lo = hex(t[4]);
  if (hi < 0 || lo < 0) return std::nullopt;
  return static_cast<unsigned char>(hi * 16 + lo);
}

inline bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = char_len(s, i);
    if (n == 1 && static_cast<unsigned char>(s[i]) >= 0x80) return false;
    i += n;
  }
  return true;
}

class Decoder {
 public:
  void parse(const Field& f) {
    present_ = true;
    const std::string type = f.type_tag();
    if (type == "Sequence") {
      const Field list = f.at("decoders");
      for (std::size_t i = 0, n = list.array_size(); i < n; ++i) parse(list.item(i));
    } else if (type == "Replace") {
      auto [pattern, content] = Normalizer::parse_replace(f);
      factor_ *= Normalizer::replace_growth(pattern, content);
      if (factor_ > max_growth_factor)
        f.fail("the decoder's Replace steps can make a text more than ", max_growth_factor,
               " times longer (not supported)");
      steps_.push_back(ReplaceDec{std::move(pattern), std::move(content)});
    } else if (type == "ByteFallback") {
      steps_.push_back(ByteFallbackDec{});
    } else if (type == "Fuse") {
      steps_.push_back(FuseDec{});
    } else if (type == "Strip") {
      steps_.push_back(StripDec{f.at("content").one_char(), std::size_t(f.at("start").integer(0, 1 << 20)),
                                std::size_t(f.at("stop").integer(0, 1 << 20))});
    } else if (type == "Metaspace") {
      steps_.push_back(Metaspace::parse(f));
    } else if (type == "WordPiece") {
      WordPieceDec w;
      if (auto p = f.get("prefix")) w.prefix = p->str();
      w.cleanup = f.boolean_or("cleanup", true);
      if (w.prefix.size() > 256) f.at("prefix").fail("a prefix longer than 256 bytes is not supported");
      steps_.push_back(std::move(w));
    } else if (type == "ByteLevel") {
      steps_.push_back(ByteLevelDec{});
    } else {
      f.fail("unsupported decoder ", shown(type),
             " (supported: null, Sequence, Replace, ByteFallback, Fuse, Strip, Metaspace, WordPiece, ByteLevel)");
    }
  }

  // The prefix of a WordPiece step, if any.
  std::optional<std::string> wordpiece_prefix() const {
    for (const DecodeStep& step : steps_) {
      if (const auto* w = std::get_if<WordPieceDec>(&step)) return w->prefix;
    }
    return std::nullopt;
  }

  // Whether the last step is ByteLevel: then run_bytes() gives the bytes
  // before their lossy conversion to text, for streaming.
  bool ends_with_byte_level() const { return !steps_.empty() && std::holds_alternative<ByteLevelDec>(steps_.back()); }

  // As run(), but when the last step is ByteLevel: the decoded bytes, not yet
  // converted.
  std::string run_bytes(std::vector<std::string> tokens) const {
    for (std::size_t i = 0; i + 1 < steps_.size(); ++i) {
      tokens = std::visit([&](const auto& s) { return apply(s, std::move(tokens)); }, steps_[i]);
    }
    return byte_level_bytes(tokens);
  }

  // HF Decoder::decode: decode_chain through every step, then concatenate.
  // Without a decoder HF joins the pieces with spaces.
  std::string run(std::vector<std::string> tokens) const {
    if (!present_) return join(tokens, " ");
    for (const DecodeStep& step : steps_) {
      tokens = std::visit([&](const auto& s) { return apply(s, std::move(tokens)); }, step);
    }
    return join(tokens, "");
  }

  bool has_byte_fallback() const {
    return std::any_of(steps_.begin(), steps_.end(),
                       [](const auto& s) { return std::holds_alternative<ByteFallbackDec>(s); });
  }

  // Whether the text of a token list can grow only at its end as tokens are
  // appended, once the first characters are settled; StreamDecoder relies on
  // it. Steps applied after Fuse see the whole text as one token, so a
  // multi-character Replace, a Strip of the end or a ByteFallback there
  // could rewrite text already produced.
  std::optional<std::string> streaming_obstacle() const {
    bool fused = false;
    for (const DecodeStep& step : steps_) {
      if (std::holds_alternative<FuseDec>(step)) fused = true;
      if (!fused) continue;
      if (const auto* r = std::get_if<ReplaceDec>(&step); r && char_len(r->pattern, 0) != r->pattern.size()) {
        return "a multi-character Replace after Fuse";
      }
      if (const auto* s = std::get_if<StripDec>(&step); s && s->stop > 0) return "a Strip with stop > 0 after Fuse";
      if (std::holds_alternative<ByteFallbackDec>(step)) return "a ByteFallback after Fuse";
    }
    for (std::size_t i = 0; i + 1 < steps_.size(); ++i) {
      if (std::holds_alternative<ByteLevelDec>(steps_[i])) return "a ByteLevel step that is not the last";
    }
    return std::nullopt;
  }

 private:
  static std::string join(const std::vector<std::string>& tokens, std::string_view sep) {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.append(sep);
      out.append(tokens[i]);
    }
    return out;
  }

  static std::vector<std::string> apply(const ReplaceDec& r, std::vector<std::string> tokens) {
    for (std::string& t : tokens) t = replace_all(t, r.pattern, r.content);
    return tokens;
  }

  // HF decoders::ByteFallback: a run of byte tokens becomes one string if its
  // bytes are valid UTF-8, else one U+FFFD per byte of the run.
  static std::vector<std::string> apply(const ByteFallbackDec&, std::vector<std::string> tokens) {
    std::vector<std::string> out;
    std::string run;
    std::size_t run_len = 0;
    auto flush = [&] {
      if (run_len == 0) return;
      if (valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (std::size_t i = 0; i < run_len; ++i) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (std::string& t : tokens) {
      if (const auto b = parse_byte_piece(t)) {
        run.push_back(static_cast<char>(*b));
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    return out;
  }

  // HF decoders::Fuse: everything becomes one token.
  static std::vector<std::string> apply(const FuseDec&, std::vector<std::string> tokens) { return {join(tokens, "")}; }

  // HF decoders::Strip: per token, removes up to `start` leading and `stop`
  // trailing copies of `content` (whole characters).
  static std::vector<std::string> apply(const StripDec& s, std::vector<std::string> tokens) {
    for (std::string& t : tokens) {
      std::vector<std::string_view> chars = split_chars(t);
      std::size_t begin = 0, end = chars.size();
      while (begin < s.start && begin < end && chars[begin] == s.content) ++begin;
      for (std::size_t k = 0; k < s.stop && end > begin && chars[end - 1] == s.content; ++k) --end;
      std::string kept;
      for (std::size_t i = begin; i < end; ++i) kept.append(chars[i]);
      t = std::move(kept);
    }
    return tokens;
  }

  // HF decoders::Metaspace: the replacement becomes a space, except in the
  // first token (unless prepend_scheme is never), where it is removed.
  static std::vector<std::string> apply(const Metaspace& m, std::vector<std::string> tokens) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      const bool drop = i == 0 && m.scheme != PrependScheme::Never;
      tokens[i] = replace_all(tokens[i], m.replacement, drop ? "" : " ");
    }
    return tokens;
  }

  static std::vector<std::string> apply(const WordPieceDec& w, std::vector<std::string> tokens) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (t.starts_with(w.prefix)) {
          t.erase(0, w.prefix.size());
        } else {
          t.insert(0, " ");
        }
      }
      if (w.cleanup) t = cleanup(t);
    }
    return tokens;
  }

  // HF decoders::wordpiece::cleanup.
  static std::string cleanup(std::string t) {
    static constexpr std::pair<std::string_view, std::string_view> rules[] = {
        {" .", "."},   {" ?", "?"},     {" !", "!"},     {" ,", ","},         {" ' ", "'"},      {" n't", "n't"},
        {" 'm", "'m"}, {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : rules) t = replace_all(t, from, to);
    return t;
  }

  // The bytes of the tokens: a token made only of alphabet characters is
  // those bytes, any other token its own UTF-8.
  static std::string byte_level_bytes(const std::vector<std::string>& tokens) {
    std::string bytes;
    for (const std::string& t : tokens) {
      std::string mapped;
      bool all = true;
      for (std::size_t i = 0; i < t.size();) {
        const std::size_t n = char_len(t, i);
        const auto b0 = static_cast<unsigned char>(t[i]);
        const char32_t c = n == 1 && b0 >= 0x80 ? invalid_byte : code_point(t, i, n);
        const auto& table = byte_level::char_to_byte();
        if (c >= table.size() || table[c] < 0) {
          all = false;
          break;
        }
        mapped.push_back(static_cast<char>(table[c]));
        i += n;
      }
      bytes.append(all ? mapped : t);
    }
    return bytes;
  }

  static std::vector<std::string> apply(const ByteLevelDec&, std::vector<std::string> tokens) {
    return {byte_level::lossy_utf8(byte_level_bytes(tokens))};
  }

  bool present_ = false;
  std::vector<DecodeStep> steps_;
  std::uint64_t factor_ = 1;  // decoded bytes per piece byte, at most (Replace steps)
};

}  // namespace tokenizer_detail

// A Hugging Face tokenizer.json (BPE, WordPiece, byte-level BPE). Immutable
// after loading; encode/decode are const and safe to call from several threads.
class Tokenizer {
 public:
  // Reads a regular file of at most 1 GiB (a FIFO or device is refused
  // rather than read without end).
  static Tokenizer from_file(const std::filesystem::path& tokenizer_json) {
    std::error_code ec;
    check(!std::filesystem::is_directory(tokenizer_json, ec), tokenizer_json.string(), ": is a directory");
    return from_json_string(io::detail::read_file_bounded(tokenizer_json, tokenizer_detail::max_file_bytes),
                            tokenizer_json.string());
  }

  static Tokenizer from_json_string(std::string_view json, std::string_view source_name = "tokenizer.json") {
    Tokenizer t;
    t.source_ = std::string(source_name);
    // Nesting is bounded (io::JsonLimits): nested Sequence steps are read recursively.
    const nlohmann::json root = io::detail::parse_json_bounded(json, t.source_);
    t.load(tokenizer_detail::Field(root, "", t.source_));
    return t;
  }

  // Text to ids, as HF Tokenizer::encode(text, add_special_tokens).ids
  // (never truncated).
  std::vector<std::int32_t> encode(std::string_view text, bool add_special_tokens = true) const {
    return post_processor_.apply(encode_sequence(text), std::nullopt, add_special_tokens).ids;
  }

  // As HF tokenizer(a, b, add_special_tokens, truncation=max_length>0,
  // max_length): truncation strategy longest_first, the special tokens
  // counting toward max_length; max_length 0 means no truncation. A
  // max_length below the number of special tokens throws.
  Encoding encode_pair(std::string_view a, std::optional<std::string_view> b = std::nullopt,
                       bool add_special_tokens = true, std::int64_t max_length = 0) const {
    check(max_length >= 0, source_, ": encode_pair: max_length ", max_length, " is negative");
    std::vector<std::int32_t> ids_a = encode_sequence(a);
    std::optional<std::vector<std::int32_t>> ids_b;
    if (b) ids_b = encode_sequence(*b);
    bool truncated = false;
    if (max_length > 0) {
      const std::size_t added = add_special_tokens ? post_processor_.added_tokens(b.has_value()) : 0;
      check(std::uint64_t(max_length) >= added, source_, ": encode_pair: max_length ", max_length,
            " is smaller than the ", added, " special tokens the post-processor adds");
      truncated = truncate(ids_a, ids_b, std::size_t(max_length) - added);
    }
    Encoding e = post_processor_.apply(std::move(ids_a), ids_b, add_special_tokens);
    e.truncated = truncated;
    return e;
  }

  // max_length of the file's "truncation" (0 when it is null).
  std::int64_t truncation_max_length() const { return truncation_max_length_; }

  // "padding".pad_id if the file has padding, else the id of "[PAD]" or
  // "<pad>" if the vocabulary has one.
  std::optional<std::int32_t> pad_id() const {
    if (pad_id_) return pad_id_;
    for (const std::string_view name : {"[PAD]", "<pad>"}) {
      if (auto id = token_to_id(name)) return id;
    }
    return std::nullopt;
  }

  // Ids to text, as HF Tokenizer::decode. An id outside the vocabulary throws.
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens = false) const {
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const std::int32_t id : ids) {
      const std::string_view piece = token(id);
      if (!(skip_special_tokens && is_special(id))) tokens.emplace_back(piece);
    }
    return decoder_.run(std::move(tokens));
  }

  // The piece of an id: the added token's content, else the vocab piece.
  std::string_view token(std::int32_t id) const {
    const auto it = pieces_.find(id);
    if (it == pieces_.end())
      fail(source_, ": token id ", id, " is not in the vocabulary (size ", vocab_size(), ")");
    return it->second;
  }

  std::optional<std::int32_t> token_to_id(std::string_view piece) const {
    for (const auto& t : added_) {
      if (t.content == piece) return t.id;
    }
    return model_.find(piece);
  }

  // One past the largest id (ids below it may still be unused).
  std::size_t vocab_size() const { return vocab_size_; }

  bool is_special(std::int32_t id) const { return special_.contains(id); }

  const std::string& source() const { return source_; }

 private:
  friend class StreamDecoder;

  // As decode(ids) (no tokens skipped), but with a ByteLevel decoder the
  // bytes of a character that later ids may complete are left out.
  std::string decode_settled(std::span<const std::int32_t> ids) const {
    if (!decoder_.ends_with_byte_level()) return decode(ids);
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const std::int32_t id : ids) tokens.emplace_back(token(id));
    std::string bytes = decoder_.run_bytes(std::move(tokens));
    bytes.resize(bytes.size() - tokenizer_detail::byte_level::incomplete_tail(bytes));
    return tokenizer_detail::byte_level::lossy_utf8(bytes);
  }

  // Whether decode_settled(ids) leaves out the start of a character.
  bool ends_inside_character(std::span<const std::int32_t> ids) const {
    if (!decoder_.ends_with_byte_level()) return false;
    std::vector<std::string> tokens;
    tokens.reserve(ids.size());
    for (const std::int32_t id : ids) tokens.emplace_back(token(id));
    return tokenizer_detail::byte_level::incomplete_tail(decoder_.run_bytes(std::move(tokens))) > 0;
  }

  Tokenizer() = default;

  // One sequence to ids, before the post-processor.
  std::vector<std::int32_t> encode_sequence(std::string_view text) const {
    std::vector<std::int32_t> ids;
    for (tokenizer_detail::Segment& seg : split_and_normalize(text)) {
      if (seg.id) {
        ids.push_back(*seg.id);
        continue;
      }
      for (const tokenizer_detail::Segment& word : pre_tokenizer_.apply(std::move(seg))) {
        model_.encode_word(word.text, ids);
      }
    }
    return ids;
  }

  // HF utils::truncation::truncate_encodings, LongestFirst, direction Right.
  static bool truncate(std::vector<std::int32_t>& a, std::optional<std::vector<std::int32_t>>& b,
                       std::size_t max_length) {
    const std::size_t total = a.size() + (b ? b->size() : 0);
    if (max_length > 0 && total <= max_length) return false;
    if (max_length == 0) {
      const bool dropped = total > 0;
      a.clear();
      if (b) b->clear();
      return dropped;
    }
    if (!b) {
      a.resize(max_length);
      return true;
    }
    std::size_t n1 = a.size(), n2 = b->size();
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > max_length ? n1 : std::max(n1, max_length - n1);
    if (n1 + n2 > max_length) {
      n1 = max_length / 2;
      n2 = n1 + max_length % 2;
    }
    if (swap) std::swap(n1, n2);
    if (a.size() > n1) a.resize(n1);
    if (b->size() > n2) b->resize(n2);
    return true;
  }

  void load(const tokenizer_detail::Field& root) {
    root.require_object();
    model_.parse(root.at("model"));
    if (auto f = root.get("normalizer")) normalizer_.parse(*f);
    if (auto f = root.get("pre_tokenizer")) pre_tokenizer_.parse(*f);
    if (auto f = root.get("decoder")) decoder_.parse(*f);
    if (auto f = root.get("added_tokens")) parse_added_tokens(*f);
    build_piece_table();
    if (auto f = root.get("post_processor")) {
      post_processor_.parse(*f, [this](std::int32_t id) { return pieces_.contains(id); });
    }
    parse_truncation_and_padding(root);
    // A WordPiece decoder must remove the prefix the model adds.
    if (auto prefix = decoder_.wordpiece_prefix(); prefix && model_.is_wordpiece() &&
                                                   *prefix != model_.continuing_subword_prefix()) {
      root.at("decoder").fail("the WordPiece decoder's prefix ", tokenizer_detail::shown(*prefix),
                              " differs from model.continuing_subword_prefix ",
                              tokenizer_detail::shown(model_.continuing_subword_prefix()));
    }
  }

  void parse_truncation_and_padding(const tokenizer_detail::Field& root) {
    if (auto t = root.get("truncation")) {
      truncation_max_length_ = t->at("max_length").integer(1, std::int64_t{1} << 40);
      if (auto d = t->get("direction"); d && d->str() != "Right") {
        d->fail("truncation direction ", tokenizer_detail::shown(d->str()), " is not supported (only Right)");
      }
      if (auto s = t->get("strategy"); s && s->str() != "LongestFirst") {
        s->fail("truncation strategy ", tokenizer_detail::shown(s->str()), " is not supported (only LongestFirst)");
      }
      if (auto s = t->get("stride")) (void)s->integer(0, std::int64_t{1} << 40);  // overflow windows only
    }
    if (auto p = root.get("padding")) {
      // Padding never changes a single encoded sequence; only pad_id is kept.
      p->require_object();
      if (auto id = p->get("pad_id")) pad_id_ = std::int32_t(id->integer(0, tokenizer_detail::max_token_id));
    }
  }

  void parse_added_tokens(const tokenizer_detail::Field& list) {
    std::unordered_set<std::int32_t> ids;  // seen so far, to refuse repeats
    std::unordered_set<std::string> contents;
    for (std::size_t i = 0, n = list.array_size(); i < n; ++i) {
      const tokenizer_detail::Field f = list.item(i);
      tokenizer_detail::AddedToken t;
      t.id = std::int32_t(f.at("id").integer(0, tokenizer_detail::max_token_id));
      t.content = f.at("content").str();
      if (t.content.empty()) f.at("content").fail("added token content must not be empty");
      // HF's AddedToken has no serde defaults: every flag must be present.
      t.special = f.at("special").boolean();
      t.lstrip = f.at("lstrip").boolean();
      t.rstrip = f.at("rstrip").boolean();
      t.normalized = f.at("normalized").boolean();
      if (f.at("single_word").boolean()) f.at("single_word").fail("single_word=true is not supported");
      check_added_token_consistent(f, t, ids, contents);
      added_.push_back(std::move(t));
    }
    build_matchers(list);
  }

  // The id of an added token must agree with the vocab, and ids and contents
  // must be unique.
  void check_added_token_consistent(const tokenizer_detail::Field& f, const tokenizer_detail::AddedToken& t,
                                    std::unordered_set<std::int32_t>& ids,
                                    std::unordered_set<std::string>& contents) const {
    using tokenizer_detail::shown;
    if (auto vid = model_.find(t.content); vid && *vid != t.id) {
      f.at("id").fail("added token ", shown(t.content), " has id ", t.id, " but model.vocab gives it id ", *vid);
    }
    if (const std::string* piece = model_.piece(t.id); piece && *piece != t.content) {
      f.at("id").fail("id ", t.id, " of added token ", shown(t.content), " is used by vocab piece ", shown(*piece));
    }
    if (!ids.insert(t.id).second) f.at("id").fail("id ", t.id, " is used by two added tokens");
    if (!contents.insert(t.content).second)
      f.at("content").fail("added token ", shown(t.content), " appears twice");
  }

  // HF AddedVocabulary::refresh_added_tokens: tokens with normalized=false are
  // matched in the raw text; the others are matched in normalized text against
  // their own normalized content (so with a Prepend normalizer the pattern of
  // "<s>" is "▁<s>").
  void build_matchers(const tokenizer_detail::Field& list) {
    for (std::size_t i = 0; i < added_.size(); ++i) {
      const auto& t = added_[i];
      if (!t.normalized) {
        raw_matcher_.add(t.content, i);
        continue;
      }
      std::string pattern = normalizer_.apply(t.content);
      if (pattern.empty()) list.item(i).at("content").fail("added token normalizes to an empty string");
      normalized_matcher_.add(std::move(pattern), i);
    }
  }

  void build_piece_table() {
    std::int64_t max_id = -1;
    pieces_.reserve(model_.vocab().size() + added_.size());
    for (const auto& [piece, id] : model_.vocab()) {
      max_id = std::max<std::int64_t>(max_id, id);
      pieces_[id] = piece;
    }
    for (const auto& t : added_) {
      max_id = std::max<std::int64_t>(max_id, t.id);
      pieces_[t.id] = t.content;
      if (t.special) special_.insert(t.id);
    }
    vocab_size_ = std::size_t(max_id + 1);
  }

  // HF AddedVocabulary::extract_and_normalize: split out raw-matched added
  // tokens, normalize each remaining segment on its own, then split out the
  // normalized-matched tokens. Empty segments are dropped.
  std::vector<tokenizer_detail::Segment> split_and_normalize(std::string_view text) const {
    std::vector<tokenizer_detail::Segment> out;
    for (auto& raw : raw_matcher_.split(text, added_, true)) {
      if (raw.id) {
        out.push_back(std::move(raw));
        continue;
      }
      const std::string normalized = normalizer_.apply(std::move(raw.text));
      for (auto& seg : normalized_matcher_.split(normalized, added_, raw.at_text_start)) {
        if (seg.id || !seg.text.empty()) out.push_back(std::move(seg));
      }
    }
    return out;
  }

  std::string source_;
  tokenizer_detail::Normalizer normalizer_;
  tokenizer_detail::PreTokenizer pre_tokenizer_;
  tokenizer_detail::Model model_;
  tokenizer_detail::PostProcessor post_processor_;
  tokenizer_detail::Decoder decoder_;
  std::vector<tokenizer_detail::AddedToken> added_;
  tokenizer_detail::AddedTokenMatcher raw_matcher_, normalized_matcher_;
  std::unordered_map<std::int32_t, std::string> pieces_;  // id -> piece
  std::unordered_set<std::int32_t> special_;              // ids of special added tokens
  std::size_t vocab_size_ = 0;                            // largest id + 1
  std::int64_t truncation_max_length_ = 0;
  std::optional<std::int32_t> pad_id_;
};

// Incremental detokenizer for streaming generation. push(id) returns the text
// that became final with this id; the concatenation of all push() results and
// finish() equals decode(context ++ ids)[decode(context).size():] (with the same
// skip_special_tokens), i.e. exactly what decode() would add to the context's
// text. It holds back a run of byte-fallback tokens until the run ends (HF turns
// the whole run into U+FFFDs if any byte is invalid, so nothing in it is final
// earlier), and decodes each new token together with its predecessor so that
// the decoder's Strip of a leading space only applies at the very start.
//
// With a ByteLevel decoder, the bytes of a character split across tokens are
// held back until the character is complete (or proves invalid).
//
// If the context itself ends inside a byte-fallback run (or a ByteLevel
// character), that text is emitted by the push that ends it. The tokenizer must outlive the decoder.
// Cost per push is a decode of a few tokens, independent of the length so far.
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tokenizer, std::span<const std::int32_t> context_ids, bool skip_special_tokens = false)
      : tok_(&tokenizer), skip_special_(skip_special_tokens), hold_bytes_(tokenizer.decoder_.has_byte_fallback()) {
    if (auto why = tokenizer.decoder_.streaming_obstacle()) {
      fail(tokenizer.source(), ": decoder: cannot stream a decoder with ", *why);
    }
    for (const std::int32_t id : context_ids) {
      tok_->token(id);  // throws for an id outside the vocabulary
      if (!skipped(id)) window_.push_back(id);
    }
    // The context's own text counts as already produced, up to a trailing
    // byte run whose characters the generated ids may still complete.
    const std::size_t settled = window_.size() - trailing_byte_run();
    done_ = tok_->decode_settled(std::span(window_).first(settled)).size();
    text_so_far_ = done_ > 0;
  }

  std::string push(std::int32_t id) {
    check(!finished_, tok_->source(), ": StreamDecoder::push after finish()");
    tok_->token(id);
    if (skipped(id)) return {};  // contributes no text, and HF drops it before the decoder
    window_.push_back(id);
    if (trailing_byte_run() > 0) return {};
    std::string out = take_new_text(false);
    shrink_window();
    return out;
  }

  // Emits whatever is held back (an unfinished byte run, as U+FFFDs where
  // invalid). Call once, at the end.
  std::string finish() {
    if (finished_) return {};
    finished_ = true;
    return take_new_text(true);
  }

 private:
  bool skipped(std::int32_t id) const { return skip_special_ && tok_->is_special(id); }

  bool is_byte(std::int32_t id) const {
    return hold_bytes_ && tokenizer_detail::parse_byte_piece(tok_->token(id)).has_value();
  }

  std::size_t trailing_byte_run() const {
    std::size_t n = 0;
    while (n < window_.size() && is_byte(window_[window_.size() - 1 - n])) ++n;
    return n;
  }

  // The text beyond done_; before the end, a ByteLevel decoder's unfinished
  // character is held back.
  std::string take_new_text(bool at_end) {
    std::string text = at_end ? tok_->decode(window_) : tok_->decode_settled(window_);
    std::string out = text.size() > done_ ? text.substr(done_) : std::string();
    done_ = std::max(done_, text.size());
    text_so_far_ = text_so_far_ || !out.empty();
    return out;
  }

  // Keeps only the last few ids: the shortest suffix that (a) does not begin
  // inside a byte run and (b) decodes to non-empty text, so the decoder's
  // start-of-text rules (Strip, Metaspace's first token) act on that suffix's
  // first token and not on what comes next. Only done once the text as a
  // whole is non-empty, so those rules have already acted on the real start.
  // With a ByteLevel decoder, not while the window ends inside a character
  // (its first bytes must stay in the window).
  void shrink_window() {
    if (!text_so_far_ || tok_->ends_inside_character(window_)) return;
    constexpr std::size_t max_keep = 16;
    for (std::size_t keep = 1; keep <= std::min(max_keep, window_.size() - 1); ++keep) {
      const std::size_t cut = window_.size() - keep;
      if (is_byte(window_[cut - 1]) && is_byte(window_[cut])) continue;
      const auto suffix = std::span(window_).subspan(cut);
      const std::string text = tok_->decode_settled(suffix);
      if (text.empty()) continue;
      window_.erase(window_.begin(), window_.begin() + std::ptrdiff_t(cut));
      done_ = text.size();
      return;
    }
  }

  const Tokenizer* tok_;
  bool skip_special_;
  bool hold_bytes_;
  std::vector<std::int32_t> window_;  // the last ids (skipped specials left out)
  std::size_t done_ = 0;              // bytes of decode(window_) already accounted for
  bool text_so_far_ = false;          // some text has been produced (context included)
  bool finished_ = false;
};

}  // namespace strata
