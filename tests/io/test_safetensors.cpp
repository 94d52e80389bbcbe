// Safetensors loading: the real TinyStories checkpoint, exact 16-bit float
// conversion, sharded folders, and one section per validation rule.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "strata/io/safetensors.hpp"
#include "support/safetensors_writer.hpp"

namespace fs = std::filesystem;
using Catch::Contains;
using strata::DType;
using strata::io::Checkpoint;
using strata::io::SafetensorsFile;
using strata::io::TensorView;
using strata::test::TempDir;
using strata::test::TensorSpec;
using strata::test::write_index;
using strata::test::write_raw;
using strata::test::write_safetensors;
using strata::test::WriteOptions;

namespace {

const fs::path kTinyDir = fs::path(STRATA_SHARED_DIR) / "models" / "tinystories-656k";

std::uint32_t bits_of(float f) { return strata::f32_to_bits(f); }

std::vector<std::byte> zeros(std::size_t n) { return std::vector<std::byte>(n, std::byte{0}); }

// Opens path as a safetensors file; used in REQUIRE_THROWS_WITH.
void open_file(const fs::path& p) { (void)SafetensorsFile::open(p); }

// Matches a message containing every one of these strings. (Catch's
// `Contains(a) && Contains(b)` holds pointers to its operands, so it cannot
// be returned from a function.)
class ContainsAll : public Catch::MatcherBase<std::string> {
 public:
  explicit ContainsAll(std::vector<std::string> parts) : parts_(std::move(parts)) {}
  bool match(const std::string& s) const override {
    for (const auto& p : parts_)
      if (s.find(p) == std::string::npos) return false;
    return true;
  }
  std::string describe() const override {
    std::string d = "contains all of:";
    for (const auto& p : parts_) d += " \"" + p + "\"";
    return d;
  }

 private:
  std::vector<std::string> parts_;
};

}  // namespace

TEST_CASE("safetensors: the real TinyStories-656K checkpoint", "[io][safetensors]") {
  const Checkpoint ck = Checkpoint::open(kTinyDir);
  const auto names = ck.tensor_names();
  REQUIRE(names.size() == 20);
  REQUIRE(ck.size() == 20);
  for (const auto& n : names) CHECK(ck.find(n)->dtype == DType::F32);
  CHECK(std::is_sorted(names.begin(), names.end()));
  CHECK(ck.find("model.embed_tokens.weight") == nullptr);  // tied: only lm_head is stored
  // Sum of the data_offsets ranges in the header (its last end offset).
  CHECK(ck.total_bytes() == 2624000);
  CHECK(ck.source() == (kTinyDir / "model.safetensors").string());

  const TensorView& head = ck.require("lm_head.weight", {2048, 128});
  CHECK(head.nbytes == 2048 * 128 * 4);
  CHECK(head.file == kTinyDir / "model.safetensors");
  CHECK(head.numel() == 2048 * 128);

  // Reference values read by an independent reader, /usr/bin/python3 with
  // numpy 1.24: struct.unpack('<Q') for the header length, json.loads for the
  // header, np.frombuffer(..., dtype='<f4').reshape(shape) for the data;
  // printed with '%.9g' (exact for these values) and summed in float64.
  const std::vector<float> w = strata::io::to_f32(head);
  CHECK(w[0 * 128 + 0] == -0.68359375f);
  CHECK(w[0 * 128 + 1] == -0.0258789062f);
  CHECK(bits_of(w[0 * 128 + 1]) == 3168010240u);
  CHECK(w[1000 * 128 + 64] == -0.025390625f);
  CHECK(w[2047 * 128 + 127] == -0.421875f);
  double sum = 0, abs_sum = 0;
  for (float v : w) {
    sum += v;
    abs_sum += std::fabs(v);
  }
  CHECK(sum == Approx(2512.8344668149948).epsilon(1e-10));
  CHECK(abs_sum == Approx(104273.10441744328).epsilon(1e-10));

  const auto norm = strata::io::to_f32(ck.require("model.norm.weight", {128}));
  CHECK(norm[0] == 0.640625f);
  CHECK(norm[127] == 0.8359375f);
  const auto v1 =
      strata::io::to_f32(ck.require("model.layers.1.self_attn.v_proj.weight", {64, 128}));
  CHECK(v1[63 * 128 + 127] == 0.404296875f);
  CHECK(v1[5 * 128 + 17] == -1.5390625f);
  const auto down0 =
      strata::io::to_f32(ck.require("model.layers.0.mlp.down_proj.weight", {128, 384}));
  CHECK(down0[127 * 384 + 383] == 0.251953125f);

  // The single file directly, and its metadata.
  const auto file = SafetensorsFile::open(kTinyDir / "model.safetensors");
  CHECK(file->tensors().size() == 20);
  CHECK(file->path() == kTinyDir / "model.safetensors");
  CHECK(file->metadata().at("format") == "pt");
  CHECK(file->metadata().at("model.embed_tokens.weight") == "lm_head.weight");
  CHECK(file->find("lm_head.weight")->nbytes == head.nbytes);
  CHECK(file->find("nope") == nullptr);
}

