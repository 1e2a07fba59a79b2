// eigenrec-ffm-predict: libffm's ffm-predict on eigenrec's FieldAwareFM.
//
//   eigenrec-ffm-predict [options] test_file model_file output_file
//
// Writes one click probability per line and prints "logloss = ..." as libffm, then the
// AUC. Options: -s <threads>, --hash <buckets>, --libsvm-fields (as given to training).
// Entries whose feature or field the model has not seen are skipped, as libffm does;
// their count is reported on stderr.
#include <eigenrec/ctr.hpp>
#include <eigenrec/metrics.hpp>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>
#include <system_error>

namespace {

using namespace eigenrec;

const char* kUsage =
    "usage: eigenrec-ffm-predict [options] test_file model_file output_file\n"
    "\n"
    "options:\n"
    "-s <nr_threads>: threads for prediction (default 1)\n"
    "--hash <buckets>: hash feature tokens into [0, buckets) (as in training)\n"
    "--libsvm-fields: read 'label index:value ...' lines, field = position (as in training)\n";

template <typename T>
T number(const std::string& flag, const std::string& text) {
  T value{};
  const char* last = text.data() + text.size();
  const auto r = std::from_chars(text.data(), last, value);
  if (text.empty() || r.ec != std::errc() || r.ptr != last) {
    throw std::invalid_argument("option " + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    io::SparseReadOptions read;
    read.format = io::SparseFormat::libffm;
    int threads = 1;
    int i = 1;
    for (; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw std::invalid_argument("need to specify a value after " + a);
        return argv[++i];
      };
      if (a == "-s") {
        threads = number<int>(a, value());
        if (threads <= 0) throw std::invalid_argument("number of threads should be greater than zero");
      } else if (a == "--hash") {
        read.hashBuckets = number<std::int64_t>(a, value());
        if (read.hashBuckets <= 0) throw std::invalid_argument("--hash needs a positive number of buckets");
      } else if (a == "--libsvm-fields") {
        read.format = io::SparseFormat::libsvm;
        read.fieldsFromPosition = true;
      } else if (a.size() > 1 && a[0] == '-') {
        throw std::invalid_argument("unknown option " + a + "\n\n" + kUsage);
      } else {
        break;
      }
    }
    if (argc - i != 3) throw std::invalid_argument(kUsage);
    const std::string testPath = argv[i], modelPath = argv[i + 1], outputPath = argv[i + 2];

    ctr::FieldAwareFM<float> model;
    model.load(modelPath);
    const auto test = io::readSparse<float>(testPath, read);
    const Index outside = test.countOutside(model.numFeatures(), model.numFields());
    if (outside > 0) {
      std::fprintf(stderr, "note: %lld entries of %s have a feature or field the model has not seen; skipped\n",
                   static_cast<long long>(outside), testPath.c_str());
    }
    const Eigen::VectorXf p = model.predict(test, threads);
    saveFileAtomically(outputPath, [&](std::ostream& os) {
      os.precision(6);
      for (Index k = 0; k < p.size(); ++k) os << p(k) << '\n';
    });
    std::printf("logloss = %.5f\n", model.logLoss(test, threads));
    const Eigen::VectorXf labels = test.binaryLabels();
    bool bothClasses = false;
    for (Index k = 1; k < labels.size() && !bothClasses; ++k) bothClasses = labels(k) != labels(0);
    if (bothClasses) std::printf("auc = %.5f\n", metrics::rocAuc(labels, p));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eigenrec-ffm-predict: %s\n", e.what());
    return 1;
  }
}
