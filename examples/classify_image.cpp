// classify-image: labels of images from a ViT / DeiT image classifier
// (ViTForImageClassification, DeiTForImageClassification[WithTeacher]; names
// from config.json id2label), with the folder's preprocessor_config.json.
//
//   classify-image --model DIR [--top-k K] [--logits] [--json] [--batch N] [--threads N]
//                  [--merge R | --keep-rate P] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...] IMAGE...
//
// JPEG and PNG files (the format comes from the content). For each image, in
// order: with --json one JSON object per line,
//   {"image":"cat.jpg","top":[{"label":"tabby","id":281,"score":0.62},...],"logits":[...]}
// ("logits" only with --logits); without --json a readable block. Scores are
// softmax probabilities (single-label), sigmoids (multi-label) or raw values
// (regression), as transformers' image-classification pipeline gives them;
// --merge R merges R tokens per block (ToMe) and --keep-rate P keeps that
// share of the patch tokens at a few blocks (EViT; docs/VISION.md): faster,
// close to the model's own answer but not the same;
// --top-k defaults to 5, as the pipeline's does. An image that cannot be read
// is reported on stderr and skipped; the others are still classified, and the
// exit status is then 2 (1: nothing could run, e.g. a bad model folder).
#include <iostream>
#include <string>

#include "encoder_cli.hpp"
#include "vision_cli.hpp"

namespace {

constexpr const char* kUsage =
    "usage: classify-image --model DIR [--top-k K] [--logits] [--json] [--batch N] [--threads N]\n"
    "                      [--merge R | --keep-rate P] [--weights f32|bf16] [--compute f32|bf16] [--quant q8|q4|fp4 ...] IMAGE...\n"
    "Classifies JPEG/PNG images; one JSON object per image with --json, a readable block without.\n"
    "Exit status: 0, 1 (nothing could run), 2 (some images could not be read; the rest were classified).\n";

int run(int argc, char** argv) {
  using namespace strata;
  cli::Args a(argc, argv);
  cli::VisionFlags flags;
  std::int64_t top_k = 5;
  bool json = false, logits = false;
  const bool go = cli::parse_vision_args(a, flags, kUsage, [&](std::string_view f) {
    if (f == "--top-k") top_k = a.integer(f, 1, 65536);
    else if (f == "--json") json = true;
    else if (f == "--logits") logits = true;
    else return false;
    return true;
  });
  if (!go) return 0;
  ImageEncoder enc = cli::load_image_encoder(flags);
  check(enc.model().has_classifier(), flags.model,
        ": no image-classification head (classifier or cls_classifier); use embed-image");
  const auto& labels = enc.model().labels();
  return cli::for_each_image_batch(flags, enc, "classified",
                                   [&](const PixelBatch& b, const std::vector<std::string>& paths, std::string& out) {
    const auto results = enc.classify(b);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      const auto top = top_k_labels(r.scores, std::size_t(top_k));
      if (json) {
        out += "{\"image\":";
        cli::append_json_string(out, paths[i]);
        out += ",\"top\":[";
        for (std::size_t j = 0; j < top.size(); ++j) {
          out += j ? ",{\"label\":" : "{\"label\":";
          cli::append_json_string(out, labels[top[j]]);
          out += ",\"id\":" + std::to_string(top[j]) + ",\"score\":";
          cli::append_float(out, r.scores[top[j]]);
          out += '}';
        }
        out += ']';
        if (logits) {
          out += ",\"logits\":";
          cli::append_json_array(out, r.logits);
        }
        out += "}\n";
      } else {
        out += paths[i] + "\n";
        for (std::size_t j = 0; j < top.size(); ++j) {
          char line[64];
          std::snprintf(line, sizeof line, "  %2zu. %10.6f  ", j + 1, double(r.scores[top[j]]));
          out += line + labels[top[j]] + " (" + std::to_string(top[j]) + ")\n";
        }
        if (logits) {
          out += "  logits:";
          for (float x : r.logits) {
            out += ' ';
            cli::append_float(out, x);
          }
          out += '\n';
        }
      }
    }
  });
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "classify-image: " << e.what() << "\n";
    return 1;
  }
}