TEST_CASE("safetensors: a checkpoint copy keeps the mapping alive", "[io][safetensors]") {
  const TensorView* t = nullptr;
  Checkpoint copy;
  {
    const Checkpoint ck = Checkpoint::open(kTinyDir);
    copy = ck;
    t = ck.find("model.norm.weight");
  }
  REQUIRE(t != nullptr);
  CHECK(copy.find("model.norm.weight") == t);
  CHECK(strata::io::to_f32(*t)[0] == 0.640625f);  // still mapped

  const Checkpoint empty;
  CHECK(empty.find("x") == nullptr);
  CHECK(empty.tensor_names().empty());
  CHECK(empty.total_bytes() == 0);
}

TEST_CASE("safetensors: F16 and BF16 convert exactly, at any alignment", "[io][safetensors]") {
  // Expected float32 bit patterns computed with numpy 1.24 (/usr/bin/python3):
  //   F16:  np.array(bits, '<u2').view('<f2').astype('<f4').view('<u4')
  //   BF16: (np.array(bits, '<u4') << 16).view('<f4')   (bf16 is a float32's top half)
  // Values: +-0, +-min subnormal, max subnormal, min normal, 1, -2, ~1/3,
  // +-max finite, +-inf, quiet NaNs (one with a payload).
  const std::vector<std::uint16_t> f16 = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400,
                                          0x3c00, 0xc000, 0x3555, 0x7bff, 0xfbff, 0x7c00,
                                          0xfc00, 0x7e00, 0xfe00, 0x7e01};
  const std::vector<std::uint32_t> f16_expect = {0x0,        0x80000000, 0x33800000, 0xb3800000,
                                                 0x387fc000, 0x38800000, 0x3f800000, 0xc0000000,
                                                 0x3eaaa000, 0x477fe000, 0xc77fe000, 0x7f800000,
                                                 0xff800000, 0x7fc00000, 0xffc00000, 0x7fc02000};
  const std::vector<std::uint16_t> bf16 = {0x0000, 0x8000, 0x0001, 0x8001, 0x007f, 0x0080,
                                           0x3f80, 0xc000, 0x3eab, 0x7f7f, 0xff7f, 0x7f80,
                                           0xff80, 0x7fc0, 0xffc0, 0x7fc1};
  const std::vector<std::uint32_t> bf16_expect = {0x0,        0x80000000, 0x10000,    0x80010000,
                                                  0x7f0000,   0x800000,   0x3f800000, 0xc0000000,
                                                  0x3eab0000, 0x7f7f0000, 0xff7f0000, 0x7f800000,
                                                  0xff800000, 0x7fc00000, 0xffc00000, 0x7fc10000};
  const std::vector<float> f32 = {1.5f, -0.0f, std::numeric_limits<float>::denorm_min(),
                                  std::numeric_limits<float>::infinity()};

  TempDir dir;
  for (std::size_t gap : {0, 1, 3}) {
    DYNAMIC_SECTION("data gap " << gap) {
      WriteOptions opt;
      opt.data_gap = gap;
      // BF16 after F16 and a 1-element F32 after that: with gap 0 the F32
      // tensors still start 2 bytes off a 4-byte boundary.
      write_safetensors(
          dir / "t.safetensors",
          {TensorSpec::f16("a.f16", {4, 4}, f16), TensorSpec::bf16("b.bf16", {16}, bf16),
           TensorSpec::bf16("c.one", {1}, {0x3f80}), TensorSpec::f32("d.f32", {2, 2}, f32)},
          {}, opt);
      const Checkpoint ck = Checkpoint::open_files({dir / "t.safetensors"});
      const TensorView& a = ck.require("a.f16", {4, 4});
      const TensorView& d = ck.require("d.f32", {2, 2});
      CHECK(reinterpret_cast<std::uintptr_t>(a.data) % 2 == gap % 2);
      CHECK(reinterpret_cast<std::uintptr_t>(d.data) % 4 != 0);

      const auto fa = strata::io::to_f32(a);
      const auto fb = strata::io::to_f32(ck.require("b.bf16", {16}));
      REQUIRE(fa.size() == 16);
      REQUIRE(fb.size() == 16);
      for (std::size_t i = 0; i < 16; ++i) {
        INFO("element " << i);
        CHECK(bits_of(fa[i]) == f16_expect[i]);
        CHECK(bits_of(fb[i]) == bf16_expect[i]);
      }
      // The same through numpy's decimal printing.
      CHECK(fa[2] == 5.960464477539063e-08f);
      CHECK(fa[4] == 6.097555160522461e-05f);
      CHECK(fa[9] == 65504.0f);
      CHECK(std::isnan(fa[13]));
      CHECK(std::signbit(fa[1]));
      CHECK(fb[2] == static_cast<float>(9.183549615799121e-41));
      CHECK(fb[9] == static_cast<float>(3.3895313892515355e+38));
      CHECK(std::isinf(fb[11]));

      const auto fd = strata::io::to_f32(d);
      REQUIRE(fd.size() == 4);
      for (std::size_t i = 0; i < 4; ++i) CHECK(bits_of(fd[i]) == bits_of(f32[i]));

      std::vector<float> one(1);
      strata::io::copy_to_f32(ck.require("c.one", {1}), one.data());
      CHECK(one[0] == 1.0f);
    }
  }
}

