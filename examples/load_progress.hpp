// Load progress for the example programs: "loading blocks D/T" on stderr,
// rewritten in place as blocks finish (LoadOptions::on_progress). Shown when
// asked for (generate --verbose), or else only when stderr is a terminal and
// loading has already taken a second: a fast load stays quiet, and so does
// stderr sent to a file or a pipe (logs, scripts), where a line rewritten
// with '\r' would only add noise.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <iostream>

namespace strata::cli {

inline std::function<void(std::int64_t, std::int64_t)> load_progress(bool always) {
  if (!always && ::isatty(STDERR_FILENO) != 1) return {};
  const auto start = std::chrono::steady_clock::now();
  return [always, start, shown = false](std::int64_t done, std::int64_t total) mutable {
    if (!shown && !always && std::chrono::steady_clock::now() - start < std::chrono::seconds(1)) return;
    shown = true;
    std::cerr << "\rloading blocks " << done << "/" << total << (done == total ? "\n" : "") << std::flush;
  };
}

}  // namespace strata::cli
