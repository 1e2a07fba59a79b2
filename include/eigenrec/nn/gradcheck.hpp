// eigenrec/nn/gradcheck.hpp: central finite-difference checks of analytic gradients, in
// double, for any component of any module.
//
// The general form checks a list of variables (pointers to double values with their
// analytic gradients) against a scalar loss computed by a callback:
//
//   numeric_i = (loss(x + eps e_i) - loss(x - eps e_i)) / (2 eps)
//   ok when |numeric_i - analytic_i| <= atol + rtol * max(|numeric_i|, |analytic_i|)
//
// gradcheckLayer applies it to a Layer<double> and gradcheckSequenceLayer to a
// SequenceLayer<double>: the loss is sum(R .* forward(x)) for a fixed random R, the
// analytic gradients come from backward(R).
#ifndef EIGENREC_NN_GRADCHECK_HPP
#define EIGENREC_NN_GRADCHECK_HPP

#include <eigenrec/core/random.hpp>
#include <eigenrec/nn/layer.hpp>
#include <eigenrec/nn/sequence_layer.hpp>

#include <cmath>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace eigenrec::nn {

struct GradCheckOptions {
  double eps = 1e-6;    ///< finite-difference step
  double rtol = 1e-5;   ///< relative tolerance
  double atol = 1e-7;   ///< absolute tolerance
  Index maxPerVariable = 0;  ///< check at most this many entries per variable (evenly spread); 0 = all
  std::uint64_t seed = 12345;  ///< seed of the random projection R in gradcheckLayer
  /// Called before every loss evaluation (e.g. to reseed dropout so each evaluation sees
  /// the same mask).
  std::function<void()> beforeForward;
};

/// One value to perturb: `size` doubles at `value`, analytic gradient at `analytic`.
struct GradVariable {
  std::string name;
  double* value;
  const double* analytic;
  Index size;
};

struct GradCheckReport {
  bool ok = true;
  Index checked = 0;
  double worst = 0;  ///< largest |num - ana| / (atol + rtol * max(|num|, |ana|)); <= 1 passes
  std::string worstWhere;
  double worstNumeric = 0, worstAnalytic = 0;

  std::string summary() const {
    std::ostringstream os;
    os << (ok ? "gradcheck ok" : "gradcheck FAILED") << ": " << checked << " entries, worst ratio " << worst;
    if (!worstWhere.empty()) {
      os << " at " << worstWhere << " (numeric " << worstNumeric << ", analytic " << worstAnalytic << ")";
    }
    return os.str();
  }
};

/// Checks every variable's analytic gradient against central differences of `loss`.
inline GradCheckReport checkGradients(const std::vector<GradVariable>& variables, const std::function<double()>& loss,
                                      const GradCheckOptions& options = {}) {
  GradCheckReport report;
  auto evaluate = [&]() {
    if (options.beforeForward) options.beforeForward();
    return loss();
  };
  for (const auto& v : variables) {
    const Index stride = (options.maxPerVariable > 0 && v.size > options.maxPerVariable)
                             ? (v.size + options.maxPerVariable - 1) / options.maxPerVariable
                             : 1;
    for (Index i = 0; i < v.size; i += stride) {
      const double saved = v.value[i];
      v.value[i] = saved + options.eps;
      const double plus = evaluate();
      v.value[i] = saved - options.eps;
      const double minus = evaluate();
      v.value[i] = saved;
      const double numeric = (plus - minus) / (2 * options.eps);
      const double analytic = v.analytic[i];
      const double ratio =
          std::abs(numeric - analytic) / (options.atol + options.rtol * std::max(std::abs(numeric), std::abs(analytic)));
      ++report.checked;
      if (!(ratio <= report.worst)) {  // also catches NaN
        report.worst = std::isnan(ratio) ? INFINITY : ratio;
        report.worstWhere = v.name + "[" + std::to_string(i) + "]";
        report.worstNumeric = numeric;
        report.worstAnalytic = analytic;
      }
    }
  }
  report.ok = report.worst <= 1.0;
  return report;
}

namespace detail {

/// The shared body of the layer checks: Input is a Matrix or a Tensor3, the layer's
/// forward(input, output) / backward(grad, gradInput) work on that type.
template <typename LayerType, typename Input>
GradCheckReport gradcheckProjection(LayerType& layer, Input x, const GradCheckOptions& options) {
  Input y;
  if (options.beforeForward) options.beforeForward();
  layer.forward(x, y);
  Input projection = y;
  Rng rng(options.seed);
  for (Index i = 0; i < projection.size(); ++i) projection.data()[i] = rng.normal<double>();

  layer.zeroGrad();
  if (options.beforeForward) options.beforeForward();
  layer.forward(x, y);
  Input gradInput;
  layer.backward(projection, gradInput);

  std::vector<Matrix<double>> analytic;
  std::vector<GradVariable> variables;
  variables.push_back({"input", x.data(), gradInput.data(), x.size()});
  const auto params = layer.namedParameters();
  analytic.reserve(params.size());
  for (const auto& p : params) {
    if (p.parameter->frozen()) continue;
    analytic.push_back(p.parameter->denseGrad());
    variables.push_back({p.name, p.parameter->value().data(), analytic.back().data(), p.parameter->size()});
  }
  Input out;
  return checkGradients(
      variables,
      [&]() {
        layer.forward(x, out);
        double loss = 0;
        for (Index i = 0; i < out.size(); ++i) loss += out.data()[i] * projection.data()[i];
        return loss;
      },
      options);
}

}  // namespace detail

/// Gradient check of a SequenceLayer<double> at `input` (features, length, batch):
/// input gradient and every non-frozen parameter, as gradcheckLayer. Stochastic layers
/// (dropout, sampling) need options.beforeForward to reseed them.
inline GradCheckReport gradcheckSequenceLayer(SequenceLayer<double>& layer, const Tensor3<double>& input,
                                              const GradCheckOptions& options = {}) {
  return detail::gradcheckProjection(layer, input, options);
}

/// Gradient check of a Layer<double> at `input` (features, n): input gradient and every
/// non-frozen parameter. The layer's gradients are zeroed first and left holding the
/// analytic gradients of the projection loss.
inline GradCheckReport gradcheckLayer(Layer<double>& layer, const Matrix<double>& input,
                                      const GradCheckOptions& options = {}) {
  return detail::gradcheckProjection(layer, input, options);
}

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_GRADCHECK_HPP
