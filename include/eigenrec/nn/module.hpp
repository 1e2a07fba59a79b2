// eigenrec/nn/module.hpp: trainable parameters and the contract every nn component
// follows.
//
// A Parameter holds a value and its gradient. The gradient is dense (same shape as the
// value) or column-sparse: embedding tables are (dim, vocab) and a batch touches few
// of their columns, so their gradient is kept as the touched column ids plus a
// (dim, touched) block, and optimizers update only those columns. Costs then scale with
// the ids in the batch, not with the table size. (PyTorch calls these "row-sparse",
// because its tables are (vocab, dim).)
//
// A Module owns parameters and buffers (non-trained state such as BatchNorm's running
// statistics), exposes them by dotted names ("layers.0.weight") for optimizers and for
// save/load, and has a training / evaluation mode. Its forward caches what backward
// needs; backward returns the input gradient and *accumulates* parameter gradients,
// which zeroGrad() clears.
#ifndef EIGENREC_NN_MODULE_HPP
#define EIGENREC_NN_MODULE_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace eigenrec::nn {

/// Gradient of a (rows, cols) parameter restricted to some columns: column ids[i] of the
/// full gradient is values.col(i). Ids are unique; their order is the order of first
/// touch.
template <typename Scalar>
struct SparseGrad {
  std::vector<Index> ids;
  Matrix<Scalar> values;  // (rows, ids.size()); may have spare capacity columns

  Index size() const noexcept { return static_cast<Index>(ids.size()); }
};

/// A trainable tensor (stored as a matrix) with its gradient.
template <typename Scalar>
class Parameter {
 public:
  enum class GradKind { dense, sparseColumns };

  Parameter() = default;

  /// value: the initial value; kind: how the gradient is stored.
  explicit Parameter(Matrix<Scalar> value, GradKind kind = GradKind::dense)
      : m_value(std::move(value)), m_kind(kind) {
    if (m_kind == GradKind::dense) m_grad = Matrix<Scalar>::Zero(m_value.rows(), m_value.cols());
  }

  Matrix<Scalar>& value() noexcept { return m_value; }
  const Matrix<Scalar>& value() const noexcept { return m_value; }
  Index rows() const noexcept { return m_value.rows(); }
  Index cols() const noexcept { return m_value.cols(); }
  Index size() const noexcept { return m_value.size(); }

  bool isSparse() const noexcept { return m_kind == GradKind::sparseColumns; }

  /// Dense gradient (dense parameters only), same shape as value().
  Matrix<Scalar>& grad() {
    eigen_assert(!isSparse());
    return m_grad;
  }
  const Matrix<Scalar>& grad() const {
    eigen_assert(!isSparse());
    return m_grad;
  }

  /// Column-sparse gradient (sparse parameters only).
  const SparseGrad<Scalar>& sparseGrad() const {
    eigen_assert(isSparse());
    return m_sparse;
  }

  /// Adds `g` (rows, 1) to the gradient of column `id` (sparse parameters).
  template <typename Derived>
  void accumulateColumn(Index id, const Eigen::MatrixBase<Derived>& g) {
    eigen_assert(isSparse() && id >= 0 && id < cols());
    m_sparse.values.col(slotOf(id)) += g;
  }

  /// Gradient of column `id`, creating a zero one if untouched (sparse parameters).
  auto gradColumn(Index id) {
    eigen_assert(isSparse() && id >= 0 && id < cols());
    return m_sparse.values.col(slotOf(id));
  }

  /// The gradient as a dense matrix whatever its kind (tests, gradient checks, clipping).
  Matrix<Scalar> denseGrad() const {
    if (!isSparse()) return m_grad;
    Matrix<Scalar> g = Matrix<Scalar>::Zero(rows(), cols());
    for (Index i = 0; i < m_sparse.size(); ++i) g.col(m_sparse.ids[static_cast<std::size_t>(i)]) = m_sparse.values.col(i);
    return g;
  }

  /// Clears the gradient; for sparse parameters in O(touched columns).
  void zeroGrad() {
    if (!isSparse()) {
      m_grad.setZero();
      return;
    }
    for (Index id : m_sparse.ids) m_slot[static_cast<std::size_t>(id)] = -1;
    m_sparse.ids.clear();
  }

