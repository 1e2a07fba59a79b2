// eigenrec/ctr/fm.hpp: factorization machines (Rendle, ICDM 2010) with libFM's solvers.
//
// Model: for an example x with entries (j_e, x_e),
//   yhat(x) = w0 + sum_e w[j_e] x_e + 1/2 sum_f [(sum_e V(f, j_e) x_e)^2 - sum_e V(f, j_e)^2 x_e^2]
// (the O(k nnz) form of sum_{e1 < e2} <V(:, j_e1), V(:, j_e2)> x_e1 x_e2); the bias, the
// linear and the pairwise part can each be switched off (libFM -dim k0,k1,k2). Features
// >= numFeatures() are skipped.
//
// Tasks: regression (predictions clipped to the range of the training targets, as
// libFM) and binary classification (label > 0 is positive; y = +1 / -1). The link of a
// classifier depends on how it was trained, as in libFM: logistic for SGD / AdaGrad,
// probit (Gaussian CDF) for ALS and MCMC.
//
// Solvers (libFM's, src/fm_core/fm_sgd.h, src/libfm/src/fm_learn_*.h):
//   sgd     per example, in file order (shuffle optional), mult = dloss/dyhat
//           (regression -(y - clip(yhat)), classification -y (1 - sigmoid(y yhat))):
//             w0 -= eta (mult + r0 w0),  w_j -= eta (mult x_j + r1 w_j),
//             V(f,j) -= eta (mult (s_f x_j - V(f,j) x_j^2) + r2 V(f,j)),
//           with s_f = sum_e V(f, j_e) x_e taken before the update, and L2 only on the
//           parameters the example touches (lazy);
//   adagrad the same gradients, each parameter stepped by eta g / sqrt(G), G += g^2,
//           G starting at initialAccumulator (not in libFM);
//   ftrl    FTRL-Proximal (McMahan et al. 2013; nn::ftrlProximalStep) on the bias and the
//           linear weights, alpha = learningRate, with ftrlBeta, ftrlL1, ftrlL2 (L1 makes
//           the linear part sparse), and AdaGrad on the factors (FTRL derives each weight
//           from its state and would collapse factors that start symmetric); the libFM
//           regularisers r0 and r1 are not used, r2 still applies to the factors;
//   als     coordinate descent: each parameter set to the minimiser of the squared loss
//           plus L2 given all others (libFM -method als: MCMC without sampling and with
//           fixed hyper-parameters); classification fits the probit latent targets;
//   mcmc    Gibbs sampling of every parameter, of the noise precision alpha and of the
//           per-group hyper-parameters (mu, lambda) under libFM's priors
//           (alpha_0 = beta_0 = gamma_0 = 1, mu_0 = 0); classification samples probit
//           latent targets. Predictions average the samples of every iteration.
// Per-group regularisation: FmOptions::groups maps features to groups; regLinearByGroup
// / regFactorsByGroup give one lambda per group (libFM -meta and -regular r0,l1_g..,l2_g..).
// Weighted examples: SGD / AdaGrad scale the loss, ALS / MCMC the noise precision.
#ifndef EIGENREC_CTR_FM_HPP
#define EIGENREC_CTR_FM_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/math.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/progress.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/ctr/sparse_batch.hpp>
#include <eigenrec/nn/optimizer.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <istream>
#include <limits>
#include <numeric>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

namespace eigenrec::ctr {

enum class FmTask { regression, classification };
enum class FmSolver { sgd, adagrad, ftrl, als, mcmc };
/// How a classifier turns yhat into a probability (regression: identity + clipping).
enum class FmLink { identity, logistic, probit };

inline const char* solverName(FmSolver s) {
  switch (s) {
    case FmSolver::sgd: return "sgd";
    case FmSolver::adagrad: return "adagrad";
    case FmSolver::ftrl: return "ftrl";
    case FmSolver::als: return "als";
    case FmSolver::mcmc: return "mcmc";
  }
  return "unknown";
}

/// Options of FactorizationMachine. Defaults are libFM's (-dim 1,1,8 -iter 100
/// -init_stdev 0.1 -learn_rate 0.1 -method mcmc, regularisation 0), except the task,
/// which libFM requires on the command line.
struct FmOptions {
  FmTask task = FmTask::classification;  ///< -task c / r
  FmSolver solver = FmSolver::mcmc;      ///< -method
  bool useBias = true;                   ///< k0 of -dim
  bool useLinear = true;                 ///< k1 of -dim
  Index factors = 8;                     ///< k2 of -dim (0 = no pairwise term)
  int iterations = 100;                  ///< -iter
  double learningRate = 0.1;             ///< -learn_rate (sgd, adagrad)
  double initStdev = 0.1;                ///< -init_stdev: V ~ N(initMean, initStdev^2) (and w for ALS / MCMC)
  double initMean = 0.0;
  double regBias = 0.0;                  ///< r0 of -regular
  double regLinear = 0.0;                ///< r1 (every group, unless regLinearByGroup)
  double regFactors = 0.0;               ///< r2 (every group, unless regFactorsByGroup)
  std::vector<int> groups;               ///< feature -> group (libFM -meta); empty = one group
  std::vector<double> regLinearByGroup;  ///< one lambda per group, or empty
  std::vector<double> regFactorsByGroup; ///< one lambda per group, or empty
  double initialAccumulator = 1.0;       ///< AdaGrad's G0 (adagrad, and ftrl's factors)
  double ftrlBeta = 1.0;                 ///< ftrl: beta of the per-coordinate learning rate
  double ftrlL1 = 0.0;                   ///< ftrl: L1 on bias and linear weights
  double ftrlL2 = 0.0;                   ///< ftrl: L2 on bias and linear weights
  bool shuffle = false;                  ///< sgd / adagrad: random order each epoch (libFM: file order)
  Index numFeatures = 0;                 ///< 0 = largest feature of train and validation + 1 (libFM)
  Index mcmcSamples = 20;                ///< MCMC samples kept in the model for predict() (0 = none)
  std::uint64_t seed = 1;
  bool warmStart = false;                ///< sgd / adagrad / als continue from the current parameters
  ProgressCallback progress;             ///< examples (sgd, adagrad) or iterations (als, mcmc)
  EpochCallback onEpoch;                 ///< after each iteration

