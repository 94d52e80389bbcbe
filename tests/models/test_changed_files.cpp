// Checkpoint files that change while strata has them open (docs/ROBUSTNESS.md,
// "Files that change while mapped"). While loading, each tensor's file is
// checked to still have the size it had when opened, so a truncated file is a
// strata::Error rather than a SIGBUS; after loading, the model holds copies of
// every tensor and no mapping, so truncating, rewriting or deleting the files
// cannot fault it or change its results.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "strata/io/mapped_file.hpp"
#include "strata/models/llama.hpp"
#include "strata/runtime/session.hpp"
#include "support/golden.hpp"
#include "support/safetensors_writer.hpp"

namespace fs = std::filesystem;
using Catch::Contains;

namespace {

// A private copy of a fixture folder, free to be damaged.
fs::path copy_fixture(const strata::test::TempDir& tmp, const std::string& name) {
  const fs::path dst = tmp / name;
  fs::copy(strata::test::fixture_path("llama/" + name), dst, fs::copy_options::recursive);
  return dst;
}

// Overwrites every byte of a file in place (same inode, same size), as a
// `cp other model.safetensors` that happened to keep the size would.
void overwrite_in_place(const fs::path& p) {
  const auto n = fs::file_size(p);
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  const std::vector<char> junk(n, '\x7f');
  f.write(junk.data(), std::streamsize(n));
  REQUIRE(f);
}

std::string size_message(const fs::path& p, std::uintmax_t was, std::uintmax_t now) {
  return p.string() + ": changed size while loading (was " + std::to_string(was) + " bytes, now " +
         std::to_string(now) + ")";
}

// Prefill + decode of the fixture's expected.json against its float64 logits.
void check_against_reference(const std::shared_ptr<const strata::LanguageModel>& model, const std::string& name) {
  const auto exp = strata::test::read_json(strata::test::fixture_path("llama/" + name) + "/expected.json");
  const auto prompt = exp["prompt_ids"].get<std::vector<std::int32_t>>();
  const auto decode = exp["decode_ids"].get<std::vector<std::int32_t>>();
  strata::SessionOptions so;
  so.context = std::int64_t(prompt.size() + decode.size());
  so.threads = 1;
  strata::Session s(model, so);
  const auto V = std::size_t(model->config().vocab_size);
  auto worst = [](std::span<const float> got, const nlohmann::json& want) {
    double w = 0;
    for (std::size_t i = 0; i < got.size(); ++i) w = std::max(w, std::abs(double(got[i]) - want[i].get<double>()));
    return w;
  };
  const auto all = s.prefill_all(prompt);
  for (std::size_t p = 0; p < prompt.size(); ++p) CHECK(worst(all.subspan(p * V, V), exp["prompt_logits"][p]) < 1e-4);
  for (std::size_t k = 0; k < decode.size(); ++k) CHECK(worst(s.step(decode[k]), exp["decode_logits"][k]) < 1e-4);
}

}  // namespace

TEST_CASE("MappedFile::check_unchanged notices a file that shrank or grew", "[io][mmap][bad-input]") {
  const strata::test::TempDir tmp;
  const fs::path p = tmp / "f.bin";
  std::ofstream(p, std::ios::binary) << std::string(10000, 'x');
  const strata::io::MappedFile m(p);
  m.check_unchanged();  // unchanged: no error
  CHECK(m.read(9990, 10) == std::string(10, 'x'));
  SECTION("truncated") {
    fs::resize_file(p, 100);
    REQUIRE_THROWS_WITH(m.check_unchanged(), size_message(p, 10000, 100));
    // read() uses pread, not the mapping: the lost bytes are an error, not a SIGBUS.
    CHECK(m.read(0, 100) == std::string(100, 'x'));
    REQUIRE_THROWS_WITH(m.read(50, 100), size_message(p, 10000, 100));
  }
  SECTION("grown") {
    std::ofstream(p, std::ios::binary | std::ios::app) << "more";
    REQUIRE_THROWS_WITH(m.check_unchanged(), size_message(p, 10000, 10004));
  }
  SECTION("a read outside the file is refused") {
    REQUIRE_THROWS_WITH(m.read(9999, 2), Contains("read of 2 bytes at offset 9999 is outside the file (10000 bytes)"));
  }
  SECTION("replaced by rename: the mapping keeps the old file, which did not change") {
    std::ofstream(tmp / "g.bin", std::ios::binary) << "short";
    fs::rename(tmp / "g.bin", p);
    m.check_unchanged();
    CHECK(char(m.data()[9999]) == 'x');
  }
}