  /// Frozen parameters keep their value: optimizers skip them and backward may skip
  /// their gradient.
  bool frozen() const noexcept { return m_frozen; }
  void setFrozen(bool frozen) noexcept { m_frozen = frozen; }

  /// Sum of squared gradient entries.
  Scalar gradSquaredNorm() const {
    if (!isSparse()) return m_grad.squaredNorm();
    return m_sparse.values.leftCols(m_sparse.size()).squaredNorm();
  }

  /// Multiplies the gradient by `factor` (clipping).
  void scaleGrad(Scalar factor) {
    if (!isSparse()) {
      m_grad *= factor;
    } else {
      m_sparse.values.leftCols(m_sparse.size()) *= factor;
    }
  }

  /// True if any gradient entry is NaN or infinite.
  bool gradHasNonFinite() const {
    if (!isSparse()) return hasNonFinite(m_grad);
    return hasNonFinite(m_sparse.values.leftCols(m_sparse.size()));
  }

 private:
  Index slotOf(Index id) {
    if (m_slot.empty()) m_slot.assign(static_cast<std::size_t>(cols()), -1);
    auto& slot = m_slot[static_cast<std::size_t>(id)];
    if (slot < 0) {
      slot = static_cast<std::int64_t>(m_sparse.ids.size());
      m_sparse.ids.push_back(id);
      if (m_sparse.values.cols() < m_sparse.size() || m_sparse.values.rows() != rows()) {
        const Index capacity = std::max<Index>(16, 2 * m_sparse.size());
        Matrix<Scalar> grown(rows(), capacity);
        if (m_sparse.size() > 1) grown.leftCols(m_sparse.size() - 1) = m_sparse.values.leftCols(m_sparse.size() - 1);
        m_sparse.values.swap(grown);
      }
      m_sparse.values.col(slot).setZero();
    }
    return static_cast<Index>(slot);
  }

  Matrix<Scalar> m_value;
  GradKind m_kind = GradKind::dense;
  Matrix<Scalar> m_grad;
  SparseGrad<Scalar> m_sparse;
  std::vector<std::int64_t> m_slot;  // column id -> position in m_sparse, -1 if untouched
  bool m_frozen = false;
};

/// A parameter with its dotted name inside a model.
template <typename Scalar>
struct NamedParameter {
  std::string name;
  Parameter<Scalar>* parameter;
};

/// A non-trained state matrix with its dotted name (running statistics, counters).
template <typename Scalar>
struct NamedBuffer {
  std::string name;
  Matrix<Scalar>* buffer;
};

/// Base of every trainable component.
template <typename Scalar>
class Module {
 public:
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

  virtual ~Module() = default;
  Module() = default;
  Module(const Module&) = default;
  Module& operator=(const Module&) = default;
  Module(Module&&) noexcept = default;
  Module& operator=(Module&&) noexcept = default;

  /// Appends this module's parameters, named prefix + local name.
  virtual void collectParameters(const std::string& prefix, std::vector<NamedParameter<Scalar>>& out) {
    (void)prefix;
    (void)out;
  }
  /// Appends this module's buffers, named prefix + local name.
  virtual void collectBuffers(const std::string& prefix, std::vector<NamedBuffer<Scalar>>& out) {
    (void)prefix;
    (void)out;
  }
  /// Called after buffers were loaded (e.g. BatchNorm marks its statistics valid).
  virtual void buffersLoaded() {}

  /// Training mode (dropout active, batch statistics) or evaluation mode.
  virtual void setTraining(bool training) { m_training = training; }
  bool training() const noexcept { return m_training; }

  std::vector<NamedParameter<Scalar>> namedParameters() {
    std::vector<NamedParameter<Scalar>> out;
    collectParameters("", out);
    return out;
  }
  std::vector<NamedBuffer<Scalar>> namedBuffers() {
    std::vector<NamedBuffer<Scalar>> out;
    collectBuffers("", out);
    return out;
  }
  /// The parameters, for an optimizer.
  std::vector<Parameter<Scalar>*> parameters() {
    std::vector<Parameter<Scalar>*> out;
    for (auto& p : namedParameters()) out.push_back(p.parameter);
    return out;
  }
  /// Number of trainable scalars.
  Index parameterCount() {
    Index n = 0;
    for (auto* p : parameters()) n += p->size();
    return n;
  }
  void zeroGrad() {
    for (auto* p : parameters()) p->zeroGrad();
  }

