// eigenrec/nn/schedule.hpp: learning-rate schedules.
//
// A schedule maps the base learning rate and a step counter t (0, 1, 2, ...; count
// epochs or batches, as you call step()) to the learning rate:
//   step(s, gamma)            base * gamma^floor(t / s)                (StepLR)
//   exponential(gamma)        base * gamma^t                           (ExponentialLR)
//   linearWarmupDecay(w, T)   base * t / w for t < w, then
//                             base * max(0, (T - t) / (T - w))          (linear warm-up + decay)
//   cosine(T, minLr, w = 0)   linear warm-up over w steps, then
//                             minLr + (base - minLr) (1 + cos(pi (t - w) / (T - w))) / 2,
//                             minLr after T  (PyTorch's CosineAnnealingLR for w = 0 and
//                             t <= T; PyTorch then rises again, eigenrec stays at minLr)
// LrScheduler applies a schedule to an optimizer.
#ifndef EIGENREC_NN_SCHEDULE_HPP
#define EIGENREC_NN_SCHEDULE_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/nn/optimizer.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace eigenrec::nn {

class LrSchedule {
 public:
  enum class Kind { constant, step, exponential, linearWarmupDecay, cosine };

  /// The base learning rate throughout.
  static LrSchedule constant() { return LrSchedule(Kind::constant); }

  static LrSchedule step(std::int64_t stepSize, double gamma) {
    checkPositive("LrSchedule::step", "stepSize", stepSize);
    checkPositive("LrSchedule::step", "gamma", gamma);
    LrSchedule s(Kind::step);
    s.m_period = stepSize;
    s.m_gamma = gamma;
    return s;
  }

  static LrSchedule exponential(double gamma) {
    checkPositive("LrSchedule::exponential", "gamma", gamma);
    LrSchedule s(Kind::exponential);
    s.m_gamma = gamma;
    return s;
  }

  static LrSchedule linearWarmupDecay(std::int64_t warmupSteps, std::int64_t totalSteps) {
    checkNonNegative("LrSchedule::linearWarmupDecay", "warmupSteps", warmupSteps);
    checkExpected(totalSteps > warmupSteps, "LrSchedule::linearWarmupDecay", "totalSteps", "> warmupSteps",
                  totalSteps);
    LrSchedule s(Kind::linearWarmupDecay);
    s.m_warmup = warmupSteps;
    s.m_period = totalSteps;
    return s;
  }

  static LrSchedule cosine(std::int64_t totalSteps, double minLr = 0.0, std::int64_t warmupSteps = 0) {
    checkNonNegative("LrSchedule::cosine", "warmupSteps", warmupSteps);
    checkExpected(totalSteps > warmupSteps, "LrSchedule::cosine", "totalSteps", "> warmupSteps", totalSteps);
    checkNonNegative("LrSchedule::cosine", "minLr", minLr);
    LrSchedule s(Kind::cosine);
    s.m_period = totalSteps;
    s.m_warmup = warmupSteps;
    s.m_min = minLr;
    return s;
  }

  Kind kind() const noexcept { return m_kind; }

  /// Learning rate at step t for base learning rate `base`.
  double learningRate(double base, std::int64_t t) const {
    checkNonNegative("LrSchedule::learningRate", "t", t);
    const auto td = static_cast<double>(t);
    switch (m_kind) {
      case Kind::constant: return base;
      case Kind::step: return base * std::pow(m_gamma, static_cast<double>(t / m_period));
      case Kind::exponential: return base * std::pow(m_gamma, td);
      case Kind::linearWarmupDecay:
        if (t < m_warmup) return base * td / static_cast<double>(m_warmup);
        return base * std::max(0.0, static_cast<double>(m_period - t) / static_cast<double>(m_period - m_warmup));
      case Kind::cosine: {
        if (t < m_warmup) return base * td / static_cast<double>(m_warmup);
        if (t >= m_period) return m_min;
        const double progress = static_cast<double>(t - m_warmup) / static_cast<double>(m_period - m_warmup);
        return m_min + (base - m_min) * 0.5 * (1.0 + std::cos(3.14159265358979323846 * progress));
      }
    }
    return base;
  }

 private:
  explicit LrSchedule(Kind kind) : m_kind(kind) {}
  Kind m_kind;
  std::int64_t m_period = 1, m_warmup = 0;
  double m_gamma = 1.0, m_min = 0.0;
};

/// Drives an optimizer's learning rate by a schedule: construction sets the rate for
/// t = 0; each step() advances t and sets the new rate.
template <typename Scalar>
class LrScheduler {
 public:
  LrScheduler(Optimizer<Scalar>& optimizer, LrSchedule schedule)
      : m_optimizer(optimizer), m_schedule(schedule), m_base(optimizer.learningRate()) {
    m_optimizer.setLearningRate(m_schedule.learningRate(m_base, 0));
  }

  void step() {
    ++m_t;
    m_optimizer.setLearningRate(m_schedule.learningRate(m_base, m_t));
  }

  std::int64_t t() const noexcept { return m_t; }
  double baseLearningRate() const noexcept { return m_base; }
  double learningRate() const noexcept { return m_optimizer.learningRate(); }

 private:
  Optimizer<Scalar>& m_optimizer;
  LrSchedule m_schedule;
  double m_base;
  std::int64_t m_t = 0;
};

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_SCHEDULE_HPP
