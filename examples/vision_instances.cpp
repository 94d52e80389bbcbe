// The vision transformer compositions, compiled once into strata_project_models
// beside model_instances.cpp (a file of their own, so the two compile in parallel).
#include "strata/models/vit_instances.hpp"
