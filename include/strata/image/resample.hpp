// strata::image::Resample: the resampling filters of PIL's Image.resize, by
// the integers PIL's Resampling enum gives them (preprocessor_config.json
// stores "resample" as that integer). Kept apart from resize.hpp so that the
// config parser in io/ can name a filter without including the resizer.
#pragma once

#include <cstdint>

namespace strata::image {

enum class Resample : int { Nearest = 0, Lanczos = 1, Bilinear = 2, Bicubic = 3, Box = 4, Hamming = 5 };

inline bool is_resample(std::int64_t v) { return v >= 0 && v <= 5; }

inline const char* resample_name(Resample r) {
  switch (r) {
    case Resample::Nearest: return "nearest";
    case Resample::Lanczos: return "lanczos";
    case Resample::Bilinear: return "bilinear";
    case Resample::Bicubic: return "bicubic";
    case Resample::Box: return "box";
    case Resample::Hamming: return "hamming";
  }
  return "?";
}

}  // namespace strata::image
