// Vision transformers of the ViT family (model_type vit, deit): the image is
// cut into patches, each patch embedded by one GEMM (PatchEmbedding), class
// (and DeiT's distillation) tokens put in front, learned position embeddings
// added, then N pre-norm encoder blocks and a final LayerNorm. Heads:
// ViTModel's pooler (tanh(dense(h[CLS]))), the image classifiers on the
// class token, and DeiT's teacher-distilled classifier (the mean of its
// class-token and distillation-token heads).
//
// A batch of images is a packed token stream like a batch of texts
// (SequenceSpans: image i's tokens are one sequence), so the encoder blocks,
// attention kernels and workspaces are the text encoders'.
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
#include "strata/image/pixel_batch.hpp"
#include "strata/io/safetensors.hpp"
#include "strata/io/vision_config.hpp"
#include "strata/layers/attention.hpp"
#include "strata/layers/encoder_block.hpp"
#include "strata/layers/ffn.hpp"
#include "strata/layers/layernorm.hpp"
#include "strata/layers/linear.hpp"
#include "strata/layers/patch_embedding.hpp"
#include "strata/layers/token_merging.hpp"
#include "strata/layers/token_pruning.hpp"
#include "strata/layers/weights.hpp"
#include "strata/models/encoder.hpp"
#include "strata/models/llama.hpp"

namespace strata {

// Token reduction during a forward pass (from the research on efficient
// ViTs), one at a time: merge = r, ToMe's tokens merged per image in every
// block (layers/token_merging.hpp); keep_rate < 1, EViT's share of patch
// tokens kept at its pruning blocks (layers/token_pruning.hpp). The default
// runs the model as published.
struct TokenReduction {
  std::int64_t merge = 0;
  double keep_rate = 1.0;
};

// Activations of one forward pass, grown on demand and reused.
struct VisionWorkspace {
  EncoderWorkspace enc;  // x (last_hidden_state), tmp, q, ctx, gate, pooled, logits
  std::vector<float> xn, unfolded, positions;
  SequenceSpans seqs;
  std::int64_t tokens_per_image = 0;  // after forward: each image's tokens in x (fewer with token merging)
  TokenMergeState merging;
  TokenPruneState pruning;

  // Hidden state of token t of image i (after forward: last_hidden_state).
  const float* hidden(std::int64_t i, std::int64_t t, std::int64_t H) const {
    return enc.x.data() + (i * tokens_per_image + t) * H;
  }
};

// The run-time face of a vision transformer, whatever composition it maps to.
class VisionModel {
 public:
  virtual ~VisionModel() = default;
  virtual const VisionConfig& config() const = 0;
  virtual std::string name() const = 0;
  virtual std::size_t weight_bytes() const = 0;
  virtual bool has_pooler() const = 0;
  virtual bool has_classifier() const = 0;
  const std::vector<std::string>& labels() const { return config().blocks.id2label; }

  // last_hidden_state (after the final LayerNorm) into ws.enc.x: image i's
  // tokens are rows [i·ws.tokens_per_image, (i+1)·ws.tokens_per_image), the
  // class token first. Images of another size than the config's have their
  // position embeddings interpolated (interpolate_pos_encoding=True). With
  // reduce.merge, tokens merge block by block (ToMe) and fewer remain.
  virtual void forward(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool,
                       const TokenReduction& reduce) const = 0;
  void forward(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool) const { forward(batch, ws, pool, {}); }
  // After forward: pooler_output per image into ws.enc.pooled [n, hidden]. Needs has_pooler().
  virtual void pooler(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool) const = 0;
  // forward + the classifier: logits [n, labels] into ws.enc.logits. Needs has_classifier().
  virtual void classify(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool,
                        const TokenReduction& reduce) const = 0;
  void classify(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool) const { classify(batch, ws, pool, {}); }
};

using ViTBlock = PreNormEncoderBlock<BidirectionalAttention<QKVOBias, ViTAttnNames>, MLP<GELU, BertMLPNames>>;
using ViTNoQKVBiasBlock = PreNormEncoderBlock<BidirectionalAttention<OBias, ViTAttnNames>, MLP<GELU, BertMLPNames>>;
using ViTTanhBlock = PreNormEncoderBlock<BidirectionalAttention<QKVOBias, ViTAttnNames>, MLP<GELUTanh, BertMLPNames>>;

// VisionTransformer<Block, W>: ViTModel / DeiTModel (tensor names with or
// without the "vit." / "deit." prefix of the task models), the pooler when
// stored, and the classifier heads: "classifier" (ViTForImageClassification,
// DeiTForImageClassification) or "cls_classifier" + "distillation_classifier"
// (DeiTForImageClassificationWithTeacher).
template <class Block, class W = float>
class VisionTransformer final : public VisionModel {
 public:
  using block_layer = typename Block::template layer<W>;
  using dense = dense_t<W>;

