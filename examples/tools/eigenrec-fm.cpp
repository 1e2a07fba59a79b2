// eigenrec-fm: libFM's command line on eigenrec's FactorizationMachine.
//
//   eigenrec-fm -task c -train train.libfm -test test.libfm [-dim 1,1,8] [-iter 100]
//               [-method mcmc|als|sgd|adagrad|ftrl] [-learn_rate 0.1] [-regular r0,r1,r2]
//               [-init_stdev 0.1] [-meta groups.txt] [-out pred.txt] [-save_model m]
//               [-load_model m] [-seed 1]
//
// Prints one line per iteration (#Iter, train and test metric: logloss for -task c,
// RMSE for -task r) and a final summary. For MCMC the -test predictions are libFM's:
// the average over the samples of every iteration. Models are eigenrec archives
// (written atomically), and unlike libFM an MCMC model can be saved: it keeps
// thinned posterior samples.
#include <eigenrec/ctr.hpp>
#include <eigenrec/metrics.hpp>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace {

using namespace eigenrec;

const char* kUsage =
    "usage: eigenrec-fm -task r|c -train <file> -test <file> [options]\n"
    "\n"
    "-task        r=regression, c=binary classification [MANDATORY]\n"
    "-train       training data, libFM / libsvm format [MANDATORY]\n"
    "-test        test data [MANDATORY]\n"
    "-dim         'k0,k1,k2': k0=use bias, k1=use 1-way interactions, k2=dim of 2-way interactions;\n"
    "             default=1,1,8\n"
    "-iter        number of iterations; default=100\n"
    "-method      learning method (sgd, adagrad, ftrl, als, mcmc); default=mcmc\n"
    "-learn_rate  learn rate for sgd and adagrad, alpha of ftrl; default=0.1\n"
    "-ftrl        'beta,l1,l2' of ftrl (on bias and 1-way weights); default=1,0,0\n"
    "-regular     'r0,r1,r2' for sgd, adagrad and als: r0=bias, r1=1-way, r2=2-way regularization;\n"
    "             one value for all; or 'r0,r1_g0,..,r1_gG,r2_g0,..,r2_gG' per group of -meta;\n"
    "             default=0\n"
    "-init_stdev  stdev for initialization of 2-way factors; default=0.1\n"
    "-meta        file with one group id per feature (line i = feature i), for per-group\n"
    "             regularization and the MCMC hyper-priors\n"
    "-out         file for the test predictions\n"
    "-save_model  file for writing the model (eigenrec archive)\n"
    "-load_model  file for reading a model: -iter 0 only predicts; sgd, adagrad and als continue\n"
    "             training from it\n"
    "-mcmc_samples  posterior samples an MCMC model keeps for later predictions; default=20\n"
    "-seed        integer seed; default=1\n"
    "-help        this screen\n";

template <typename T>
T number(const std::string& flag, const std::string& text) {
  T value{};
  const char* last = text.data() + text.size();
  const auto r = std::from_chars(text.data(), last, value);
  if (text.empty() || r.ec != std::errc() || r.ptr != last) {
    throw std::invalid_argument("-" + flag + " expects a number, got '" + text + "'");
  }
  return value;
}

template <typename T>
std::vector<T> numbers(const std::string& flag, const std::string& text) {
  std::vector<T> out;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, ',')) out.push_back(number<T>(flag, part));
  return out;
}

std::vector<int> readGroups(const std::string& path) {
  io::LineReader reader(path);
  std::vector<int> groups;
  std::string_view line;
  while (reader.next(line)) {
    std::vector<std::string_view> tokens;
    io::forEachToken(line, ' ', [&](std::string_view t) { tokens.push_back(t); });
    if (tokens.empty()) continue;
    if (tokens.size() != 1) reader.fail(reader.columnOf(tokens[1]), "expected one group id per line");
    const auto g = io::parseInt(reader, tokens[0], "group");
    if (g < 0 || g > 1000000) reader.fail(reader.columnOf(tokens[0]), "group expected in [0, 1000000]");
    groups.push_back(static_cast<int>(g));
  }
  return groups;
}