TEST_CASE("safetensors: zero-length tensors and scalars are valid", "[io][safetensors]") {
  TempDir dir;
  write_safetensors(
      dir / "z.safetensors",
      {TensorSpec::f32("empty", {0}, {}), TensorSpec::f32("scalar", {}, {2.5f}),
       TensorSpec::f16("empty2d", {3, 0}, {}), TensorSpec::f32("after", {2}, {1.0f, 2.0f}),
       TensorSpec::bf16("tail_empty", {0, 7}, {})},
      {{"k", "v"}});
  const auto file = SafetensorsFile::open(dir / "z.safetensors");
  CHECK(file->tensors().size() == 5);
  CHECK(file->metadata().at("k") == "v");
  const Checkpoint ck = Checkpoint::open_files({dir / "z.safetensors"});
  const TensorView& e = ck.require("empty", {0});
  CHECK(e.numel() == 0);
  CHECK(e.nbytes == 0);
  CHECK(strata::io::to_f32(e).empty());
  CHECK(ck.require("empty2d", {3, 0}).numel() == 0);
  CHECK(ck.require("tail_empty", {0, 7}).nbytes == 0);
  const TensorView& s = ck.require("scalar", {});
  CHECK(s.shape.empty());
  CHECK(s.numel() == 1);
  CHECK(strata::io::to_f32(s) == std::vector<float>{2.5f});
  CHECK(strata::io::to_f32(ck.require("after", {2})) == std::vector<float>{1.0f, 2.0f});
  CHECK(ck.total_bytes() == 4 + 8);

  // A file with no tensors at all is valid too.
  write_raw(dir / "none.safetensors", "{}");
  CHECK(SafetensorsFile::open(dir / "none.safetensors")->tensors().empty());
}

