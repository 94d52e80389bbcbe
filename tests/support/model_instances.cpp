// The model compositions, compiled once for the whole test binary (the other
// translation units see them as extern templates: STRATA_EXTERN_MODEL_TEMPLATES).
#include "strata/models/llama_instances.hpp"
