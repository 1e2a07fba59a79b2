// eigenrec-ffm-generate: writes a libffm file of clicks drawn from a known field-aware
// FM (ctr::SyntheticFfm), for speed runs and for checking that a trainer reaches the
// achievable logloss. Prints the Bayes logloss of the written labels.
//
//   eigenrec-ffm-generate [options] output_file
//
// Defaults make the speed file of docs/ctr.md: 2,000,000 examples x 39 fields.
#include <eigenrec/ctr/synthetic.hpp>
#include <eigenrec/io/libsvm.hpp>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <system_error>

namespace {

using namespace eigenrec;

const char* kUsage =
    "usage: eigenrec-ffm-generate [options] output_file\n"
    "\n"
    "--examples <n>            examples to write (default 2000000)\n"
    "--fields <m>              fields = entries per example (default 39)\n"
    "--features-per-field <F>  categorical values per field (default 1000)\n"
    "--factors <k>             latent dimension of the true model (default 4)\n"
    "--skew <s>                >= 1, feature frequency skew (default 2)\n"
    "--logit-scale <s>         standard deviation of the true pairwise logit (default 1.5)\n"
    "--bias <b>                bias of the true logit (default -1)\n"
    "--model-seed <n>          seed of the true model (default 42)\n"
    "--seed <n>                seed of the examples (default 1; use another for a validation file)\n";

template <typename T>
T number(const std::string& flag, const std::string& text) {
  T value{};
  const char* first = text.data();
  const char* last = text.data() + text.size();
  const auto r = std::from_chars(first, last, value);
  if (text.empty() || r.ec != std::errc() || r.ptr != last) {
    throw std::invalid_argument("option " + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    ctr::SyntheticFfmOptions o;
    Index examples = 2000000;
    std::uint64_t seed = 1;
    int i = 1;
    for (; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "-h" || a == "--help") {
        std::cout << kUsage;
        return 0;
      }
      if (a.rfind("--", 0) != 0) break;
      if (i + 1 >= argc) throw std::invalid_argument("need a value after " + a);
      const std::string v = argv[++i];
      if (a == "--examples") {
        examples = number<Index>(a, v);
      } else if (a == "--fields") {
        o.fields = number<Index>(a, v);
      } else if (a == "--features-per-field") {
        o.featuresPerField = number<Index>(a, v);
      } else if (a == "--factors") {
        o.factors = number<Index>(a, v);
      } else if (a == "--skew") {
        o.skew = number<double>(a, v);
      } else if (a == "--logit-scale") {
        o.logitScale = number<double>(a, v);
      } else if (a == "--bias") {
        o.bias = number<double>(a, v);
      } else if (a == "--model-seed") {
        o.seed = number<std::uint64_t>(a, v);
      } else if (a == "--seed") {
        seed = number<std::uint64_t>(a, v);
      } else {
        throw std::invalid_argument("unknown option " + a + "\n\n" + kUsage);
      }
    }
    if (argc - i != 1) throw std::invalid_argument(kUsage);
    const std::string path = argv[i];
    if (path.rfind('-', 0) == 0) throw std::invalid_argument("unknown option " + path + "\n\n" + kUsage);
    checkPositive("eigenrec-ffm-generate", "examples", examples);
    const ctr::SyntheticFfm truth(o);
    Rng rng(seed);
    double entropy = 0, clicks = 0;
    saveFileAtomically(path, [&](std::ostream& os) {
      const Index block = 100000;
      for (Index done = 0; done < examples; done += block) {
        ctr::SparseBatch<float> batch;
        std::vector<double> p;
        truth.generate(std::min(block, examples - done), rng, batch, &p);
        entropy += ctr::SyntheticFfm::bayesLogLoss(p) * double(p.size());
        for (const float y : batch.labels()) clicks += y;
        io::writeSparse(os, batch, io::SparseFormat::libffm);
      }
    });
    std::printf("wrote %lld examples x %lld fields (%lld features) to %s\n", static_cast<long long>(examples),
                static_cast<long long>(o.fields), static_cast<long long>(truth.numFeatures()), path.c_str());
    std::printf("click rate %.4f, Bayes logloss %.5f\n", clicks / double(examples), entropy / double(examples));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eigenrec-ffm-generate: %s\n", e.what());
    return 1;
  }
}