TEST_CASE("safetensors: sharded checkpoint through an index", "[io][safetensors]") {
  TempDir dir;
  write_safetensors(dir / "model-00001-of-00002.safetensors",
                    {TensorSpec::f32("embed.weight", {2, 3}, {1, 2, 3, 4, 5, 6}),
                     TensorSpec::f32("layers.0.w", {3}, {7, 8, 9})});
  write_safetensors(dir / "model-00002-of-00002.safetensors",
                    {TensorSpec::bf16("layers.1.w", {2}, {0x3f80, 0xc000}),
                     TensorSpec::f32("extra.unlisted", {1}, {42})});
  write_index(dir.path(), {{"embed.weight", "model-00001-of-00002.safetensors"},
                           {"layers.0.w", "model-00001-of-00002.safetensors"},
                           {"layers.1.w", "model-00002-of-00002.safetensors"}});

  Checkpoint copy;
  {
    const Checkpoint ck = Checkpoint::open(dir.path());
    CHECK(ck.tensor_names() ==
          std::vector<std::string>{"embed.weight", "extra.unlisted", "layers.0.w", "layers.1.w"});
    CHECK(ck.files().size() == 2);
    CHECK(ck.total_bytes() == 24 + 12 + 4 + 4);
    CHECK(ck.source() == (dir / "model.safetensors.index.json").string());
    CHECK(ck.require("layers.1.w", {2}).file == dir / "model-00002-of-00002.safetensors");
    copy = ck;
  }
  CHECK(strata::io::to_f32(copy.require("embed.weight", {2, 3})) ==
        std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(strata::io::to_f32(copy.require("layers.1.w", {2})) == std::vector<float>{1, -2});
  CHECK(strata::io::to_f32(copy.require("extra.unlisted", {1})) == std::vector<float>{42});

  // The same shards as an explicit list.
  const Checkpoint listed = Checkpoint::open_files(
      {dir / "model-00001-of-00002.safetensors", dir / "model-00002-of-00002.safetensors"});
  CHECK(listed.size() == 4);
  CHECK(listed.source() ==
        (dir / "model-00001-of-00002.safetensors").string() + " (+1 more files)");

  // model.safetensors wins over an index when both are present.
  write_safetensors(dir / "model.safetensors", {TensorSpec::f32("only", {1}, {3})});
  CHECK(Checkpoint::open(dir.path()).tensor_names() == std::vector<std::string>{"only"});
}

TEST_CASE("safetensors: file-level validation", "[io][safetensors][validation]") {
  TempDir dir;
  const fs::path p = dir / "bad.safetensors";
  const std::string ps = p.string();
  const auto f32x4 = TensorSpec::f32("w", {4}, {1, 2, 3, 4});

  SECTION("missing file") {
    REQUIRE_THROWS_WITH(open_file(dir / "absent.safetensors"),
                        Contains((dir / "absent.safetensors").string()) &&
                            Contains("cannot open: No such file or directory"));
  }
  SECTION("a directory is not a file") {
    fs::create_directory(dir / "d.safetensors");
    REQUIRE_THROWS_WITH(open_file(dir / "d.safetensors"), Contains("not a regular file"));
  }
  SECTION("empty file") {
    strata::test::write_text(p, "");
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps) && Contains("file is 0 bytes, too short"));
  }
  SECTION("truncated: shorter than the 8-byte header length") {
    strata::test::write_text(p, std::string_view("\x10\0\0\0\0", 5));
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps) && Contains("file is 5 bytes, too short"));
  }
  SECTION("truncated: data section cut short") {
    WriteOptions opt;
    opt.truncate_to = 8 + strata::test::safetensors_header({f32x4}).size() + 7;  // header is padded
    write_safetensors(p, {f32x4}, {}, opt);
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps) && Contains("tensor \"w\"") &&
                                          Contains("lie outside the data section"));
  }
  SECTION("header length larger than the file") {
    WriteOptions opt;
    opt.header_length = 1000;
    write_safetensors(p, {f32x4}, {}, opt);
    REQUIRE_THROWS_WITH(
        open_file(p),
        Contains(ps) && Contains("header length 1000 is larger than the file allows"));
  }
  SECTION("header length over the limit") {
    write_raw(p, "{}", {}, std::uint64_t{100'000'001});
    REQUIRE_THROWS_WITH(
        open_file(p),
        Contains(ps) && Contains("header length 100000001 exceeds the limit of 100000000 bytes"));
    write_raw(p, "{}", {}, std::numeric_limits<std::uint64_t>::max());
    REQUIRE_THROWS_WITH(open_file(p), Contains("exceeds the limit"));
  }
  SECTION("header not JSON") {
    write_raw(p, "{\"w\": {\"dtype\": \"F32\",");
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps + ": header: not valid JSON"));
    write_raw(p, "");
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps + ": header: not valid JSON"));
    write_raw(p, "{\"\xff\": 1}");  // invalid UTF-8
    REQUIRE_THROWS_WITH(open_file(p), Contains("not valid JSON"));
    write_raw(p, "{} {}");  // trailing garbage
    REQUIRE_THROWS_WITH(open_file(p), Contains("not valid JSON"));
  }
  SECTION("header not an object") {
    write_raw(p, "[1, 2]");
    REQUIRE_THROWS_WITH(open_file(p),
                        Contains(ps) && Contains("header is not a JSON object but a JSON array"));
  }
  SECTION("duplicate keys (nlohmann would silently keep the last)") {
    CHECK(nlohmann::json::parse(R"({"a": 1, "a": 2})")["a"] == 2);
    write_raw(p,
              R"({"w": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]},)"
              R"( "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})",
              zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps) && Contains("duplicate key \"w\""));
    write_raw(p,
              R"({"w": {"dtype": "F32", "dtype": "F16", "shape": [0], "data_offsets": [0, 0]}})");
    REQUIRE_THROWS_WITH(open_file(p), Contains("duplicate key \"dtype\""));
  }
  SECTION("JSON nested too deep") {
    write_raw(p, std::string(100, '[') + std::string(100, ']'));
    REQUIRE_THROWS_WITH(open_file(p), Contains(ps) && Contains("nests deeper than 64"));
  }
  SECTION("__metadata__ must map strings to strings") {
    write_raw(p, R"({"__metadata__": {"format": "pt", "n": 3}})");
    REQUIRE_THROWS_WITH(open_file(p),
                        Contains(ps) && Contains("\"__metadata__\" entry \"n\" is not a string"));
    write_raw(p, R"({"__metadata__": ["pt"]})");
    REQUIRE_THROWS_WITH(open_file(p), Contains("\"__metadata__\" is not a JSON object"));
  }
}

