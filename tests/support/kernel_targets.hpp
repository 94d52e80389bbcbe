// Running a test once per kernel target this binary and CPU support.
#pragma once

#include <string>
#include <vector>

#include "strata/kernels/dispatch.hpp"

namespace strata::test {

inline std::vector<std::string> kernel_targets() {
  std::vector<std::string> v;
  for (const auto* t : kernels::available_kernel_tables()) v.emplace_back(t->target);
  return v;
}

// Switches the active kernels for one scope, restoring the previous target.
class ScopedKernelTarget {
 public:
  explicit ScopedKernelTarget(const std::string& target) : previous_(kernels::active_kernels().target) {
    kernels::set_active_kernels(target);
  }
  ~ScopedKernelTarget() { kernels::set_active_kernels(previous_); }
  ScopedKernelTarget(const ScopedKernelTarget&) = delete;
  ScopedKernelTarget& operator=(const ScopedKernelTarget&) = delete;

 private:
  std::string previous_;
};

}  // namespace strata::test