  void validate(std::string_view where = "FmOptions") const {
    checkBetween(where, "factors", factors, Index(0), Index(4096));
    checkNonNegative(where, "iterations", iterations);
    checkExpected(std::isfinite(learningRate) && learningRate > 0, where, "learningRate", "finite and > 0", learningRate);
    checkExpected(std::isfinite(initStdev) && initStdev >= 0, where, "initStdev", "finite and >= 0", initStdev);
    checkFinite(where, "initMean", initMean);
    for (const double r : {regBias, regLinear, regFactors}) {
      checkExpected(std::isfinite(r) && r >= 0, where, "regularisation", "finite and >= 0", r);
    }
    for (const double r : regLinearByGroup) {
      checkExpected(std::isfinite(r) && r >= 0, where, "regLinearByGroup", "finite and >= 0", r);
    }
    for (const double r : regFactorsByGroup) {
      checkExpected(std::isfinite(r) && r >= 0, where, "regFactorsByGroup", "finite and >= 0", r);
    }
    checkExpected(std::isfinite(initialAccumulator) && initialAccumulator > 0, where, "initialAccumulator",
                  "finite and > 0", initialAccumulator);
    for (const double r : {ftrlBeta, ftrlL1, ftrlL2}) {
      checkExpected(std::isfinite(r) && r >= 0, where, "ftrlBeta / ftrlL1 / ftrlL2", "finite and >= 0", r);
    }
    checkNonNegative(where, "numFeatures", numFeatures);
    checkNonNegative(where, "mcmcSamples", mcmcSamples);
    for (const int g : groups) checkNonNegative(where, "groups entry", g);
    const Index numGroups = groups.empty() ? 1 : Index(*std::max_element(groups.begin(), groups.end())) + 1;
    if (!regLinearByGroup.empty()) {
      checkEqual(where, "regLinearByGroup size (number of groups)", numGroups, Index(regLinearByGroup.size()));
    }
    if (!regFactorsByGroup.empty()) {
      checkEqual(where, "regFactorsByGroup size (number of groups)", numGroups, Index(regFactorsByGroup.size()));
    }
  }
};

namespace detail {

// Gamma(shape, rate) by Marsaglia & Tsang (2000), boosted for shape < 1 (as libFM).
inline double sampleGamma(Rng& rng, double shape, double rate) {
  double boost = 1.0;
  if (shape < 1.0) {
    double u;
    do {
      u = rng.uniform<double>();
    } while (u <= 0.0);
    boost = std::pow(u, 1.0 / shape);
    shape += 1.0;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      x = rng.normal<double>();
      v = 1.0 + c * x;
    } while (v <= 0.0);
    v = v * v * v;
    const double u = rng.uniform<double>();
    if (u < 1.0 - 0.0331 * (x * x) * (x * x)) return boost * d * v / rate;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return boost * d * v / rate;
  }
}

// Standard normal truncated to [left, inf) (Robert 1995 for left > 0, as libFM).
inline double sampleLeftTruncatedNormal(Rng& rng, double left) {
  if (left <= 0.0) {
    while (true) {
      const double z = rng.normal<double>();
      if (z >= left) return z;
    }
  }
  const double alphaStar = 0.5 * (left + std::sqrt(left * left + 4.0));
  while (true) {
    const double z = -std::log(1.0 - rng.uniform<double>()) / alphaStar + left;
    const double d = z - alphaStar;
    if (rng.uniform<double>() < std::exp(-0.5 * d * d)) return z;
  }
}

inline double normalCdfStd(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

// mean + stddev * N(0, 1), the same number as rng.normal(mean, stddev), but a NaN / inf
// mean or stddev (a diverging posterior) is not rejected: it gives a non-finite draw,
// which the MCMC callers replace as libFM does.
inline double drawNormalUnchecked(Rng& rng, double mean, double stddev) { return mean + stddev * rng.normal<double>(); }

}  // namespace detail

/// Factorization machine (see the file comment).
///
/// Shapes: numFeatures() = n, factors() = k; linear() is (n), factorMatrix() is (k, n)
/// with column j the latent vector of feature j. Predictions for a batch are (size()):
/// clipped values (regression) or probabilities (classification).
template <typename Scalar = float>
class FactorizationMachine {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  static constexpr const char* kKind = "ctr.FactorizationMachine";
  static constexpr std::uint32_t kKindVersion = 1;

  explicit FactorizationMachine(FmOptions options = {}) : m_options(std::move(options)) {
    m_options.validate("FactorizationMachine");
  }

  const FmOptions& options() const noexcept { return m_options; }
  void setOptions(FmOptions options) {
    options.validate("FactorizationMachine::setOptions");
    m_options = std::move(options);
  }

  /// Allocates a model for n features and initialises it from the seed (libFM: w0 = 0,
  /// w = 0, V ~ N(initMean, initStdev^2); ALS and MCMC also draw w from that normal).
  void initialize(Index numFeatures) {
    const char* where = "FactorizationMachine::initialize";
    checkBetween(where, "numFeatures", numFeatures, Index(1), SparseBatch<Scalar>::kMaxIndex + 1);
    m_n = numFeatures;
    m_k = m_options.factors;
    m_task = m_options.task;
    m_useBias = m_options.useBias;
    m_useLinear = m_options.useLinear;
    m_link = linkFor(m_options);
    Rng rng(m_options.seed);
    m_w0 = 0;
    m_w = Vector<Scalar>::Zero(m_n);
    m_V.resize(m_k, m_n);
    adviseHugePages(m_V);  // columns read at random
    for (Index j = 0; j < m_n; ++j) {
      for (Index f = 0; f < m_k; ++f) {
        m_V(f, j) = static_cast<Scalar>(rng.normal<double>(m_options.initMean, m_options.initStdev));
      }
    }
    if (m_options.solver == FmSolver::als || m_options.solver == FmSolver::mcmc) {
      for (Index j = 0; j < m_n; ++j) m_w(j) = static_cast<Scalar>(rng.normal<double>(m_options.initMean, m_options.initStdev));
    }
    m_samples.clear();
    m_rng = rng;
    m_minTarget = -std::numeric_limits<double>::infinity();
    m_maxTarget = std::numeric_limits<double>::infinity();
  }

  bool initialized() const noexcept { return m_n > 0; }
  Index numFeatures() const noexcept { return m_n; }
  Index factors() const noexcept { return m_k; }
  FmTask task() const noexcept { return m_task; }
  FmLink link() const noexcept { return m_link; }
  bool hasBias() const noexcept { return m_useBias; }
  bool hasLinear() const noexcept { return m_useLinear; }
  /// Range that regression predictions are clipped to (the training targets').
  double minTarget() const noexcept { return m_minTarget; }
  double maxTarget() const noexcept { return m_maxTarget; }
  void setTargetRange(double lo, double hi) {
    checkArgument(!(lo > hi), "FactorizationMachine::setTargetRange", "lo must be <= hi");
    m_minTarget = lo;
    m_maxTarget = hi;
  }

  Scalar& bias() noexcept { return m_w0; }
  Scalar bias() const noexcept { return m_w0; }
  /// (n) linear weights.
  Vector<Scalar>& linear() noexcept { return m_w; }
  const Vector<Scalar>& linear() const noexcept { return m_w; }
  /// (k, n) latent factors, one column per feature.
  Matrix<Scalar>& factorMatrix() noexcept { return m_V; }
  const Matrix<Scalar>& factorMatrix() const noexcept { return m_V; }
  /// Number of MCMC samples kept for predict() (0 for the other solvers).
  Index numSamples() const noexcept { return static_cast<Index>(m_samples.size()); }