TEST_CASE("safetensors: tensor entry validation", "[io][safetensors][validation]") {
  TempDir dir;
  const fs::path p = dir / "bad.safetensors";
  const std::string ps = p.string();
  // Each fault is reported with the file and the tensor.
  auto fails_with = [&](const std::string& what) {
    return ContainsAll({ps, "tensor \"w\"", what});
  };

  SECTION("entry not an object") {
    write_raw(p, R"({"w": [1, 2]})");
    REQUIRE_THROWS_WITH(open_file(p), fails_with("entry is not a JSON object but a JSON array"));
  }
  SECTION("missing and unexpected fields") {
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [1]}})", zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("missing field \"data_offsets\""));
    write_raw(p,
              R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4], "offsets": [0, 4]}})",
              zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("unexpected field \"offsets\""));
  }
  SECTION("unknown dtype") {
    write_safetensors(p, {{"w", "I8", {4}, zeros(4)}});
    REQUIRE_THROWS_WITH(open_file(p),
                        fails_with("unknown dtype \"I8\" (supported: F32, F16, BF16, I32, U8, I64, BOOL)"));
    write_raw(p, R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("dtype is not a string"));
  }
  SECTION("shape x dtype size differs from the byte range") {
    write_safetensors(p, {{"w", "F32", {3}, zeros(8)}});
    REQUIRE_THROWS_WITH(
        open_file(p), fails_with("shape [3] of F32 needs 12 bytes but data_offsets [0, 8) hold 8"));
    write_safetensors(p, {{"w", "BF16", {2, 2}, zeros(16)}});
    REQUIRE_THROWS_WITH(open_file(p), fails_with("needs 8 bytes but data_offsets [0, 16) hold 16"));
  }
  SECTION("range outside the file") {
    WriteOptions opt;
    opt.offsets["w"] = {400, 416};
    write_safetensors(p, {TensorSpec::f32("w", {4}, {1, 2, 3, 4})}, {}, opt);
    REQUIRE_THROWS_WITH(
        open_file(p),
        fails_with("data_offsets [400, 416) lie outside the data section, which has 16 bytes"));
    // Far past the end: no wrap-around in begin/end arithmetic.
    write_raw(
        p,
        R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [9223372036854775800, 9223372036854775804]}})",
        zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("lie outside the data section"));
  }
  SECTION("data_offsets malformed") {
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})", zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("data_offsets [4, 0] end before they begin"));
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}})", zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("not two non-negative integers"));
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})", zeros(8));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("not two non-negative integers"));
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0.0, 4.0]}})", zeros(4));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("not two non-negative integers"));
  }
  SECTION("overlapping ranges") {
    WriteOptions opt;
    opt.offsets["v"] = {8, 24};
    write_safetensors(
        p, {TensorSpec::f32("w", {4}, {1, 2, 3, 4}), TensorSpec::f32("v", {4}, {5, 6, 7, 8})}, {},
        opt);
    REQUIRE_THROWS_WITH(open_file(p),
                        Contains(ps) && Contains("tensors \"w\" (data_offsets [0, 16)) and "
                                                 "\"v\" (data_offsets [8, 24)) overlap"));
    // Identical ranges overlap as well; sorting by name must not hide it.
    opt.offsets["v"] = {0, 16};
    write_safetensors(
        p, {TensorSpec::f32("w", {4}, {1, 2, 3, 4}), TensorSpec::f32("v", {4}, {5, 6, 7, 8})}, {},
        opt);
    REQUIRE_THROWS_WITH(open_file(p), Contains("overlap"));
  }
  SECTION("adjacent ranges and gaps are fine") {
    // w [0, 16), u [16, 20) adjacent to it, v [24, 40) after a 4-byte gap
    // (v's 20 written bytes start with that gap).
    WriteOptions opt;
    opt.offsets["v"] = {24, 40};
    write_safetensors(p,
                      {TensorSpec::f32("w", {4}, {1, 2, 3, 4}),
                       TensorSpec::f32("u", {1}, {9}),
                       {"v", "F32", {4}, zeros(20)}},
                      {}, opt);
    const auto f = SafetensorsFile::open(p);
    CHECK(f->tensors().size() == 3);
    CHECK(strata::io::to_f32(*f->find("u")) == std::vector<float>{9});
  }
  SECTION("negative shape entry") {
    write_safetensors(p, {{"w", "F32", {-1, 4}, zeros(16)}});
    REQUIRE_THROWS_WITH(open_file(p),
                        fails_with("shape entry 0 is -1, not a non-negative integer"));
    write_raw(p, R"({"w": {"dtype": "F32", "shape": [2, 1.5], "data_offsets": [0, 12]}})",
              zeros(12));
    REQUIRE_THROWS_WITH(open_file(p),
                        fails_with("shape entry 1 is 1.5, not a non-negative integer"));
    write_raw(p, R"({"w": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}})", zeros(16));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("shape is not an array"));
    write_raw(
        p, R"({"w": {"dtype": "F32", "shape": [18446744073709551615], "data_offsets": [0, 16]}})",
        zeros(16));
    REQUIRE_THROWS_WITH(open_file(p), fails_with("not a non-negative integer"));
  }
  SECTION("shape product overflow") {
    const std::int64_t big = std::int64_t{1} << 40;
    write_safetensors(p, {{"w", "F32", {big, big}, zeros(16)}});
    REQUIRE_THROWS_WITH(open_file(p),
                        fails_with("shape [1099511627776, 1099511627776] of F32 overflows"));
    // Fits in 64 bits as an element count, not once multiplied by the dtype size.
    write_safetensors(p, {{"w", "F16", {std::int64_t{1} << 62, 2}, zeros(16)}});
    REQUIRE_THROWS_WITH(open_file(p), fails_with("overflows"));
    // A zero dimension after huge ones is still refused.
    write_safetensors(p, {{"w", "F32", {big, big, 0}, {}}});
    REQUIRE_THROWS_WITH(open_file(p), fails_with("overflows"));
  }
  SECTION("rank limit") {
    write_safetensors(p, {{"w", "F32", {1, 1, 1, 1, 1, 1, 1, 1, 1}, zeros(4)}});
    REQUIRE_THROWS_WITH(open_file(p), fails_with("shape has rank 9, more than the limit of 8"));
    write_safetensors(p, {{"w", "F32", {1, 1, 1, 1, 1, 1, 1, 2}, zeros(8)}});
    CHECK(SafetensorsFile::open(p)->find("w")->numel() == 2);
  }
}

