// FactorizationMachine: the O(kn) identity, SGD / AdaGrad gradients against central
// differences, lazy regularisation, ALS at a stationary point, MCMC recovering a known
// FM, per-group regularisation, reproducibility, save / load, bad input.
#include <catch2/catch.hpp>
#include <eigenrec/ctr/fm.hpp>
#include <eigenrec/ctr/synthetic.hpp>

#include <cmath>
#include <sstream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::ctr;

namespace {

template <typename S>
std::string saved(const FactorizationMachine<S>& model) {
  std::ostringstream os;
  model.save(os);
  return os.str();
}

template <typename S>
void randomize(FactorizationMachine<S>& model, std::uint64_t seed) {
  Rng rng(seed);
  model.bias() = static_cast<S>(rng.normal<double>(0, 0.5));
  for (Index j = 0; j < model.numFeatures(); ++j) {
    model.linear()(j) = static_cast<S>(rng.normal<double>(0, 0.5));
    for (Index f = 0; f < model.factors(); ++f) model.factorMatrix()(f, j) = static_cast<S>(rng.normal<double>(0, 0.5));
  }
}

// Regression data from a known FM: `fields` one-hot fields of `perField` features,
// y = FM(x) + N(0, noise^2).
struct KnownFm {
  FactorizationMachine<double> truth;
  Index fields, perField;
  double noise;

  KnownFm(Index fields_, Index perField_, Index k, double noise_) : fields(fields_), perField(perField_), noise(noise_) {
    FmOptions o;
    o.task = FmTask::regression;
    o.solver = FmSolver::sgd;
    o.factors = k;
    truth = FactorizationMachine<double>(o);
    truth.initialize(fields * perField);
    randomize(truth, 99);
  }

  SparseBatch<double> draw(Index count, std::uint64_t seed) const {
    Rng rng(seed);
    SparseBatch<double> batch;
    std::vector<double> labels;
    for (Index i = 0; i < count; ++i) {
      std::vector<std::int32_t> fs, js;
      std::vector<double> vs;
      for (Index f = 0; f < fields; ++f) {
        fs.push_back(static_cast<std::int32_t>(f));
        js.push_back(static_cast<std::int32_t>(f * perField + rng.uniformIndex(perField)));
        vs.push_back(1.0);
      }
      batch.addExample(0.0, fs, js, vs);
      labels.push_back(truth.score(batch.example(i)) + rng.normal<double>(0, noise));
    }
    batch.setLabels(labels);
    return batch;
  }
};

double rmse(const Vector<double>& p, const SparseBatch<double>& batch) {
  double total = 0;
  for (Index i = 0; i < batch.size(); ++i) total += (p(i) - batch.label(i)) * (p(i) - batch.label(i));
  return std::sqrt(total / double(batch.size()));
}

template <typename S>
double logLossOf(const Vector<S>& p, const SparseBatch<S>& batch) {
  double total = 0;
  for (Index i = 0; i < batch.size(); ++i) {
    const double q = std::min(1.0 - 1e-12, std::max(1e-12, double(p(i))));
    total -= batch.label(i) > 0 ? std::log(q) : std::log1p(-q);
  }
  return total / double(batch.size());
}

template <typename S>
double constantLogLoss(const SparseBatch<S>& batch) {
  double pos = 0;
  for (const S y : batch.labels()) pos += y > 0 ? 1 : 0;
  const double r = pos / double(batch.size());
  return -(r * std::log(r) + (1 - r) * std::log(1 - r));
}

}  // namespace

