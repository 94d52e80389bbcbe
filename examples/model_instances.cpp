// The model compositions and the kernel tables, compiled once (the object
// library strata_project_models) for the test binary, the example programs
// and the benchmark tools, whose own translation units see them as extern
// templates (STRATA_EXTERN_MODEL_TEMPLATES, STRATA_EXTERN_KERNEL_TABLES).
#include "strata/kernels/kernel_instances.hpp"
#include "strata/models/llama_instances.hpp"
