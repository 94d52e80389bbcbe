// embed-image: one embedding per image from a ViT / DeiT folder with a
// pooler (ViTModel, DeiTModel: pooler_output = tanh(dense(h[CLS]))), with the
// folder's preprocessor_config.json.
//
//   embed-image --model DIR [--normalize] [--batch N] [--threads N]
//               [--merge R | --keep-rate P] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...] IMAGE...
//
// Writes one JSON array per image per line, in order (L2-normalised with
// --normalize). An image that cannot be read is reported on stderr and
// skipped (no line); the others are still embedded, and the exit status is
// then 2 (1: nothing could run).
#include <iostream>
#include <string>

#include "encoder_cli.hpp"
#include "vision_cli.hpp"

namespace {

constexpr const char* kUsage =
    "usage: embed-image --model DIR [--normalize] [--batch N] [--threads N]\n"
    "                   [--merge R | --keep-rate P] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...] IMAGE...\n"
    "Writes one JSON array per JPEG/PNG image per line.\n"
    "Exit status: 0, 1 (nothing could run), 2 (some images could not be read; the rest were embedded).\n";

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  cli::VisionFlags flags;
  bool normalize = false;
  const bool go = cli::parse_vision_args(a, flags, kUsage, [&](std::string_view f) {
    if (f != "--normalize") return false;
    normalize = true;
    return true;
  });
  if (!go) return 0;
  ImageEncoder enc = cli::load_image_encoder(flags);
  check(enc.model().has_pooler(), flags.model, ": no pooler (",
        enc.model().has_classifier() ? "an image classifier; use classify-image" : "no embedding head", ")");
  return cli::for_each_image_batch(flags, enc, "embedded",
                                   [&](const PixelBatch& b, const std::vector<std::string>&, std::string& out) {
    for (const auto& v : enc.embed(b, normalize)) {
      cli::append_json_array(out, v);
      out += '\n';
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "embed-image: " << e.what() << "\n";
    return 1;
  }
}
