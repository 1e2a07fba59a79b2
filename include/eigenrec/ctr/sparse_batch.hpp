// eigenrec/ctr/sparse_batch.hpp: what every CTR model of eigenrec trains on.
//
// The batch type and the text readers live in io (eigenrec/io/libsvm.hpp) and are
// re-exported here. ExampleSource abstracts where training blocks come from: memory
// (one SparseBatch) or disk (an io::SparseCache read block by block), so the same
// trainer handles both. EpochStats / TrainingHistory are what the trainers report.
#ifndef EIGENREC_CTR_SPARSE_BATCH_HPP
#define EIGENREC_CTR_SPARSE_BATCH_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>
#include <eigenrec/io/libsvm.hpp>

#include <ctime>
#include <functional>
#include <limits>
#include <vector>

namespace eigenrec::ctr {

namespace detail {
using eigenrec::detail::concat;
}  // namespace detail

using io::SparseFormat;
using io::SparseReadOptions;

/// n labelled sparse examples (label, optional weight, (field, feature, value) entries).
template <typename Scalar = float>
using SparseBatch = io::SparseBatch<Scalar>;

/// One example of a SparseBatch, viewed in place.
template <typename Scalar = float>
using SparseExample = io::SparseExample<Scalar>;

/// Where training examples come from: numBlocks() blocks, each a SparseBatch.
template <typename Scalar>
class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  virtual Index numBlocks() const = 0;
  virtual Index numExamples() const = 0;
  /// Feature / field space (one more than the largest index).
  virtual Index numFeatures() const = 0;
  virtual Index numFields() const = 0;
  /// Block b: either a reference into the source or `scratch` filled with it.
  virtual const SparseBatch<Scalar>& block(Index b, SparseBatch<Scalar>& scratch) = 0;
};

/// A SparseBatch in memory, as one block. The batch must outlive the source.
template <typename Scalar>
class MemorySource final : public ExampleSource<Scalar> {
 public:
  explicit MemorySource(const SparseBatch<Scalar>& batch) : m_batch(batch) {}
  Index numBlocks() const override { return 1; }
  Index numExamples() const override { return m_batch.size(); }
  Index numFeatures() const override { return m_batch.numFeatures(); }
  Index numFields() const override { return m_batch.numFields(); }
  const SparseBatch<Scalar>& block(Index, SparseBatch<Scalar>&) override { return m_batch; }

 private:
  const SparseBatch<Scalar>& m_batch;
};

/// An on-disk io::SparseCache, one block at a time. The cache must outlive the source.
template <typename Scalar>
class CacheSource final : public ExampleSource<Scalar> {
 public:
  explicit CacheSource(io::SparseCache<Scalar>& cache) : m_cache(cache) {}
  Index numBlocks() const override { return m_cache.numBlocks(); }
  Index numExamples() const override { return m_cache.numExamples(); }
  Index numFeatures() const override { return m_cache.numFeatures(); }
  Index numFields() const override { return m_cache.numFields(); }
  const SparseBatch<Scalar>& block(Index b, SparseBatch<Scalar>& scratch) override {
    m_cache.readBlock(b, scratch);
    return scratch;
  }

 private:
  io::SparseCache<Scalar>& m_cache;
};

/// What a trainer reports after each epoch (iteration).
struct EpochStats {
  int epoch = 0;  ///< 1-based
  /// Mean training loss over the epoch, from the predictions made before each update
  /// (libffm's tr_logloss; logistic loss for classification, squared error / 2 is not
  /// used: regression reports RMSE). NaN where a solver has no per-example loss.
  double trainLoss = std::numeric_limits<double>::quiet_NaN();
  /// Validation metric after the epoch: logloss (classification) or RMSE (regression).
  double validLoss = std::numeric_limits<double>::quiet_NaN();
  double seconds = 0.0;     ///< wall-clock training time of this epoch (validation excluded)
  double cpuSeconds = 0.0;  ///< process CPU time of the same span (all threads; std::clock)
};

/// Per-epoch reports of one fit.
struct TrainingHistory {
  std::vector<EpochStats> epochs;
  /// Epoch whose model was kept (the last one, or the best one under auto-stop); 0 if
  /// no epoch ran.
  int bestEpoch = 0;
  /// True if auto-stop ended training early (validation loss went up).
  bool stoppedEarly = false;
};

namespace detail {
inline double processCpuSeconds() { return static_cast<double>(std::clock()) / CLOCKS_PER_SEC; }
}  // namespace detail

/// Called after every epoch (e.g. to print libffm's table).
using EpochCallback = std::function<void(const EpochStats&)>;

}  // namespace eigenrec::ctr

#endif  // EIGENREC_CTR_SPARSE_BATCH_HPP
