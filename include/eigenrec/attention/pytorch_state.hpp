// eigenrec/attention/pytorch_state.hpp: MultiHeadAttention weights from and to PyTorch
// state_dict names in safetensors files.
//
// A torch.nn.MultiheadAttention state_dict holds (PyTorch shapes, row-major):
//   in_proj_weight [3E, E]                   when kdim == vdim == E, else
//   q_proj_weight [E, E], k_proj_weight [E, kdim], v_proj_weight [E, vdim]
//   in_proj_bias [3E], out_proj.weight [E, E], out_proj.bias [E]      (bias=True)
//   bias_k [1, 1, E], bias_v [1, 1, E]                                (add_bias_kv=True)
// The same names are the layer's parameter names, so the loader needs only the
// expected PyTorch shape of each.
//
// Any other module (the Informer encoder, nn layers) loads with the generic
// loadPyTorchState(nn::Module&): parameters and buffers are matched by their dotted
// names, which follow PyTorch's module names, and converted by the tensor's rank:
//   []           -> (1, 1)           e.g. num_batches_tracked (integer dtypes accepted)
//   [r]          -> (r, 1)           biases, norm weights, running statistics
//   [r, c]       -> (r, c)           Linear weights (out, in)
//   [o, i, k]    -> (o, k * i)       Conv1d weights in eigenrec's tap-major layout
//                                    (k = 1 also fits a kernel-1 conv held as a Linear)
//   [v, d]       -> (d, v)           embedding tables (parameters with column-sparse
//                                    gradients), the same bytes
#ifndef EIGENREC_ATTENTION_PYTORCH_STATE_HPP
#define EIGENREC_ATTENTION_PYTORCH_STATE_HPP

#include <eigenrec/attention/multi_head.hpp>
#include <eigenrec/io/safetensors.hpp>

#include <eigenrec/nn/module.hpp>

#include <string>
#include <vector>

