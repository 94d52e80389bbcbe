// Fuzz target: the bytes are model.safetensors.index.json in a folder that
// also holds two small valid shards (written once at start-up), a file that
// is not a safetensors file, and a subfolder. Opens the folder with
// io::Checkpoint::open and reads every tensor.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/io/safetensors.hpp"

namespace {

// A valid safetensors file: 8-byte length, JSON header, data.
std::string safetensors_bytes(std::string header, std::string_view data) {
  while (header.size() % 8 != 0) header += ' ';
  std::string out;
  for (int b = 0; b < 8; ++b) out.push_back(char((header.size() >> (8 * b)) & 0xff));
  return out + header + std::string(data);
}

void write_folder(const strata::fuzz::TempFolder& d) {
  // Shard 1: a[2,2] F32, b[3] BF16. Shard 2: c[2] F16, a scalar d F32.
  strata::fuzz::write_file(
      d / "model-00001-of-00002.safetensors",
      safetensors_bytes(R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
                        R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}})",
                        std::string_view("\0\0\x80\x3f\0\0\0\x40\0\0\x40\x40\0\0\x80\x40\x80\x3f\0\x40\x40\x40", 22)));
  strata::fuzz::write_file(
      d / "model-00002-of-00002.safetensors",
      safetensors_bytes(R"({"c":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
                        R"("d":{"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
                        std::string_view("\0\x3c\0\x40\0\0\x80\x3f", 8)));
  strata::fuzz::write_file(d / "config.json", R"({"model_type":"llama"})");
  std::error_code ec;
  std::filesystem::create_directory(d / "subdir", ec);
}

const strata::fuzz::TempFolder& folder() {
  static const strata::fuzz::TempFolder dir;
  static const bool written = (write_folder(dir), true);
  (void)written;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& dir = folder();
  strata::fuzz::write_file(dir / "model.safetensors.index.json",
                           std::string_view(reinterpret_cast<const char*>(data), size));
  strata::fuzz::expect_ok_or_error([&] {
    const auto ckpt = strata::io::Checkpoint::open(dir.path());
    for (const std::string& name : ckpt.tensor_names()) {
      const strata::io::TensorView* t = ckpt.find(name);
      if (t == nullptr) strata::fuzz::invariant_failed("listed tensor not found", name);
      std::vector<float> values = strata::io::to_f32(*t);
      volatile float sink = values.empty() ? 0.0f : values.front();
      (void)sink;
    }
    if (ckpt.size() > 4) strata::fuzz::invariant_failed("more tensors than the shards hold");
  });
  return 0;
}
