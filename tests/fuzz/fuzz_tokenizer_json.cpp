// Fuzz target: the bytes are a tokenizer.json. If strata accepts it, encodes a
// few fixed strings (with and without special tokens, one of them not valid
// UTF-8), decodes the ids, streams them through a StreamDecoder, and decodes
// every id of the vocabulary one at a time.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/io/tokenizer.hpp"

namespace {

using namespace std::string_view_literals;

constexpr std::string_view kTexts[] = {
    "Once upon a time",
    "  two  spaces, a\ttab\nand <s> </s> <unk> <|endoftext|>",
    "caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 \xE4\xB8\xAD",
    "bad \xFF\xC3 utf-8 \xED\xA0\x80 and a NUL \0 byte"sv,
    "",
};

// Id checks that hold for any tokenizer strata accepts.
void exercise(const strata::Tokenizer& tok) {
  const std::size_t vocab = tok.vocab_size();
  for (const std::string_view text : kTexts) {
    for (const bool special : {false, true}) {
      const std::vector<std::int32_t> ids = tok.encode(text, special);
      for (const std::int32_t id : ids) {
        if (id < 0 || std::size_t(id) >= vocab) strata::fuzz::invariant_failed("encode gave an id outside the vocabulary");
        (void)tok.token(id);  // must exist
      }
      (void)tok.decode(ids, false);
      (void)tok.decode(ids, true);
      // Streaming may be refused (a decoder it cannot stream) with an Error.
      strata::fuzz::expect_ok_or_error([&] {
        strata::StreamDecoder stream(tok, {});
        std::string streamed;
        for (const std::int32_t id : ids) streamed += stream.push(id);
        streamed += stream.finish();
        if (streamed != tok.decode(ids)) strata::fuzz::invariant_failed("StreamDecoder text differs from decode()");
      });
    }
  }
  // Every id once (bounded: vocab_size is at most 2^24 but the input is small).
  for (std::size_t id = 0; id < vocab && id < 4096; ++id) {
    const std::int32_t one[] = {std::int32_t(id)};
    strata::fuzz::expect_ok_or_error([&] { (void)tok.decode(one); });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  strata::fuzz::expect_ok_or_error([&] {
    const strata::Tokenizer tok = strata::Tokenizer::from_json_string(json);
    exercise(tok);
  });
  return 0;
}
