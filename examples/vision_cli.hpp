// What the image tools (classify-image, embed-image) share: their common
// flags, loading with progress, and reading the image files a batch at a
// time, where a bad file is reported on stderr and skipped while the others
// are still processed.
#pragma once

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "cli_args.hpp"
#include "image_file.hpp"
#include "load_progress.hpp"
#include "strata/runtime/image_encoder.hpp"

namespace strata::cli {

// Exit status when some images could not be read (the others were processed).
inline constexpr int kSomeImagesFailed = 2;

struct VisionFlags {
  std::string model;
  ImageEncoderOptions opt;
  QuantFlags quant;
  std::vector<std::string> images;
};

// Consumes one of the shared flags (f, already read); false for any other.
inline bool parse_vision_flag(Args& a, std::string_view f, VisionFlags& v) {
  if (f == "--model") v.model = a.value(f);
  else if (f == "--batch") v.opt.batch = a.integer(f, 1, ImageEncoder::kMaxBatch);
  else if (f == "--threads") v.opt.threads = int(a.integer(f, 1, 1024));
  else if (f == "--weights") v.opt.weights = weight_type_flag(a, f);
  else if (f == "--compute") v.opt.load.compute = compute_flag(a, f);
  else if (f == "--merge") v.opt.reduce.merge = a.integer(f, 0, 1 << 20);
  else if (f == "--keep-rate") v.opt.reduce.keep_rate = a.number(f, 1e-6, 1.0);
  else return parse_quant_flag(a, f, v.quant);
  return true;
}

// Reads the command line: the shared flags, the image paths, and the tool's
// own flags (extra(f) consumes one and returns true, or returns false for an
// unknown flag). False when --help printed `usage` (the tool exits 0).
template <class Extra>
bool parse_vision_args(Args& a, VisionFlags& v, const char* usage, Extra extra) {
  while (!a.done()) {
    if (!a.next_is_flag()) {
      v.images.push_back(a.operand());
      continue;
    }
    const std::string f(a.next_flag());
    if (f == "--help" || f == "-h") {
      std::cout << usage;
      return false;
    }
    check(extra(f) || parse_vision_flag(a, f, v), "unknown option '", f, "' (see --help)");
  }
  return true;
}

inline ImageEncoder load_image_encoder(VisionFlags& v) {
  check(!v.model.empty(), "--model DIR is required");
  check(!v.images.empty(), "no image files given");
  finish_quant(v.quant);
  v.opt.load.quant = v.quant.spec;
  check(!(v.quant.spec.enabled && v.opt.load.compute == Compute::BF16), "--compute bf16 and --quant cannot be used together");
  check(v.opt.reduce.merge == 0 || v.opt.reduce.keep_rate == 1, "--merge and --keep-rate cannot be used together");
  v.opt.load.on_progress = load_progress(false);
  return ImageEncoder::load(v.model, v.opt);
}

// Decodes and preprocesses the images into batches of `batch` and hands each
// batch (with its images' paths) to format(batch, paths, out), which appends
// their output lines to out; each batch's lines are written and flushed. An
// image that cannot be read or preprocessed gets one line on stderr and no
// output line. Returns 0, or kSomeImagesFailed when an image failed; the
// throughput line goes to stderr.
template <class Format>
int for_each_image_batch(const VisionFlags& v, ImageEncoder& enc, const char* verb, Format format) {
  int status = 0;
  const auto t0 = std::chrono::steady_clock::now();
  PixelBatch batch;
  std::vector<std::string> paths;
  std::string out;
  auto flush = [&] {
    if (batch.count == 0) return;
    out.clear();
    format(batch, paths, out);
    std::cout << out << std::flush;
    batch.clear();
    paths.clear();
  };
  for (const std::string& path : v.images) {
    try {
      const image::Image img = image::to_rgb(image::load_image_file(path));
      if (batch.count > 0) {  // another processed size (shortest-edge resizing without a crop) starts a batch
        const auto [h, w] = image::pixel_values_size(enc.processor(), img.height, img.width);
        if (h != batch.height || w != batch.width) flush();
      }
      enc.add_image(batch, img);
      paths.push_back(path);
    } catch (const Error& e) {
      std::cerr << "error: " << e.what() << "\n";
      status = kSomeImagesFailed;
      continue;
    }
    if (batch.count == v.opt.batch) flush();
  }
  flush();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  char line[512];
  std::snprintf(line, sizeof line, "%s %lld images in %.3f s: %.2f images/s [%s, %d threads]\n", verb,
                static_cast<long long>(enc.images_done()), s, double(enc.images_done()) / (s > 0 ? s : 1e-9),
                enc.model().name().c_str(), enc.threads());
  std::cerr << line;
  return status;
}

}  // namespace strata::cli