TEST_CASE("safetensors: checkpoint lookups", "[io][safetensors][validation]") {
  const Checkpoint ck = Checkpoint::open(kTinyDir);
  const std::string file = (kTinyDir / "model.safetensors").string();
  SECTION("missing tensor") {
    REQUIRE_THROWS_WITH(
        ck.require("model.embed_tokens.weight", {2048, 128}),
        Contains(file) && Contains("tensor \"model.embed_tokens.weight\" is missing"));
  }
  SECTION("wrong shape") {
    REQUIRE_THROWS_WITH(
        ck.require("lm_head.weight", {128, 2048}),
        Contains(file) && Contains("tensor \"lm_head.weight\" has shape [2048, 128], "
                                   "expected [128, 2048]"));
    const std::vector<std::int64_t> rank1{2048 * 128};
    REQUIRE_THROWS_WITH(ck.require("model.norm.weight", rank1),
                        Contains("has shape [128], expected [262144]"));
    REQUIRE_THROWS_WITH(ck.require("model.norm.weight", {}), Contains("expected []"));
  }
}

TEST_CASE("safetensors: model folder and index validation", "[io][safetensors][validation]") {
  TempDir dir;
  const fs::path index = dir / "model.safetensors.index.json";
  const std::string is = index.string();
  const std::string shard1 = "model-00001-of-00002.safetensors";
  const std::string shard2 = "model-00002-of-00002.safetensors";
  write_safetensors(dir / shard1, {TensorSpec::f32("a", {2}, {1, 2})});
  write_safetensors(dir / shard2, {TensorSpec::f32("b", {1}, {3})});

  SECTION("folder with neither file") {
    TempDir empty;
    REQUIRE_THROWS_WITH(Checkpoint::open(empty.path()),
                        Contains(empty.path().string()) &&
                            Contains("model.safetensors.index.json") &&
                            Contains("neither model.safetensors nor"));
    REQUIRE_THROWS_WITH(Checkpoint::open(dir / "nowhere"),
                        Contains((dir / "nowhere").string()) && Contains("not a directory"));
  }
  SECTION("bad index.json") {
    strata::test::write_text(index, "{\"weight_map\": ");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()), Contains(is + ": not valid JSON"));
    strata::test::write_text(index, "[]");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()), Contains(is + ": not a JSON object"));
    strata::test::write_text(index, R"({"metadata": {}})");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()), Contains(is + ": missing \"weight_map\""));
    strata::test::write_text(index, R"({"weight_map": ["a"]})");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains(is + ": \"weight_map\" is not a JSON object but a JSON array"));
    strata::test::write_text(index, R"({"weight_map": {}})");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()), Contains("\"weight_map\" is empty"));
    strata::test::write_text(index, R"({"weight_map": {"a": 1}})");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains(is + ": \"weight_map\" entry for tensor \"a\" is not a string"));
    strata::test::write_text(index, R"({"weight_map": {"a": "x", "a": "y"}})");
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains(is) && Contains("duplicate key \"a\""));
  }
  SECTION("index naming a missing shard") {
    write_index(dir.path(), {{"a", shard1}, {"b", "model-00003-of-00002.safetensors"}});
    REQUIRE_THROWS_WITH(
        Checkpoint::open(dir.path()),
        Contains(is) && Contains("shard file \"model-00003-of-00002.safetensors\" is not in " +
                                 dir.path().string()));
  }
  SECTION("index with paths outside the folder") {
    for (const std::string& bad : std::vector<std::string>{
             "../model.safetensors", "..", ".", "", "/etc/passwd", "sub/model.safetensors",
             "sub\\model.safetensors", std::string("a\0b", 3)}) {
      INFO(bad);
      write_index(dir.path(), {{"a", shard1}, {"b", bad}});
      REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                          Contains(is) && Contains("tensor \"b\" maps to file") &&
                              Contains("which is not a plain file name inside the model folder"));
    }
  }
  SECTION("tensor listed in the index but absent from its shard") {
    write_index(dir.path(), {{"a", shard1}, {"b", shard1}});
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains(is) && Contains("tensor \"b\" is listed in shard \"" + shard1 +
                                                 "\" but absent from " + (dir / shard1).string()));
  }
  SECTION("tensor present in two shards") {
    write_safetensors(dir / shard2,
                      {TensorSpec::f32("b", {1}, {3}), TensorSpec::f32("a", {2}, {1, 2})});
    write_index(dir.path(), {{"a", shard1}, {"b", shard2}});
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains("tensor \"a\" is in two files: " + (dir / shard1).string() +
                                 " and " + (dir / shard2).string()));
    REQUIRE_THROWS_WITH(Checkpoint::open_files({dir / shard1, dir / shard2}),
                        Contains("tensor \"a\" is in two files"));
  }
  SECTION("a corrupt shard is reported with its own path") {
    strata::test::write_text(dir / shard2, "tiny");
    write_index(dir.path(), {{"a", shard1}, {"b", shard2}});
    REQUIRE_THROWS_WITH(Checkpoint::open(dir.path()),
                        Contains((dir / shard2).string() + ": file is 4 bytes, too short"));
  }
  SECTION("open_files needs at least one file") {
    REQUIRE_THROWS_WITH(Checkpoint::open_files({}), Contains("no files given"));
  }
  SECTION("a valid index loads") {
    write_index(dir.path(), {{"a", shard1}, {"b", shard2}});
    CHECK(Checkpoint::open(dir.path()).size() == 2);
  }
}