TEMPLATE_TEST_CASE("FM: the O(kn) identity equals the O(k n^2) double loop", "[ctr][fm]", float, double) {
  using S = TestType;
  for (const bool bias : {true, false}) {
    for (const bool linear : {true, false}) {
      for (const Index k : {Index(0), Index(1), Index(7)}) {
        FmOptions o;
        o.useBias = bias;
        o.useLinear = linear;
        o.factors = k;
        FactorizationMachine<S> model(o);
        model.initialize(20);
        randomize(model, 5 + static_cast<std::uint64_t>(k));
        SparseBatch<S> batch;
        batch.addExample(1, {0, 0, 1, 2, 3, 3}, {3, 17, 0, 9, 11, 4}, {S(1), S(-0.5), S(2), S(0.25), S(1.5), S(-1)});
        const auto x = batch.example(0);
        double naive = bias ? double(model.bias()) : 0.0;
        for (Index a = 0; a < x.size; ++a) {
          if (linear) naive += double(model.linear()(x.features[a])) * double(x.values[a]);
          for (Index b = a + 1; b < x.size; ++b) {
            double dot = 0;
            for (Index f = 0; f < k; ++f) {
              dot += double(model.factorMatrix()(f, x.features[a])) * double(model.factorMatrix()(f, x.features[b]));
            }
            naive += dot * double(x.values[a]) * double(x.values[b]);
          }
        }
        const double tol = std::is_same_v<S, float> ? 2e-5 : 1e-12;
        CHECK(double(model.score(x)) == Approx(naive).margin(tol));
      }
    }
  }
}

TEST_CASE("FM SGD step is -eta times the gradient (central differences)", "[ctr][fm][gradcheck]") {
  for (const FmTask task : {FmTask::classification, FmTask::regression}) {
    FmOptions o;
    o.task = task;
    o.solver = FmSolver::sgd;
    o.factors = 4;
    o.learningRate = 1e-3;
    FactorizationMachine<double> model(o);
    model.initialize(12);
    randomize(model, 17);
    SparseBatch<double> batch;
    batch.addExample(task == FmTask::regression ? 0.7 : 1.0, {0, 1, 2, 3}, {2, 5, 7, 11}, {1.0, -0.6, 0.9, 1.4});
    batch.addExample(task == FmTask::regression ? -1.3 : -1.0, {0, 1}, {0, 5}, {0.5, 2.0});
    for (Index i = 0; i < batch.size(); ++i) {
      const auto x = batch.example(i);
      auto loss = [&](const FactorizationMachine<double>& m) {
        const double yhat = m.score(x);
        if (task == FmTask::regression) return 0.5 * (yhat - x.label) * (yhat - x.label);
        const double y = x.label > 0 ? 1.0 : -1.0;
        return std::log1p(std::exp(-y * yhat));
      };
      FactorizationMachine<double> stepped = model;
      const double reported = stepped.trainExample(x);
      CHECK(reported == Approx(loss(model)).epsilon(1e-12));
      const double h = 1e-6, eta = o.learningRate;
      auto check = [&](auto get) {
        FactorizationMachine<double> plus = model, minus = model;
        get(plus) += h;
        get(minus) -= h;
        const double numeric = (loss(plus) - loss(minus)) / (2 * h);
        FactorizationMachine<double> copy = model;
        const double analytic = (get(copy) - get(stepped)) / eta;
        CHECK(analytic == Approx(numeric).margin(1e-7));
      };
      check([](FactorizationMachine<double>& m) -> double& { return m.bias(); });
      for (Index e = 0; e < x.size; ++e) {
        const Index j = x.features[e];
        check([j](FactorizationMachine<double>& m) -> double& { return m.linear()(j); });
        for (Index f = 0; f < 4; ++f) {
          check([j, f](FactorizationMachine<double>& m) -> double& { return m.factorMatrix()(f, j); });
        }
      }
      // Parameters of features the example does not hold do not move.
      CHECK(stepped.linear()(1) == model.linear()(1));
      CHECK(stepped.factorMatrix().col(1) == model.factorMatrix().col(1));
    }
  }
}

