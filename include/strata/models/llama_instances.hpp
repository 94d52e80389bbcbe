// The explicit instantiations that STRATA_EXTERN_MODEL_TEMPLATES declares
// (models/llama.hpp): include this in exactly one translation unit.
#pragma once

#include "strata/models/llama.hpp"

namespace strata {
template std::shared_ptr<const LanguageModel> load_llama_family<float>(const io::Checkpoint&, const ModelConfig&,
                                                                       const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_llama_family<bf16>(const io::Checkpoint&, const ModelConfig&,
                                                                      const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_llama_family<f16>(const io::Checkpoint&, const ModelConfig&,
                                                                     const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_llama_family<Quantized<float>>(const io::Checkpoint&,
                                                                                  const ModelConfig&,
                                                                                  const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_llama_family<Quantized<bf16>>(const io::Checkpoint&,
                                                                                 const ModelConfig&,
                                                                                 const LoadOptions&);
template std::shared_ptr<const LanguageModel> load_llama_family<Quantized<f16>>(const io::Checkpoint&,
                                                                                const ModelConfig&,
                                                                                const LoadOptions&);
}  // namespace strata
