// The model compositions and the kernel tables, compiled once for the whole
// test binary (the other translation units see them as extern templates:
// STRATA_EXTERN_MODEL_TEMPLATES, STRATA_EXTERN_KERNEL_TABLES).
#include "strata/kernels/kernel_instances.hpp"
#include "strata/models/llama_instances.hpp"