int run(const std::map<std::string, std::string>& args) {
  auto has = [&](const std::string& k) { return args.count(k) > 0; };
  auto get = [&](const std::string& k, const std::string& fallback) { return has(k) ? args.at(k) : fallback; };
  for (const auto& required : {"task", "train", "test"}) {
    if (!has(required)) throw std::invalid_argument(std::string("missing -") + required + "\n\n" + kUsage);
  }
  ctr::FmOptions o;
  const std::string task = args.at("task");
  if (task == "c") {
    o.task = ctr::FmTask::classification;
  } else if (task == "r") {
    o.task = ctr::FmTask::regression;
  } else {
    throw std::invalid_argument("-task expects r or c, got '" + task + "'");
  }
  const std::string method = get("method", "mcmc");
  if (method == "sgd") {
    o.solver = ctr::FmSolver::sgd;
  } else if (method == "adagrad") {
    o.solver = ctr::FmSolver::adagrad;
  } else if (method == "ftrl") {
    o.solver = ctr::FmSolver::ftrl;
  } else if (method == "als") {
    o.solver = ctr::FmSolver::als;
  } else if (method == "mcmc") {
    o.solver = ctr::FmSolver::mcmc;
  } else if (method == "sgda") {
    throw std::invalid_argument("-method sgda (adaptive regularization) is not implemented; use sgd, adagrad, ftrl, als or mcmc");
  } else {
    throw std::invalid_argument("-method expects sgd, adagrad, ftrl, als or mcmc, got '" + method + "'");
  }
  const auto ftrl = numbers<double>("ftrl", get("ftrl", "1,0,0"));
  if (ftrl.size() != 3) throw std::invalid_argument("-ftrl expects three values beta,l1,l2");
  o.ftrlBeta = ftrl[0];
  o.ftrlL1 = ftrl[1];
  o.ftrlL2 = ftrl[2];
  const auto dim = numbers<int>("dim", get("dim", "1,1,8"));
  if (dim.size() != 3) throw std::invalid_argument("-dim expects three values k0,k1,k2");
  o.useBias = dim[0] != 0;
  o.useLinear = dim[1] != 0;
  o.factors = dim[2];
  o.iterations = number<int>("iter", get("iter", "100"));
  const auto lr = numbers<double>("learn_rate", get("learn_rate", "0.1"));
  if (lr.size() != 1) throw std::invalid_argument("-learn_rate expects one value (per-layer rates are not supported)");
  o.learningRate = lr[0];
  o.initStdev = number<double>("init_stdev", get("init_stdev", "0.1"));
  o.seed = number<std::uint64_t>("seed", get("seed", "1"));
  o.mcmcSamples = number<Index>("mcmc_samples", get("mcmc_samples", "20"));
  if (has("meta")) o.groups = readGroups(args.at("meta"));
  const Index numGroups =
      o.groups.empty() ? 1 : Index(*std::max_element(o.groups.begin(), o.groups.end())) + 1;
  const auto reg = has("regular") ? numbers<double>("regular", args.at("regular")) : std::vector<double>{};
  if (reg.size() == 1) {
    o.regBias = o.regLinear = o.regFactors = reg[0];
  } else if (reg.size() == 3 && !has("meta")) {
    o.regBias = reg[0];
    o.regLinear = reg[1];
    o.regFactors = reg[2];
  } else if (!reg.empty() && static_cast<Index>(reg.size()) == 1 + 2 * numGroups) {
    o.regBias = reg[0];
    o.regLinearByGroup.assign(reg.begin() + 1, reg.begin() + 1 + numGroups);
    o.regFactorsByGroup.assign(reg.begin() + 1 + numGroups, reg.end());
  } else if (!reg.empty()) {
    throw std::invalid_argument("-regular expects 1, 3 or 1 + 2 x (number of groups) values, got " +
                                std::to_string(reg.size()));
  }
  o.validate("eigenrec-fm");

  io::SparseReadOptions read;  // libFM / libsvm lines, field 0
  const auto train = io::readSparse<double>(args.at("train"), read);
  const auto test = io::readSparse<double>(args.at("test"), read);
  std::printf("train: %lld cases, %lld features, targets in [%g, %g]; test: %lld cases\n",
              static_cast<long long>(train.size()), static_cast<long long>(train.numFeatures()),
              double(train.minLabel()), double(train.maxLabel()), static_cast<long long>(test.size()));
  if (o.solver == ctr::FmSolver::sgd && !o.shuffle) {
    std::printf("SGD: don't forget to shuffle the rows of the training data for the best results.\n");
  }
  const bool classify = o.task == ctr::FmTask::classification;
  o.onEpoch = [&](const ctr::EpochStats& s) {
    std::printf("#Iter=%3d\tTrain=%.6f\tTest=%.6f\t(%s, %.3f s, cpu %.3f s)\n", s.epoch - 1, s.trainLoss,
                s.validLoss, classify ? "logloss" : "rmse", s.seconds, s.cpuSeconds);
    std::fflush(stdout);
  };

  ctr::FactorizationMachine<double> model(o);
  Eigen::VectorXd predictions;
  if (has("load_model")) {
    model.load(args.at("load_model"));
    ctr::FmOptions keep = o;
    keep.factors = model.factors();
    keep.useBias = model.hasBias();
    keep.useLinear = model.hasLinear();
    keep.warmStart = true;
    model.setOptions(keep);
  }
  if (o.iterations > 0 || !has("load_model")) {
    model.fit(train, &test);
  }
  if (o.solver == ctr::FmSolver::mcmc && model.lastValidationPredictions().size() == test.size()) {
    predictions = model.lastValidationPredictions();
  } else {
    predictions = model.predict(test);
  }
  if (classify) {
    const Eigen::VectorXd labels = test.binaryLabels();
    std::printf("Final\tTest logloss=%.6f", metrics::logLoss(labels, predictions, 1e-15));
    bool both = false;
    for (Index i = 1; i < labels.size() && !both; ++i) both = labels(i) != labels(0);
    if (both) std::printf("\tAUC=%.6f", metrics::rocAuc(labels, predictions));
    std::printf("\n");
  } else {
    std::printf("Final\tTest RMSE=%.6f\tMAE=%.6f\n", metrics::rootMeanSquaredError(test.labelVector(), predictions),
                metrics::meanAbsoluteError(test.labelVector(), predictions));
  }
  if (has("out")) {
    saveFileAtomically(args.at("out"), [&](std::ostream& os) {
      os.precision(9);
      for (Index i = 0; i < predictions.size(); ++i) os << predictions(i) << '\n';
    });
  }
  if (has("save_model")) {
    std::printf("Writing FM model to %s\n", args.at("save_model").c_str());
    model.save(args.at("save_model"));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  const std::vector<std::string> known = {"task", "train", "test", "dim", "iter", "method", "learn_rate", "ftrl", "regular",
                                          "init_stdev", "meta", "out", "save_model", "load_model", "seed",
                                          "mcmc_samples", "verbosity"};
  try {
    if (argc == 1) throw std::invalid_argument(kUsage);
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "-help" || a == "--help") {
        std::printf("%s", kUsage);
        return 0;
      }
      if (a.size() < 2 || a[0] != '-') throw std::invalid_argument("expected an option, got '" + a + "'");
      a = a.substr(a[1] == '-' ? 2 : 1);
      if (std::find(known.begin(), known.end(), a) == known.end()) {
        throw std::invalid_argument("unknown option -" + a + "\n\n" + kUsage);
      }
      if (i + 1 >= argc) throw std::invalid_argument("need a value after -" + a);
      args[a] = argv[++i];
    }
    return run(args);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "eigenrec-fm: %s\n", e.what());
    return 1;
  }
}
