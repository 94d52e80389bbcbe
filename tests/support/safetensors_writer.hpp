// Test helpers: a temporary directory, and a safetensors writer (valid files
// for model checkpoints, or deliberately corrupted ones for loader tests).
//
//   strata::test::TempDir dir;
//   write_safetensors(dir / "model.safetensors",
//                     {TensorSpec::f32("w", {2, 2}, {1, 2, 3, 4})},
//                     {{"format", "pt"}});
//   write_index(dir.path(), {{"w", "model-00001-of-00001.safetensors"}});
//   write_raw(dir / "bad.safetensors", R"({"w": 1})");
//
// Writing failures throw std::runtime_error (they are test-setup faults,
// not strata errors).
#pragma once

#include <stdlib.h>  // mkdtemp

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace strata::test {

// A fresh directory under the system temp folder, removed with its contents
// when the object goes away.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "strata-test-") {
    std::string tmpl = (std::filesystem::temp_directory_path() / std::string(prefix)).string();
    tmpl += "XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw std::runtime_error("TempDir: mkdtemp failed for " + tmpl);
    path_ = buf.data();
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  TempDir(TempDir&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  TempDir& operator=(TempDir&& o) noexcept {
    if (this != &o) {
      remove();
      path_ = std::exchange(o.path_, {});
    }
    return *this;
  }
  ~TempDir() { remove(); }

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::filesystem::path& p) const { return path_ / p; }

 private:
  void remove() noexcept {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    path_.clear();
  }
  std::filesystem::path path_;
};

// Little-endian bytes of values.
inline std::vector<std::byte> f32_bytes(std::span<const float> values) {
  std::vector<std::byte> out(values.size() * 4);
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, &values[i], 4);
    for (int b = 0; b < 4; ++b) out[4 * i + b] = std::byte((bits >> (8 * b)) & 0xff);
  }
  return out;
}

inline std::vector<std::byte> u16_bytes(std::span<const std::uint16_t> values) {
  std::vector<std::byte> out(values.size() * 2);
  for (std::size_t i = 0; i < values.size(); ++i) {
    out[2 * i] = std::byte(values[i] & 0xff);
    out[2 * i + 1] = std::byte(values[i] >> 8);
  }
  return out;
}

// One tensor to write. dtype is free text so that invalid files can be made;
// data is written as given, whatever shape and dtype say.
struct TensorSpec {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::byte> data;

  static TensorSpec f32(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<float>& values) {
    return {std::move(name), "F32", std::move(shape), f32_bytes(values)};
  }
  // F16 / BF16 elements given as their 16-bit patterns.
  static TensorSpec f16(std::string name, std::vector<std::int64_t> shape,
                        const std::vector<std::uint16_t>& bits) {
    return {std::move(name), "F16", std::move(shape), u16_bytes(bits)};
  }
  static TensorSpec bf16(std::string name, std::vector<std::int64_t> shape,
                         const std::vector<std::uint16_t>& bits) {
    return {std::move(name), "BF16", std::move(shape), u16_bytes(bits)};
  }
};

// Knobs for writing unusual or broken files; the defaults write what the HF
// writer would.
struct WriteOptions {
  // The header is padded with spaces to a multiple of this (HF uses 8); 1: no padding.
  std::size_t header_align = 8;
  // Zero bytes placed before the first tensor's data; all offsets move by it
  // (e.g. 1 makes every tensor start at an odd address).
  std::size_t data_gap = 0;
  // data_offsets written for these tensors instead of the true ones.
  std::map<std::string, std::array<std::int64_t, 2>> offsets;
  // Replaces the whole header text (tensor data is still written after it).
  std::optional<std::string> header_json;
  // Written as the 8-byte header length instead of the true one.
  std::optional<std::uint64_t> header_length;
  // Cut the file after this many bytes.
  std::optional<std::size_t> truncate_to;
};

// The JSON header write_safetensors would write (unpadded): "__metadata__"
// first if any, then the tensors in the order given, laid out back to back
// after options.data_gap bytes.
inline std::string safetensors_header(const std::vector<TensorSpec>& tensors,
                                      const std::map<std::string, std::string>& metadata = {},
                                      const WriteOptions& options = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [k, v] : metadata) header["__metadata__"][k] = v;
  }
  std::int64_t offset = static_cast<std::int64_t>(options.data_gap);
  for (const TensorSpec& t : tensors) {
    std::array<std::int64_t, 2> range{offset, offset + static_cast<std::int64_t>(t.data.size())};
    offset = range[1];
    if (auto it = options.offsets.find(t.name); it != options.offsets.end()) range = it->second;
    nlohmann::ordered_json entry;
    entry["dtype"] = t.dtype;
    entry["shape"] = t.shape;
    entry["data_offsets"] = range;
    header[t.name] = std::move(entry);
  }
  return header.dump();
}

// Writes bytes to a file, replacing it.
inline void write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

inline void write_text(const std::filesystem::path& path, std::string_view text) {
  write_file(path, std::as_bytes(std::span<const char>(text.data(), text.size())));
}

namespace detail {
inline std::vector<std::byte> safetensors_bytes(std::string header, std::size_t align,
                                                std::optional<std::uint64_t> header_length,
                                                std::span<const std::byte> data) {
  if (align > 1)
    while (header.size() % align != 0) header += ' ';
  const std::uint64_t n = header_length.value_or(header.size());
  std::vector<std::byte> out;
  out.reserve(8 + header.size() + data.size());
  for (int b = 0; b < 8; ++b) out.push_back(std::byte((n >> (8 * b)) & 0xff));
  for (char c : header) out.push_back(std::byte(static_cast<unsigned char>(c)));
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
}  // namespace detail

// Writes a safetensors file holding these tensors.
inline void write_safetensors(const std::filesystem::path& path,
                              const std::vector<TensorSpec>& tensors,
                              const std::map<std::string, std::string>& metadata = {},
                              const WriteOptions& options = {}) {
  std::string header =
      options.header_json ? *options.header_json : safetensors_header(tensors, metadata, options);
  std::vector<std::byte> data(options.data_gap, std::byte{0});
  for (const TensorSpec& t : tensors) data.insert(data.end(), t.data.begin(), t.data.end());
  auto bytes = detail::safetensors_bytes(std::move(header), options.header_align,
                                         options.header_length, data);
  if (options.truncate_to && *options.truncate_to < bytes.size())
    bytes.resize(*options.truncate_to);
  write_file(path, bytes);
}

// Writes a file from a header text and data section as given (no padding);
// header_length replaces the true length if set.
inline void write_raw(const std::filesystem::path& path, std::string_view header_json,
                      std::span<const std::byte> data = {},
                      std::optional<std::uint64_t> header_length = std::nullopt) {
  write_file(path, detail::safetensors_bytes(std::string(header_json), 1, header_length, data));
}

// Writes dir/model.safetensors.index.json with this weight map (tensor -> file).
inline void write_index(const std::filesystem::path& dir,
                        const std::map<std::string, std::string>& weight_map,
                        std::uint64_t total_size = 0) {
  nlohmann::ordered_json doc;
  doc["metadata"] = {{"total_size", total_size}};
  doc["weight_map"] = nlohmann::ordered_json::object();
  for (const auto& [k, v] : weight_map) doc["weight_map"][k] = v;
  write_text(dir / "model.safetensors.index.json", doc.dump(2));
}

}  // namespace strata::test
