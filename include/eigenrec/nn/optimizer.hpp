// eigenrec/nn/optimizer.hpp: optimizers with PyTorch's update rules, over dense and
// column-sparse gradients; gradient clipping by global norm.
//
// An optimizer holds pointers to the parameters it updates (keep the model in place
// while the optimizer lives). step() first checks every gradient: if any holds NaN or
// infinity it throws NumericalError naming the parameter and changes nothing. Sparse
// (embedding) gradients are applied lazily by default: only the touched columns and
// their optimizer state change, so a step costs O(touched) (PyTorch's SparseAdam and
// sparse Adagrad/SGD behave this way); SparseMode::dense applies the update to every
// column as if the gradient were dense (PyTorch's Adam on a dense gradient), at O(table).
#ifndef EIGENREC_NN_OPTIMIZER_HPP
#define EIGENREC_NN_OPTIMIZER_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/nn/module.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace eigenrec::nn {

/// How sparse (embedding) gradients are applied.
enum class SparseMode { lazy, dense };

/// Base of every optimizer: parameter bookkeeping, checks, state and its save/load.
template <typename Scalar>
class Optimizer {
 public:
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);
  using MatrixType = Matrix<Scalar>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  /// One update of every non-frozen parameter from its current gradient.
  ///
  /// Everything is checked before anything changes: if step() throws, the parameters,
  /// the optimizer state and the step counters are as before the call.
  /// @throws std::invalid_argument if the optimizer cannot step (e.g. Ftrl with learning
  ///         rate 0) or a parameter's value or gradient no longer has the shape it had
  ///         when the optimizer was created
  /// @throws NumericalError if a gradient holds NaN or infinity
  void step() {
    validateStep();
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      const auto& p = *m_params[i].parameter;
      if (p.frozen()) continue;
      checkParameterShapes(i);
      if (p.gradHasNonFinite()) {
        throw NumericalError(eigenrec::detail::concat(m_name, "::step: gradient of '", m_params[i].name,
                                            "' contains NaN or infinity; no parameter was updated"));
      }
    }
    ++m_steps;
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      auto& p = *m_params[i].parameter;
      if (p.frozen()) continue;
      ++m_paramSteps[i];
      std::vector<Scalar*> state(m_state[i].size());
      if (!p.isSparse()) {
        for (std::size_t s = 0; s < state.size(); ++s) state[s] = m_state[i][s].data();
        apply(i, p.value().data(), p.grad().data(), state.data(), p.size());
      } else if (m_sparseMode == SparseMode::dense) {
        const MatrixType g = p.denseGrad();
        for (std::size_t s = 0; s < state.size(); ++s) state[s] = m_state[i][s].data();
        apply(i, p.value().data(), g.data(), state.data(), p.size());
      } else {
        const auto& sg = p.sparseGrad();
        const Index rows = p.rows();
        m_lazyUpdate = true;
        for (Index k = 0; k < sg.size(); ++k) {
          const Index id = sg.ids[static_cast<std::size_t>(k)];
          for (std::size_t s = 0; s < state.size(); ++s) state[s] = m_state[i][s].data() + id * rows;
          apply(i, p.value().data() + id * rows, sg.values.data() + k * rows, state.data(), rows);
        }
        m_lazyUpdate = false;
      }
    }
  }

  /// Clears the gradients of all parameters.
  void zeroGrad() {
    for (auto& p : m_params) p.parameter->zeroGrad();
  }

  double learningRate() const noexcept { return m_lr; }
  void setLearningRate(double lr) {
    checkNonNegative(m_name + "::setLearningRate", "lr", lr);
    m_lr = lr;
  }
  /// Number of step() calls so far.
  std::int64_t steps() const noexcept { return m_steps; }
  SparseMode sparseMode() const noexcept { return m_sparseMode; }
  void setSparseMode(SparseMode mode) noexcept { m_sparseMode = mode; }
  const std::string& name() const noexcept { return m_name; }
  const std::vector<NamedParameter<Scalar>>& parameters() const noexcept { return m_params; }

  /// State slot s of parameter i (e.g. Adam: 0 = first moment, 1 = second moment).
  const MatrixType& state(std::size_t param, std::size_t slot) const { return m_state.at(param).at(slot); }

  /// Saves learning rate, step counts and every state slot (archive kind
  /// "nn.Optimizer.<Name>").
  void save(std::ostream& os) const {
    ArchiveWriter w(os, "nn.Optimizer." + m_name, 1);
    w.writeValue("lr", m_lr);
    w.writeValue("steps", m_steps);
    w.writeVector("param_steps", m_paramSteps);
    w.writeValue("parameter_count", static_cast<std::int64_t>(m_params.size()));
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      for (std::size_t s = 0; s < m_state[i].size(); ++s) {
        w.write(m_params[i].name + "." + std::to_string(s), m_state[i][s]);
      }
    }
    w.finish();
  }

  /// Loads what save() wrote for an optimizer of the same kind over parameters of the
  /// same names and shapes; nothing changes unless the whole archive is valid.
  void load(std::istream& is, const std::string& source = "") {
    ArchiveReader r(is, "nn.Optimizer." + m_name, 1, source);
    const double lr = r.readValue<double>("lr");
    const auto steps = r.readValue<std::int64_t>("steps");
    auto paramSteps = r.readVector<std::int64_t>("param_steps");
    const auto count = r.readValue<std::int64_t>("parameter_count");
    if (count != static_cast<std::int64_t>(m_params.size()) || paramSteps.size() != m_params.size()) {
      throw FormatError(source.empty() ? "<archive>" : source, 0, 0,
                        eigenrec::detail::concat(m_name, " state is for ", count, " parameters, this optimizer has ",
                                       m_params.size()));
    }
    std::vector<std::vector<MatrixType>> state(m_state.size());
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      for (std::size_t s = 0; s < m_state[i].size(); ++s) {
        state[i].push_back(r.readMatrix<Scalar>(m_params[i].name + "." + std::to_string(s), m_params[i].parameter->rows(),
                                                m_params[i].parameter->cols()));
      }
    }
    r.finish();
    checkNonNegative(m_name + "::load", "lr", lr);
    m_lr = lr;
    m_steps = steps;
    m_paramSteps = std::move(paramSteps);
    m_state = std::move(state);
  }

 protected:
  /// `slots` state matrices per parameter, each the parameter's shape, filled with
  /// `initial`.
  Optimizer(std::string name, std::vector<NamedParameter<Scalar>> params, double lr, std::size_t slots,
            double initial = 0.0)
      : m_name(std::move(name)), m_params(std::move(params)), m_lr(lr) {
    checkNonNegative(m_name, "lr", lr);
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      checkArgument(m_params[i].parameter != nullptr, m_name, "null parameter");
    }
    m_paramSteps.assign(m_params.size(), 0);
    m_state.resize(m_params.size());
    for (std::size_t i = 0; i < m_params.size(); ++i) {
      for (std::size_t s = 0; s < slots; ++s) {
        // Huge pages: a sparse (embedding) step reads and writes its state at random rows.
        MatrixType slot(m_params[i].parameter->rows(), m_params[i].parameter->cols());
        adviseHugePages(slot);
        slot.setConstant(static_cast<Scalar>(initial));
        m_state[i].push_back(std::move(slot));
      }
    }
  }

  static std::vector<NamedParameter<Scalar>> nameAll(const std::vector<Parameter<Scalar>*>& params) {
    std::vector<NamedParameter<Scalar>> named;
    for (std::size_t i = 0; i < params.size(); ++i) named.push_back({"param" + std::to_string(i), params[i]});
    return named;
  }

  /// Throws if the optimizer cannot take a step in its current configuration (e.g. a
  /// learning rate that the rule does not accept). Called by step() before anything
  /// changes: apply() itself must not throw.
  virtual void validateStep() const {}

  /// Updates n contiguous values w from gradient g with state slots state[s] (each n
  /// values). Called once per dense parameter, or once per touched column (lazy sparse).
  /// Must not throw (step() validated everything before the first call).
  virtual void apply(std::size_t param, Scalar* w, const Scalar* g, Scalar* const* state, Index n) = 0;

  /// True while apply() runs on the touched columns of a sparse gradient (lazy mode).
  bool lazyUpdate() const noexcept { return m_lazyUpdate; }

  /// Steps taken by parameter i so far (including the current one inside apply).
  std::int64_t paramSteps(std::size_t i) const { return m_paramSteps[i]; }

  using ArrayMap = Eigen::Map<ArrayX<Scalar>>;
  using ConstArrayMap = Eigen::Map<const ArrayX<Scalar>>;

 private:
  // A parameter resized after the optimizer was built (value() is writable) would make
  // apply() read and write outside the state: refuse it.
  void checkParameterShapes(std::size_t i) const {
    const auto& p = *m_params[i].parameter;
    const auto fail = [&](const auto&... parts) {
      throwInvalidArgument(m_name + "::step", parts..., "; no parameter was updated");
    };
    if (!m_state[i].empty()) {
      const MatrixType& s0 = m_state[i].front();
      if (s0.rows() != p.rows() || s0.cols() != p.cols()) {
        fail("parameter '", m_params[i].name, "' expected shape (", s0.rows(), ", ", s0.cols(),
             ") as when the optimizer was created, got (", p.rows(), ", ", p.cols(), ")");
      }
    }
    if (!p.isSparse()) {
      if (p.grad().rows() != p.rows() || p.grad().cols() != p.cols()) {
        fail("gradient of '", m_params[i].name, "' expected shape (", p.rows(), ", ", p.cols(), "), got (",
             p.grad().rows(), ", ", p.grad().cols(), ")");
      }
      return;
    }
    const auto& sg = p.sparseGrad();
    if (sg.size() > 0 && sg.values.rows() != p.rows()) {
      fail("sparse gradient of '", m_params[i].name, "' expected ", p.rows(), " rows, got ", sg.values.rows());
    }
    for (const Index id : sg.ids) {
      if (id < 0 || id >= p.cols()) {
        fail("sparse gradient of '", m_params[i].name, "' expected column ids in [0, ", p.cols(), "), got ", id);
      }
    }
  }

  std::string m_name;
  std::vector<NamedParameter<Scalar>> m_params;
  double m_lr;
  std::int64_t m_steps = 0;
  std::vector<std::int64_t> m_paramSteps;
  std::vector<std::vector<MatrixType>> m_state;
  SparseMode m_sparseMode = SparseMode::lazy;
  bool m_lazyUpdate = false;
};

