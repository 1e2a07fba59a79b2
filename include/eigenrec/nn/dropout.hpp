// eigenrec/nn/dropout.hpp: inverted dropout.
#ifndef EIGENREC_NN_DROPOUT_HPP
#define EIGENREC_NN_DROPOUT_HPP

#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/layer.hpp>

namespace eigenrec::nn {

/// In training, zeroes each entry with probability p and scales the others by
/// 1 / (1 - p); in evaluation mode (and when p = 0) it is the identity. The mask comes
/// from the layer's own Rng, seeded at construction (reseed() restarts it), so a seed
/// reproduces a training run. Shapes: (features, n) -> (features, n).
template <typename Scalar = float>
class Dropout : public Layer<Scalar> {
 public:
  using typename Layer<Scalar>::MatrixType;
  using typename Layer<Scalar>::ConstRef;
  using Layer<Scalar>::forward;
  using Layer<Scalar>::backward;

  explicit Dropout(double p = 0.5, std::uint64_t seed = 0) : m_p(p), m_rng(seed) {
    checkHalfOpen("Dropout", "p", p, 0.0, 1.0);
  }

  double p() const noexcept { return m_p; }
  void reseed(std::uint64_t seed) { m_rng.reseed(seed); }

  void forward(const ConstRef& input, MatrixType& output) override {
    m_active = this->training() && m_p > 0.0;
    if (!m_active) {
      output = input;
      m_rows = input.rows();
      m_cols = input.cols();
      return;
    }
    const Scalar scale = Scalar(1.0 / (1.0 - m_p));
    m_mask.resize(input.rows(), input.cols());
    for (Index i = 0; i < m_mask.size(); ++i) m_mask.data()[i] = m_rng.uniform<double>() < m_p ? Scalar(0) : scale;
    output = (input.array() * m_mask.array()).matrix();
  }

  void backward(const ConstRef& gradOutput, MatrixType& gradInput) override {
    if (!m_active) {
      checkShape("Dropout::backward", "gradOutput", gradOutput, m_rows, m_cols);
      gradInput = gradOutput;
      return;
    }
    checkShape("Dropout::backward", "gradOutput", gradOutput, m_mask.rows(), m_mask.cols());
    gradInput = (gradOutput.array() * m_mask.array()).matrix();
  }

 private:
  double m_p;
  Rng m_rng;
  bool m_active = false;
  Index m_rows = 0, m_cols = 0;
  MatrixType m_mask;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_DROPOUT_HPP