TEST_CASE("FM SGD regularisation is lazy and per group; AdaGrad starts at G0", "[ctr][fm]") {
  FmOptions o;
  o.task = FmTask::classification;
  o.solver = FmSolver::sgd;
  o.factors = 3;
  o.learningRate = 0.05;
  FactorizationMachine<double> plain(o);
  plain.initialize(6);
  randomize(plain, 23);
  o.regBias = 0.5;
  o.groups = {0, 0, 0, 1, 1, 1};
  o.regLinearByGroup = {0.2, 0.7};
  o.regFactorsByGroup = {0.3, 0.9};
  FactorizationMachine<double> reg = plain;
  reg.setOptions(o);
  SparseBatch<double> batch;
  batch.addExample(1.0, {0, 1}, {1, 4}, {1.0, 2.0});
  FactorizationMachine<double> a = plain, b = reg;
  a.trainExample(batch.example(0));
  b.trainExample(batch.example(0));
  const double eta = 0.05;
  // Same gradient, plus eta * lambda * theta for the touched parameters only.
  CHECK((plain.bias() - b.bias()) - (plain.bias() - a.bias()) == Approx(eta * 0.5 * plain.bias()).margin(1e-14));
  CHECK((a.linear()(1) - b.linear()(1)) == Approx(eta * 0.2 * plain.linear()(1)).margin(1e-14));
  CHECK((a.linear()(4) - b.linear()(4)) == Approx(eta * 0.7 * plain.linear()(4)).margin(1e-14));
  for (Index f = 0; f < 3; ++f) {
    CHECK((a.factorMatrix()(f, 1) - b.factorMatrix()(f, 1)) == Approx(eta * 0.3 * plain.factorMatrix()(f, 1)).margin(1e-14));
    CHECK((a.factorMatrix()(f, 4) - b.factorMatrix()(f, 4)) == Approx(eta * 0.9 * plain.factorMatrix()(f, 4)).margin(1e-14));
  }
  CHECK(b.linear()(0) == plain.linear()(0));
  CHECK(b.factorMatrix().col(5) == plain.factorMatrix().col(5));

  // AdaGrad: theta -= eta g / sqrt(G0 + g^2) on the first step.
  FmOptions ao;
  ao.solver = FmSolver::adagrad;
  ao.factors = 3;
  ao.learningRate = 0.05;
  for (const double g0 : {1.0, 0.1}) {
    ao.initialAccumulator = g0;
    FactorizationMachine<double> ada = plain;
    ada.setOptions(ao);
    ada.trainExample(batch.example(0));
    FactorizationMachine<double> sgd = plain;
    o = FmOptions{};
    o.solver = FmSolver::sgd;
    o.factors = 3;
    o.learningRate = 1.0;
    sgd.setOptions(o);
    sgd.trainExample(batch.example(0));
    auto expect = [&](double before, double sgdAfter, double adaAfter) {
      const double g = before - sgdAfter;  // learning rate 1: the gradient
      CHECK(before - adaAfter == Approx(0.05 * g / std::sqrt(g0 + g * g)).margin(1e-14));
    };
    expect(plain.bias(), sgd.bias(), ada.bias());
    expect(plain.linear()(4), sgd.linear()(4), ada.linear()(4));
    expect(plain.factorMatrix()(2, 1), sgd.factorMatrix()(2, 1), ada.factorMatrix()(2, 1));
  }
}