/// Stochastic gradient descent (torch.optim.SGD):
///   g += wd w;  b = mu b + (1 - dampening) g  (b = g at the first step);
///   g = nesterov ? g + mu b : b;  w -= lr g
template <typename Scalar = float>
class SGD : public Optimizer<Scalar> {
 public:
  struct Options {
    double lr = 0.01;
    double momentum = 0;
    double dampening = 0;
    double weightDecay = 0;
    bool nesterov = false;
  };
  SGD(std::vector<NamedParameter<Scalar>> params, Options o) : Optimizer<Scalar>("SGD", std::move(params), o.lr, 1), m_o(o) {
    validate();
  }
  SGD(const std::vector<Parameter<Scalar>*>& params, Options o) : SGD(this->nameAll(params), o) {}

 protected:
  void apply(std::size_t param, Scalar* w, const Scalar* g, Scalar* const* state, Index n) override {
    typename Optimizer<Scalar>::ArrayMap W(w, n), B(state[0], n);
    typename Optimizer<Scalar>::ConstArrayMap G(g, n);
    const Scalar lr = Scalar(this->learningRate()), mu = Scalar(m_o.momentum), wd = Scalar(m_o.weightDecay);
    if (mu == Scalar(0) && wd == Scalar(0)) {  // plain SGD: no temporary
      W -= lr * G;
      return;
    }
    ArrayX<Scalar> d = G;
    if (wd != Scalar(0)) d += wd * W;
    if (mu != Scalar(0)) {
      if (this->paramSteps(param) == 1) {
        B = d;
      } else {
        B = mu * B + Scalar(1 - m_o.dampening) * d;
      }
      if (m_o.nesterov) {
        d += mu * B;
      } else {
        d = B;
      }
    }
    W -= lr * d;
  }

