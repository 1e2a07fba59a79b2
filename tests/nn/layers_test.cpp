// Linear, activations, Dropout, Sequential, Embedding, EmbeddingBag: PyTorch parity,
// gradient checks, bad input, save/load.
#include <catch2/catch.hpp>
#include <eigenrec/nn/activation.hpp>
#include <eigenrec/nn/dropout.hpp>
#include <eigenrec/nn/embedding.hpp>
#include <eigenrec/nn/gradcheck.hpp>
#include <eigenrec/nn/linear.hpp>
#include <eigenrec/nn/mlp.hpp>

#include "nn_test_util.hpp"

#include <sstream>

using namespace eigenrec;
using namespace eigenrec::nn;
using eigenrec::test::Fixture;

namespace {
const Fixture& fixture() {
  static const Fixture f("nn/nn_core.txt");
  return f;
}
}  // namespace

TEMPLATE_TEST_CASE("Linear: PyTorch parity of output and gradients", "[nn][linear]", float, double) {
  using S = TestType;
  const auto& f = fixture();
  for (int c = 0; c < 4; ++c) {
    const std::string p = "linear" + std::to_string(c) + "_";
    INFO(p);
    const Matrix<S> w = f.matrix<S>(p + "w");
    const bool bias = f.has(p + "b");
    Linear<S> lin(w.cols(), w.rows(), 7, {bias});
    lin.weight().value() = w;
    if (bias) lin.bias().value() = f.matrix<S>(p + "b");
    const Matrix<S> y = lin.forward(f.matrix<S>(p + "x"));
    EIGENREC_REQUIRE_PARITY(S, y, f.matrix<S>(p + "y"));
    const Matrix<S> dx = lin.backward(f.matrix<S>(p + "r"));
    EIGENREC_REQUIRE_PARITY(S, dx, f.matrix<S>(p + "dx"));
    EIGENREC_REQUIRE_PARITY(S, lin.weight().grad(), f.matrix<S>(p + "dw"));
    if (bias) EIGENREC_REQUIRE_PARITY(S, lin.bias().grad(), f.matrix<S>(p + "db"));
    // Gradients accumulate until zeroGrad.
    lin.forward(f.matrix<S>(p + "x"));
    lin.backward(f.matrix<S>(p + "r"));
    EIGENREC_REQUIRE_PARITY(S, lin.weight().grad(), (2 * f.matrix<S>(p + "dw")).eval());
    lin.zeroGrad();
    CHECK(lin.weight().grad().isZero());
  }
}