  static std::shared_ptr<VisionTransformer> load(const io::Checkpoint& ck, const VisionConfig& vc, std::string name,
                                                 const LoadOptions& opt = {}) {
    auto m = std::shared_ptr<VisionTransformer>(new VisionTransformer());
    m->cfg_ = vc;
    const ModelConfig& c = vc.blocks;
    m->name_ = model_name<W>(std::move(name), c);
    const std::string base = vc.model_type() + ".";
    const std::string p = ck.find(base + "embeddings.cls_token") ? base : "";
    const std::int64_t H = c.hidden_size;
    m->blocks_.resize(std::size_t(c.num_layers));
    detail::load_blocks_in_parallel(ck, p + "encoder.layer.", c, opt, m->blocks_, [&] {
      m->cls_ = WeightTensor<float>::load(ck, p + "embeddings.cls_token", {1, 1, H});
      if (vc.prefix_tokens == 2) m->dist_ = WeightTensor<float>::load(ck, p + "embeddings.distillation_token", {1, 1, H});
      m->position_ =
          WeightTensor<float>::load(ck, p + "embeddings.position_embeddings", {1, c.max_position_embeddings, H});
      m->patches_.load(ck, p + "embeddings.patch_embeddings.projection", H, vc.num_channels, vc.patch_size, true);
      m->final_norm_.load(ck, p + "layernorm", H, c.norm_eps);
    });
    const QuantSpec dense_spec;  // heads stay dense (they run once per image)
    if (const io::TensorView* pw = ck.find(p + "pooler.dense.weight")) {
      check(pw->shape.size() == 2 && pw->shape[0] >= 1 && pw->shape[0] <= ConfigLimits::max_hidden, ck.source(),
            ": ", p, "pooler.dense.weight must be [pooler_output_size, hidden]");
      m->pooler_.load(ck, p + "pooler.dense", pw->shape[0], H, true, dense_spec);
    }
    const bool teacher = ck.find("cls_classifier.weight") != nullptr;
    const std::string head = teacher ? "cls_classifier" : "classifier";
    if (ck.find(head + ".weight")) {
      const std::int64_t labels = detail::classifier_labels(ck, head + ".weight", m->cfg_.blocks);
      m->classifier_.load(ck, head, labels, H, true, dense_spec);
      if (teacher) {
        check(vc.prefix_tokens == 2, ck.source(), ": cls_classifier and distillation_classifier are DeiT heads, but",
              " model_type is ", vc.model_type());
        m->distillation_.load(ck, "distillation_classifier", labels, H, true, dense_spec);
      }
    }
    return m;
  }

  VisionTransformer(const VisionTransformer&) = delete;
  VisionTransformer& operator=(const VisionTransformer&) = delete;

  const VisionConfig& config() const override { return cfg_; }
  std::string name() const override { return name_; }
  bool has_pooler() const override { return pooler_.out_features() > 0; }
  bool has_classifier() const override { return classifier_.out_features() > 0; }

  std::size_t weight_bytes() const override {
    std::size_t b = cls_.bytes() + dist_.bytes() + position_.bytes() + patches_.bytes() + final_norm_.bytes() +
                    pooler_.bytes() + classifier_.bytes() + distillation_.bytes();
    for (const auto& blk : blocks_) b += blk.bytes();
    return b;
  }

  using VisionModel::classify;
  using VisionModel::forward;