 private:
  void validate() {
    checkHalfOpen("SGD", "momentum", m_o.momentum, 0.0, 1.0);
    checkBetween("SGD", "dampening", m_o.dampening, 0.0, 1.0);
    checkNonNegative("SGD", "weightDecay", m_o.weightDecay);
    if (m_o.nesterov) {
      checkArgument(m_o.momentum > 0 && m_o.dampening == 0, "SGD", "nesterov needs momentum > 0 and dampening 0");
    }
  }
  Options m_o;
};

/// Adagrad (torch.optim.Adagrad): clr = lr / (1 + (t - 1) lrDecay);
///   g += wd w;  G += g^2;  w -= clr g / (sqrt(G) + eps)
template <typename Scalar = float>
class Adagrad : public Optimizer<Scalar> {
 public:
  struct Options {
    double lr = 0.01;
    double lrDecay = 0;
    double weightDecay = 0;
    double initialAccumulatorValue = 0;
    double eps = 1e-10;
  };
  Adagrad(std::vector<NamedParameter<Scalar>> params, Options o)
      : Optimizer<Scalar>("Adagrad", std::move(params), o.lr, 1, o.initialAccumulatorValue), m_o(o) {
    checkNonNegative("Adagrad", "lrDecay", o.lrDecay);
    checkNonNegative("Adagrad", "weightDecay", o.weightDecay);
    checkNonNegative("Adagrad", "initialAccumulatorValue", o.initialAccumulatorValue);
    checkNonNegative("Adagrad", "eps", o.eps);
  }
  Adagrad(const std::vector<Parameter<Scalar>*>& params, Options o) : Adagrad(this->nameAll(params), o) {}