TEST_CASE("Linear: gradcheck, default init, bad input", "[nn][linear]") {
  Linear<double> lin(6, 4, 3);
  CHECK(lin.weight().value().cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(6.0));
  CHECK(lin.bias().value().cwiseAbs().maxCoeff() <= 1.0 / std::sqrt(6.0));
  CHECK(lin.parameterCount() == 28);
  for (Index n : {1, 5}) {
    const auto report = gradcheckLayer(lin, Matrix<double>::Random(6, n));
    INFO(report.summary());
    CHECK(report.ok);
  }
  Linear<double> noBias(3, 2, 1, {false});
  CHECK(noBias.namedParameters().size() == 1);
  CHECK_THROWS_AS(noBias.bias(), std::invalid_argument);
  CHECK(gradcheckLayer(noBias, Matrix<double>::Random(3, 2)).ok);
  CHECK_THROWS_WITH(lin.forward(Matrix<double>::Zero(5, 2)), "Linear::forward: input expected 6 rows, got 5 rows");
  lin.forward(Matrix<double>::Zero(6, 2));
  CHECK_THROWS_AS(lin.backward(Matrix<double>::Zero(4, 3)), std::invalid_argument);
  CHECK_THROWS_AS(Linear<float>(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(Linear<float>(3, -1), std::invalid_argument);
  // Same seed, same weights.
  CHECK(Linear<float>(4, 4, 9).weight().value() == Linear<float>(4, 4, 9).weight().value());
  CHECK(Linear<float>(4, 4, 9).weight().value() != Linear<float>(4, 4, 10).weight().value());
  // A frozen parameter gets no gradient.
  lin.weight().setFrozen(true);
  lin.zeroGrad();
  lin.forward(Matrix<double>::Ones(6, 2));
  lin.backward(Matrix<double>::Ones(4, 2));
  CHECK(lin.weight().grad().isZero());
  CHECK_FALSE(lin.bias().grad().isZero());
}

TEMPLATE_TEST_CASE("Activations: PyTorch parity of values and gradients", "[nn][activation]", float, double) {
  using S = TestType;
  const auto& f = fixture();
  const std::vector<std::pair<std::string, Activation<S>>> cases = {
      {"relu", Activation<S>(ActivationKind::relu)},
      {"leaky_relu", Activation<S>(ActivationKind::leakyRelu, 0.2)},
      {"elu", Activation<S>(ActivationKind::elu, 0.7)},
      {"gelu", Activation<S>(ActivationKind::gelu)},
      {"gelu_tanh", Activation<S>(ActivationKind::geluTanh)},
      {"sigmoid", Activation<S>(ActivationKind::sigmoid)},
      {"tanh", Activation<S>(ActivationKind::tanh)},
      {"softmax", Activation<S>(ActivationKind::softmax)}};
  for (auto [name, act] : cases) {
    INFO(name);
    const Matrix<S> y = act.forward(f.matrix<S>("act_x"));
    EIGENREC_REQUIRE_PARITY(S, y, f.matrix<S>("act_" + name + "_y"));
    EIGENREC_REQUIRE_PARITY(S, act.backward(f.matrix<S>("act_r")), f.matrix<S>("act_" + name + "_dx"));
  }
}

TEST_CASE("Activations: gradcheck in double and bad input", "[nn][activation]") {
  Matrix<double> x = Matrix<double>::Random(4, 3) * 3;
  x(0, 0) = 1e-3;  // near the kink, but not on it
  for (auto k : {ActivationKind::identity, ActivationKind::relu, ActivationKind::leakyRelu, ActivationKind::elu,
                 ActivationKind::gelu, ActivationKind::geluTanh, ActivationKind::sigmoid, ActivationKind::tanh,
                 ActivationKind::softmax}) {
    Activation<double> a(k);
    const auto report = gradcheckLayer(a, x);
    INFO(activationName(k) << ": " << report.summary());
    CHECK(report.ok);
  }
  Activation<double> a(ActivationKind::tanh);
  a.forward(x);
  CHECK_THROWS_AS(a.backward(Matrix<double>::Zero(3, 3)), std::invalid_argument);
  CHECK_THROWS_AS(Activation<double>(ActivationKind::elu, std::numeric_limits<double>::infinity()),
                  std::invalid_argument);
}

TEST_CASE("Dropout: scaling, statistics, eval identity, gradcheck", "[nn][dropout]") {
  Dropout<double> drop(0.25, 42);
  const Matrix<double> x = Matrix<double>::Ones(100, 100);
  const Matrix<double> y = drop.forward(x);
  const double kept = (y.array() != 0).cast<double>().mean();
  CHECK(kept == Approx(0.75).margin(0.02));  // 10000 draws: sd 0.0043
  CHECK(((y.array() == 0) || (y.array() == 1 / 0.75)).all());
  CHECK(y.mean() == Approx(1.0).margin(0.03));
  const Matrix<double> g = drop.backward(Matrix<double>::Ones(100, 100));
  CHECK(g == y);  // same mask
  drop.setTraining(false);
  CHECK(drop.forward(x) == x);
  CHECK(drop.backward(x) == x);
  drop.setTraining(true);
  GradCheckOptions o;
  o.beforeForward = [&] { drop.reseed(7); };
  CHECK(gradcheckLayer(drop, Matrix<double>::Random(5, 4), o).ok);
  CHECK(Dropout<float>(0.0).forward(Matrix<float>::Ones(2, 2)) == Matrix<float>::Ones(2, 2));
  CHECK_THROWS_AS(Dropout<float>(1.0), std::invalid_argument);
  CHECK_THROWS_AS(Dropout<float>(-0.1), std::invalid_argument);
  // Reproducible for a seed.
  Dropout<float> a(0.5, 3), b(0.5, 3);
  CHECK(a.forward(Matrix<float>::Ones(8, 8)) == b.forward(Matrix<float>::Ones(8, 8)));
}

TEST_CASE("Sequential: chains, names, gradcheck, state round trip", "[nn][sequential]") {
  Sequential<double> net;
  net.add(Linear<double>(5, 8, 1));
  net.add(Activation<double>(ActivationKind::gelu));
  net.add(Linear<double>(8, 3, 2));
  CHECK(net.outputFeatures(5) == 3);
  std::vector<std::string> names;
  for (const auto& p : net.namedParameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"});
  const auto report = gradcheckLayer(net, Matrix<double>::Random(5, 4));
  INFO(report.summary());
  CHECK(report.ok);

  std::stringstream buffer;
  saveState(buffer, net);
  Sequential<double> other;
  other.add(Linear<double>(5, 8, 11));
  other.add(Activation<double>(ActivationKind::gelu));
  other.add(Linear<double>(8, 3, 12));
  const Matrix<double> x = Matrix<double>::Random(5, 2);
  CHECK(other.forward(x) != net.forward(x));
  loadState(buffer, other);
  CHECK(other.forward(x) == net.forward(x));

  // A model of another shape is rejected and left untouched.
  Sequential<double> wrong;
  wrong.add(Linear<double>(5, 7, 1));
  const Matrix<double> before = wrong[0].namedParameters()[0].parameter->value();
  std::stringstream again;
  saveState(again, net);
  CHECK_THROWS_AS(loadState(again, wrong), FormatError);
  CHECK(wrong[0].namedParameters()[0].parameter->value() == before);
  Sequential<double> empty;
  CHECK_THROWS_AS(empty.forward(x), std::invalid_argument);
}

TEMPLATE_TEST_CASE("Embedding / EmbeddingBag: PyTorch parity with sparse gradients", "[nn][embedding]", float,
                   double) {
  using S = TestType;
  const auto& f = fixture();
  Embedding<S> emb(7, 3, 1, {2});
  emb.weight().value() = f.matrix<S>("emb_w");
  const std::vector<Index> ids = {1, 2, 1, 6, 0};
  EIGENREC_REQUIRE_PARITY(S, emb.forward(ids), f.matrix<S>("emb_y"));
  emb.backward(f.matrix<S>("emb_r"));
  REQUIRE(emb.weight().isSparse());
  CHECK(emb.weight().sparseGrad().size() == 3);  // 1, 6, 0 (2 is padding)
  EIGENREC_REQUIRE_PARITY(S, emb.weight().denseGrad(), f.matrix<S>("emb_dw"));

  const std::vector<Index> bagIds = {1, 2, 4, 4, 0, 6, 2};
  const std::vector<Index> offsets = {0, 3, 3, 7};
  const Vector<S> psw = f.vector<S>("bag_psw");
  const std::vector<S> weights(psw.data(), psw.data() + psw.size());
  for (auto [name, mode, weighted] : {std::tuple{"sum", BagMode::sum, false}, std::tuple{"mean", BagMode::mean, false},
                                      std::tuple{"sum_w", BagMode::sum, true}}) {
    INFO(name);
    const std::string p = std::string("bag_") + name + "_";
    EmbeddingBag<S> bag(7, 3, 1, {mode, 2});
    bag.weight().value() = f.matrix<S>(p + "w");
    const Matrix<S> y = bag.forward(bagIds, offsets, weighted ? weights : std::vector<S>{});
    EIGENREC_REQUIRE_PARITY(S, y, f.matrix<S>(p + "y"));
    CHECK(y.col(1).isZero());  // empty bag
    bag.backward(f.matrix<S>(p + "r"));
    EIGENREC_REQUIRE_PARITY(S, bag.weight().denseGrad(), f.matrix<S>(p + "dw"));
  }
}

TEST_CASE("Embedding: gradcheck, zeroGrad cost, bad input", "[nn][embedding]") {
  Embedding<double> emb(50, 4, 3);
  const std::vector<Index> ids = {3, 7, 3, 49};
  Matrix<double> r = Matrix<double>::Random(4, 4);
  emb.forward(ids);
  emb.backward(r);
  const Matrix<double> analytic = emb.weight().denseGrad();
  std::vector<GradVariable> vars = {{"weight", emb.weight().value().data(), analytic.data(), emb.weight().size()}};
  const auto report = checkGradients(vars, [&] { return (emb.forward(ids).array() * r.array()).sum(); });
  INFO(report.summary());
  CHECK(report.ok);
  emb.zeroGrad();
  CHECK(emb.weight().sparseGrad().size() == 0);
  CHECK(emb.weight().denseGrad().isZero());
  CHECK_THROWS_WITH(emb.forward({1, 50}), "Embedding::forward: id expected an index in [0, 50), got 50");
  CHECK_THROWS_AS(emb.forward({-1}), std::invalid_argument);
  emb.forward({1, 2});
  CHECK_THROWS_AS(emb.backward(Matrix<double>::Zero(4, 3)), std::invalid_argument);
  CHECK_THROWS_AS(Embedding<float>(0, 3), std::invalid_argument);
  CHECK_THROWS_AS(Embedding<float>(5, 3, 0, {5}), std::invalid_argument);

  EmbeddingBag<double> bag(10, 2, 1);
  CHECK_THROWS_AS(bag.forward({1, 2}, {0, 3}), std::invalid_argument);      // last offset != ids
  CHECK_THROWS_AS(bag.forward({1, 2}, {1, 2}), std::invalid_argument);      // first offset != 0
  CHECK_THROWS_AS(bag.forward({1, 2}, {0, 2, 1, 2}), std::invalid_argument);  // decreasing
  CHECK_THROWS_AS(bag.forward({1, 2}, {}), std::invalid_argument);
  CHECK_THROWS_AS(bag.forward({1, 2}, {0, 2}, {1.0, 2.0}), std::invalid_argument);  // weights need sum mode
  EmbeddingBag<double> sumBag(10, 2, 1, {BagMode::sum});
  CHECK_THROWS_AS(sumBag.forward({1, 2}, {0, 2}, {1.0}), std::invalid_argument);
  CHECK_THROWS_AS(sumBag.forward({1, 12}, {0, 2}), std::invalid_argument);
}

TEST_CASE("EmbeddingBag: gradcheck for sum, mean and per-id weights", "[nn][embedding]") {
  // Bags: {3, 7, 3} (a repeated id), {} (empty), {0 (padding), 9, 7}, {5}; ids 1, 2, 4, 6, 8 unused.
  const std::vector<Index> ids = {3, 7, 3, 0, 9, 7, 5};
  const std::vector<Index> offsets = {0, 3, 3, 6, 7};
  const std::vector<double> weights = {0.5, -1.5, 2.0, 3.0, 0.25, 1.0, -0.75};
  struct Case {
    const char* name;
    BagMode mode;
    Index padding;
    bool weighted;
  };
  for (const Case c : {Case{"sum", BagMode::sum, -1, false}, Case{"mean", BagMode::mean, -1, false},
                       Case{"sum, per-id weights", BagMode::sum, -1, true}, Case{"sum, padding 0", BagMode::sum, 0, false},
                       Case{"mean, padding 0", BagMode::mean, 0, false},
                       Case{"sum, per-id weights, padding 0", BagMode::sum, 0, true}}) {
    INFO(c.name);
    EmbeddingBag<double> bag(10, 3, 5, {c.mode, c.padding});
    const std::vector<double> w = c.weighted ? weights : std::vector<double>{};
    const Matrix<double> r = Matrix<double>::Random(3, 4);
    const Matrix<double> y = bag.forward(ids, offsets, w);
    REQUIRE(y.cols() == 4);
    CHECK(y.col(1).isZero());  // the empty bag
    bag.backward(r);
    const Matrix<double> analytic = bag.weight().denseGrad();
    // Only the ids seen get gradient (touched columns only), never the padding id.
    for (Index id : {1, 2, 4, 6, 8}) CHECK(analytic.col(id).isZero());
    if (c.padding >= 0) CHECK(analytic.col(c.padding).isZero());
    CHECK(bag.weight().sparseGrad().size() == (c.padding >= 0 ? 4 : 5));
    std::vector<GradVariable> vars = {{"weight", bag.weight().value().data(), analytic.data(), bag.weight().size()}};
    const auto report =
        checkGradients(vars, [&] { return (bag.forward(ids, offsets, w).array() * r.array()).sum(); });
    INFO(report.summary());
    CHECK(report.checked == 30);
    CHECK(report.ok);
  }
}

TEMPLATE_TEST_CASE("MLP: PyTorch parity with batch norm, train and eval", "[nn][mlp]", float, double) {
  using S = TestType;
  const auto& f = fixture();
  typename MLP<S>::Options o;
  o.activation = ActivationKind::elu;
  o.batchNorm = true;
  MLP<S> mlp(4, {6, 5, 2}, 3, o);
  auto params = mlp.namedParameters();
  REQUIRE(params.size() == 10);
  for (auto& p : params) {
    std::string key = "mlp_" + p.name;
    key[key.find('.')] = '_';
    INFO(key);
    p.parameter->value() = f.matrix<S>(key);
  }
  const Matrix<S> y = mlp.forward(f.matrix<S>("mlp_x"));
  EIGENREC_REQUIRE_PARITY(S, y, f.matrix<S>("mlp_y"));
  EIGENREC_REQUIRE_PARITY(S, mlp.backward(f.matrix<S>("mlp_r")), f.matrix<S>("mlp_dx"));
  for (auto& p : params) {
    std::string key = "mlp_" + p.name;
    key[key.find('.')] = '_';
    INFO(key);
    EIGENREC_REQUIRE_PARITY(S, p.parameter->grad(), f.matrix<S>(key + "_grad"));
  }
  for (auto& b : mlp.namedBuffers()) {
    if (b.name.find("num_batches") != std::string::npos) continue;
    std::string key = "mlp_" + b.name;
    key[key.find('.')] = '_';
    INFO(key);
    EIGENREC_REQUIRE_PARITY(S, *b.buffer, f.matrix<S>(key));
  }
  mlp.setTraining(false);
  EIGENREC_REQUIRE_PARITY(S, mlp.forward(f.matrix<S>("mlp_x")), f.matrix<S>("mlp_eval_y"));
}

TEST_CASE("MLP: gradcheck, dropout, state round trip, bad options", "[nn][mlp]") {
  MLP<double>::Options o;
  o.activation = ActivationKind::tanh;
  o.batchNorm = true;
  o.finalActivation = ActivationKind::sigmoid;
  MLP<double> mlp(3, {5, 4, 2}, 1, o);
  CHECK(mlp.outputFeatures(3) == 2);
  auto report = gradcheckLayer(mlp, Matrix<double>::Random(3, 6));
  INFO(report.summary());
  CHECK(report.ok);

  MLP<double>::Options d;
  d.dropout = 0.3;
  MLP<double> dropped(3, {8, 1}, 2, d);
  const Matrix<double> x = Matrix<double>::Random(3, 4);
  dropped.setTraining(false);
  const Matrix<double> a = dropped.forward(x);
  CHECK(dropped.forward(x) == a);  // eval: deterministic
  dropped.setTraining(true);
  CHECK(dropped.forward(x) != a);  // train: dropout active

  std::stringstream saved;
  mlp.setTraining(true);
  mlp.forward(Matrix<double>::Random(3, 6));  // updates running statistics
  saveState(saved, mlp);
  MLP<double> copy(3, {5, 4, 2}, 99, o);
  loadState(saved, copy);
  mlp.setTraining(false);
  copy.setTraining(false);
  CHECK(copy.forward(x) == mlp.forward(x));

  CHECK_THROWS_AS(MLP<double>(0, {3}), std::invalid_argument);
  CHECK_THROWS_AS(MLP<double>(3, {}), std::invalid_argument);
  CHECK_THROWS_AS(MLP<double>(3, {4, 0}), std::invalid_argument);
  MLP<double>::Options bad;
  bad.dropout = 1.0;
  CHECK_THROWS_AS(MLP<double>(3, {4}, 0, bad), std::invalid_argument);
  CHECK_THROWS_WITH(mlp.forward(Matrix<double>::Zero(4, 2)), "MLP::forward: input expected 3 rows, got 4 rows");
}

TEST_CASE("Layers: input gradient can be switched off for data inputs", "[nn][linear][mlp]") {
  MLP<double> mlp(4, {6, 3}, 1);
  const Matrix<double> x = Matrix<double>::Random(4, 5), dy = Matrix<double>::Random(3, 5);
  mlp.forward(x);
  const Matrix<double> dx = mlp.backward(dy);
  const auto params = mlp.namedParameters();
  std::vector<Matrix<double>> grads;
  for (const auto& p : params) grads.push_back(p.parameter->grad());
  mlp.zeroGrad();
  mlp.setInputGradientEnabled(false);
  mlp.forward(x);
  CHECK(mlp.backward(dy).size() == 0);  // no dL/dx
  for (std::size_t i = 0; i < params.size(); ++i) CHECK(params[i].parameter->grad() == grads[i]);  // same dW, db
  CHECK(dx.rows() == 4);
  Linear<double> lin(3, 2, 1);
  lin.setInputGradientEnabled(false);
  lin.forward(Matrix<double>::Ones(3, 2));
  CHECK(lin.backward(Matrix<double>::Ones(2, 2)).size() == 0);
  CHECK_FALSE(lin.weight().grad().isZero());
}
