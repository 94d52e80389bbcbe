// The explicit instantiations of the vision transformers that
// STRATA_EXTERN_MODEL_TEMPLATES declares (models/vit.hpp): include this in
// exactly one translation unit.
#pragma once

#include "strata/models/vit.hpp"

namespace strata {
template std::shared_ptr<const VisionModel> load_vision_model_as<float>(const io::Checkpoint&, const VisionConfig&,
                                                                        const LoadOptions&);
template std::shared_ptr<const VisionModel> load_vision_model_as<bf16>(const io::Checkpoint&, const VisionConfig&,
                                                                       const LoadOptions&);
template std::shared_ptr<const VisionModel> load_vision_model_as<Quantized<float>>(const io::Checkpoint&,
                                                                                   const VisionConfig&,
                                                                                   const LoadOptions&);
}  // namespace strata
