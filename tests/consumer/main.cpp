// The few lines an application needs: load a Hugging Face folder, generate.
#include <iostream>

#include <strata/strata.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer MODEL_DIR\n";
    return 2;
  }
  try {
    const auto lm = strata::TextGenerator::load(argv[1]);
    strata::GenerateOptions opt;
    opt.max_new_tokens = 8;
    opt.sampling.temperature = 0;
    const auto r = lm.generate("Once upon a time", opt, [](std::string_view s) { std::cout << s; });
    std::cout << "\n" << r.tokens.size() << " tokens, kernels: " << strata::kernels::active_kernels().target << "\n";
    return r.tokens.size() == 8 ? 0 : 1;
  } catch (const strata::Error& e) {
    std::cerr << "consumer: " << e.what() << "\n";
    return 1;
  }
}
