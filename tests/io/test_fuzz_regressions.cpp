// Regression tests for faults found while fuzzing the loaders (docs/FUZZING.md):
// each hostile input that crashed, hung or made strata allocate without bound,
// written out here at its full size (the fuzzers' inputs are capped at a few
// KB, so some of these were found by reading the code the fuzzers pointed at
// and then confirmed with a larger input). The minimized fuzzer inputs
// themselves are replayed by the fuzz_replay_* tests (tests/fuzz/regressions).
#include <catch2/catch.hpp>

#include <sys/stat.h>  // mkfifo

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "strata/io/hf_config.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/io/tokenizer.hpp"
#include "support/safetensors_writer.hpp"

using Catch::Contains;
using strata::Tokenizer;
using strata::io::SafetensorsFile;
using strata::test::TempDir;
using strata::test::write_raw;
using strata::test::write_text;

namespace {

constexpr const char* kMinimalModel = R"("model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]})";

std::string tokenizer_error(const std::string& json) {
  try {
    (void)Tokenizer::from_json_string(json);
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string config_error(const std::filesystem::path& dir) {
  try {
    (void)strata::load_model_config(dir);
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("fuzz regression: deeply nested JSON is an error, not a stack overflow", "[io][fuzz-regression]") {
  // Each nested Sequence normalizer was parsed by a recursive call, and an
  // error message printed the offending value recursively: ~5,000 levels
  // overflowed the stack under ASan, ~100,000 without.
  SECTION("tokenizer.json: Sequence normalizers 100,000 deep") {
    std::string s = std::string("{") + kMinimalModel + R"(,"normalizer":)";
    for (int i = 0; i < 100000; ++i) s += R"({"type":"Sequence","normalizers":[)";
    s += R"({"type":"Prepend","prepend":"x"})";
    for (int i = 0; i < 100000; ++i) s += "]}";
    s += "}";
    CHECK_THAT(tokenizer_error(s), Contains("tokenizer.json: JSON nests deeper than 64 levels"));
  }
  SECTION("config.json: a field holding arrays 1,000,000 deep") {
    TempDir dir;
    write_text(dir / "config.json",
               R"({"model_type": "llama", "hidden_size": )" + std::string(1000000, '[') + std::string(1000000, ']') + "}");
    CHECK_THAT(config_error(dir.path()), Contains("config.json: JSON nests deeper than 64 levels"));
  }
  SECTION("64 levels are still accepted") {
    std::string s = std::string("{") + kMinimalModel + R"(,"normalizer":)";
    for (int i = 0; i < 31; ++i) s += R"({"type":"Sequence","normalizers":[)";
    s += R"({"type":"Prepend","prepend":"x"})";
    for (int i = 0; i < 31; ++i) s += "]}";
    s += "}";
    CHECK(tokenizer_error(s) == "(no error)");
  }
}

TEST_CASE("fuzz regression: a large token id costs no memory", "[io][fuzz-regression]") {
  // A 60-byte tokenizer.json with the id 2^24 - 1 made two tables indexed by
  // id: 1.4 GB resident and 2 s to load. Pieces are now looked up in maps.
  const auto start = std::chrono::steady_clock::now();
  const Tokenizer t = Tokenizer::from_json_string(R"({"model":{"type":"BPE","vocab":{"a":16777215,"b":3},"merges":[]}})");
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(200));
  CHECK(t.vocab_size() == 16777216);
  CHECK(t.token(16777215) == "a");
  CHECK(t.token(3) == "b");
  CHECK_THROWS_WITH(t.token(4), Contains("token id 4 is not in the vocabulary (size 16777216)"));
  CHECK(t.encode("ab", false) == std::vector<std::int32_t>{16777215, 3});
  CHECK_FALSE(t.is_special(16777215));
}

TEST_CASE("fuzz regression: normalizers and decoders that grow text without bound are refused",
          "[io][fuzz-regression]") {
  // Ten chained Replace steps a -> aa turn "a" into 1024 bytes; forty into a
  // terabyte. The growth a tokenizer.json may ask for is now bounded at load.
  const auto replace = [](const std::string& from, const std::string& to) {
    return R"({"type":"Replace","pattern":{"String":")" + from + R"("},"content":")" + to + R"("})";
  };
  const auto chain = [&](int n) {
    std::string steps;
    for (int i = 0; i < n; ++i) steps += (i ? "," : "") + replace("a", "aa");
    return steps;
  };
  SECTION("normalizer") {
    CHECK_THAT(tokenizer_error(std::string("{") + kMinimalModel + R"(,"normalizer":{"type":"Sequence","normalizers":[)" +
                               chain(40) + "]}}"),
               Contains("normalizer") && Contains("more than 64 times longer"));
    // Six doublings (64-fold) are allowed; the common " " -> U+2581 is 3-fold.
    const Tokenizer t = Tokenizer::from_json_string(std::string("{") + kMinimalModel +
                                                    R"(,"normalizer":{"type":"Sequence","normalizers":[)" + chain(6) +
                                                    "]}}");
    CHECK(t.encode("a", false).size() == 64);
  }
  SECTION("normalizer Prepend") {
    CHECK_THAT(tokenizer_error(std::string("{") + kMinimalModel + R"(,"normalizer":{"type":"Prepend","prepend":")" +
                               std::string(300, 'a') + "\"}}"),
               Contains("prepends more than 256 bytes"));
  }
  SECTION("decoder") {
    CHECK_THAT(tokenizer_error(std::string("{") + kMinimalModel + R"(,"decoder":{"type":"Sequence","decoders":[)" +
                               chain(40) + "]}}"),
               Contains("decoder") && Contains("more than 64 times longer"));
  }
}

TEST_CASE("fuzz regression: error messages stay one line", "[io][fuzz-regression]") {
  // Strings from the file were copied into messages as they were: a newline
  // in a type name split the message, and a long value was printed whole.
  SECTION("tokenizer.json") {
    const std::string msg = tokenizer_error(std::string("{") + kMinimalModel +
                                            R"(,"normalizer":{"type":"Lower\ncase\u0000"}})");
    CHECK_THAT(msg, Contains(R"(unsupported normalizer 'Lower\ncase\x00')"));
    CHECK(msg.find('\n') == std::string::npos);
  }
  SECTION("config.json") {
    TempDir dir;
    write_text(dir / "config.json", R"({"model_type": "llama\r\nx)" + std::string(5000, 'y') + "\"}");
    const std::string msg = config_error(dir.path());
    CHECK_THAT(msg, Contains(R"(model_type 'llama\r\nx)"));
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(msg.size() < 400);
  }
  SECTION("a parse error quotes at most a few hundred bytes of the input") {
    // nlohmann's message quotes the token it stopped in: for an unterminated
    // string, the rest of the file (found by fuzz_safetensors_index).
    const std::string tail(100000, 'a');
    const std::string tok = tokenizer_error("{\"model\": {\"type\": \"" + tail);
    CHECK_THAT(tok, Contains("tokenizer.json: not valid JSON ([json.exception.parse_error.101]"));
    CHECK(tok.size() < 400);
    TempDir dir;
    write_text(dir / "config.json", "{\"model_type\": \"" + tail);
    const std::string cfg = config_error(dir.path());
    CHECK_THAT(cfg, Contains("config.json: not valid JSON"));
    CHECK(cfg.size() < 400 + dir.path().string().size());
    write_raw(dir / "header.safetensors", "{\"" + tail);
    try {
      (void)SafetensorsFile::open(dir / "header.safetensors");
      FAIL("no error");
    } catch (const strata::Error& e) {
      CHECK_THAT(e.what(), Contains("header: not valid JSON"));
      CHECK(std::string(e.what()).size() < 400 + dir.path().string().size());
    }
  }
  SECTION("safetensors: a tensor name is cut short") {
    TempDir dir;
    write_raw(dir / "name.safetensors", R"({")" + std::string(100000, 'n') + R"(": {"dtype": "I8", "shape": [1], "data_offsets": [0, 1]}})");
    try {
      (void)SafetensorsFile::open(dir / "name.safetensors");
      FAIL("no error");
    } catch (const strata::Error& e) {
      CHECK_THAT(e.what(), Contains("nnn...\": unknown dtype \"I8\""));
      CHECK(std::string(e.what()).size() < 400 + dir.path().string().size());
    }
  }
  SECTION("config.json: an integer past 2^63 is reported as written") {
    TempDir dir;
    write_text(dir / "config.json", R"({"model_type": "llama", "hidden_size": 18446744073709551615})");
    CHECK_THAT(config_error(dir.path()), Contains("'hidden_size' = 18446744073709551615 is out of range"));
  }
}

TEST_CASE("fuzz regression: a FIFO or device as tokenizer.json or config.json is refused", "[io][fuzz-regression]") {
  // Both were read with std::ifstream: a FIFO blocked forever and /dev/zero
  // was read until memory ran out.
  TempDir dir;
  REQUIRE(::mkfifo((dir / "tokenizer.json").c_str(), 0600) == 0);
  REQUIRE(::mkfifo((dir / "config.json").c_str(), 0600) == 0);
  CHECK_THROWS_WITH(Tokenizer::from_file(dir / "tokenizer.json"), Contains("tokenizer.json: not a regular file"));
  CHECK_THAT(config_error(dir.path()), Contains("config.json: not a regular file"));
  CHECK_THROWS_WITH(Tokenizer::from_file("/dev/zero"), Contains("/dev/zero: not a regular file"));
}

TEST_CASE("fuzz regression: a path the OS refuses is a strata::Error", "[io][fuzz-regression]") {
  // std::filesystem::exists() throws std::filesystem::filesystem_error for a
  // file name longer than the OS allows; load_model_config let it escape.
  const std::string long_name(300, 'a');
  CHECK_THROWS_AS(strata::load_model_config(long_name), strata::Error);
  CHECK_THROWS_AS(Tokenizer::from_file(long_name), strata::Error);
}