 protected:
  void apply(std::size_t param, Scalar* w, const Scalar* g, Scalar* const* state, Index n) override {
    typename Optimizer<Scalar>::ArrayMap W(w, n), S(state[0], n);
    typename Optimizer<Scalar>::ConstArrayMap G(g, n);
    const double t = static_cast<double>(this->paramSteps(param));
    const Scalar clr = Scalar(this->learningRate() / (1.0 + (t - 1.0) * m_o.lrDecay));
    if (m_o.weightDecay != 0) {
      const ArrayX<Scalar> d = G + Scalar(m_o.weightDecay) * W;
      S += d.square();
      W -= clr * d / (S.sqrt() + Scalar(m_o.eps));
    } else {
      S += G.square();
      W -= clr * G / (S.sqrt() + Scalar(m_o.eps));
    }
  }

 private:
  Options m_o;
};

/// Adam (torch.optim.Adam) and, with decoupledWeightDecay, AdamW (torch.optim.AdamW):
///   Adam:  g += wd w          AdamW: w *= 1 - lr wd
///   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2  (amsgrad: vmax = max(vmax, v))
///   w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
/// On sparse gradients in the default lazy mode this is PyTorch's SparseAdam: only the
/// touched columns' moments and values change, t counts this parameter's steps, and the
/// update is lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps) (eps added before the
/// bias correction, as SparseAdam does).
template <typename Scalar = float>
class Adam : public Optimizer<Scalar> {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weightDecay = 0;
    bool amsgrad = false;
    bool decoupledWeightDecay = false;  ///< AdamW
  };
  Adam(std::vector<NamedParameter<Scalar>> params, Options o)
      : Optimizer<Scalar>(o.decoupledWeightDecay ? "AdamW" : "Adam", std::move(params), o.lr, o.amsgrad ? 3 : 2),
        m_o(o) {
    const char* where = o.decoupledWeightDecay ? "AdamW" : "Adam";
    checkHalfOpen(where, "beta1", o.beta1, 0.0, 1.0);
    checkHalfOpen(where, "beta2", o.beta2, 0.0, 1.0);
    checkNonNegative(where, "eps", o.eps);
    checkNonNegative(where, "weightDecay", o.weightDecay);
  }
  Adam(const std::vector<Parameter<Scalar>*>& params, Options o) : Adam(this->nameAll(params), o) {}

 protected:
  void apply(std::size_t param, Scalar* w, const Scalar* g, Scalar* const* state, Index n) override {
    typename Optimizer<Scalar>::ArrayMap W(w, n), M(state[0], n), V(state[1], n);
    typename Optimizer<Scalar>::ConstArrayMap G(g, n);
    const double lr = this->learningRate();
    const double t = static_cast<double>(this->paramSteps(param));
    const Scalar b1 = Scalar(m_o.beta1), b2 = Scalar(m_o.beta2);
    if (m_o.decoupledWeightDecay && m_o.weightDecay != 0) W *= Scalar(1 - lr * m_o.weightDecay);
    if (!m_o.decoupledWeightDecay && m_o.weightDecay != 0) {
      const ArrayX<Scalar> d = G + Scalar(m_o.weightDecay) * W;
      M = b1 * M + (Scalar(1) - b1) * d;
      V = b2 * V + (Scalar(1) - b2) * d.square();
    } else {
      M = b1 * M + (Scalar(1) - b1) * G;
      V = b2 * V + (Scalar(1) - b2) * G.square();
    }
    const double bias1 = 1.0 - std::pow(m_o.beta1, t);
    const double bias2Sqrt = std::sqrt(1.0 - std::pow(m_o.beta2, t));
    const Scalar stepSize = Scalar(lr / bias1);
    if (this->lazyUpdate() && !m_o.amsgrad) {
      // torch.optim.SparseAdam: w -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)
      W -= Scalar(lr * bias2Sqrt / bias1) * M / (V.sqrt() + Scalar(m_o.eps));
    } else if (m_o.amsgrad) {
      typename Optimizer<Scalar>::ArrayMap Vmax(state[2], n);
      Vmax = Vmax.max(V);
      W -= stepSize * M / (Vmax.sqrt() / Scalar(bias2Sqrt) + Scalar(m_o.eps));
    } else {
      W -= stepSize * M / (V.sqrt() / Scalar(bias2Sqrt) + Scalar(m_o.eps));
    }
  }

 private:
  Options m_o;
};