TEST_CASE("FM ALS converges to a stationary point of the regularised squared loss", "[ctr][fm][als]") {
  const KnownFm known(3, 4, 2, 0.3);
  const auto data = known.draw(80, 4);
  FmOptions o;
  o.task = FmTask::regression;
  o.solver = FmSolver::als;
  o.factors = 2;
  o.iterations = 3000;  // coordinate descent crawls along a flat valley: J decreases slowly
  o.regBias = 0.05;
  o.regLinear = 0.1;
  o.regFactors = 0.2;
  FactorizationMachine<double> model(o);
  const TrainingHistory h = model.fit(data);
  CHECK(h.epochs.back().trainLoss <= h.epochs.front().trainLoss);
  // J = 1/2 sum (yhat - y)^2 + 1/2 (r0 w0^2 + r1 |w|^2 + r2 |V|^2)
  auto J = [&](const FactorizationMachine<double>& m) {
    double total = 0;
    for (Index i = 0; i < data.size(); ++i) {
      const double err = m.score(data.example(i)) - data.label(i);
      total += 0.5 * err * err;
    }
    return total + 0.5 * (0.05 * m.bias() * m.bias() + 0.1 * m.linear().squaredNorm() +
                          0.2 * m.factorMatrix().squaredNorm());
  };
  const double h0 = 1e-5;
  double worst = 0;
  auto probe = [&](auto get) {
    FactorizationMachine<double> plus = model, minus = model;
    get(plus) += h0;
    get(minus) -= h0;
    worst = std::max(worst, std::abs((J(plus) - J(minus)) / (2 * h0)));
  };
  probe([](FactorizationMachine<double>& m) -> double& { return m.bias(); });
  for (Index j = 0; j < model.numFeatures(); ++j) {
    probe([j](FactorizationMachine<double>& m) -> double& { return m.linear()(j); });
    for (Index f = 0; f < 2; ++f) probe([j, f](FactorizationMachine<double>& m) -> double& { return m.factorMatrix()(f, j); });
  }
  CHECK(worst < 1e-4);
  CHECK(J(model) < 0.5 * 80 * 0.3 * 0.3 * 1.5);
}

TEST_CASE("FM MCMC recovers a known FM (test RMSE near the noise level)", "[ctr][fm][mcmc]") {
  const double noise = 0.1;
  const KnownFm known(3, 10, 2, noise);
  const auto train = known.draw(2500, 1);
  const auto test = known.draw(1000, 2);
  FmOptions o;
  o.task = FmTask::regression;
  o.solver = FmSolver::mcmc;
  o.factors = 2;
  o.iterations = 100;
  o.seed = 8;
  FactorizationMachine<double> model(o);
  const TrainingHistory h = model.fit(train, &test);
  REQUIRE(h.epochs.size() == 100);
  const double rmseAveraged = rmse(model.lastValidationPredictions(), test);
  CHECK(rmseAveraged == Approx(h.epochs.back().validLoss).epsilon(1e-12));
  CHECK(rmseAveraged < 1.25 * noise);
  // The kept samples predict new data about as well; predictions stay in the target range.
  CHECK(model.numSamples() == 20);
  const Vector<double> p = model.predict(test);
  CHECK(rmse(p, test) < 1.25 * noise);
  CHECK(p.minCoeff() >= train.minLabel());
  CHECK(p.maxCoeff() <= train.maxLabel());
  // The first sample alone is far from the noise level: sampling and averaging do the work.
  CHECK(h.epochs.front().validLoss > 2 * rmseAveraged);

  // Same seed: same samples.
  FactorizationMachine<double> again(o);
  again.fit(train, &test);
  CHECK(saved(again) == saved(model));
}

TEMPLATE_TEST_CASE("FM classification: SGD (logistic) and MCMC (probit) learn", "[ctr][fm]", float, double) {
  using S = TestType;
  SyntheticFfmOptions so;
  so.fields = 5;
  so.featuresPerField = 6;
  so.factors = 2;
  so.logitScale = 2.5;
  const SyntheticFfm truth(so);
  const auto train = truth.generate<S>(3000, 1);
  const auto valid = truth.generate<S>(1500, 2);
  const double constant = constantLogLoss(valid);

  FmOptions o;
  o.solver = FmSolver::sgd;
  o.learningRate = 0.05;
  o.iterations = 15;
  o.factors = 4;
  o.shuffle = true;
  FactorizationMachine<S> sgd(o);
  const auto hs = sgd.fit(train, &valid);
  CHECK(sgd.link() == FmLink::logistic);
  CHECK(hs.epochs.back().validLoss < constant - 0.05);
  CHECK(logLossOf(sgd.predict(valid), valid) == Approx(hs.epochs.back().validLoss).epsilon(1e-4));
  FactorizationMachine<S> sgdAgain(o);
  sgdAgain.fit(train, &valid);
  CHECK(saved(sgdAgain) == saved(sgd));

  o.solver = FmSolver::mcmc;
  o.iterations = 40;
  FactorizationMachine<S> mcmc(o);
  const auto hm = mcmc.fit(train, &valid);
  CHECK(mcmc.link() == FmLink::probit);
  CHECK(hm.epochs.back().validLoss < constant - 0.05);
  const Vector<S> p = mcmc.predict(valid);
  CHECK(p.minCoeff() >= S(0));
  CHECK(p.maxCoeff() <= S(1));
  CHECK(logLossOf(p, valid) < constant - 0.05);

  o.solver = FmSolver::als;
  o.iterations = 10;
  o.regLinear = 5;
  o.regFactors = 5;
  FactorizationMachine<S> als(o);
  const auto ha = als.fit(train, &valid);
  CHECK(ha.epochs.back().validLoss < constant - 0.05);
}

