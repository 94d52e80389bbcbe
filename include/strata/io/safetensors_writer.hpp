// Writes a safetensors file tensor by tensor, so a checkpoint larger than
// memory can be produced: the header (names, dtypes, shapes, offsets) is
// computed first, then each tensor's bytes are filled by a callback and
// streamed out. Offsets are contiguous in the order given and the header is
// space-padded to a multiple of 8 bytes, as the Hugging Face writer does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "strata/core/dtype.hpp"
#include "strata/core/error.hpp"

namespace strata::io {

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  // Fills exactly numel × dtype_size bytes (little-endian elements).
  std::function<void(std::byte* dst, std::size_t nbytes)> fill;

  std::size_t nbytes() const {
    std::size_t n = dtype_size(dtype);
    for (auto d : shape) n *= std::size_t(d);
    return n;
  }
};

// on_tensor(i, count) is called after each tensor is written (for progress).
inline void write_safetensors(const std::filesystem::path& path, const std::vector<TensorToWrite>& tensors,
                              const std::map<std::string, std::string>& metadata = {},
                              const std::function<void(std::size_t, std::size_t)>& on_tensor = {}) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    for (auto d : t.shape) check(d >= 0, path.string(), ": tensor ", t.name, " has a negative dimension");
    const std::uint64_t n = t.nbytes();
    header[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  check(bool(out), path.string(), ": cannot open for writing");
  const std::uint64_t len = text.size();
  unsigned char le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(le), 8);
  out.write(text.data(), std::streamsize(text.size()));
  std::vector<std::byte> buf;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    buf.assign(tensors[i].nbytes(), std::byte{0});
    if (tensors[i].fill) tensors[i].fill(buf.data(), buf.size());
    out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(buf.size()));
    check(bool(out), path.string(), ": write failed (disk full?)");
    if (on_tensor) on_tensor(i + 1, tensors.size());
  }
  out.close();
  check(bool(out), path.string(), ": write failed (disk full?)");
}

}  // namespace strata::io
