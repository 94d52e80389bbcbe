// ImageEncoder: a vision transformer folder (config.json, model.safetensors,
// preprocessor_config.json) as one object that takes decoded images and
// returns what transformers' pipelines return: classification scores per
// label, or embeddings (ViTModel's pooler_output). Images are preprocessed as
// the folder's (slow, PIL-based) image processor does (image/processor.hpp),
// then run `batch` at a time.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "strata/core/thread_pool.hpp"
#include "strata/image/image.hpp"
#include "strata/image/processor.hpp"
#include "strata/io/preprocessor_config.hpp"
#include "strata/models/vit.hpp"
#include "strata/runtime/classification.hpp"
#include "strata/runtime/embedding.hpp"

namespace strata {

struct ImageEncoderOptions {
  std::int64_t batch = 8;  // images per forward pass
  int threads = 0;         // 0: one per hardware thread
  WeightType weights = WeightType::F32;
  LoadOptions load;
  TokenReduction reduce;  // token merging (ToMe) or pruning (EViT); none by default
};

// One image's classification: the head's logits and their scores
// (classification_scores: softmax, sigmoid or raw, from problem_type).
struct ImageClassification {
  std::vector<float> logits, scores;
};

class ImageEncoder {
 public:
  static constexpr std::int64_t kMaxBatch = 4096;

  static ImageEncoder load(const std::filesystem::path& dir, const ImageEncoderOptions& opt = {}) {
    check(opt.batch >= 1 && opt.batch <= kMaxBatch, "ImageEncoder: batch ", opt.batch, " is out of range [1, ",
          kMaxBatch, "]");
    check(opt.reduce.merge >= 0, "ImageEncoder: token merging r = ", opt.reduce.merge, " is negative");
    check(opt.reduce.keep_rate > 0 && opt.reduce.keep_rate <= 1, "ImageEncoder: keep rate ", opt.reduce.keep_rate,
          " is not in (0, 1]");
    check(opt.reduce.merge == 0 || opt.reduce.keep_rate == 1,
          "ImageEncoder: token merging (--merge) and pruning (--keep-rate) are one at a time");
    ImageEncoder e;
    e.opt_ = opt;
    e.pool_ = std::make_shared<ThreadPool>(opt.threads);
    e.model_ = load_vision_model(dir, opt.weights, opt.load.with_default_threads(e.pool_->size()));
    const auto pre = dir / "preprocessor_config.json";
    std::error_code ec;
    check(std::filesystem::exists(pre, ec), pre.string(),
          ": not found (a vision model folder needs its image processor's settings)");
    e.processor_ = io::load_preprocessor_config(pre);
    return e;
  }

  const VisionModel& model() const { return *model_; }
  const io::ImageProcessorConfig& processor() const { return processor_; }
  int threads() const { return pool_->size(); }

  // Appends one image's pixel_values to a batch, as the image processor
  // makes them (a batch holds images of one processed size; on an error the
  // batch is unchanged).
  void add_image(PixelBatch& batch, const image::Image& img) const {
    image::append_pixel_values(batch, img, processor_);
  }
  // The model's input for these images.
  PixelBatch pixel_values(std::span<const image::Image> images) const {
    PixelBatch b;
    for (const image::Image& img : images) add_image(b, img);
    return b;
  }

  std::vector<ImageClassification> classify(std::span<const image::Image> images) {
    return batched<ImageClassification>(images, [&](const PixelBatch& b) { return classify(b); });
  }
  std::vector<ImageClassification> classify(const PixelBatch& b) {
    check(model_->has_classifier(), model_->name(), ": the checkpoint has no image-classification head");
    const std::size_t L = model_->labels().size();
    model_->classify(b, ws_, *pool_, opt_.reduce);
    std::vector<ImageClassification> out;
    for (std::int64_t i = 0; i < b.count; ++i) {
      ImageClassification c;
      c.logits.assign(ws_.enc.logits.begin() + i * std::int64_t(L), ws_.enc.logits.begin() + (i + 1) * std::int64_t(L));
      c.scores = classification_scores(c.logits, model_->config().blocks.problem_type);
      out.push_back(std::move(c));
    }
    images_ += b.count;
    return out;
  }

  // pooler_output per image (ViTModel, DeiTModel), L2-normalised when asked.
  std::vector<std::vector<float>> embed(std::span<const image::Image> images, bool normalize = false) {
    return batched<std::vector<float>>(images, [&](const PixelBatch& b) { return embed(b, normalize); });
  }
  std::vector<std::vector<float>> embed(const PixelBatch& b, bool normalize = false) {
    check(model_->has_pooler(), model_->name(), ": the checkpoint has no pooler (",
          model_->has_classifier() ? "an image classifier: use classify" : "no embedding head", ")");
    model_->forward(b, ws_, *pool_, opt_.reduce);
    model_->pooler(b, ws_, *pool_);
    const std::int64_t D = std::int64_t(ws_.enc.pooled.size()) / b.count;
    std::vector<std::vector<float>> out;
    for (std::int64_t i = 0; i < b.count; ++i) {
      std::vector<float> v(ws_.enc.pooled.begin() + D * i, ws_.enc.pooled.begin() + D * (i + 1));
      if (normalize) l2_normalize(v.data(), D);
      out.push_back(std::move(v));
    }
    images_ += b.count;
    return out;
  }

  std::int64_t images_done() const { return images_; }

 private:
  ImageEncoder() = default;

  // Runs the images `batch` at a time through f(PixelBatch) and concatenates its results.
  template <class R, class F>
  std::vector<R> batched(std::span<const image::Image> images, F f) {
    std::vector<R> out;
    for (std::size_t b0 = 0; b0 < images.size(); b0 += std::size_t(opt_.batch)) {
      const std::size_t n = std::min(images.size() - b0, std::size_t(opt_.batch));
      for (auto& r : f(pixel_values(images.subspan(b0, n)))) out.push_back(std::move(r));
    }
    return out;
  }

  ImageEncoderOptions opt_;
  std::shared_ptr<const VisionModel> model_;
  io::ImageProcessorConfig processor_;
  std::shared_ptr<ThreadPool> pool_;
  VisionWorkspace ws_;
  std::int64_t images_ = 0;
};

}  // namespace strata