/// AdamW: Adam with decoupled weight decay (default 0.01, as torch.optim.AdamW).
template <typename Scalar = float>
class AdamW : public Adam<Scalar> {
 public:
  struct Options {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weightDecay = 1e-2;
    bool amsgrad = false;
  };
  AdamW(std::vector<NamedParameter<Scalar>> params, Options o) : Adam<Scalar>(std::move(params), convert(o)) {}
  AdamW(const std::vector<Parameter<Scalar>*>& params, Options o) : Adam<Scalar>(params, convert(o)) {}

 private:
  static typename Adam<Scalar>::Options convert(const Options& o) {
    typename Adam<Scalar>::Options a;
    a.lr = o.lr;
    a.beta1 = o.beta1;
    a.beta2 = o.beta2;
    a.eps = o.eps;
    a.weightDecay = o.weightDecay;
    a.amsgrad = o.amsgrad;
    a.decoupledWeightDecay = true;
    return a;
  }
};

/// RMSprop (torch.optim.RMSprop): g += wd w;  s = a s + (1 - a) g^2;
/// centered: c = a c + (1 - a) g, denom = sqrt(s - c^2) + eps, else sqrt(s) + eps;
/// momentum: b = mu b + g / denom, w -= lr b; else w -= lr g / denom.
template <typename Scalar = float>
class RMSprop : public Optimizer<Scalar> {
 public:
  struct Options {
    double lr = 0.01;
    double alpha = 0.99;
    double eps = 1e-8;
    double weightDecay = 0;
    double momentum = 0;
    bool centered = false;
  };
  RMSprop(std::vector<NamedParameter<Scalar>> params, Options o)
      : Optimizer<Scalar>("RMSprop", std::move(params), o.lr, 3), m_o(o) {
    checkBetween("RMSprop", "alpha", o.alpha, 0.0, 1.0);
    checkNonNegative("RMSprop", "eps", o.eps);
    checkNonNegative("RMSprop", "weightDecay", o.weightDecay);
    checkHalfOpen("RMSprop", "momentum", o.momentum, 0.0, 1.0);
  }
  RMSprop(const std::vector<Parameter<Scalar>*>& params, Options o) : RMSprop(this->nameAll(params), o) {}

