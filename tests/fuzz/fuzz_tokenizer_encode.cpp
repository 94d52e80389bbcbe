// Fuzz target: the real tokenizers of ../shared/models (TinyStories-656K, and
// stories260K, which has byte fallback), loaded once, on arbitrary input:
//   - the bytes as text (invalid UTF-8 included): encode with and without
//     special tokens; every id must be in the vocabulary and decode without
//     error; where the text is made only of characters the vocabulary has
//     (and no '<' or U+2581 that could form an added token or a space),
//     decode(encode(text)) must give the text back;
//   - the bytes as an id sequence (2 bytes per id: mostly in range, some
//     negative or past the vocabulary): decode must give a text or an Error;
//     the in-range ids decoded in one go and through a StreamDecoder (after a
//     context of the first few ids, special tokens skipped or not) must agree.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/io/tokenizer.hpp"

#ifndef STRATA_SHARED_DIR
#error "STRATA_SHARED_DIR must name the folder holding models/"
#endif

namespace {

using strata::fuzz::invariant_failed;

const std::vector<strata::Tokenizer>& tokenizers() {
  static const std::vector<strata::Tokenizer> toks = [] {
    const std::filesystem::path models = std::filesystem::path(STRATA_SHARED_DIR) / "models";
    std::vector<strata::Tokenizer> v;
    try {
      v.push_back(strata::Tokenizer::from_file(models / "tinystories-656k" / "tokenizer.json"));
      v.push_back(strata::Tokenizer::from_file(models / "stories260k" / "tokenizer.json"));
    } catch (const strata::Error& e) {
      invariant_failed("cannot load the real tokenizers", e.what());
    }
    return v;
  }();
  return toks;
}

std::string ids_str(std::span<const std::int32_t> ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size() && i < 64; ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + (ids.size() > 64 ? ",...]" : "]");
}

bool roundtrip_expected(const strata::Tokenizer& tok, std::string_view text) {
  if (text.find('<') != std::string_view::npos || text.find("\xE2\x96\x81") != std::string_view::npos) return false;
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t n = strata::tokenizer_detail::char_len(text, i);
    const std::string_view c = text.substr(i, n);
    if (n == 1 && static_cast<unsigned char>(c[0]) >= 0x80) return false;  // not valid UTF-8
    if (!tok.token_to_id(c == " " ? std::string_view("\xE2\x96\x81") : c)) return false;
    i += n;
  }
  return true;
}

void check_text(const strata::Tokenizer& tok, std::string_view text) {
  for (const bool special : {false, true}) {
    const std::vector<std::int32_t> ids = tok.encode(text, special);
    for (const std::int32_t id : ids)
      if (id < 0 || std::size_t(id) >= tok.vocab_size()) invariant_failed("encode gave an id outside the vocabulary");
    std::string decoded;
    try {
      decoded = tok.decode(ids, true);
    } catch (const strata::Error& e) {
      invariant_failed("decode of encode() ids failed", e.what());
    }
    if (!special && roundtrip_expected(tok, text) && decoded != text)
      invariant_failed("decode(encode(text)) differs from text", tok.source() + ": '" + std::string(text.substr(0, 200)) +
                                                                     "' -> " + ids_str(ids) + " -> '" + decoded + "'");
  }
}

bool is_byte_piece(const strata::Tokenizer& tok, std::int32_t id) {
  return strata::tokenizer_detail::parse_byte_piece(tok.token(id)).has_value();
}

void check_ids(const strata::Tokenizer& tok, const std::uint8_t* data, std::size_t size) {
  const std::int64_t vocab = std::int64_t(tok.vocab_size());
  std::vector<std::int32_t> raw, valid;
  for (std::size_t i = 0; i + 1 < size; i += 2) {
    const unsigned v = data[i] | (unsigned(data[i + 1]) << 8);
    std::int32_t id;
    if (v >= 0xFFF0) {
      id = v == 0xFFFF ? INT32_MIN : v == 0xFFFE ? INT32_MAX : -std::int32_t(v - 0xFFF0 + 1);
    } else {
      id = std::int32_t(v % (vocab + 16));  // a few past the end
    }
    raw.push_back(id);
    if (id >= 0 && id < vocab) valid.push_back(id);
  }
  strata::fuzz::expect_ok_or_error([&] { (void)tok.decode(raw); });
  strata::fuzz::expect_ok_or_error([&] {
    strata::StreamDecoder stream(tok, {});
    for (const std::int32_t id : raw) (void)stream.push(id);
  });

  // Valid ids: decode must succeed, and streaming must agree with it.
  const bool skip = size > 0 && (data[0] & 1);
  const std::size_t context = size > 0 ? std::min<std::size_t>(data[0] >> 1 & 7, valid.size()) : 0;
  const std::span<const std::int32_t> ctx(valid.data(), context);
  std::string full, streamed, settled_text;
  try {
    full = tok.decode(valid, skip);
    // What the context settles: its ids (specials dropped when skipped) up to
    // a trailing run of byte tokens, which later ids may still complete.
    std::vector<std::int32_t> settled;
    for (const std::int32_t id : ctx)
      if (!(skip && tok.is_special(id))) settled.push_back(id);
    while (!settled.empty() && is_byte_piece(tok, settled.back())) settled.pop_back();
    settled_text = tok.decode(settled, skip);
    strata::StreamDecoder stream(tok, ctx, skip);
    for (std::size_t i = context; i < valid.size(); ++i) streamed += stream.push(valid[i]);
    streamed += stream.finish();
    if (!stream.finish().empty()) invariant_failed("a second finish() gave text");
  } catch (const strata::Error& e) {
    invariant_failed("decoding valid ids failed", e.what());
  }
  if (!full.starts_with(settled_text) || full.substr(settled_text.size()) != streamed)
    invariant_failed("StreamDecoder disagrees with decode()", tok.source() + ": ids " + ids_str(valid) + " context " +
                                                                   std::to_string(context) + " skip " +
                                                                   std::to_string(skip) + ": decode '" + full +
                                                                   "', context '" + settled_text + "', streamed '" +
                                                                   streamed + "'");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const strata::Tokenizer& tok : tokenizers()) {
    check_text(tok, text);
    check_ids(tok, data, size);
  }
  return 0;
}
