// The explicit instantiations that STRATA_EXTERN_MODEL_TEMPLATES declares
// (models/llama.hpp, models/encoder.hpp): include this in exactly one
// translation unit.
#pragma once

#include "strata/models/encoder.hpp"
#include "strata/models/llama.hpp"

namespace strata {
template std::shared_ptr<const LanguageModel> load_decoder<float>(const io::Checkpoint&, const ModelConfig&,
                                                                       const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_decoder<bf16>(const io::Checkpoint&, const ModelConfig&,
                                                                      const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_decoder<f16>(const io::Checkpoint&, const ModelConfig&,
                                                                     const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_decoder<Quantized<float>>(const io::Checkpoint&,
                                                                                  const ModelConfig&,
                                                                                  const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_decoder<Quantized<bf16>>(const io::Checkpoint&,
                                                                                 const ModelConfig&,
                                                                                 const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_decoder<Quantized<f16>>(const io::Checkpoint&,
                                                                                const ModelConfig&,
                                                                                const LoadOptions&);
template std::shared_ptr<const EncoderModel> load_encoder_as<float>(const io::Checkpoint&, const ModelConfig&,
                                                                   const LoadOptions&);
template std::shared_ptr<const EncoderModel> load_encoder_as<bf16>(const io::Checkpoint&, const ModelConfig&,
                                                                  const LoadOptions&);
template std::shared_ptr<const EncoderModel> load_encoder_as<Quantized<float>>(const io::Checkpoint&,
                                                                              const ModelConfig&,
                                                                              const LoadOptions&);
}  // namespace strata