TEST_CASE("FM ALS: an example of weight 2 counts as the example twice", "[ctr][fm][als]") {
  const KnownFm known(3, 4, 2, 0.3);
  const auto data = known.draw(200, 5);
  SparseBatch<double> weighted, twice;
  for (Index c = 0; c < data.size(); ++c) {
    const auto x = data.example(c);
    const int copies = c % 7 == 0 ? 2 : 1;
    weighted.startExample(x.label, copies);
    for (Index e = 0; e < x.size; ++e) weighted.push(x.fields[e], x.features[e], x.values[e]);
    for (int r = 0; r < copies; ++r) {
      twice.startExample(x.label);
      for (Index e = 0; e < x.size; ++e) twice.push(x.fields[e], x.features[e], x.values[e]);
    }
  }
  FmOptions o;
  o.task = FmTask::regression;
  o.solver = FmSolver::als;
  o.factors = 2;
  o.iterations = 5;
  o.regLinear = 0.1;
  o.regFactors = 0.1;
  FactorizationMachine<double> a(o), b(o);
  a.fit(weighted);
  b.fit(twice);
  CHECK(std::abs(a.bias() - b.bias()) < 1e-9);
  CHECK((a.linear() - b.linear()).cwiseAbs().maxCoeff() < 1e-9);
  CHECK((a.factorMatrix() - b.factorMatrix()).cwiseAbs().maxCoeff() < 1e-9);
  CHECK(a.factorMatrix().cwiseAbs().maxCoeff() > 0.01);  // it learned something
}

TEST_CASE("FM per-group regularisation in ALS", "[ctr][fm][als]") {
  const KnownFm known(2, 5, 2, 0.1);
  const auto data = known.draw(300, 3);
  FmOptions o;
  o.task = FmTask::regression;
  o.solver = FmSolver::als;
  o.factors = 2;
  o.iterations = 20;
  o.groups = {0, 0, 0, 0, 0, 1, 1, 1, 1, 1};
  o.regLinearByGroup = {0.01, 1e9};
  o.regFactorsByGroup = {0.01, 1e9};
  FactorizationMachine<double> model(o);
  model.fit(data);
  CHECK(model.linear().tail(5).cwiseAbs().maxCoeff() < 1e-6);
  CHECK(model.factorMatrix().rightCols(5).cwiseAbs().maxCoeff() < 1e-6);
  CHECK(model.linear().head(5).cwiseAbs().maxCoeff() > 0.05);

  o.groups = {0, 1};
  FactorizationMachine<double> tooFew(o);
  CHECK_THROWS_WITH(tooFew.fit(data), Catch::Contains("groups size expected >= 10"));
  o.groups = {0, 0, 0, 0, 0, 1, 1, 1, 1, 2};
  CHECK_THROWS_WITH(FactorizationMachine<double>(o), Catch::Contains("regLinearByGroup size (number of groups) expected 3, got 2"));
}