TEST_CASE("a checkpoint truncated between open and load is a clean error", "[models][mmap][bad-input]") {
  const strata::test::TempDir tmp;
  SECTION("single file, truncated to half") {
    const fs::path dir = copy_fixture(tmp, "gqa_tied"), file = dir / "model.safetensors";
    const auto cfg = strata::load_model_config(dir);
    const auto ck = strata::io::Checkpoint::open(dir);
    const auto size = fs::file_size(file);
    fs::resize_file(file, size / 2);
    REQUIRE_THROWS_WITH(strata::load_decoder<float>(ck, cfg, {}), size_message(file, size, size / 2));
  }
  SECTION("single file, truncated to nothing, loaded as bf16") {
    const fs::path dir = copy_fixture(tmp, "bf16_weights"), file = dir / "model.safetensors";
    const auto cfg = strata::load_model_config(dir);
    const auto ck = strata::io::Checkpoint::open(dir);
    const auto size = fs::file_size(file);
    fs::resize_file(file, 0);
    REQUIRE_THROWS_WITH(strata::load_decoder<strata::bf16>(ck, cfg, {}), size_message(file, size, 0));
  }
  SECTION("second shard truncated: the message names that shard") {
    const fs::path dir = copy_fixture(tmp, "sharded"), file = dir / "model-00002-of-00002.safetensors";
    const auto cfg = strata::load_model_config(dir);
    const auto ck = strata::io::Checkpoint::open(dir);
    const auto size = fs::file_size(file);
    fs::resize_file(file, 64);
    REQUIRE_THROWS_WITH(strata::load_decoder<float>(ck, cfg, {}), size_message(file, size, 64));
  }
  SECTION("a file that grew (a writer still appending) is refused too") {
    const fs::path dir = copy_fixture(tmp, "mqa"), file = dir / "model.safetensors";
    const auto cfg = strata::load_model_config(dir);
    const auto ck = strata::io::Checkpoint::open(dir);
    const auto size = fs::file_size(file);
    std::ofstream(file, std::ios::binary | std::ios::app) << std::string(8, '\0');
    REQUIRE_THROWS_WITH(strata::load_decoder<float>(ck, cfg, {}), size_message(file, size, size + 8));
  }
}

TEST_CASE("a loaded model never reads its checkpoint files again", "[models][mmap]") {
  const strata::test::TempDir tmp;
  // F32 weights as f32 and BF16 weights as bf16: the stored dtype is the
  // layers' own, the case where a zero-copy view into the mapping would be used.
  const auto [name, wt] = GENERATE(table<const char*, strata::WeightType>(
      {{"gqa_tied", strata::WeightType::F32}, {"bf16_weights", strata::WeightType::BF16}}));
  INFO(name);
  const fs::path dir = copy_fixture(tmp, name), file = dir / "model.safetensors";
  const auto cfg = strata::load_model_config(dir);
  // The checkpoint stays open (mapped) all along: the model must not use it.
  const auto ck = strata::io::Checkpoint::open(dir);
  const auto model = wt == strata::WeightType::BF16
                         ? strata::load_decoder<strata::bf16>(ck, cfg, {})
                         : strata::load_decoder<float>(ck, cfg, {});
  SECTION("file truncated to nothing") { fs::resize_file(file, 0); }
  SECTION("file rewritten in place with other bytes") { overwrite_in_place(file); }
  SECTION("file deleted") { fs::remove(file); }
  check_against_reference(model, name);
}