 protected:
  void apply(std::size_t, Scalar* w, const Scalar* g, Scalar* const* state, Index n) override {
    typename Optimizer<Scalar>::ArrayMap W(w, n), S(state[0], n), C(state[1], n), B(state[2], n);
    typename Optimizer<Scalar>::ConstArrayMap G(g, n);
    const Scalar a = Scalar(m_o.alpha), lr = Scalar(this->learningRate());
    ArrayX<Scalar> d = G;
    if (m_o.weightDecay != 0) d += Scalar(m_o.weightDecay) * W;
    S = a * S + (Scalar(1) - a) * d.square();
    ArrayX<Scalar> denom;
    if (m_o.centered) {
      C = a * C + (Scalar(1) - a) * d;
      denom = (S - C.square()).sqrt() + Scalar(m_o.eps);
    } else {
      denom = S.sqrt() + Scalar(m_o.eps);
    }
    if (m_o.momentum > 0) {
      B = Scalar(m_o.momentum) * B + d / denom;
      W -= lr * B;
    } else {
      W -= lr * d / denom;
    }
  }

 private:
  Options m_o;
};

/// One FTRL-Proximal step on `count` coordinates (w, their gradient g and the
/// per-coordinate state z and n, each `count` values); the rule of Ftrl below, shared
/// with models that keep their own parameter arrays (e.g. the FM of the ctr module).
template <typename Scalar>
void ftrlProximalStep(Scalar* w, const Scalar* g, Scalar* z, Scalar* n, Index count, double alpha, double beta,
                      double l1, double l2) {
  Eigen::Map<ArrayX<Scalar>> W(w, count), Z(z, count), N(n, count);
  Eigen::Map<const ArrayX<Scalar>> G(g, count);
  const Scalar a = Scalar(alpha), b = Scalar(beta), r1 = Scalar(l1), r2 = Scalar(l2);
  Z += G - ((N + G.square()).sqrt() - N.sqrt()) / a * W;
  N += G.square();
  W = (Z.abs() <= r1).select(Scalar(0), -(Z - Z.sign() * r1) / ((b + N.sqrt()) / a + r2));
}

/// FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches",
/// KDD 2013, Algorithm 1), per coordinate, with the learning rate as alpha:
///   sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma w;  n += g^2
///   w = 0 if |z| <= l1, else -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)
/// The weights are a function of (z, n): after the first step the initial value is
/// forgotten (start from zeros, as the paper). Sparse (lazy) gradients update only the
/// touched coordinates, the wide part of Wide&Deep being the usual use.
template <typename Scalar = float>
class Ftrl : public Optimizer<Scalar> {
 public:
  struct Options {
    double alpha = 0.05;  ///< learning rate
    double beta = 1.0;
    double l1 = 0;
    double l2 = 0;
  };
  Ftrl(std::vector<NamedParameter<Scalar>> params, Options o)
      : Optimizer<Scalar>("Ftrl", std::move(params), o.alpha, 2), m_o(o) {
    checkPositive("Ftrl", "alpha", o.alpha);
    checkNonNegative("Ftrl", "beta", o.beta);
    checkNonNegative("Ftrl", "l1", o.l1);
    checkNonNegative("Ftrl", "l2", o.l2);
  }
  Ftrl(const std::vector<Parameter<Scalar>*>& params, Options o) : Ftrl(this->nameAll(params), o) {}

 protected:
  // alpha divides the update: a learning rate of 0 (allowed by setLearningRate) cannot step.
  void validateStep() const override { checkPositive("Ftrl::step", "learning rate (alpha)", this->learningRate()); }

  void apply(std::size_t, Scalar* w, const Scalar* g, Scalar* const* state, Index n) override {
    ftrlProximalStep(w, g, state[0], state[1], n, this->learningRate(), m_o.beta, m_o.l1, m_o.l2);
  }

 private:
  Options m_o;
};

/// Scales all gradients so that their global L2 norm is at most maxNorm (PyTorch's
/// clip_grad_norm_: factor maxNorm / (norm + 1e-6) when below 1). Returns the norm
/// before clipping (NaN/inf if a gradient is not finite; nothing is scaled then).
template <typename Scalar>
double clipGradNorm(const std::vector<Parameter<Scalar>*>& params, double maxNorm) {
  checkPositive("clipGradNorm", "maxNorm", maxNorm);
  double total = 0;
  for (const auto* p : params) total += static_cast<double>(p->gradSquaredNorm());
  const double norm = std::sqrt(total);
  if (!std::isfinite(norm)) return norm;
  const double factor = maxNorm / (norm + 1e-6);
  if (factor < 1.0) {
    for (auto* p : params) p->scaleGrad(static_cast<Scalar>(factor));
  }
  return norm;
}

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_OPTIMIZER_HPP
