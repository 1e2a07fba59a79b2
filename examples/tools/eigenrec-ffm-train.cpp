// eigenrec-ffm-train: libffm's ffm-train on eigenrec's FieldAwareFM.
//
//   eigenrec-ffm-train [options] training_set_file [model_file]
//
// Accepts libffm's flags (-l -k -t -r -s -p --quiet --no-norm --no-rand --auto-stop
// --on-disk) with libffm's defaults and prints its per-iteration table. Extra flags:
// --bias, --linear, --rsqrt, --seed, --hash, --libsvm-fields, --block. The table has one more
// column than libffm's: tr_cpu, the cumulative process CPU time (tr_time is wall time,
// cumulative, as libffm's). The model is written
// atomically after training; on any error nothing is written and the exit code is 1.
#include <eigenrec/ctr.hpp>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <vector>

namespace {

using namespace eigenrec;

const char* kUsage =
    "usage: eigenrec-ffm-train [options] training_set_file [model_file]\n"
    "\n"
    "options (libffm's):\n"
    "-l <lambda>: set regularization parameter (default 0.00002)\n"
    "-k <factor>: set number of latent factors (default 4)\n"
    "-t <iteration>: set number of iterations (default 15)\n"
    "-r <eta>: set learning rate (default 0.2)\n"
    "-s <nr_threads>: set number of threads (default 1; > 1 is Hogwild, nondeterministic)\n"
    "-p <path>: set path to the validation set\n"
    "--quiet: quiet mode (no output)\n"
    "--no-norm: disable instance-wise normalization\n"
    "--no-rand: disable random update (visit examples in file order)\n"
    "--auto-stop: stop at the iteration that achieves the best validation loss (must be used with -p)\n"
    "--on-disk: perform on-disk training (a binary cache <training_set_file>.bin is written to the\n"
    "           current directory and reused while the text file is unchanged)\n"
    "options (eigenrec's):\n"
    "--bias: add a global bias term\n"
    "--linear: add linear terms\n"
    "--rsqrt: libffm's SSE step, with the CPU's approximate reciprocal square root (faster; the\n"
    "         model's bytes depend on the CPU)\n"
    "--seed <n>: random seed for initialization and shuffling (default 1)\n"
    "--hash <buckets>: hash feature tokens (any strings) into [0, buckets)\n"
    "--libsvm-fields: read 'label index:value ...' lines, the field of an entry being its position\n"
    "--block <entries>: entries per on-disk block (default 4194304)\n";

template <typename T>
T number(const std::string& flag, const std::string& text) {
  T value{};
  const char* first = text.data();
  const char* last = text.data() + text.size();
  if (!text.empty() && *first == '+') ++first;
  const std::from_chars_result r = std::from_chars(first, last, value);
  if (text.empty() || r.ec != std::errc() || r.ptr != last) {
    throw std::invalid_argument("option " + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

std::string basename(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

struct Command {
  ctr::FfmOptions ffm;
  io::SparseReadOptions read;
  std::string train, valid, model;
  bool quiet = false, onDisk = false;
  Index blockEntries = Index(1) << 22;
};

Command parse(int argc, char** argv) {
  Command c;
  c.read.format = io::SparseFormat::libffm;
  int i = 1;
  auto value = [&](const std::string& flag) -> std::string {
    if (i + 1 >= argc) throw std::invalid_argument("need to specify a value after " + flag);
    return argv[++i];
  };
  for (; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-l") {
      c.ffm.lambda = number<double>(a, value(a));
    } else if (a == "-k") {
      c.ffm.factors = number<Index>(a, value(a));
    } else if (a == "-t") {
      c.ffm.epochs = number<int>(a, value(a));
      if (c.ffm.epochs <= 0) throw std::invalid_argument("number of iterations should be greater than zero");
    } else if (a == "-r") {
      c.ffm.learningRate = number<double>(a, value(a));
    } else if (a == "-s") {
      c.ffm.threads = number<int>(a, value(a));
      if (c.ffm.threads <= 0) throw std::invalid_argument("number of threads should be greater than zero");
    } else if (a == "-p") {
      c.valid = value(a);
    } else if (a == "--quiet") {
      c.quiet = true;
    } else if (a == "--no-norm") {
      c.ffm.normalize = false;
    } else if (a == "--no-rand") {
      c.ffm.shuffle = false;
    } else if (a == "--auto-stop") {
      c.ffm.autoStop = true;
    } else if (a == "--on-disk") {
      c.onDisk = true;
    } else if (a == "--bias") {
      c.ffm.useBias = true;
    } else if (a == "--linear") {
      c.ffm.useLinear = true;
    } else if (a == "--rsqrt") {
      c.ffm.approximateRsqrt = true;
    } else if (a == "--seed") {
      c.ffm.seed = number<std::uint64_t>(a, value(a));
    } else if (a == "--hash") {
      c.read.hashBuckets = number<std::int64_t>(a, value(a));
      if (c.read.hashBuckets <= 0) throw std::invalid_argument("--hash needs a positive number of buckets");
    } else if (a == "--libsvm-fields") {
      c.read.format = io::SparseFormat::libsvm;
      c.read.fieldsFromPosition = true;
    } else if (a == "--block") {
      c.blockEntries = number<Index>(a, value(a));
      if (c.blockEntries <= 0) throw std::invalid_argument("--block needs a positive number of entries");
    } else if (a.size() > 1 && a[0] == '-') {
      throw std::invalid_argument("unknown option " + a + "\n\n" + kUsage);
    } else {
      break;
    }
  }
  if (i >= argc) throw std::invalid_argument(kUsage);
  if (argc - i > 2) throw std::invalid_argument("cannot parse command: too many arguments\n\n" + std::string(kUsage));
  c.train = argv[i];
  c.model = i + 1 < argc ? argv[i + 1] : basename(c.train) + ".model";
  if (c.ffm.autoStop && c.valid.empty()) throw std::invalid_argument("--auto-stop must be used with -p");
  c.ffm.validate("eigenrec-ffm-train");
  c.read.validate("eigenrec-ffm-train");
  return c;
}

int run(const Command& c) {
  ctr::FfmOptions options = c.ffm;
  double cumulative = 0, cumulativeCpu = 0;
  const bool hasValid = !c.valid.empty();
  if (!c.quiet) {
    options.onEpoch = [&](const ctr::EpochStats& s) {
      if (s.epoch == 1) {  // after the data is read, as libffm
        std::printf("%4s%13s", "iter", "tr_logloss");
        if (hasValid) std::printf("%13s", "va_logloss");
        std::printf("%13s%13s\n", "tr_time", "tr_cpu");
      }
      cumulative += s.seconds;
      cumulativeCpu += s.cpuSeconds;
      std::printf("%4d%13.5f", s.epoch, s.trainLoss);
      if (hasValid) std::printf("%13.5f", s.validLoss);
      std::printf("%13.1f%13.1f\n", cumulative, cumulativeCpu);
      std::fflush(stdout);
    };
  }
  ctr::FieldAwareFM<float> model(options);
  ctr::TrainingHistory history;
  if (c.onDisk) {
    auto open = [&](const std::string& text) {
      const std::string bin = basename(text) + ".bin";
      bool rebuilt = false;
      auto cache = io::SparseCache<float>::openOrBuild(text, bin, c.read, c.blockEntries, &rebuilt);
      if (!c.quiet) {
        std::printf("%s %s (%lld examples, %lld blocks)\n", rebuilt ? "Converted text to binary file" : "Binary file found:",
                    bin.c_str(), static_cast<long long>(cache.numExamples()), static_cast<long long>(cache.numBlocks()));
      }
      return cache;
    };
    auto train = open(c.train);
    if (hasValid) {
      auto valid = open(c.valid);
      history = model.fit(train, &valid);
    } else {
      history = model.fit(train);
    }
  } else {
    const auto train = io::readSparse<float>(c.train, c.read);
    if (hasValid) {
      const auto valid = io::readSparse<float>(c.valid, c.read);
      const Index outside = valid.countOutside(train.numFeatures(), train.numFields());
      if (outside > 0 && !c.quiet) {
        std::fprintf(stderr, "note: %lld entries of %s have a feature or field unseen in training; they are skipped\n",
                     static_cast<long long>(outside), c.valid.c_str());
      }
      history = model.fit(train, &valid);
    } else {
      history = model.fit(train);
    }
  }
  if (history.stoppedEarly && !c.quiet) std::printf("Auto-stop. Use model at %dth iteration.\n", history.bestEpoch);
  model.save(c.model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Command command;
  try {
    command = parse(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  try {
    return run(command);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eigenrec-ffm-train: %s\n", e.what());
    return 1;
  }
}
