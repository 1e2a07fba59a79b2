// eigenrec/nn/linear.hpp: fully connected layer y = W x + b.
#ifndef EIGENREC_NN_LINEAR_HPP
#define EIGENREC_NN_LINEAR_HPP

#include <eigenrec/core/gemm.hpp>
#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/init.hpp>
#include <eigenrec/nn/layer.hpp>

#include <cmath>
#include <string>

namespace eigenrec::nn {

/// Affine map of a batch: input (in, n) -> output (out, n), y = W x + b.
///
/// Parameters: "weight" W (out, in) and "bias" b (out, 1), the shapes of PyTorch's
/// nn.Linear (whose row-major [out, in] weight is the transpose of these bytes: load it
/// with `weight().value() = Map<row-major>(...)`). Default initialisation is PyTorch's:
/// W and b uniform in +-1/sqrt(in).
template <typename Scalar = float>
class Linear : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  struct Options {
    bool bias = true;  ///< add the bias b
  };

  /// Weights drawn from `rng`.
  Linear(Index inFeatures, Index outFeatures, Rng& rng, Options options = {}) { init(inFeatures, outFeatures, rng, options); }
  /// Weights drawn from Rng(seed).
  explicit Linear(Index inFeatures, Index outFeatures, std::uint64_t seed = 0, Options options = {}) {
    Rng rng(seed);
    init(inFeatures, outFeatures, rng, options);
  }

  Index inFeatures() const noexcept { return m_weight.cols(); }
  Index outFeatures() const noexcept { return m_weight.rows(); }
  bool hasBias() const noexcept { return m_hasBias; }
  Parameter<Scalar>& weight() noexcept { return m_weight; }
  Parameter<Scalar>& bias() {
    checkArgument(m_hasBias, "Linear::bias", "the layer was built without bias");
    return m_bias;
  }

  void forward(const ConstRef& input, MatrixType& output) override {
    checkRows("Linear::forward", "input", input, inFeatures());
    m_input = input;
    output.resize(outFeatures(), input.cols());
    gemm<Scalar>(Op::none, Op::none, Scalar(1), m_weight.value(), m_input, Scalar(0), output);
    if (m_hasBias) output.colwise() += m_bias.value().col(0);
  }

  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    checkShape("Linear::backward", "gradOutput", gradOutput, outFeatures(), m_input.cols());
    if (!m_weight.frozen()) {
      gemm<Scalar>(Op::none, Op::transpose, Scalar(1), gradOutput, m_input, Scalar(1), m_weight.grad());
    }
    if (m_hasBias && !m_bias.frozen()) m_bias.grad().col(0) += gradOutput.rowwise().sum();
    if (this->inputGradientEnabled()) {
      gradInput.resize(inFeatures(), gradOutput.cols());
      gemm<Scalar>(Op::transpose, Op::none, Scalar(1), m_weight.value(), gradOutput, Scalar(0), gradInput);
    } else {
      gradInput.resize(0, 0);
    }
  }

  Index outputFeatures(Index) const override { return outFeatures(); }

  void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) override {
    out.push_back({prefix + "weight", &m_weight});
    if (m_hasBias) out.push_back({prefix + "bias", &m_bias});
  }

 private:
  void init(Index in, Index outF, Rng& rng, Options options) {
    checkPositive("Linear", "inFeatures", in);
    checkPositive("Linear", "outFeatures", outF);
    m_hasBias = options.bias;
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    MatrixType w(outF, in);
    init::uniform(w, -bound, bound, rng);
    m_weight = Parameter<Scalar>(std::move(w));
    if (m_hasBias) {
      MatrixType b(outF, 1);
      init::uniform(b, -bound, bound, rng);
      m_bias = Parameter<Scalar>(std::move(b));
    }
  }

  Parameter<Scalar> m_weight, m_bias;
  bool m_hasBias = true;
  MatrixType m_input;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_LINEAR_HPP