  void forward(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool,
               const TokenReduction& reduce) const override {
    const VisionConfig& vc = cfg_;
    const ModelConfig& c = vc.blocks;
    const std::int64_t n = batch.count, H = c.hidden_size, P = vc.patch_size;
    check(n >= 1 && std::int64_t(batch.values.size()) == n * batch.channels * batch.height * batch.width,
          "vision forward: an empty or inconsistent batch");
    check(batch.channels == vc.num_channels, "vision forward: images have ", batch.channels, " channels; the model ",
          vc.num_channels);
    check(reduce.merge >= 0, "vision forward: token merging r = ", reduce.merge, " is negative");
    check(reduce.keep_rate > 0 && reduce.keep_rate <= 1, "vision forward: keep rate ", reduce.keep_rate,
          " is not in (0, 1]");
    check(reduce.merge == 0 || reduce.keep_rate == 1, "vision forward: token merging and pruning are one at a time");
    check(batch.height >= P && batch.width >= P && batch.height <= VisionLimits::max_image_side &&
              batch.width <= VisionLimits::max_image_side,
          "vision forward: a ", batch.height, "x", batch.width, " image; the model needs at least one ", P, "x", P,
          " patch and at most ", VisionLimits::max_image_side, " pixels a side");
    const std::int64_t gh = batch.height / P, gw = batch.width / P, prefix = vc.prefix_tokens;
    const std::int64_t per_image = prefix + gh * gw, T = n * per_image;
    ws.tokens_per_image = per_image;
    ws.seqs = SequenceSpans{{0}, {}};
    for (std::int64_t i = 0; i < n; ++i) {
      ws.seqs.len.push_back(per_image);
      ws.seqs.start.push_back((i + 1) * per_image);
    }
    ws.enc.ensure(c, T);
    const std::size_t rows = ws.enc.x.size() / std::size_t(H);
    if (ws.xn.size() < rows * std::size_t(H)) ws.xn.resize(rows * std::size_t(H));
    if (ws.unfolded.size() < rows * std::size_t(patches_.in_features()))
      ws.unfolded.resize(rows * std::size_t(patches_.in_features()));

    // embeddings = cat(cls, [distillation,] patch_embeddings(pixels)) + position_embeddings
    float* x = ws.enc.x.data();
    patches_.forward(batch.values.data(), n, batch.height, batch.width, per_image, prefix, ws.unfolded.data(), x, pool);
    const float* pos = positions(gh, gw, ws.positions);
    for (std::int64_t i = 0; i < n; ++i) {
      float* xi = x + i * per_image * H;
      std::copy(cls_.data(), cls_.data() + H, xi);
      if (prefix == 2) std::copy(dist_.data(), dist_.data() + H, xi + H);
      for (std::int64_t j = 0; j < per_image * H; ++j) xi[j] += pos[j];
    }
    const BlockScratch s{ws.xn.data(), ws.enc.tmp.data(), {ws.enc.q.data(), nullptr, nullptr, ws.enc.ctx.data()},
                         {ws.enc.gate.data(), nullptr}};
    TokenReducer* reducer = nullptr;
    if (reduce.merge > 0) {
      ws.merging.reset({reduce.merge, true, prefix == 2}, T, c.head_dim);
      reducer = &ws.merging;
    } else if (reduce.keep_rate < 1) {
      ws.pruning.reset({reduce.keep_rate, prefix == 2}, T, c.num_layers);
      reducer = &ws.pruning;
    }
    if (!reducer) {
      for (const auto& blk : blocks_) blk.forward(x, ws.seqs, s, pool);
    } else {
      for (const auto& blk : blocks_) blk.forward(x, ws.seqs, s, pool, *reducer);
      ws.tokens_per_image = ws.seqs.len[0];  // every image reduced alike
    }
    final_norm_.forward(x, ws.seqs.tokens(), x, pool);  // sequence_output = layernorm(encoder(embeddings))
  }

  void pooler(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool) const override {
    check(has_pooler(), name_, ": the checkpoint has no pooler");
    head(pooler_, 0, batch.count, ws, ws.enc.pooled, pool);
    for (float& v : ws.enc.pooled) v = std::tanh(v);  // pooled_output = tanh(dense(h[:, 0]))
  }

  void classify(const PixelBatch& batch, VisionWorkspace& ws, ThreadPool& pool,
                const TokenReduction& reduce) const override {
    check(has_classifier(), name_, ": the checkpoint has no image-classification head");
    forward(batch, ws, pool, reduce);
    head(classifier_, 0, batch.count, ws, ws.enc.logits, pool);  // logits = classifier(h[:, 0])
    if (distillation_.out_features() == 0) return;
    std::vector<float> dist;
    head(distillation_, 1, batch.count, ws, dist, pool);  // distillation_classifier(h[:, 1])
    for (std::size_t k = 0; k < dist.size(); ++k) ws.enc.logits[k] = (ws.enc.logits[k] + dist[k]) / 2;
  }

 private:
  VisionTransformer() = default;

  // The position embeddings for a gh × gw grid of patches: the stored ones,
  // or their patch part resampled bicubically (ViTEmbeddings.interpolate_pos_encoding).
  const float* positions(std::int64_t gh, std::int64_t gw, std::vector<float>& buf) const {
    const std::int64_t H = cfg_.blocks.hidden_size, prefix = cfg_.prefix_tokens;
    const std::int64_t h0 = cfg_.grid_height(), w0 = cfg_.grid_width();
    if (gh == h0 && gw == w0) return position_.data();
    buf.resize(std::size_t((prefix + gh * gw) * H));
    std::copy(position_.data(), position_.data() + prefix * H, buf.begin());
    interpolate_bicubic_grid(position_.data() + prefix * H, h0, w0, H, gh, gw, buf.data() + prefix * H);
    return buf.data();
  }

