// Tests for the WordPiece (BERT) and byte-level BPE (GPT-2, Llama 3, Qwen2)
// parts of strata::Tokenizer (include/strata/io/tokenizer.hpp and
// include/strata/io/tokenizer/).
//
// References that do not share our code:
//   - tests/fixtures/tokenizer/{wordpiece-uncased,wordpiece-cased,gpt2-bytelevel,
//     llama3-bytelevel,qwen2-bytelevel}{.json,_cases.json}, written by
//     tests/reference/make_tokenizer_fixtures.py with the independent Python
//     implementation tests/reference/tokenizer_ref.py (unicodedata, and the
//     `regex` module running the pre-tokenizer patterns as written in the file);
//   - small hand-made cases below whose expected ids follow from HF's
//     documentation or source (each says which behaviour it pins).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/io/tokenizer.hpp"

using Catch::Matchers::Contains;
using strata::StreamDecoder;
using strata::Tokenizer;
using Ids = std::vector<std::int32_t>;
using J = nlohmann::json;

namespace {

const std::filesystem::path fixtures{STRATA_TEST_FIXTURES};

J read_json(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE(in.good());
  return J::parse(in);
}

J fixture_json(const std::string& name) { return read_json(fixtures / "tokenizer" / (name + ".json")); }

const Tokenizer& fixture(const std::string& name) {
  static std::map<std::string, Tokenizer> cache;
  auto it = cache.find(name);
  if (it == cache.end()) {
    it = cache.emplace(name, Tokenizer::from_file(fixtures / "tokenizer" / (name + ".json"))).first;
  }
  return it->second;
}

std::string load_error(const J& j) {
  try {
    (void)Tokenizer::from_json_string(j.dump());
  } catch (const strata::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string stream(const Tokenizer& tok, std::span<const std::int32_t> context, std::span<const std::int32_t> ids,
                   bool skip) {
  StreamDecoder d(tok, context, skip);
  std::string out;
  for (const std::int32_t id : ids) out += d.push(id);
  return out + d.finish();
}

const char* const kFixtures[] = {"wordpiece-uncased", "wordpiece-cased", "gpt2-bytelevel", "llama3-bytelevel",
                                 "qwen2-bytelevel"};

}  // namespace

TEST_CASE("tokenizer families: every reference case of make_tokenizer_fixtures.py", "[tokenizer]") {
  for (const char* name : kFixtures) {
    const Tokenizer& tok = fixture(name);
    const J cases = read_json(fixtures / "tokenizer" / (std::string(name) + "_cases.json"))["cases"];
    REQUIRE(cases.size() > 50);
    for (const J& c : cases) {
      const std::string text = c["text"];
      std::optional<std::string> pair;
      if (c.contains("pair")) pair = c["pair"].get<std::string>();
      const bool special = c["add_special_tokens"];
      const std::int64_t max_length = c["max_length"];
      INFO(name << ": text '" << text << "'" << (pair ? " pair '" + *pair + "'" : "") << " special " << special
                << " max_length " << max_length);
      const strata::Encoding e = tok.encode_pair(text, pair ? std::optional<std::string_view>(*pair) : std::nullopt,
                                                 special, max_length);
      const Ids ids = c["ids"];
      const Ids type_ids = c["type_ids"];
      CHECK(e.ids == ids);
      CHECK(e.type_ids == type_ids);
      CHECK(e.truncated == c["truncated"].get<bool>());
      if (!pair && max_length == 0) CHECK(tok.encode(text, special) == ids);
      CHECK(tok.decode(ids) == c["decoded"].get<std::string>());
      CHECK(tok.decode(ids, true) == c["decoded_skip_special"].get<std::string>());
      // Streaming gives the same text, byte-level characters split across tokens included.
      CHECK(stream(tok, {}, ids, false) == tok.decode(ids));
      CHECK(stream(tok, {}, ids, true) == tok.decode(ids, true));
    }
  }
}

TEST_CASE("tokenizer families: truncation, padding and vocabulary facts", "[tokenizer]") {
  const Tokenizer& bert = fixture("wordpiece-uncased");
  CHECK(bert.truncation_max_length() == 128);
  CHECK(bert.pad_id() == std::optional<std::int32_t>(0));
  CHECK(bert.token_to_id("[UNK]") == std::optional<std::int32_t>(1));
  CHECK(bert.is_special(2));
  const Tokenizer& gpt2 = fixture("gpt2-bytelevel");
  CHECK(gpt2.truncation_max_length() == 0);
  CHECK(gpt2.pad_id() == std::nullopt);
  // A "<pad>" in the vocabulary is the pad id when the file has no padding.
  J j = fixture_json("gpt2-bytelevel");
  j["added_tokens"].push_back({{"id", 5000}, {"content", "<pad>"}, {"single_word", false}, {"lstrip", false},
                               {"rstrip", false}, {"normalized", false}, {"special", true}});
  CHECK(Tokenizer::from_json_string(j.dump()).pad_id() == std::optional<std::int32_t>(5000));
}

TEST_CASE("tokenizer families: truncation arithmetic (HF truncate_encodings, LongestFirst)", "[tokenizer]") {
  const Tokenizer& bert = fixture("wordpiece-uncased");
  // Words that are each one vocab piece, so lengths are easy to count.
  const std::string a = "the the the the the the the the the the";  // 10 ids
  const std::string b = "a a a";                                    // 3 ids
  REQUIRE(bert.encode_pair(a, std::nullopt, false).ids.size() == 10);
  REQUIRE(bert.encode_pair(b, std::nullopt, false).ids.size() == 3);
  auto lengths = [&](std::int64_t max_length) {
    const auto e = bert.encode_pair(a, b, true, max_length);
    std::size_t n0 = 0, n1 = 0;
    for (std::size_t i = 0; i < e.ids.size(); ++i) (e.type_ids[i] == 0 ? n0 : n1)++;
    return std::pair{n0 - 2, n1 - 1};  // less [CLS] A [SEP] and B [SEP]
  };
  CHECK(lengths(16) == std::pair<std::size_t, std::size_t>{10, 3});  // fits
  CHECK(lengths(12) == std::pair<std::size_t, std::size_t>{6, 3});   // only the longer one shrinks
  CHECK(lengths(8) == std::pair<std::size_t, std::size_t>{3, 2});    // both: 5 -> 3 + 2 (longer gets the odd one)
  CHECK(lengths(3) == std::pair<std::size_t, std::size_t>{0, 0});    // only the special tokens
  CHECK(bert.encode_pair(a, b, true, 16).truncated == false);
  CHECK(bert.encode_pair(a, b, true, 12).truncated == true);
  // Fewer than the special tokens: an error, for a pair (3) and a single sequence (2).
  CHECK_THROWS_WITH(bert.encode_pair(a, b, true, 2), Contains("max_length 2 is smaller than the 3 special tokens"));
  CHECK_THROWS_WITH(bert.encode_pair(a, std::nullopt, true, 1),
                    Contains("max_length 1 is smaller than the 2 special tokens"));
  CHECK_THROWS_WITH(bert.encode_pair(a, std::nullopt, true, -1), Contains("max_length -1 is negative"));
  // Without special tokens nothing is reserved.
  CHECK(bert.encode_pair(a, std::nullopt, false, 1).ids.size() == 1);
  // encode() never truncates, whatever the file's truncation says.
  std::string long_text;
  for (int i = 0; i < 300; ++i) long_text += "the ";
  CHECK(bert.encode(long_text).size() == 302);
  CHECK(bert.encode_pair(long_text, std::nullopt, true, bert.truncation_max_length()).ids.size() == 128);
}

TEST_CASE("tokenizer families: byte-level stream decoding holds back split characters", "[tokenizer]") {
  const Tokenizer& tok = fixture("gpt2-bytelevel");
  // U+1F984 as four single-byte tokens, then "!".
  const auto byte_id = [&](unsigned b) {
    std::string piece;
    strata::tokenizer_detail::byte_level::append_utf8(strata::tokenizer_detail::byte_level::byte_to_char()[b], piece);
    return *tok.token_to_id(piece);
  };
  const Ids ids = {byte_id(0xF0), byte_id(0x9F), byte_id(0xA6), byte_id(0x84), byte_id('!')};
  REQUIRE(tok.decode(ids) == "\xF0\x9F\xA6\x84!");
  StreamDecoder d(tok, {});
  CHECK(d.push(ids[0]).empty());
  CHECK(d.push(ids[1]).empty());
  CHECK(d.push(ids[2]).empty());
  std::string out = d.push(ids[3]);
  CHECK(out == "\xF0\x9F\xA6\x84");
  for (std::size_t i = 4; i < ids.size(); ++i) out += d.push(ids[i]);
  CHECK(out + d.finish() == tok.decode(ids));
  // A truncated character at the end comes out as U+FFFD from finish(), as decode() gives it.
  const Ids cut(ids.begin(), ids.begin() + 2);
  CHECK(tok.decode(cut) == "\xEF\xBF\xBD");
  CHECK(stream(tok, {}, cut, false) == "\xEF\xBF\xBD");
  // A context ending inside a character: the push that completes it emits it.
  CHECK(stream(tok, std::span(ids).first(2), std::span(ids).subspan(2, 2), false) == "\xF0\x9F\xA6\x84");
  // Random id sequences (mostly single bytes, many invalid UTF-8) agree with decode.
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::int32_t> any(0, std::int32_t(tok.vocab_size()) - 1), byte(0, 255);
  for (int trial = 0; trial < 200; ++trial) {
    Ids r;
    for (int k = 0; k < 12; ++k) r.push_back(k % 3 == 0 ? any(rng) : byte(rng));
    const std::size_t ctx = std::size_t(trial % 4);
    const std::string full = tok.decode(r), head = tok.decode(std::span(r).first(ctx));
    // After a context that ends on an ASCII byte (so on a character boundary),
    // the streamed text is what decode() adds to the context's text.
    const std::string streamed = stream(tok, std::span(r).first(ctx), std::span(r).subspan(ctx), false);
    const std::string last = ctx > 0 ? tok.decode(std::span(r).subspan(ctx - 1, 1)) : std::string();
    if (std::all_of(last.begin(), last.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
      REQUIRE(full.starts_with(head));
      CHECK(streamed == full.substr(head.size()));
    }
    CHECK(stream(tok, {}, r, false) == full);
  }
}

TEST_CASE("tokenizer families: ByteLevel decoder maps alphabet pieces, keeps others, replaces bad UTF-8",
          "[tokenizer]") {
  const Tokenizer& tok = fixture("llama3-bytelevel");
  const std::int32_t bos = *tok.token_to_id("<|begin_of_text|>");
  // Added tokens outside the alphabet decode to their text; skip_special drops them.
  const Ids hi = tok.encode("hi");
  CHECK(hi.front() == bos);
  CHECK(tok.decode(hi) == "<|begin_of_text|>hi");
  CHECK(tok.decode(hi, true) == "hi");
  // from_utf8_lossy: one U+FFFD per maximal ill-formed subpart.
  const auto byte_id = [&](unsigned b) {
    std::string piece;
    strata::tokenizer_detail::byte_level::append_utf8(strata::tokenizer_detail::byte_level::byte_to_char()[b], piece);
    return *tok.token_to_id(piece);
  };
  CHECK(tok.decode(Ids{byte_id(0xED), byte_id(0xA0), byte_id(0x80)}) == "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  CHECK(tok.decode(Ids{byte_id(0xF0), byte_id(0x9F), byte_id(0x98), byte_id('a')}) == "\xEF\xBF\xBD" "a");
  CHECK(tok.decode(Ids{byte_id(0xC3), byte_id(0xA9)}) == "\xC3\xA9");
}

TEST_CASE("tokenizer families: ignore_merges emits a word that is in the vocabulary whole", "[tokenizer]") {
  // The Llama 3 fixture has "Ġzebra" in its vocabulary but no merges leading to it.
  const Tokenizer& tok = fixture("llama3-bytelevel");
  const auto id = tok.token_to_id("\xC4\xA0zebra");
  REQUIRE(id);
  CHECK(tok.encode(" zebra", false) == Ids{*id});
  J j = fixture_json("llama3-bytelevel");
  j["model"]["ignore_merges"] = false;
  const Ids merged = Tokenizer::from_json_string(j.dump()).encode(" zebra", false);
  CHECK(merged.size() > 1);
}

TEST_CASE("tokenizer families: Split behaviours (HF SplitDelimiterBehavior examples)", "[tokenizer]") {
  // HF's documented example: "the-final--countdown" split on "-".
  const std::vector<std::string> pieces = {"the", "-", "final", "countdown", "the-", "final-", "-final",
                                           "-countdown", "--", "[UNK]"};
  J vocab = J::object();
  for (std::size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  auto run = [&](const std::string& behavior, bool invert = false) {
    J j = {{"version", "1.0"},
           {"model", {{"type", "WordPiece"}, {"unk_token", "[UNK]"}, {"vocab", vocab}}},
           {"pre_tokenizer",
            {{"type", "Split"}, {"pattern", {{"String", "-"}}}, {"behavior", behavior}, {"invert", invert}}}};
    const Tokenizer t = Tokenizer::from_json_string(j.dump());
    std::vector<std::string> out;
    for (const std::int32_t id : t.encode("the-final--countdown")) out.emplace_back(t.token(id));
    return out;
  };
  using V = std::vector<std::string>;
  CHECK(run("Removed") == V{"the", "final", "countdown"});
  CHECK(run("Isolated") == V{"the", "-", "final", "-", "-", "countdown"});
  CHECK(run("MergedWithPrevious") == V{"the-", "final-", "-", "countdown"});
  CHECK(run("MergedWithNext") == V{"the", "-final", "-", "-countdown"});
  CHECK(run("Contiguous") == V{"the", "-", "final", "--", "countdown"});
  // Inverted: the pattern's matches are the gaps, so Removed keeps only the dashes.
  CHECK(run("Removed", true) == V{"-", "-", "-"});
}

TEST_CASE("tokenizer families: BertProcessing, RobertaProcessing and pair templates", "[tokenizer]") {
  const Tokenizer& cased = fixture("wordpiece-cased");  // BertProcessing
  const auto e = cased.encode_pair("a", std::string_view("b"));
  const std::int32_t cls = *cased.token_to_id("[CLS]"), sep = *cased.token_to_id("[SEP]");
  const std::int32_t a = *cased.token_to_id("a"), b = *cased.token_to_id("b");
  CHECK(e.ids == Ids{cls, a, sep, b, sep});
  CHECK(e.type_ids == Ids{0, 0, 0, 1, 1});
  // Without special tokens the second sequence still has type id 1 (HF encode_single_sequence).
  CHECK(cased.encode_pair("a", std::string_view("b"), false).type_ids == Ids{0, 1});
  // RobertaProcessing: <s> A </s> </s> B </s>.
  J j = fixture_json("gpt2-bytelevel");
  const std::int32_t eos = j["added_tokens"][0]["id"];
  j["post_processor"] = {{"type", "RobertaProcessing"}, {"sep", {"<|endoftext|>", eos}}, {"cls", {"<|endoftext|>", eos}},
                         {"trim_offsets", true}, {"add_prefix_space", false}};
  const Tokenizer roberta = Tokenizer::from_json_string(j.dump());
  const std::int32_t x = *roberta.token_to_id("x"), y = *roberta.token_to_id("y");
  const auto r = roberta.encode_pair("x", std::string_view("y"));
  CHECK(r.ids == Ids{eos, x, eos, eos, y, eos});
  CHECK(r.type_ids == Ids{0, 0, 0, 0, 0, 0});  // HF roberta.rs: "every encoding is type_id=0"
  CHECK(roberta.encode_pair("x", std::string_view("y"), false).type_ids == Ids{0, 0});
  CHECK(roberta.encode("x") == Ids{eos, x, eos});
  // No post-processor: the pair is concatenated, type ids 0 then 1.
  j["post_processor"] = nullptr;
  CHECK(Tokenizer::from_json_string(j.dump()).encode_pair("x", std::string_view("y")).type_ids == Ids{0, 1});
  // A template without a pair cannot encode a pair.
  J t = fixture_json("wordpiece-uncased");
  t["post_processor"]["pair"] = J::array();
  CHECK_THROWS_WITH(Tokenizer::from_json_string(t.dump()).encode_pair("a", std::string_view("b")),
                    Contains("post_processor.pair: no pair template"));
}

TEST_CASE("tokenizer families: WordPiece details", "[tokenizer]") {
  const Tokenizer& tok = fixture("wordpiece-uncased");
  const std::int32_t unk = *tok.token_to_id("[UNK]");
  // A word longer than max_input_chars_per_word (100 characters, not bytes) is one [UNK].
  CHECK(tok.encode(std::string(101, 'a'), false) == Ids{unk});
  std::string hundred_e;  // 100 two-byte characters are within the limit
  for (int i = 0; i < 100; ++i) hundred_e += "\xC3\xA9";
  CHECK(tok.encode(hundred_e, false) != Ids{unk});
  // One character without a piece makes the whole word [UNK], not just that part.
  CHECK(tok.encode("the\xF0\x9F\xA6\x84", false) == Ids{unk});
  // The decoder joins continuation pieces and cleans up spaces before punctuation,
  // token by token (so " ' " spanning three tokens stays).
  CHECK(tok.decode(tok.encode("hello, world! it's here.", false)) == "hello, world! it ' s here.");
  // A 1 MB word with the limit lifted is still linear work.
  J j = fixture_json("wordpiece-uncased");
  j["model"]["max_input_chars_per_word"] = std::int64_t{1} << 40;
  const Tokenizer big = Tokenizer::from_json_string(j.dump());
  const Ids ids = big.encode(std::string(1 << 20, 'a'), false);
  CHECK(ids.size() > 1000);
  // Worst case for the trie walk: a long piece that almost matches at every
  // position, while only one-character pieces do.
  j["model"]["vocab"]["##" + std::string(253, 'a') + "b"] = 5000;
  const Tokenizer deep = Tokenizer::from_json_string(j.dump());
  CHECK(deep.encode(std::string(200000, 'a'), false).size() == 200000);
  // Linear work takes seconds even under the sanitizers; quadratic work would
  // take hours and hit the test's ctest TIMEOUT (tests/CMakeLists.txt).
}

TEST_CASE("tokenizer families: hostile input stays bounded", "[tokenizer]") {
  for (const char* name : kFixtures) {
    const Tokenizer& tok = fixture(name);
    INFO(name);
    for (const std::string& text : {std::string(200000, ' '), std::string(200000, '\n'),
                                    std::string(100000, '7'), std::string(50000, '\'') + "s",
                                    std::string(100000, '\r') + " x", std::string(100000, '!')}) {
      const Ids ids = tok.encode(text, false);
      CHECK(ids.size() <= text.size());
    }
    std::string combining = "e";
    for (int i = 0; i < 20000; ++i) combining += "\xCC\x81\xCC\xA3";  // marks to reorder
    (void)tok.encode(combining);  // bounded by the ctest TIMEOUT, not a clock here
  }
  // Invalid UTF-8 never crashes and every id decodes.
  const std::string bad = "a\xFF\xC3 b\xED\xA0\x80 \xF0\x9F\x98 \xC0\xAF\x00z";
  for (const char* name : kFixtures) {
    const Tokenizer& tok = fixture(name);
    const Ids ids = tok.encode(bad);
    (void)tok.decode(ids);
    CHECK(stream(tok, {}, ids, false) == tok.decode(ids));
  }
}

TEST_CASE("tokenizer families: bad tokenizer.json is reported with the field", "[tokenizer]") {
  const J bert = fixture_json("wordpiece-uncased");
  const J llama = fixture_json("llama3-bytelevel");
  auto mutated = [](J j, auto&& edit) {
    edit(j);
    return load_error(j);
  };
  REQUIRE(load_error(bert) == "(no error)");
  REQUIRE(load_error(llama) == "(no error)");
  CHECK_THAT(mutated(bert, [](J& j) { j["model"]["unk_token"] = "[NOPE]"; }),
             Contains("tokenizer.json: model.unk_token: unk_token '[NOPE]' is not in model.vocab"));
  CHECK_THAT(mutated(bert, [](J& j) { j["model"].erase("unk_token"); }),
             Contains("model.unk_token: required field is missing"));
  CHECK_THAT(mutated(bert, [](J& j) { j["model"]["continuing_subword_prefix"] = "@@"; }),
             Contains("decoder: the WordPiece decoder's prefix '##' differs from model.continuing_subword_prefix "
                      "'@@'"));
  CHECK_THAT(mutated(bert, [](J& j) { j["model"]["max_input_chars_per_word"] = -1; }),
             Contains("model.max_input_chars_per_word: value -1 is out of range"));
  CHECK_THAT(mutated(bert, [](J& j) { j["model"]["vocab"][std::string(2000, 'x')] = 5000; }),
             Contains("a WordPiece piece longer than 256 bytes"));
  {
    std::string text = bert.dump();
    text.resize(text.size() / 2);
    std::string err;
    try {
      (void)Tokenizer::from_json_string(text);
    } catch (const strata::Error& e) {
      err = e.what();
    }
    CHECK_THAT(err, Contains("tokenizer.json") && Contains("not valid JSON"));
  }
  CHECK_THAT(mutated(llama, [](J& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+|\\s+"; }),
             Contains("pre_tokenizer.pretokenizers[0].pattern.Regex: unsupported Split regex '\\w+|\\s+'"));
  CHECK_THAT(mutated(llama, [](J& j) { j["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Other", "x"}}; }),
             Contains("pre_tokenizer.pretokenizers[0].pattern: expected"));
  CHECK_THAT(mutated(llama, [](J& j) { j["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sometimes"; }),
             Contains("pretokenizers[0].behavior: unknown split behavior 'Sometimes'"));
  CHECK_THAT(mutated(llama, [](J& j) { j["pre_tokenizer"]["pretokenizers"][1].erase("add_prefix_space"); }),
             Contains("pre_tokenizer.pretokenizers[1].add_prefix_space: required field is missing"));
  CHECK_THAT(mutated(bert, [](J& j) { j["pre_tokenizer"] = {{"type", "Whitespace"}}; }),
             Contains("pre_tokenizer: unsupported pre_tokenizer 'Whitespace'"));
  CHECK_THAT(mutated(bert, [](J& j) { j["normalizer"] = {{"type", "NFKC"}}; }),
             Contains("normalizer: unsupported normalizer 'NFKC'"));
  CHECK_THAT(mutated(bert, [](J& j) { j["normalizer"]["lowercase"] = "yes"; }),
             Contains("normalizer.lowercase: expected true or false"));
  CHECK_THAT(mutated(bert, [](J& j) {
               j["normalizer"] = {{"type", "Sequence"}, {"normalizers", J::array()}};
               for (int i = 0; i < 8; ++i) j["normalizer"]["normalizers"].push_back({{"type", "NFD"}});
             }),
             Contains("more than 64 times longer"));
  CHECK_THAT(mutated(bert, [](J& j) { j["truncation"]["direction"] = "Left"; }),
             Contains("truncation.direction: truncation direction 'Left' is not supported"));
  CHECK_THAT(mutated(bert, [](J& j) { j["truncation"]["strategy"] = "OnlyFirst"; }),
             Contains("truncation.strategy: truncation strategy 'OnlyFirst' is not supported"));
  CHECK_THAT(mutated(bert, [](J& j) { j["truncation"]["max_length"] = 0; }),
             Contains("truncation.max_length: value 0 is out of range"));
  CHECK_THAT(mutated(bert, [](J& j) { j["padding"]["pad_id"] = -3; }), Contains("padding.pad_id: value -3"));
  CHECK_THAT(mutated(bert, [](J& j) { j["post_processor"]["pair"].erase(3); }),
             Contains("post_processor.pair: the pair template has no sequence 'B'"));
  CHECK_THAT(mutated(bert, [](J& j) { j["post_processor"]["pair"][3]["Sequence"]["id"] = "C"; }),
             Contains("post_processor.pair[3].Sequence.id: the pair template can only hold sequences 'A' and 'B'"));
  CHECK_THAT(mutated(bert, [](J& j) {
               j["post_processor"] = {{"type", "BertProcessing"}, {"sep", {"[SEP]", 99999}}, {"cls", {"[CLS]", 2}}};
             }),
             Contains("post_processor.sep[1]: id 99999 is not in the vocabulary"));
  CHECK_THAT(mutated(llama, [](J& j) { j["post_processor"]["processors"].push_back(j["post_processor"]["processors"][1]); }),
             Contains("only one post-processor that adds tokens"));
  CHECK_THAT(mutated(llama, [](J& j) { j["post_processor"] = {{"type", "Unknown"}}; }),
             Contains("post_processor.type: unsupported post_processor 'Unknown'"));
  CHECK_THAT(mutated(llama, [](J& j) { j["decoder"] = {{"type", "CTC"}}; }),
             Contains("decoder: unsupported decoder 'CTC'"));
  // Streaming refuses a ByteLevel decoder that is not the last step.
  J seq = llama;
  seq["decoder"] = {{"type", "Sequence"}, {"decoders", {{{"type", "ByteLevel"}}, {{"type", "Fuse"}}}}};
  const Tokenizer t = Tokenizer::from_json_string(seq.dump());
  CHECK_THROWS_WITH(StreamDecoder(t, {}), Contains("a ByteLevel step that is not the last"));
}

TEST_CASE("tokenizer families: byte-level BPE gives any valid UTF-8 text back", "[tokenizer]") {
  // No normalizer: decode(encode(text)) is the text, whatever its characters.
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> len(0, 40), kind(0, 3);
  std::uniform_int_distribution<std::uint32_t> ascii(0, 0x7F), bmp(0x80, 0xFFFF), astral(0x10000, 0x10FFFF);
  for (const char* name : {"gpt2-bytelevel", "llama3-bytelevel"}) {
    const Tokenizer& tok = fixture(name);
    for (int trial = 0; trial < 300; ++trial) {
      std::string text;
      for (int k = len(rng); k > 0; --k) {
        const int which = kind(rng);
        std::uint32_t c = which <= 1 ? ascii(rng) : which == 2 ? bmp(rng) : astral(rng);
        if (c >= 0xD800 && c <= 0xDFFF) c = 'x';
        strata::tokenizer_detail::byte_level::append_utf8(c, text);
      }
      if (text.find("<|") != std::string::npos) continue;
      INFO(name << " trial " << trial);
      CHECK(tok.decode(tok.encode(text, false)) == text);
    }
  }
}