  /// Trains on `train`. `validation`, if given, is evaluated after every iteration
  /// (logloss or RMSE in the history); for MCMC its predictions are libFM's average over
  /// all iterations and are returned by lastValidationPredictions().
  TrainingHistory fit(const SparseBatch<Scalar>& train, const SparseBatch<Scalar>* validation = nullptr) {
    const char* where = "FactorizationMachine::fit";
    m_options.validate(where);
    checkNotEmpty(where, "train", train.size());
    if (validation) checkNotEmpty(where, "validation", validation->size());
    Index n = std::max(m_options.numFeatures, train.numFeatures());
    if (validation && m_options.numFeatures == 0) n = std::max(n, validation->numFeatures());
    checkExpected(n >= 1, where, "train", "at least one feature", "examples without entries only");
    if (!m_options.groups.empty()) {
      checkExpected(static_cast<Index>(m_options.groups.size()) >= n, where, "groups size", eigenrec::detail::concat(">= ", n),
                    m_options.groups.size());
    }
    const bool sampling = m_options.solver == FmSolver::mcmc;
    const bool keep = m_options.warmStart && !sampling && initialized() && n == m_n && m_options.factors == m_k;
    if (!keep) {
      initialize(n);
    } else {
      m_task = m_options.task;
      m_useBias = m_options.useBias;
      m_useLinear = m_options.useLinear;
      m_link = linkFor(m_options);
      m_samples.clear();
    }
    m_minTarget = static_cast<double>(train.minLabel());
    m_maxTarget = static_cast<double>(train.maxLabel());
    m_validPredictions.resize(0);
    switch (m_options.solver) {
      case FmSolver::sgd:
      case FmSolver::adagrad:
      case FmSolver::ftrl: return fitSgd(train, validation);
      case FmSolver::als:
      case FmSolver::mcmc: return fitMcmc(train, validation);
    }
    return {};
  }

  /// For MCMC: the validation predictions averaged over every iteration of the last
  /// fit (libFM's -out for the -test file). Empty for other solvers or no validation.
  const Vector<Scalar>& lastValidationPredictions() const noexcept { return m_validPredictions; }

  /// One SGD (or AdaGrad) step on one example; returns its loss before the step
  /// (logistic, or squared error / 2). Uses the current options' solver and rates.
  Scalar trainExample(const SparseExample<Scalar>& x) {
    checkArgument(initialized(), "FactorizationMachine::trainExample", "model not initialised (call initialize or fit)");
    checkArgument(m_options.solver == FmSolver::sgd || m_options.solver == FmSolver::adagrad ||
                      m_options.solver == FmSolver::ftrl,
                  "FactorizationMachine::trainExample", "solver must be sgd, adagrad or ftrl");
    ensureAccumulators();
    Vector<Scalar> sum(2 * m_k);
    return static_cast<Scalar>(sgdStep(x, sum));
  }

  /// yhat(x) of the current parameters, unclipped.
  Scalar score(const SparseExample<Scalar>& x) const {
    checkArgument(initialized(), "FactorizationMachine::score", "model not initialised (call initialize or fit)");
    Vector<Scalar> sum(2 * m_k);
    return scoreWith(x, m_w0, m_w, m_V, sum);
  }

  /// Prediction for one example: clipped value or probability; with kept MCMC samples
  /// the mean over them.
  Scalar predict(const SparseExample<Scalar>& x) const {
    checkArgument(initialized(), "FactorizationMachine::predict", "model not initialised (call initialize or fit)");
    Vector<Scalar> sum(2 * m_k);
    return predictOne(x, sum);
  }

  /// (batch.size()) predictions.
  Vector<Scalar> predict(const SparseBatch<Scalar>& batch, int threads = 1) const {
    Vector<Scalar> out;
    predict(batch, out, threads);
    return out;
  }
  void predict(const SparseBatch<Scalar>& batch, Vector<Scalar>& out, int threads = 1) const {
    const char* where = "FactorizationMachine::predict";
    checkArgument(initialized(), where, "model not initialised (call initialize or fit)");
    out.resize(batch.size());
    parallelFor(0, batch.size(), 4096, resolveThreads(threads, where), [&](Index b, Index e) {
      Vector<Scalar> sum(2 * m_k);
      for (Index i = b; i < e; ++i) out(i) = predictOne(batch.example(i), sum);
    });
  }

  /// Writes the model to an archive (parameters, target range, kept MCMC samples).
  void save(std::ostream& os) const {
    checkArgument(initialized(), "FactorizationMachine::save", "model not initialised");
    ArchiveWriter w(os, kKind, kKindVersion);
    w.writeValue("numFeatures", static_cast<std::int64_t>(m_n));
    w.writeValue("factors", static_cast<std::int64_t>(m_k));
    w.writeValue("task", static_cast<std::uint8_t>(m_task == FmTask::classification));
    w.writeValue("link", static_cast<std::uint8_t>(m_link));
    w.writeValue("useBias", static_cast<std::uint8_t>(m_useBias));
    w.writeValue("useLinear", static_cast<std::uint8_t>(m_useLinear));
    w.writeValue("minTarget", m_minTarget);
    w.writeValue("maxTarget", m_maxTarget);
    w.writeValue("bias", m_w0);
    w.write("linear", m_w);
    w.write("factors", m_V);
    const Index s = numSamples();
    Vector<Scalar> biases(s);
    Matrix<Scalar> linears(m_n, s), factors(m_k, m_n * s);
    for (Index i = 0; i < s; ++i) {
      const auto& sample = m_samples[static_cast<std::size_t>(i)];
      biases(i) = sample.w0;
      linears.col(i) = sample.w;
      factors.middleCols(i * m_n, m_n) = sample.V;
    }
    w.writeValue("samples", static_cast<std::int64_t>(s));
    w.write("sampleBiases", biases);
    w.write("sampleLinear", linears);
    w.write("sampleFactors", factors);
    w.finish();
  }