  // out [n, proj.out] = proj(hidden state of token t of each image).
  void head(const Linear<dense>& proj, std::int64_t t, std::int64_t n, const VisionWorkspace& ws,
            std::vector<float>& out, ThreadPool& pool) const {
    const std::int64_t H = cfg_.blocks.hidden_size;
    std::vector<float> rows(std::size_t(n * H));
    for (std::int64_t i = 0; i < n; ++i) std::copy(ws.hidden(i, t, H), ws.hidden(i, t, H) + H, rows.begin() + i * H);
    out.resize(std::size_t(n * proj.out_features()));
    proj.forward(rows.data(), n, out.data(), pool);
  }

  VisionConfig cfg_;
  std::string name_;
  WeightTensor<float> cls_, dist_, position_;
  PatchEmbedding<W> patches_;
  std::vector<block_layer> blocks_;
  LayerNorm final_norm_;
  Linear<dense> pooler_, classifier_, distillation_;
};

// Picks the composition for a ViT / DeiT config and loads it.
template <class W>
std::shared_ptr<const VisionModel> load_vision_model_as(const io::Checkpoint& ck, const VisionConfig& vc,
                                                        const LoadOptions& opt) {
  const ModelConfig& c = vc.blocks;
  const std::string name = vc.model_type();
  if (!c.qkv_bias) {
    for (const char* p : {"", "vit.", "deit."}) {  // transformers would drop them with a warning: a broken folder
      const std::string bias = std::string(p) + "encoder.layer.0.attention.attention.query.bias";
      check(!ck.find(bias), ck.source(), ": config.json has qkv_bias false but the checkpoint has ", bias);
    }
    check(c.hidden_act == Activation::GELU, ck.source(), ": qkv_bias false is supported with hidden_act gelu");
    return VisionTransformer<ViTNoQKVBiasBlock, W>::load(ck, vc, name, opt);
  }
  if (c.hidden_act == Activation::GELUTanh) return VisionTransformer<ViTTanhBlock, W>::load(ck, vc, name, opt);
  return VisionTransformer<ViTBlock, W>::load(ck, vc, name, opt);
}

#if defined(STRATA_EXTERN_MODEL_TEMPLATES)
#define STRATA_VISION_INSTANCE(W)                                                                                   \
  extern template std::shared_ptr<const VisionModel> load_vision_model_as<W>(const io::Checkpoint&,                 \
                                                                             const VisionConfig&, const LoadOptions&);
STRATA_VISION_INSTANCE(float)
STRATA_VISION_INSTANCE(bf16)
STRATA_VISION_INSTANCE(Quantized<float>)
#undef STRATA_VISION_INSTANCE
#endif

// Loads the vision transformer in a Hugging Face folder (config.json
// model_type vit or deit, model.safetensors or a sharded index). Weights and
// compute options as for load_encoder: f32 or bf16 weights, --compute bf16,
// --quant for the blocks' projections (the patch embedding and heads stay dense).
inline std::shared_ptr<const VisionModel> load_vision_model(const std::filesystem::path& dir,
                                                            WeightType wt = WeightType::F32,
                                                            const LoadOptions& opt = {}) {
  std::error_code ec;
  check(std::filesystem::is_directory(dir, ec), dir.string(), ": not a directory");
  VisionConfig vc = load_vision_config(dir);
  const io::Checkpoint ck = io::Checkpoint::open(dir);
  resolve_quantization(vc.blocks, ck, opt.quant, dir.string());
  resolve_compute(vc.blocks, wt, opt, dir.string());
  check(!vc.blocks.quant.enabled || vc.blocks.quant.source == QuantSpec::Source::Dense, dir.string(),
        ": pre-quantized vision checkpoints are not supported; quantize at load (--quant) instead");
  if (vc.blocks.quant.enabled) {
    check(wt == WeightType::F32, dir.string(), ": quantized models keep their dense parts in f32 (drop --weights)");
    return load_vision_model_as<Quantized<float>>(ck, vc, opt);
  }
  check(wt != WeightType::F16, dir.string(), ": f16 weights are not offered for vision models (use f32 or bf16)");
  return wt == WeightType::BF16 ? load_vision_model_as<bf16>(ck, vc, opt) : load_vision_model_as<float>(ck, vc, opt);
}

}  // namespace strata