TEST_CASE("safetensors: corrupted bytes are rejected cleanly, never read past the file",
          "[io][safetensors][validation]") {
  // Every single-byte change in the header (and a few past it), and every
  // truncation, of a small valid file must either load or throw strata::Error;
  // run under ASan/UBSan this also shows no read outside the mapping.
  TempDir dir;
  const fs::path good = dir / "good.safetensors";
  write_safetensors(
      good,
      {TensorSpec::f32("a", {2, 2}, {1, 2, 3, 4}), TensorSpec::f16("b", {3}, {1, 2, 3}),
       TensorSpec::bf16("c", {}, {0x3f80}), TensorSpec::f32("d", {0}, {})},
      {{"format", "pt"}});
  std::vector<std::byte> bytes(fs::file_size(good));
  {
    std::ifstream in(good, std::ios::binary);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  const fs::path p = dir / "mutated.safetensors";
  int loaded = 0, rejected = 0;
  auto attempt = [&](std::span<const std::byte> content) {
    strata::test::write_file(p, content);
    try {
      const auto f = SafetensorsFile::open(p);
      for (const TensorView& t : f->tensors()) (void)strata::io::to_f32(t);
      ++loaded;
    } catch (const strata::Error&) {
      ++rejected;
    }
  };
  const std::byte replacements[] = {std::byte{0x00}, std::byte{0xff}, std::byte{'"'},
                                    std::byte{'['},  std::byte{'9'},  std::byte{'-'},
                                    std::byte{','},  std::byte{'}'}};
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (std::byte r : replacements) {
      auto m = bytes;
      m[i] = r;
      attempt(m);
    }
  }
  for (std::size_t n = 0; n < bytes.size(); ++n) attempt(std::span(bytes).first(n));
  CHECK(rejected > 0);
  CHECK(loaded > 0);  // e.g. digits changed inside the data section
}