namespace eigenrec::attention {

namespace detail {

/// PyTorch's shape of a parameter of MultiHeadAttention given its (rows, cols).
inline std::vector<std::int64_t> pytorchShape(const std::string& localName, Index rows, Index cols) {
  if (localName == "bias_k" || localName == "bias_v") return {1, 1, rows};
  if (cols == 1 && localName.find("bias") != std::string::npos) return {rows};
  return {rows, cols};
}

}  // namespace detail

/// Loads the parameters of `layer` from the tensors named prefix + <PyTorch name> in
/// `file` (F16, BF16, F32 or F64). Every parameter must be present with PyTorch's shape;
/// with `strict`, a tensor under `prefix` that the layer does not have is an error too
/// (PyTorch's load_state_dict(strict=True)). The layer changes only if everything loads.
/// Throws FormatError naming the file and tensor.
template <typename Scalar>
void loadPyTorchState(MultiHeadAttention<Scalar>& layer, const io::SafetensorsFile& file, const std::string& prefix = "",
                      bool strict = true) {
  const auto params = layer.namedParameters();
  std::vector<Matrix<Scalar>> values;
  values.reserve(params.size());
  for (const auto& p : params) {
    const std::string name = prefix + p.name;
    if (!file.contains(name)) {
      throw FormatError(file.source(), 0, 0, "missing tensor '" + name + "' (layer parameter " + p.name + ")");
    }
    const io::SafetensorsEntry& e = file.entry(name);
    const auto expected = detail::pytorchShape(p.name, p.parameter->rows(), p.parameter->cols());
    if (e.shape != expected) {
      io::SafetensorsEntry want;
      want.shape = expected;
      throw FormatError(file.source(), 0, 0,
                        "tensor '" + name + "' has shape " + e.shapeString() + ", the layer expects " + want.shapeString());
    }
    if (!io::isFloatingDType(e.dtype)) {
      throw FormatError(file.source(), 0, 0,
                        std::string("tensor '") + name + "' has dtype " + io::dtypeName(e.dtype) + ", expected a floating type");
    }
    const Vector<Scalar> v = file.values<Scalar>(name);
    // row-major [rows, cols] (or [rows] / [1, 1, rows]) -> (rows, cols)
    const Index rows = p.parameter->rows(), cols = p.parameter->cols();
    Matrix<Scalar> m(rows, cols);
    for (Index r = 0; r < rows; ++r) {
      for (Index c = 0; c < cols; ++c) m(r, c) = v(r * cols + c);
    }
    if (hasNonFinite(m)) throw FormatError(file.source(), 0, 0, "tensor '" + name + "' holds NaN or infinity");
    values.push_back(std::move(m));
  }
  if (strict) {
    for (const auto& e : file.entries()) {
      if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
      bool known = false;
      for (const auto& p : params) known = known || prefix + p.name == e.name;
      if (!known) throw FormatError(file.source(), 0, 0, "unexpected tensor '" + e.name + "' for this layer (strict)");
    }
  }
  for (std::size_t i = 0; i < params.size(); ++i) params[i].parameter->value() = std::move(values[i]);
}

/// Convenience: loads from a file path.
template <typename Scalar>
void loadPyTorchState(MultiHeadAttention<Scalar>& layer, const std::string& path, const std::string& prefix = "",
                      bool strict = true) {
  loadPyTorchState(layer, io::SafetensorsFile::load(path), prefix, strict);
}

/// Adds the parameters of `layer` to `writer` under prefix + <PyTorch name> with
/// PyTorch's shapes, stored as `dtype`; torch's load_state_dict accepts the result.
template <typename Scalar>
void savePyTorchState(MultiHeadAttention<Scalar>& layer, io::SafetensorsWriter& writer, const std::string& prefix = "",
                      io::DType dtype = io::DType::f32) {
  for (const auto& p : layer.namedParameters()) {
    const Matrix<Scalar>& m = p.parameter->value();
    Eigen::Matrix<Scalar, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> rm = m;
    writer.add(prefix + p.name, detail::pytorchShape(p.name, m.rows(), m.cols()), rm.data(), dtype);
  }
}

/// Loads every parameter and buffer of `module` from the tensors named prefix + its
/// dotted name in `file`, converting PyTorch's layout by rank (see the file comment).
/// Floating tensors of any supported dtype load into floating targets; integer tensors
/// (a BatchNorm counter) are accepted for buffers. Every target must be present with a
/// matching shape; with `strict`, a tensor under `prefix` that the module does not have
/// is an error too. The module changes only if everything loads; buffersLoaded() is
/// called at the end (BatchNorm's statistics become valid for evaluation).
template <typename Scalar>
void loadPyTorchState(nn::Module<Scalar>& module, const io::SafetensorsFile& file, const std::string& prefix = "",
                      bool strict = true) {
  struct Target {
    std::string name;
    Matrix<Scalar>* value;
    bool buffer;
    bool table;  // (dim, vocab) embedding table: PyTorch's [vocab, dim], same bytes
  };
  std::vector<Target> targets;
  for (const auto& p : module.namedParameters()) {
    targets.push_back({p.name, &p.parameter->value(), false, p.parameter->isSparse()});
  }
  for (const auto& b : module.namedBuffers()) targets.push_back({b.name, b.buffer, true, false});
  auto fail = [&](const std::string& message) -> void { throw FormatError(file.source(), 0, 0, message); };
  std::vector<Matrix<Scalar>> values;
  values.reserve(targets.size());
  for (const auto& t : targets) {
    const std::string name = prefix + t.name;
    if (!file.contains(name)) fail("missing tensor '" + name + "' (module " + (t.buffer ? "buffer " : "parameter ") + t.name + ")");
    const io::SafetensorsEntry& e = file.entry(name);
    const Index rows = t.value->rows(), cols = t.value->cols();
    const auto& s = e.shape;
    bool fits = false;
    if (t.table) {
      fits = s.size() == 2 && s[0] == cols && s[1] == rows;
    } else if (s.empty()) {
      fits = rows == 1 && cols == 1;
    }
    if (!t.table && s.size() == 1) fits = cols == 1 && s[0] == rows;
    if (!t.table && s.size() == 2) fits = s[0] == rows && s[1] == cols;
    if (!t.table && s.size() == 3) fits = s[0] == rows && s[1] > 0 && s[2] > 0 && s[1] * s[2] == cols;
    if (!fits) {
      fail("tensor '" + name + "' has shape " + e.shapeString() + ", the module holds a (" + std::to_string(rows) + ", " +
           std::to_string(cols) + ") matrix");
    }
    Vector<Scalar> v(rows * cols);
    if (io::isFloatingDType(e.dtype)) {
      v = file.values<Scalar>(name);
    } else if (t.buffer) {
      const auto ints = file.integers(name);
      for (Index i = 0; i < v.size(); ++i) v(i) = static_cast<Scalar>(ints[static_cast<std::size_t>(i)]);
    } else {
      fail(std::string("tensor '") + name + "' has dtype " + io::dtypeName(e.dtype) + ", expected a floating type");
    }
    Matrix<Scalar> m(rows, cols);
    if (t.table) {
      m = Eigen::Map<const Matrix<Scalar>>(v.data(), rows, cols);
    } else if (s.size() == 3) {
      const Index in = static_cast<Index>(s[1]), k = static_cast<Index>(s[2]);
      for (Index o = 0; o < rows; ++o)
        for (Index c = 0; c < in; ++c)
          for (Index kk = 0; kk < k; ++kk) m(o, kk * in + c) = v((o * in + c) * k + kk);
    } else {
      for (Index r = 0; r < rows; ++r)
        for (Index c = 0; c < cols; ++c) m(r, c) = v(r * cols + c);
    }
    if (hasNonFinite(m)) fail("tensor '" + name + "' holds NaN or infinity");
    values.push_back(std::move(m));
  }
  if (strict) {
    for (const auto& e : file.entries()) {
      if (e.name.compare(0, prefix.size(), prefix) != 0) continue;
      bool known = false;
      for (const auto& t : targets) known = known || prefix + t.name == e.name;
      if (!known) fail("unexpected tensor '" + e.name + "' for this module (strict)");
    }
  }
  for (std::size_t i = 0; i < targets.size(); ++i) *targets[i].value = std::move(values[i]);
  module.buffersLoaded();
}

/// Convenience: the generic loader from a file path.
template <typename Scalar>
void loadPyTorchState(nn::Module<Scalar>& module, const std::string& path, const std::string& prefix = "",
                      bool strict = true) {
  loadPyTorchState(module, io::SafetensorsFile::load(path), prefix, strict);
}

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_PYTORCH_STATE_HPP