TEMPLATE_TEST_CASE("FM save / load round trip (SGD and MCMC) and bad files", "[ctr][fm][serialize]", float, double) {
  using S = TestType;
  SyntheticFfmOptions so;
  so.fields = 4;
  so.featuresPerField = 5;
  const SyntheticFfm truth(so);
  const auto data = truth.generate<S>(300, 1);
  for (const FmSolver solver : {FmSolver::sgd, FmSolver::mcmc}) {
    FmOptions o;
    o.solver = solver;
    o.iterations = 5;
    o.factors = 3;
    o.mcmcSamples = 3;
    FactorizationMachine<S> model(o);
    model.fit(data);
    CHECK(model.numSamples() == (solver == FmSolver::mcmc ? 3 : 0));
    const std::string bytes = saved(model);
    FactorizationMachine<S> loaded;
    std::istringstream in(bytes);
    loaded.load(in);
    CHECK(loaded.predict(data) == model.predict(data));
    CHECK(loaded.link() == model.link());
    CHECK(loaded.numSamples() == model.numSamples());
    CHECK(saved(loaded) == bytes);

    const Vector<S> before = loaded.predict(data);
    std::istringstream truncated(bytes.substr(0, bytes.size() / 3));
    CHECK_THROWS_AS(loaded.load(truncated, "fm.bin"), FormatError);
    std::istringstream garbage(std::string(100, 'x'));
    CHECK_THROWS_WITH(loaded.load(garbage), Catch::Contains("bad magic"));
    CHECK(loaded.predict(data) == before);
  }
}

TEST_CASE("FM regression predictions are clipped to the training range", "[ctr][fm]") {
  SparseBatch<double> data;
  data.addExample(1.0, {0}, {0}, {1.0});
  data.addExample(3.0, {0}, {1}, {1.0});
  FmOptions o;
  o.task = FmTask::regression;
  o.solver = FmSolver::sgd;
  o.iterations = 1;
  FactorizationMachine<double> model(o);
  model.fit(data);
  CHECK(model.minTarget() == 1.0);
  CHECK(model.maxTarget() == 3.0);
  model.linear()(0) = 100;
  model.linear()(1) = -100;
  const Vector<double> p = model.predict(data);
  CHECK(p(0) == 3.0);
  CHECK(p(1) == 1.0);
  CHECK(model.score(data.example(0)) > 3.0);
  // An unseen feature is skipped.
  SparseBatch<double> unseen;
  unseen.addExample(2.0, {0, 0}, {0, 50}, {1.0, 1.0});
  CHECK(model.score(unseen.example(0)) == model.score(data.example(0)));
}

TEST_CASE("FM bad input", "[ctr][fm][errors]") {
  FmOptions o;
  o.factors = -1;
  CHECK_THROWS_AS(FactorizationMachine<float>(o), std::invalid_argument);
  o = FmOptions{};
  o.iterations = -1;
  CHECK_THROWS_WITH(FactorizationMachine<float>(o), Catch::Contains("iterations expected >= 0, got -1"));
  o = FmOptions{};
  o.regFactors = -0.1;
  CHECK_THROWS_AS(FactorizationMachine<float>(o), std::invalid_argument);
  o = FmOptions{};
  o.initStdev = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(FactorizationMachine<float>(o), std::invalid_argument);
  o = FmOptions{};
  o.groups = {0, -1};
  CHECK_THROWS_AS(FactorizationMachine<float>(o), std::invalid_argument);

  FactorizationMachine<float> model;
  SparseBatch<float> data;
  data.addExample(1, {0}, {0}, {1.0f});
  CHECK_THROWS_WITH(model.predict(data), Catch::Contains("not initialised"));
  CHECK_THROWS_AS(model.fit(SparseBatch<float>()), std::invalid_argument);
  model.initialize(3);
  CHECK_THROWS_WITH(model.trainExample(data.example(0)), Catch::Contains("solver must be sgd, adagrad or ftrl"));
  CHECK_THROWS_AS(model.setTargetRange(2, 1), std::invalid_argument);
  o = FmOptions{};
  o.solver = FmSolver::sgd;
  o.learningRate = 1e30;
  o.iterations = 3;
  FactorizationMachine<float> diverging(o);
  SparseBatch<float> big;
  for (int i = 0; i < 20; ++i) big.addExample(float(i % 2), {0, 1}, {0, 1}, {1e3f, 1e3f});
  CHECK_THROWS_AS(diverging.fit(big), NumericalError);
}

