// eigenrec/nn/activation.hpp: elementwise activations and the column softmax as layers.
#ifndef EIGENREC_NN_ACTIVATION_HPP
#define EIGENREC_NN_ACTIVATION_HPP

#include <eigenrec/core/math.hpp>
#include <eigenrec/nn/layer.hpp>

#include <cmath>
#include <limits>
#include <string>

namespace eigenrec::nn {

/// The activation functions, with PyTorch's definitions:
/// - identity: x
/// - relu: max(x, 0)
/// - leakyRelu: x if x > 0 else slope * x (parameter: slope, default 0.01)
/// - elu: x if x > 0 else alpha * (exp(x) - 1) (parameter: alpha, default 1)
/// - gelu: x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))  (nn.GELU())
/// - geluTanh: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))  (nn.GELU("tanh"))
/// - sigmoid, tanh
/// - softmax: over the features of each column (nn.Softmax(dim=-1) on [n, features])
enum class ActivationKind { identity, relu, leakyRelu, elu, gelu, geluTanh, sigmoid, tanh, softmax };

inline const char* activationName(ActivationKind k) {
  switch (k) {
    case ActivationKind::identity: return "identity";
    case ActivationKind::relu: return "relu";
    case ActivationKind::leakyRelu: return "leaky_relu";
    case ActivationKind::elu: return "elu";
    case ActivationKind::gelu: return "gelu";
    case ActivationKind::geluTanh: return "gelu_tanh";
    case ActivationKind::sigmoid: return "sigmoid";
    case ActivationKind::tanh: return "tanh";
    case ActivationKind::softmax: return "softmax";
  }
  return "unknown";
}

/// Default parameter of an activation (leaky relu slope 0.01, elu alpha 1, else unused).
inline double defaultActivationParameter(ActivationKind k) {
  return k == ActivationKind::leakyRelu ? 0.01 : 1.0;
}

/// An activation as a layer: (features, n) -> (features, n).
template <typename Scalar = float>
class Activation : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  /// `parameter`: leaky relu slope or elu alpha; NaN means the default.
  explicit Activation(ActivationKind kind = ActivationKind::relu,
                      double parameter = std::numeric_limits<double>::quiet_NaN())
      : m_kind(kind) {
    const double p = std::isnan(parameter) ? defaultActivationParameter(kind) : parameter;
    checkFinite("Activation", "parameter", p);
    m_param = static_cast<Scalar>(p);
  }

  ActivationKind kind() const noexcept { return m_kind; }

  void forward(const ConstRef& input, MatrixType& output) override {
    // Cache only what backward reads: ReLU, sigmoid, tanh and softmax differentiate from
    // the output, GELU from the input, ELU and leaky ReLU (whose parameter may have any
    // sign) from both. The shape is kept either way for backward's check.
    const bool keepInput = needsInput(), keepOutput = needsOutput();
    if (keepInput) {
      m_input = input;
    } else {
      m_input.resize(0, 0);
    }
    apply(input, output);
    if (keepOutput) {
      m_output = output;
    } else {
      m_output.resize(0, 0);
    }
    m_rows = output.rows();
    m_cols = output.cols();
  }

  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    checkShape("Activation::backward", "gradOutput", gradOutput, m_rows, m_cols);
    const auto x = m_input.array();
    const auto y = m_output.array();
    const auto g = gradOutput.array();
    const Scalar zero(0), one(1), half(0.5);
    switch (m_kind) {
      case ActivationKind::identity: gradInput = gradOutput; break;
      case ActivationKind::relu: gradInput = (y > zero).select(g, zero).matrix(); break;  // y > 0 iff x > 0
      case ActivationKind::leakyRelu: gradInput = (x > zero).select(g, m_param * g).matrix(); break;
      case ActivationKind::elu: gradInput = (x > zero).select(g, g * (y + m_param)).matrix(); break;
      case ActivationKind::gelu:
        // d/dx x Phi(x) = Phi(x) + x phi(x)
        gradInput = (g * x.unaryExpr([](Scalar v) {
                           return Scalar(0.5) * (Scalar(1) + std::erf(v * Scalar(0.70710678118654752440))) +
                                  v * Scalar(0.39894228040143267794) * std::exp(Scalar(-0.5) * v * v);
                         })).matrix();
        break;
      case ActivationKind::geluTanh: {
        const Scalar c = Scalar(0.79788456080286535588), k = Scalar(0.044715);
        const auto t = (c * (x + k * x.cube())).tanh();
        gradInput =
            (g * (half * (one + t) + half * x * (one - t.square()) * c * (one + Scalar(3) * k * x.square()))).matrix();
        break;
      }
      case ActivationKind::sigmoid: gradInput = (g * y * (one - y)).matrix(); break;
      case ActivationKind::tanh: gradInput = (g * (one - y.square())).matrix(); break;
      case ActivationKind::softmax: {
        // dx = y .* (g - sum(g .* y)) per column.
        const RowVector<Scalar> dot = (gradOutput.array() * m_output.array()).colwise().sum();
        gradInput = (m_output.array() * (gradOutput.array().rowwise() - dot.array())).matrix();
        break;
      }
    }
  }

  /// f(x) without caching (for code that only needs the values).
  void apply(const ConstRef& x, MatrixType& y) const {
    const auto a = x.array();
    const Scalar zero(0), one(1), half(0.5);
    switch (m_kind) {
      case ActivationKind::identity: y = x; break;
      case ActivationKind::relu: y = a.max(zero).matrix(); break;
      case ActivationKind::leakyRelu: y = (a > zero).select(a, m_param * a).matrix(); break;
      case ActivationKind::elu: y = (a > zero).select(a, m_param * (a.exp() - one)).matrix(); break;
      case ActivationKind::gelu:
        y = x.unaryExpr([](Scalar v) { return Scalar(0.5) * v * (Scalar(1) + std::erf(v * Scalar(0.70710678118654752440))); });
        break;
      case ActivationKind::geluTanh:
        y = (half * a * (one + (Scalar(0.79788456080286535588) * (a + Scalar(0.044715) * a.cube())).tanh())).matrix();
        break;
      case ActivationKind::sigmoid: y = sigmoid(x.eval()); break;
      case ActivationKind::tanh: y = a.tanh().matrix(); break;
      case ActivationKind::softmax: softmax(x, y); break;
    }
  }

 private:
  bool needsInput() const noexcept {
    return m_kind == ActivationKind::leakyRelu || m_kind == ActivationKind::elu || m_kind == ActivationKind::gelu ||
           m_kind == ActivationKind::geluTanh;
  }
  bool needsOutput() const noexcept {
    return m_kind == ActivationKind::relu || m_kind == ActivationKind::elu || m_kind == ActivationKind::sigmoid ||
           m_kind == ActivationKind::tanh || m_kind == ActivationKind::softmax;
  }

  ActivationKind m_kind;
  Scalar m_param;
  MatrixType m_input, m_output;
  Index m_rows = 0, m_cols = 0;  // shape of the last forward's output
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_ACTIVATION_HPP
