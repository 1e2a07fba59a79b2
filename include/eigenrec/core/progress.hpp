// eigenrec/core/progress.hpp: progress reporting for long work (training, fitting).
//
// Long-running functions take an optional ProgressCallback in their options and call
// it through a ProgressTracker, which computes rate and ETA and limits how often the
// callback fires. ProgressLine is a ready-made callback that draws one self-updating
// line on a terminal ("train  45.2%  1.23M words/s  ETA 0:12  loss 0.1234").
#ifndef EIGENREC_CORE_PROGRESS_HPP
#define EIGENREC_CORE_PROGRESS_HPP

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iomanip>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>

#if defined(_WIN32)
#include <io.h>
#else
#include <unistd.h>
#endif

namespace eigenrec {

/// A snapshot of a long computation.
struct Progress {
  std::string stage;             ///< what is running, e.g. "train" or "epoch 2/5"
  std::string unit = "items";    ///< what `done` counts: "words", "examples", ...
  std::int64_t done = 0;         ///< units finished
  std::int64_t total = 0;        ///< units in all; 0 when unknown
  double elapsedSeconds = 0.0;   ///< since the tracker started
  double rate = 0.0;             ///< units per second so far
  double etaSeconds = -1.0;      ///< estimated seconds left; < 0 when unknown
  double loss = std::numeric_limits<double>::quiet_NaN();          ///< latest loss, NaN if none
  double learningRate = std::numeric_limits<double>::quiet_NaN();  ///< current rate, NaN if none
  bool finished = false;         ///< true on the last report

  /// done / total in [0, 1], or NaN when the total is unknown.
  double fraction() const {
    return total > 0 ? static_cast<double>(done) / static_cast<double>(total) : std::numeric_limits<double>::quiet_NaN();
  }
};

/// Receives progress reports. May be empty (no reporting).
using ProgressCallback = std::function<void(const Progress&)>;

/// Turns counts into Progress reports: measures time, computes rate and ETA, and calls
/// the callback at most once per `intervalSeconds` (always on finish()).
class ProgressTracker {
 public:
  ProgressTracker(ProgressCallback callback, std::int64_t total, std::string stage, std::string unit = "items",
                  double intervalSeconds = 0.25)
      : m_callback(std::move(callback)), m_interval(intervalSeconds), m_start(Clock::now()), m_last(m_start) {
    m_progress.stage = std::move(stage);
    m_progress.unit = std::move(unit);
    m_progress.total = total;
  }

  /// Reports `done` units; NaN leaves loss / learning rate as they were.
  void update(std::int64_t done, double loss = std::numeric_limits<double>::quiet_NaN(),
              double learningRate = std::numeric_limits<double>::quiet_NaN()) {
    if (!m_callback) return;
    const auto now = Clock::now();
    record(done, loss, learningRate, now);
    if (std::chrono::duration<double>(now - m_last).count() < m_interval) return;
    m_last = now;
    m_callback(m_progress);
  }

  /// Reports the final state (always delivered).
  void finish(std::int64_t done, double loss = std::numeric_limits<double>::quiet_NaN(),
              double learningRate = std::numeric_limits<double>::quiet_NaN()) {
    if (!m_callback) return;
    record(done, loss, learningRate, Clock::now());
    m_progress.finished = true;
    m_progress.etaSeconds = 0.0;
    m_callback(m_progress);
  }

  const Progress& current() const noexcept { return m_progress; }

 private:
  using Clock = std::chrono::steady_clock;

  void record(std::int64_t done, double loss, double learningRate, Clock::time_point now) {
    m_progress.done = done;
    if (!std::isnan(loss)) m_progress.loss = loss;
    if (!std::isnan(learningRate)) m_progress.learningRate = learningRate;
    m_progress.elapsedSeconds = std::chrono::duration<double>(now - m_start).count();
    m_progress.rate = m_progress.elapsedSeconds > 0 ? static_cast<double>(done) / m_progress.elapsedSeconds : 0.0;
    m_progress.etaSeconds = (m_progress.total > 0 && m_progress.rate > 0)
                                ? static_cast<double>(m_progress.total - done) / m_progress.rate
                                : -1.0;
  }

  ProgressCallback m_callback;
  double m_interval;
  Clock::time_point m_start, m_last;
  Progress m_progress;
};

/// A ProgressCallback that prints a one-line status to a stream (stderr by default),
/// rewriting it in place. In Mode::automatic it prints only when stderr is a terminal,
/// so logs and pipes stay clean; Mode::always prints one line per report with '\n'
/// when not on a terminal.
class ProgressLine {
 public:
  enum class Mode { automatic, always, never };

  explicit ProgressLine(Mode mode = Mode::automatic, std::ostream* os = &std::cerr)
      : m_os(os), m_enabled(mode == Mode::always || (mode == Mode::automatic && stderrIsTerminal())),
        m_inPlace(stderrIsTerminal() && os == &std::cerr) {}

  void operator()(const Progress& p) const {
    if (!m_enabled) return;
    const std::string line = format(p);
    if (m_inPlace) {
      *m_os << '\r' << line << "\033[K";
      if (p.finished) *m_os << '\n';
    } else {
      *m_os << line << '\n';
    }
    m_os->flush();
  }

  /// The text of one report, without control characters.
  static std::string format(const Progress& p) {
    std::ostringstream os;
    os << p.stage;
    if (p.total > 0) os << "  " << std::fixed << std::setprecision(1) << 100.0 * p.fraction() << '%';
    os << "  " << humanNumber(p.rate) << ' ' << p.unit << "/s";
    if (p.etaSeconds >= 0 && !p.finished) os << "  ETA " << clock(p.etaSeconds);
    if (p.finished) os << "  done in " << clock(p.elapsedSeconds);
    if (!std::isnan(p.loss)) os << "  loss " << std::setprecision(4) << std::fixed << p.loss;
    if (!std::isnan(p.learningRate)) os << "  lr " << std::setprecision(3) << std::scientific << p.learningRate;
    return os.str();
  }

  static bool stderrIsTerminal() {
#if defined(_WIN32)
    return _isatty(_fileno(stderr)) != 0;
#else
    return isatty(fileno(stderr)) != 0;
#endif
  }

 private:
  static std::string humanNumber(double v) {
    std::ostringstream os;
    os << std::fixed << std::setprecision(2);
    if (v >= 1e9) {
      os << v / 1e9 << 'G';
    } else if (v >= 1e6) {
      os << v / 1e6 << 'M';
    } else if (v >= 1e3) {
      os << v / 1e3 << 'k';
    } else {
      os << v;
    }
    return os.str();
  }

  static std::string clock(double seconds) {
    const auto s = static_cast<long long>(std::llround(seconds));
    std::ostringstream os;
    if (s >= 3600) os << s / 3600 << ':' << std::setw(2) << std::setfill('0') << (s / 60) % 60;
    else os << s / 60;
    os << ':' << std::setw(2) << std::setfill('0') << s % 60;
    return os.str();
  }

  std::ostream* m_os;
  bool m_enabled;
  bool m_inPlace;
};

}  // namespace eigenrec

#endif  // EIGENREC_CORE_PROGRESS_HPP