TEST_CASE("FM FTRL: the paper's per-coordinate rule on bias and linear weights, sparsity from L1", "[ctr][fm][ftrl]") {
  // One example, first step worked by hand from McMahan et al. (2013), Algorithm 1:
  // z = g - sigma w with sigma = sqrt(g^2) / alpha, n = g^2,
  // w' = 0 if |z| <= l1 else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2).
  FmOptions o;
  o.solver = FmSolver::ftrl;
  o.factors = 2;
  o.learningRate = 0.1;  // alpha
  o.ftrlBeta = 1.0;
  o.ftrlL1 = 0.01;
  o.ftrlL2 = 0.5;
  FactorizationMachine<double> fm(o);
  fm.initialize(4);
  randomize(fm, 5);
  const FactorizationMachine<double> before = fm;
  SparseBatch<double> batch;
  batch.addExample(1.0, {0, 1}, {1, 3}, {1.0, 0.5});
  const double yhat = before.score(batch.example(0));
  const double m = -(1.0 - 1.0 / (1.0 + std::exp(-yhat)));  // dloss/dyhat for y = +1
  fm.trainExample(batch.example(0));
  auto expected = [&](double w, double g) {
    const double z = g - std::abs(g) / 0.1 * w;
    if (std::abs(z) <= 0.01) return 0.0;
    return -(z - (z > 0 ? 1 : -1) * 0.01) / ((1.0 + std::abs(g)) / 0.1 + 0.5);
  };
  CHECK(fm.bias() == Approx(expected(before.bias(), m)).epsilon(1e-12));
  CHECK(fm.linear()(1) == Approx(expected(before.linear()(1), m * 1.0)).epsilon(1e-12));
  CHECK(fm.linear()(3) == Approx(expected(before.linear()(3), m * 0.5)).epsilon(1e-12));
  CHECK(fm.linear()(0) == before.linear()(0));  // untouched coordinates keep their value
  CHECK(fm.factorMatrix() != before.factorMatrix());  // factors move (AdaGrad)

  // L1 makes the linear part sparse: FTRL's l1 acts on the accumulated gradient z, so on
  // 3000 examples x 10 epochs it takes an l1 of the order of sqrt(30000) to zero weights;
  // without L1 no weight is exactly zero, with it many are, and the model still learns.
  SyntheticFfmOptions so;
  so.fields = 4;
  so.featuresPerField = 10;
  so.factors = 2;
  so.logitScale = 2.0;
  const SyntheticFfm truth(so);
  const auto train = truth.generate<double>(3000, 3);
  const auto valid = truth.generate<double>(1000, 4);
  o = FmOptions{};
  o.solver = FmSolver::ftrl;
  o.factors = 4;
  o.iterations = 10;
  o.learningRate = 0.1;
  FactorizationMachine<double> dense(o);
  dense.fit(train, &valid);
  CHECK((dense.linear().array() == 0.0).count() == 0);
  o.ftrlL1 = 300.0;
  FactorizationMachine<double> sparse(o);
  const auto h = sparse.fit(train, &valid);
  INFO("zero linear weights with l1 = 300: " << (sparse.linear().array() == 0.0).count());
  CHECK((sparse.linear().array() == 0.0).count() >= 10);
  CHECK(h.epochs.back().validLoss < constantLogLoss(valid) - 0.05);
  o.ftrlBeta = -1;
  CHECK_THROWS_AS(FactorizationMachine<double>(o), std::invalid_argument);
}