  void save(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  /// Reads a model written by save(); on error the model is unchanged. Sets the
  /// options' task, factors, useBias and useLinear from the file.
  void load(std::istream& is, const std::string& source = "") {
    ArchiveReader r(is, kKind, kKindVersion, source);
    auto bad = [&](const std::string& what) { throw FormatError(source.empty() ? "<archive>" : source, 0, 0, what); };
    const auto n = r.readValue<std::int64_t>("numFeatures");
    const auto k = r.readValue<std::int64_t>("factors");
    const auto task = r.readValue<std::uint8_t>("task");
    const auto link = r.readValue<std::uint8_t>("link");
    const auto useBias = r.readValue<std::uint8_t>("useBias");
    const auto useLinear = r.readValue<std::uint8_t>("useLinear");
    if (n < 1 || n > SparseBatch<Scalar>::kMaxIndex + 1 || k < 0 || k > 4096 || task > 1 || link > 2 ||
        useBias > 1 || useLinear > 1) {
      bad("implausible model header");
    }
    const auto minTarget = r.readValue<double>("minTarget");
    const auto maxTarget = r.readValue<double>("maxTarget");
    const auto w0 = r.readValue<Scalar>("bias");
    Vector<Scalar> w;
    r.read("linear", w, n);
    Matrix<Scalar> V;
    r.read("factors", V, k, n);
    const auto s = r.readValue<std::int64_t>("samples");
    if (s < 0 || s > (std::int64_t(1) << 20)) bad("implausible sample count");
    Vector<Scalar> biases;
    Matrix<Scalar> linears, factors;
    r.read("sampleBiases", biases, s);
    r.read("sampleLinear", linears, n, s);
    r.read("sampleFactors", factors, k, n * s);
    r.finish();
    std::vector<Sample> samples(static_cast<std::size_t>(s));
    for (Index i = 0; i < s; ++i) {
      samples[static_cast<std::size_t>(i)] = Sample{biases(i), linears.col(i), factors.middleCols(i * n, n)};
    }
    m_n = n;
    m_k = k;
    m_task = task ? FmTask::classification : FmTask::regression;
    m_link = static_cast<FmLink>(link);
    m_useBias = useBias != 0;
    m_useLinear = useLinear != 0;
    m_minTarget = minTarget;
    m_maxTarget = maxTarget;
    m_w0 = w0;
    m_w = std::move(w);
    m_V = std::move(V);
    m_samples = std::move(samples);
    m_G0 = 0;
    m_Gw.resize(0);
    m_GV.resize(0, 0);
    m_ftrlZ.resize(0);
    m_ftrlN.resize(0);
    m_options.task = m_task;
    m_options.factors = k;
    m_options.useBias = m_useBias;
    m_options.useLinear = m_useLinear;
    m_rng = Rng(m_options.seed);
  }

  void load(const std::string& path) {
    loadFile(path, [&](std::istream& is) { load(is, path); });
  }

 private:
  struct Sample {
    Scalar w0;
    Vector<Scalar> w;
    Matrix<Scalar> V;
  };

  static FmLink linkFor(const FmOptions& o) {
    if (o.task == FmTask::regression) return FmLink::identity;
    return (o.solver == FmSolver::sgd || o.solver == FmSolver::adagrad || o.solver == FmSolver::ftrl)
               ? FmLink::logistic
               : FmLink::probit;
  }

  int groupOf(Index j) const { return m_options.groups.empty() ? 0 : m_options.groups[static_cast<std::size_t>(j)]; }
  double regLinearOf(int g) const {
    return m_options.regLinearByGroup.empty() ? m_options.regLinear : m_options.regLinearByGroup[static_cast<std::size_t>(g)];
  }
  double regFactorsOf(int g) const {
    return m_options.regFactorsByGroup.empty() ? m_options.regFactors
                                               : m_options.regFactorsByGroup[static_cast<std::size_t>(g)];
  }

  // yhat with the given parameters; `sum` (2k) receives s_f = sum_e V(f, j_e) x_e in its
  // first k entries and sum_e (V(f, j_e) x_e)^2 in the next k (libFM's sum and sum_sqr).
  Scalar scoreWith(const SparseExample<Scalar>& x, Scalar w0, const Vector<Scalar>& w, const Matrix<Scalar>& V,
                   Vector<Scalar>& sum) const {
    switch (m_k) {
      case 4: return scoreFixed<4>(x, w0, w, V, sum.data());
      case 8: return scoreFixed<8>(x, w0, w, V, sum.data());
      case 16: return scoreFixed<16>(x, w0, w, V, sum.data());
      case 32: return scoreFixed<32>(x, w0, w, V, sum.data());
      default: return scoreFixed<0>(x, w0, w, V, sum.data());
    }
  }

  // K > 0: the latent dimension at compile time (fixed-size Eigen arrays, vectorised
  // whatever the SIMD width); K = 0: runtime m_k, plain loops.
  template <int K>
  Scalar scoreFixed(const SparseExample<Scalar>& x, Scalar w0, const Vector<Scalar>& w, const Matrix<Scalar>& V,
                    Scalar* sumOut) const {
    Scalar lin = 0, pairwise = 0;
    if constexpr (K > 0) {
      using Lane = Eigen::Array<Scalar, K, 1>;
      Lane s = Lane::Zero(), sq = Lane::Zero();
      for (Index e = 0; e < x.size; ++e) {
        const Index j = x.features[e];
        if (j >= m_n) continue;
        const Scalar v = x.values[e];
        lin += w(j) * v;
        const Lane d = Eigen::Map<const Lane>(V.data() + j * K) * v;
        s += d;
        sq += d * d;
      }
      Eigen::Map<Lane> outSum(sumOut), outSq(sumOut + K);
      outSum = s;
      outSq = sq;
      const Lane t = s * s - sq;
      for (int f = 0; f < K; ++f) pairwise += t[f];  // (not Eigen's sum(): GCC 12 AVX-512 false positive)
    } else {
      const Index k = m_k;
      Scalar* s = sumOut;
      Scalar* sq = sumOut + k;
      for (Index f = 0; f < 2 * k; ++f) s[f] = Scalar(0);
      for (Index e = 0; e < x.size; ++e) {
        const Index j = x.features[e];
        if (j >= m_n) continue;
        const Scalar v = x.values[e];
        lin += w(j) * v;
        const Scalar* col = V.data() + j * k;
        for (Index f = 0; f < k; ++f) {
          const Scalar d = col[f] * v;
          s[f] += d;
          sq[f] += d * d;
        }
      }
      for (Index f = 0; f < k; ++f) pairwise += s[f] * s[f] - sq[f];
    }
    Scalar result = m_useBias ? w0 : Scalar(0);
    if (m_useLinear) result += lin;
    return result + Scalar(0.5) * pairwise;
  }

  // V(:, j) -= eta (m (s x - V(:, j) x^2) + reg V(:, j)) (libFM's SGD step of one column).
  template <int K>
  static void sgdColumn(Scalar* col, const Scalar* s, Index k, Scalar m, Scalar v, Scalar eta, Scalar reg) {
    const Scalar vv = v * v;
    if constexpr (K > 0) {
      using Lane = Eigen::Array<Scalar, K, 1>;
      Eigen::Map<Lane> c(col);
      const Lane old = c;
      c = old - eta * (m * (Eigen::Map<const Lane>(s) * v - old * vv) + reg * old);
    } else {
      for (Index f = 0; f < k; ++f) col[f] -= eta * (m * (s[f] * v - col[f] * vv) + reg * col[f]);
    }
  }

  Scalar applyLink(Scalar yhat) const {
    switch (m_link) {
      case FmLink::identity:
        return static_cast<Scalar>(std::min(m_maxTarget, std::max(m_minTarget, static_cast<double>(yhat))));
      case FmLink::logistic: return sigmoid(yhat);
      case FmLink::probit: return static_cast<Scalar>(detail::normalCdfStd(static_cast<double>(yhat)));
    }
    return yhat;
  }

  Scalar predictOne(const SparseExample<Scalar>& x, Vector<Scalar>& sum) const {
    if (m_samples.empty()) return applyLink(scoreWith(x, m_w0, m_w, m_V, sum));
    double total = 0;
    for (const auto& s : m_samples) total += static_cast<double>(applyLink(scoreWith(x, s.w0, s.w, s.V, sum)));
    return static_cast<Scalar>(total / static_cast<double>(m_samples.size()));
  }

  void ensureAccumulators() {
    if (m_Gw.size() != m_n || m_GV.cols() != m_n || m_GV.rows() != m_k) {
      const auto g0 = static_cast<Scalar>(m_options.initialAccumulator);
      m_G0 = g0;
      m_Gw = Vector<Scalar>::Constant(m_n, g0);
      m_GV = Matrix<Scalar>::Constant(m_k, m_n, g0);
    }
    if (m_options.solver == FmSolver::ftrl && m_ftrlZ.size() != m_n + 1) {
      // FTRL state of the bias (entry m_n) and the linear weights (entries 0..n-1).
      m_ftrlZ = Vector<Scalar>::Zero(m_n + 1);
      m_ftrlN = Vector<Scalar>::Zero(m_n + 1);
    }
  }

  // ---- SGD / AdaGrad -------------------------------------------------------------------

  // One step; returns weight * loss (logistic or squared error / 2) before the step.
  double sgdStep(const SparseExample<Scalar>& x, Vector<Scalar>& sum) {
    const Scalar yhat = scoreWith(x, m_w0, m_w, m_V, sum);
    double mult, loss;
    if (m_task == FmTask::regression) {
      const double p = std::min(m_maxTarget, std::max(m_minTarget, static_cast<double>(yhat)));
      const double err = p - static_cast<double>(x.label);
      mult = err;
      loss = 0.5 * err * err;
    } else {
      const double y = x.label > Scalar(0) ? 1.0 : -1.0;
      const double yy = y * static_cast<double>(yhat);
      mult = -y * (1.0 - sigmoid(yy));
      loss = softplus(-yy);
    }
    const auto m = static_cast<Scalar>(mult * static_cast<double>(x.weight));
    const auto eta = static_cast<Scalar>(m_options.learningRate);
    const bool ftrl = m_options.solver == FmSolver::ftrl;
    const bool ada = m_options.solver == FmSolver::adagrad || ftrl;  // ftrl: AdaGrad on the factors
    const auto ftrlStep = [&](Scalar& w, Scalar g, Index slot) {
      nn::ftrlProximalStep(&w, &g, m_ftrlZ.data() + slot, m_ftrlN.data() + slot, 1, m_options.learningRate,
                           m_options.ftrlBeta, m_options.ftrlL1, m_options.ftrlL2);
    };
    if (m_useBias && ftrl) {
      ftrlStep(m_w0, m, m_n);
    } else if (m_useBias) {
      const Scalar g = m + static_cast<Scalar>(m_options.regBias) * m_w0;
      if (ada) {
        m_G0 += g * g;
        m_w0 -= eta * g / std::sqrt(m_G0);
      } else {
        m_w0 -= eta * g;
      }
    }
    for (Index e = 0; e < x.size; ++e) {
      const Index j = x.features[e];
      if (j >= m_n) continue;
      const Scalar v = x.values[e];
      const int group = groupOf(j);
      if (m_useLinear && ftrl) {
        ftrlStep(m_w(j), m * v, j);
      } else if (m_useLinear) {
        const Scalar g = m * v + static_cast<Scalar>(regLinearOf(group)) * m_w(j);
        if (ada) {
          m_Gw(j) += g * g;
          m_w(j) -= eta * g / std::sqrt(m_Gw(j));
        } else {
          m_w(j) -= eta * g;
        }
      }
      if (m_k > 0) {
        const auto reg = static_cast<Scalar>(regFactorsOf(group));
        Scalar* col = m_V.data() + j * m_k;
        const Scalar* s = sum.data();
        const Scalar vv = v * v;
        if (ada) {
          Scalar* G = m_GV.data() + j * m_k;
          for (Index f = 0; f < m_k; ++f) {
            const Scalar g = m * (s[f] * v - col[f] * vv) + reg * col[f];
            G[f] += g * g;
            col[f] -= eta * g / std::sqrt(G[f]);
          }
        } else {
          switch (m_k) {
            case 4: sgdColumn<4>(col, s, m_k, m, v, eta, reg); break;
            case 8: sgdColumn<8>(col, s, m_k, m, v, eta, reg); break;
            case 16: sgdColumn<16>(col, s, m_k, m, v, eta, reg); break;
            case 32: sgdColumn<32>(col, s, m_k, m, v, eta, reg); break;
            default: sgdColumn<0>(col, s, m_k, m, v, eta, reg); break;
          }
        }
      }
    }
    return static_cast<double>(x.weight) * loss;
  }

  TrainingHistory fitSgd(const SparseBatch<Scalar>& train, const SparseBatch<Scalar>* validation) {
    if (m_options.solver == FmSolver::adagrad || m_options.solver == FmSolver::ftrl) {
      m_Gw.resize(0);
      m_ftrlZ.resize(0);
      ensureAccumulators();
    }
    TrainingHistory history;
    std::vector<Index> order(static_cast<std::size_t>(train.size()));
    std::iota(order.begin(), order.end(), Index(0));
    Vector<Scalar> sum(2 * m_k);
    double weightSum = 0;
    for (Index i = 0; i < train.size(); ++i) weightSum += static_cast<double>(train.weight(i));
    for (int it = 1; it <= m_options.iterations; ++it) {
      const auto start = std::chrono::steady_clock::now();
      const double cpuStart = detail::processCpuSeconds();
      if (m_options.shuffle) eigenrec::shuffle(order.begin(), order.end(), m_rng);
      ProgressTracker tracker(m_options.progress, train.size(), eigenrec::detail::concat("iteration ", it, "/", m_options.iterations),
                              "examples");
      double lossSum = 0;
      for (Index ii = 0; ii < train.size(); ++ii) {
        lossSum += sgdStep(train.example(order[static_cast<std::size_t>(ii)]), sum);
        if ((ii & 0xFFFF) == 0xFFFF) tracker.update(ii + 1);
      }
      EpochStats stats;
      stats.epoch = it;
      stats.trainLoss = weightSum > 0 ? lossSum / weightSum : 0.0;
      if (m_task == FmTask::regression) stats.trainLoss = std::sqrt(2.0 * stats.trainLoss);
      stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      stats.cpuSeconds = detail::processCpuSeconds() - cpuStart;
      tracker.finish(train.size(), stats.trainLoss);
      if (!std::isfinite(stats.trainLoss)) {
        throw NumericalError(eigenrec::detail::concat("FactorizationMachine::fit: training loss became ", stats.trainLoss,
                                            " in iteration ", it, " (learning rate too large?)"));
      }
      if (validation) stats.validLoss = evaluate(*validation, predict(*validation));
      history.epochs.push_back(stats);
      history.bestEpoch = it;
      if (m_options.onEpoch) m_options.onEpoch(stats);
    }
    return history;
  }

  // Logloss (classification) or RMSE (regression) of predictions p on `batch`.
  double evaluate(const SparseBatch<Scalar>& batch, const Vector<Scalar>& p) const {
    double total = 0, weights = 0;
    for (Index i = 0; i < batch.size(); ++i) {
      const double w = static_cast<double>(batch.weight(i));
      const double pi = static_cast<double>(p(i));
      if (m_task == FmTask::regression) {
        const double err = pi - static_cast<double>(batch.label(i));
        total += w * err * err;
      } else {
        const double eps = 1e-15;
        const double q = std::min(1.0 - eps, std::max(eps, pi));
        total += w * -(batch.label(i) > Scalar(0) ? std::log(q) : std::log1p(-q));
      }
      weights += w;
    }
    const double mean = weights > 0 ? total / weights : 0.0;
    return m_task == FmTask::regression ? std::sqrt(mean) : mean;
  }

  // ---- ALS / MCMC ------------------------------------------------------------------------

  // Column view of the training data: for feature j the cases and values holding it.
  struct Transposed {
    std::vector<std::int64_t> start;  // n + 1
    std::vector<std::uint32_t> cases;  // 4 bytes: the sweeps stream this array k times
    std::vector<double> values;
  };

  Transposed transpose(const SparseBatch<Scalar>& batch) const {
    Transposed t;
    t.start.assign(static_cast<std::size_t>(m_n) + 1, 0);
    for (const auto j : batch.features()) {
      if (j < m_n) ++t.start[static_cast<std::size_t>(j) + 1];
    }
    for (std::size_t j = 0; j < static_cast<std::size_t>(m_n); ++j) t.start[j + 1] += t.start[j];
    std::vector<std::int64_t> fill(t.start.begin(), t.start.end() - 1);
    t.cases.resize(static_cast<std::size_t>(t.start.back()));
    t.values.resize(t.cases.size());
    for (Index c = 0; c < batch.size(); ++c) {
      const auto x = batch.example(c);
      for (Index e = 0; e < x.size; ++e) {
        const auto j = static_cast<std::size_t>(x.features[e]);
        if (x.features[e] >= m_n) continue;
        const auto pos = static_cast<std::size_t>(fill[j]++);
        t.cases[pos] = static_cast<std::uint32_t>(c);
        t.values[pos] = static_cast<double>(x.values[e]);
      }
    }
    return t;
  }

  // Posterior draw (or mode) of one coefficient with prior N(mu, 1/lambda) given
  // precision `precision` = lambda + alpha * sum h^2 and `meanTerm` = alpha * sum h
  // (e - theta h) - mu lambda (libFM's form; e = yhat - target). Returns the old value
  // if the result is not finite (libFM's NaN / inf guard), 0 if the variance is not.
  double drawCoefficient(double theta, double lambda, double mu, double alpha, double sumH2, double sumHE,
                         bool sample) {
    const double sigma2 = 1.0 / (lambda + alpha * sumH2);
    if (!std::isfinite(sigma2)) return 0.0;
    const double mean = -sigma2 * (alpha * (sumHE - theta * sumH2) - mu * lambda);
    const double value = sample ? detail::drawNormalUnchecked(m_rng, mean, std::sqrt(sigma2)) : mean;
    return std::isfinite(value) ? value : theta;
  }


  TrainingHistory fitMcmc(const SparseBatch<Scalar>& train, const SparseBatch<Scalar>* validation) {
    const bool sample = m_options.solver == FmSolver::mcmc;  // draw vs. take the mode
    const bool multilevel = sample;                          // hyper-parameter inference
    const bool classify = m_task == FmTask::classification;
    const Index N = train.size();
    if (N > Index(std::numeric_limits<std::uint32_t>::max())) {
      throwInvalidArgument("FactorizationMachine::fit", "ALS / MCMC take at most 2^32 - 1 training cases, got ", N);
    }
    const Transposed xt = transpose(train);
    const Index numGroups =
        m_options.groups.empty() ? 1 : Index(*std::max_element(m_options.groups.begin(), m_options.groups.end())) + 1;
    std::vector<double> perGroup(static_cast<std::size_t>(numGroups), 0.0);
    for (Index j = 0; j < m_n; ++j) perGroup[static_cast<std::size_t>(groupOf(j))] += 1.0;

    // libFM's priors and starting hyper-parameters.
    const double alpha0 = 1.0, gamma0 = 1.0, beta0 = 1.0, mu0 = 0.0, w0Mean0 = 0.0;
    double alpha = 1.0;
    std::vector<double> wMu(static_cast<std::size_t>(numGroups), 0.0), wLambda(static_cast<std::size_t>(numGroups));
    Matrix<double> vMu = Matrix<double>::Zero(numGroups, m_k), vLambda(numGroups, m_k);
    for (Index g = 0; g < numGroups; ++g) {
      wLambda[static_cast<std::size_t>(g)] = regLinearOf(static_cast<int>(g));
      vLambda.row(g).setConstant(regFactorsOf(static_cast<int>(g)));
    }
    const double reg0 = m_options.regBias;

    std::vector<double> target(static_cast<std::size_t>(N)), weight(static_cast<std::size_t>(N));
    for (Index c = 0; c < N; ++c) {
      const double y = static_cast<double>(train.label(c));
      target[static_cast<std::size_t>(c)] = classify ? (y > 0 ? 1.0 : -1.0) : y;
      weight[static_cast<std::size_t>(c)] = static_cast<double>(train.weight(c));
    }
    const bool unitWeights = std::all_of(weight.begin(), weight.end(), [](double x) { return x == 1.0; });
    std::vector<double> e(static_cast<std::size_t>(N)), q(static_cast<std::size_t>(N));
    Vector<Scalar> sumBuffer(2 * m_k);
    auto refreshResiduals = [&](const std::vector<double>* latent) {
      for (Index c = 0; c < N; ++c) {
        const double yhat = static_cast<double>(scoreWith(train.example(c), m_w0, m_w, m_V, sumBuffer));
        e[static_cast<std::size_t>(c)] = yhat - (latent ? (*latent)[static_cast<std::size_t>(c)] : target[static_cast<std::size_t>(c)]);
      }
    };
    refreshResiduals(nullptr);

    Vector<double> validSum;
    if (validation) validSum = Vector<double>::Zero(validation->size());
    Vector<Scalar> validPred;
    std::vector<double> latent(static_cast<std::size_t>(N));
    const Index iters = m_options.iterations;
    const Index keep = sample ? std::min<Index>(m_options.mcmcSamples, iters) : 0;
    const Index stride = keep > 0 ? (iters + keep - 1) / keep : 0;
    m_samples.clear();
    TrainingHistory history;
    ProgressTracker tracker(m_options.progress, iters, solverName(m_options.solver), "iterations");

    for (Index it = 0; it < iters; ++it) {
      const auto start = std::chrono::steady_clock::now();
      const double cpuStart = detail::processCpuSeconds();
      // alpha (noise precision)
      if (multilevel) {
        double gammaN = gamma0;
        double count = alpha0;
        for (Index c = 0; c < N; ++c) {
          gammaN += weight[static_cast<std::size_t>(c)] * e[static_cast<std::size_t>(c)] * e[static_cast<std::size_t>(c)];
          count += 1.0;
        }
        const double a = detail::sampleGamma(m_rng, count / 2.0, gammaN / 2.0);
        if (std::isfinite(a)) alpha = a;
      } else {
        alpha = alpha0;
      }
      // w0
      if (m_useBias) {
        double sumE = 0, sumW = 0;
        for (Index c = 0; c < N; ++c) {
          sumE += weight[static_cast<std::size_t>(c)] * e[static_cast<std::size_t>(c)];
          sumW += weight[static_cast<std::size_t>(c)];
        }
        const double old = static_cast<double>(m_w0);
        const double sigma2 = 1.0 / (reg0 + alpha * sumW);
        const double mean = -sigma2 * (alpha * (sumE - old * sumW) - w0Mean0 * reg0);
        double value = sample ? detail::drawNormalUnchecked(m_rng, mean, std::sqrt(sigma2)) : mean;
        if (!std::isfinite(value)) value = old;
        m_w0 = static_cast<Scalar>(value);
        const double delta = static_cast<double>(m_w0) - old;
        for (auto& ec : e) ec += delta;
      }
      // linear weights and their hyper-parameters
      if (m_useLinear) {
        if (multilevel) {
          drawLambda(wLambda, wMu, perGroup, [&](Index j) { return static_cast<double>(m_w(j)); }, alpha0, gamma0,
                     beta0, mu0);
          drawMu(wMu, wLambda, perGroup, [&](Index j) { return static_cast<double>(m_w(j)); }, beta0, mu0);
        } else {
          std::fill(wMu.begin(), wMu.end(), mu0);
        }
        for (Index j = 0; j < m_n; ++j) {
          const auto g = static_cast<std::size_t>(groupOf(j));
          double sumH2 = 0, sumHE = 0;
          for (auto p = xt.start[static_cast<std::size_t>(j)]; p < xt.start[static_cast<std::size_t>(j) + 1]; ++p) {
            const auto c = static_cast<std::size_t>(xt.cases[static_cast<std::size_t>(p)]);
            const double h = xt.values[static_cast<std::size_t>(p)];
            sumH2 += weight[c] * h * h;
            sumHE += weight[c] * h * e[c];
          }
          const double old = static_cast<double>(m_w(j));
          m_w(j) = static_cast<Scalar>(drawCoefficient(old, wLambda[g], wMu[g], alpha, sumH2, sumHE, sample));
          const double delta = static_cast<double>(m_w(j)) - old;
          if (delta != 0.0) {
            for (auto p = xt.start[static_cast<std::size_t>(j)]; p < xt.start[static_cast<std::size_t>(j) + 1]; ++p) {
              e[static_cast<std::size_t>(xt.cases[static_cast<std::size_t>(p)])] += xt.values[static_cast<std::size_t>(p)] * delta;
            }
          }
        }
      }
      // factors and their hyper-parameters
      if (m_k > 0) {
        if (multilevel) {
          for (Index f = 0; f < m_k; ++f) {
            std::vector<double> lam(static_cast<std::size_t>(numGroups)), mu(static_cast<std::size_t>(numGroups));
            for (Index g = 0; g < numGroups; ++g) {
              lam[static_cast<std::size_t>(g)] = vLambda(g, f);
              mu[static_cast<std::size_t>(g)] = vMu(g, f);
            }
            drawLambda(lam, mu, perGroup, [&](Index j) { return static_cast<double>(m_V(f, j)); }, alpha0, gamma0,
                       beta0, mu0);
            for (Index g = 0; g < numGroups; ++g) vLambda(g, f) = lam[static_cast<std::size_t>(g)];
          }
          for (Index f = 0; f < m_k; ++f) {
            std::vector<double> lam(static_cast<std::size_t>(numGroups)), mu(static_cast<std::size_t>(numGroups));
            for (Index g = 0; g < numGroups; ++g) {
              lam[static_cast<std::size_t>(g)] = vLambda(g, f);
              mu[static_cast<std::size_t>(g)] = vMu(g, f);
            }
            drawMu(mu, lam, perGroup, [&](Index j) { return static_cast<double>(m_V(f, j)); }, beta0, mu0);
            for (Index g = 0; g < numGroups; ++g) vMu(g, f) = mu[static_cast<std::size_t>(g)];
          }
        } else {
          vMu.setConstant(mu0);
        }
        // Unit weights (the usual case) skip the weight array: one gather less per entry.
        const auto sweep = [&](auto weighted) {
          constexpr bool kWeighted = decltype(weighted)::value;
          const auto w = [&](std::size_t c) { return kWeighted ? weight[c] : 1.0; };
          for (Index f = 0; f < m_k; ++f) {
            std::fill(q.begin(), q.end(), 0.0);
            for (Index j = 0; j < m_n; ++j) {
              const double v = static_cast<double>(m_V(f, j));
              for (auto p = xt.start[static_cast<std::size_t>(j)]; p < xt.start[static_cast<std::size_t>(j) + 1]; ++p) {
                q[static_cast<std::size_t>(xt.cases[static_cast<std::size_t>(p)])] += v * xt.values[static_cast<std::size_t>(p)];
              }
            }
            for (Index j = 0; j < m_n; ++j) {
              const auto g = static_cast<std::size_t>(groupOf(j));
              const double old = static_cast<double>(m_V(f, j));
              double sumH2 = 0, sumHE = 0;
              for (auto p = xt.start[static_cast<std::size_t>(j)]; p < xt.start[static_cast<std::size_t>(j) + 1]; ++p) {
                const auto c = static_cast<std::size_t>(xt.cases[static_cast<std::size_t>(p)]);
                const double x = xt.values[static_cast<std::size_t>(p)];
                const double h = x * (q[c] - x * old);
                sumH2 += w(c) * h * h;
                sumHE += w(c) * h * e[c];
              }
              m_V(f, j) = static_cast<Scalar>(
                  drawCoefficient(old, vLambda(Index(g), f), vMu(Index(g), f), alpha, sumH2, sumHE, sample));
              const double delta = static_cast<double>(m_V(f, j)) - old;
              if (delta != 0.0) {
                for (auto p = xt.start[static_cast<std::size_t>(j)]; p < xt.start[static_cast<std::size_t>(j) + 1]; ++p) {
                  const auto c = static_cast<std::size_t>(xt.cases[static_cast<std::size_t>(p)]);
                  const double x = xt.values[static_cast<std::size_t>(p)];
                  const double h = x * (q[c] - x * old);
                  q[c] += x * delta;
                  e[c] += h * delta;
                }
              }
            }
          }
        };
        if (unitWeights) {
          sweep(std::false_type{});
        } else {
          sweep(std::true_type{});
        }
      }
      for (Index j = 0; j < m_n; ++j) {
        if (!std::isfinite(m_w(j)) || !m_V.col(j).allFinite()) {
          throw NumericalError(eigenrec::detail::concat("FactorizationMachine::fit: non-finite parameter of feature ", j,
                                              " in iteration ", it + 1));
        }
      }

      // Fresh predictions (libFM recomputes them for numerical stability), then the
      // residuals against the targets or the probit latent targets.
      EpochStats stats;
      stats.epoch = static_cast<int>(it + 1);
      double trainTotal = 0, trainWeight = 0;
      for (Index c = 0; c < N; ++c) {
        const auto cc = static_cast<std::size_t>(c);
        const double yhat = static_cast<double>(scoreWith(train.example(c), m_w0, m_w, m_V, sumBuffer));
        if (!classify) {
          const double p = std::min(m_maxTarget, std::max(m_minTarget, yhat));
          trainTotal += weight[cc] * (p - target[cc]) * (p - target[cc]);
          e[cc] = yhat - target[cc];
        } else {
          const double p = std::min(1.0 - 1e-15, std::max(1e-15, detail::normalCdfStd(yhat)));
          trainTotal += weight[cc] * -(target[cc] > 0 ? std::log(p) : std::log1p(-p));
          double z;
          if (sample) {
            z = target[cc] > 0 ? yhat + detail::sampleLeftTruncatedNormal(m_rng, -yhat)
                               : yhat - detail::sampleLeftTruncatedNormal(m_rng, yhat);
          } else {
            const double phi = std::exp(-0.5 * yhat * yhat) / std::sqrt(2.0 * 3.14159265358979323846);
            z = target[cc] > 0 ? yhat + phi / detail::normalCdfStd(yhat) : yhat - phi / detail::normalCdfStd(-yhat);
            if (!std::isfinite(z)) z = target[cc];
          }
          latent[cc] = z;
          e[cc] = yhat - z;
        }
        trainWeight += weight[cc];
      }
      stats.trainLoss = trainWeight > 0 ? trainTotal / trainWeight : 0.0;
      if (!classify) stats.trainLoss = std::sqrt(stats.trainLoss);
      stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      stats.cpuSeconds = detail::processCpuSeconds() - cpuStart;

      if (keep > 0 && (iters - 1 - it) % stride == 0 && static_cast<Index>(m_samples.size()) < keep) {
        m_samples.push_back(Sample{m_w0, m_w, m_V});
      }
      if (validation) {
        const Index nv = validation->size();
        validPred.resize(nv);
        for (Index c = 0; c < nv; ++c) {
          validSum(c) += static_cast<double>(applyLink(scoreWith(validation->example(c), m_w0, m_w, m_V, sumBuffer)));
        }
        if (sample) {
          for (Index c = 0; c < nv; ++c) validPred(c) = static_cast<Scalar>(validSum(c) / static_cast<double>(it + 1));
        } else {
          for (Index c = 0; c < nv; ++c) {
            validPred(c) = applyLink(scoreWith(validation->example(c), m_w0, m_w, m_V, sumBuffer));
          }
        }
        stats.validLoss = evaluate(*validation, validPred);
      }
      history.epochs.push_back(stats);
      history.bestEpoch = stats.epoch;
      tracker.update(it + 1, stats.trainLoss);
      if (m_options.onEpoch) m_options.onEpoch(stats);
    }
    // Samples are kept newest first by construction order; order does not matter.
    if (validation && iters > 0) m_validPredictions = validPred;
    tracker.finish(iters);
    return history;
  }

  // libFM's draw of the per-group precisions lambda_g ~ Gamma((alpha0 + n_g + 1) / 2,
  // (gamma0 + beta0 (mu_g - mu0)^2 + sum_{j in g} (theta_j - mu_g)^2) / 2).
  template <typename Theta>
  void drawLambda(std::vector<double>& lambda, const std::vector<double>& mu, const std::vector<double>& perGroup,
                  Theta theta, double alpha0, double gamma0, double beta0, double mu0) {
    std::vector<double> rate(lambda.size());
    for (std::size_t g = 0; g < lambda.size(); ++g) rate[g] = beta0 * (mu[g] - mu0) * (mu[g] - mu0) + gamma0;
    for (Index j = 0; j < m_n; ++j) {
      const auto g = static_cast<std::size_t>(groupOf(j));
      const double d = theta(j) - mu[g];
      rate[g] += d * d;
    }
    for (std::size_t g = 0; g < lambda.size(); ++g) {
      const double shape = alpha0 + perGroup[g] + 1.0;
      const double value = detail::sampleGamma(m_rng, shape / 2.0, rate[g] / 2.0);
      if (std::isfinite(value)) lambda[g] = value;
    }
  }

  // libFM's draw of the per-group means mu_g ~ N((sum theta + beta0 mu0) / (n_g + beta0),
  // 1 / ((n_g + beta0) lambda_g)).
  template <typename Theta>
  void drawMu(std::vector<double>& mu, const std::vector<double>& lambda, const std::vector<double>& perGroup,
              Theta theta, double beta0, double mu0) {
    std::vector<double> total(mu.size(), 0.0);
    for (Index j = 0; j < m_n; ++j) total[static_cast<std::size_t>(groupOf(j))] += theta(j);
    for (std::size_t g = 0; g < mu.size(); ++g) {
      const double mean = (total[g] + beta0 * mu0) / (perGroup[g] + beta0);
      const double sigma2 = 1.0 / ((perGroup[g] + beta0) * lambda[g]);
      const double value = detail::drawNormalUnchecked(m_rng, mean, std::sqrt(sigma2));
      if (std::isfinite(value)) mu[g] = value;
    }
  }

  FmOptions m_options;
  Index m_n = 0, m_k = 0;
  FmTask m_task = FmTask::classification;
  FmLink m_link = FmLink::probit;
  bool m_useBias = true, m_useLinear = true;
  Scalar m_w0 = 0;
  Vector<Scalar> m_w;
  Matrix<Scalar> m_V;
  Scalar m_G0 = 1;
  Vector<Scalar> m_Gw;
  Matrix<Scalar> m_GV;
  Vector<Scalar> m_ftrlZ, m_ftrlN;  // ftrl: state of the linear weights, then the bias
  double m_minTarget = -std::numeric_limits<double>::infinity();
  double m_maxTarget = std::numeric_limits<double>::infinity();
  std::vector<Sample> m_samples;
  Vector<Scalar> m_validPredictions;
  Rng m_rng;
};

}  // namespace eigenrec::ctr

#endif  // EIGENREC_CTR_FM_HPP