 private:
  bool m_training = true;
};

/// Helper for implementations: "prefix" + "name".
inline std::string joinName(const std::string& prefix, const std::string& name) { return prefix + name; }

/// Writes every parameter value and buffer of `module` under its dotted name.
template <typename Scalar>
void writeState(ArchiveWriter& writer, Module<Scalar>& module) {
  const auto params = module.namedParameters();
  const auto buffers = module.namedBuffers();
  writer.writeValue("parameter_count", static_cast<std::int64_t>(params.size()));
  for (const auto& p : params) writer.write(p.name, p.parameter->value());
  writer.writeValue("buffer_count", static_cast<std::int64_t>(buffers.size()));
  for (const auto& b : buffers) writer.write(b.name, *b.buffer);
}

/// State read by readState, applied to the module only by commit().
template <typename Scalar>
class PendingState {
 public:
  void commit() {
    for (std::size_t i = 0; i < m_params.size(); ++i) m_params[i].parameter->value() = std::move(m_paramValues[i]);
    for (std::size_t i = 0; i < m_buffers.size(); ++i) *m_buffers[i].buffer = std::move(m_bufferValues[i]);
    if (m_module) m_module->buffersLoaded();
  }

 private:
  template <typename S>
  friend PendingState<S> readState(ArchiveReader&, Module<S>&);
  Module<Scalar>* m_module = nullptr;
  std::vector<NamedParameter<Scalar>> m_params;
  std::vector<Matrix<Scalar>> m_paramValues;
  std::vector<NamedBuffer<Scalar>> m_buffers;
  std::vector<Matrix<Scalar>> m_bufferValues;
};

/// Reads what writeState wrote, checking every name and shape against `module`, into a
/// PendingState; call commit() after ArchiveReader::finish() succeeded.
template <typename Scalar>
PendingState<Scalar> readState(ArchiveReader& reader, Module<Scalar>& module) {
  PendingState<Scalar> pending;
  pending.m_module = &module;
  pending.m_params = module.namedParameters();
  pending.m_buffers = module.namedBuffers();
  const auto paramCount = reader.readValue<std::int64_t>("parameter_count");
  if (paramCount != static_cast<std::int64_t>(pending.m_params.size())) {
    throw FormatError("<archive>", 0, 0,
                      eigenrec::detail::concat("the model has ", pending.m_params.size(), " parameters, the archive ", paramCount));
  }
  for (const auto& p : pending.m_params) {
    pending.m_paramValues.push_back(reader.readMatrix<Scalar>(p.name, p.parameter->rows(), p.parameter->cols()));
  }
  const auto bufferCount = reader.readValue<std::int64_t>("buffer_count");
  if (bufferCount != static_cast<std::int64_t>(pending.m_buffers.size())) {
    throw FormatError("<archive>", 0, 0,
                      eigenrec::detail::concat("the model has ", pending.m_buffers.size(), " buffers, the archive ", bufferCount));
  }
  for (const auto& b : pending.m_buffers) {
    pending.m_bufferValues.push_back(reader.readMatrix<Scalar>(b.name, b.buffer->rows(), b.buffer->cols()));
  }
  return pending;
}

/// Saves the parameters and buffers of `module` as a complete archive of kind
/// "nn.State" (see core/serialize.hpp).
template <typename Scalar>
void saveState(std::ostream& os, Module<Scalar>& module) {
  ArchiveWriter writer(os, "nn.State", 1);
  writeState(writer, module);
  writer.finish();
}

/// Loads what saveState wrote. The module is changed only if the whole archive is valid
/// and matches its parameter names and shapes.
template <typename Scalar>
void loadState(std::istream& is, Module<Scalar>& module, const std::string& source = "") {
  ArchiveReader reader(is, "nn.State", 1, source);
  auto pending = readState(reader, module);
  reader.finish();
  pending.commit();
}

/// File versions of saveState / loadState (atomic write).
template <typename Scalar>
void saveStateFile(const std::string& path, Module<Scalar>& module) {
  saveFileAtomically(path, [&](std::ostream& os) { saveState(os, module); });
}
template <typename Scalar>
void loadStateFile(const std::string& path, Module<Scalar>& module) {
  loadFile(path, [&](std::istream& is) { loadState(is, module, path); });
}

}  // namespace eigenrec::nn

#endif  // EIGENREC_NN_MODULE_HPP
