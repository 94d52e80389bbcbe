// Fuzz target: the bytes are one .safetensors file. Opens it the way a model
// load does (io::Checkpoint over the file), then reads every tensor's data so
// that the validated ranges are really touched (ASan checks each byte read
// lies inside the mapping): float tensors (F32, F16, BF16) through
// copy_to_f32, integer ones (I32, U8: packed quantized weights, which
// copy_to_f32 refuses) byte by byte.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"
#include "strata/io/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static strata::fuzz::MemFile file;
  const auto& path = file.write(data, size);
  strata::fuzz::expect_ok_or_error([&] {
    const auto ckpt = strata::io::Checkpoint::open_files({path});
    std::size_t bytes = 0;
    std::vector<float> buf;
    for (const std::string& name : ckpt.tensor_names()) {
      const strata::io::TensorView* t = ckpt.find(name);
      if (t == nullptr) strata::fuzz::invariant_failed("listed tensor not found", name);
      const std::int64_t n = t->numel();
      if (std::uint64_t(n) * strata::dtype_size(t->dtype) != t->nbytes)
        strata::fuzz::invariant_failed("nbytes disagrees with shape", name);
      if (strata::dtype_is_float(t->dtype)) {
        buf.resize(static_cast<std::size_t>(n));
        strata::io::copy_to_f32(*t, buf.data());
        volatile float sink = 0;
        for (const float v : buf) sink = sink + (std::isnan(v) ? 0.0f : 1.0f);
      } else {
        volatile std::uint64_t sum = 0;
        for (std::size_t i = 0; i < t->nbytes; ++i) sum = sum + std::to_integer<std::uint64_t>(t->data[i]);
      }
      (void)ckpt.require(name, t->shape);
      ckpt.release(*t);
      bytes += t->nbytes;
    }
    if (bytes != ckpt.total_bytes()) strata::fuzz::invariant_failed("total_bytes disagrees with the tensors");
    if (bytes > size) strata::fuzz::invariant_failed("tensors hold more bytes than the file");
  });
  return 0;
}
