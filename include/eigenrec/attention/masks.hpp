// eigenrec/attention/masks.hpp: mask vocabulary of the attention module.
//
// eigenrec masks are "allowed" masks: true means the query may attend the key, false
// means the pair is blocked. PyTorch's nn.MultiheadAttention uses the opposite polarity
// (True = blocked) for its boolean attn_mask and key_padding_mask; its SDPA uses
// ours. Every mask argument therefore carries "allowed" in its name.
//
// Layout: the scores of one attention problem form a (Lk, Lq) matrix, one column per
// query, the same bytes as PyTorch's row-major [Lq, Lk]. A per-problem mask or bias is
// a (Lk, Lq, n) tensor, the bytes of PyTorch's [n, Lq, Lk].
#ifndef EIGENREC_ATTENTION_MASKS_HPP
#define EIGENREC_ATTENTION_MASKS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/tensor.hpp>
#include <eigenrec/core/types.hpp>

#include <string_view>

namespace eigenrec::attention {

/// Causal masking. Query i (0-based) may attend key j when
///   topLeft:     j <= i                (PyTorch SDPA is_causal=True, torch.tril(ones(Lq, Lk)))
///   bottomRight: j <= i + (Lk - Lq)    (FlashAttention >= 2.1, torch's causal_lower_right)
/// The two agree when Lq == Lk.
enum class Causal { none, topLeft, bottomRight };

inline const char* causalName(Causal c) {
  switch (c) {
    case Causal::none: return "none";
    case Causal::topLeft: return "topLeft";
    case Causal::bottomRight: return "bottomRight";
  }
  return "?";
}

/// Read-only, non-owning view of a column-major (d0, d1, d2) block of T. Built from a
/// matrix (d2 = 1) or a rank-3 tensor; the viewed object must outlive every use of the
/// view (the constructors from temporaries are deleted for that reason). A
/// default-constructed view is empty ("no mask").
template <typename T>
class ConstView3 {
 public:
  ConstView3() = default;
  ConstView3(const T* data, Index d0, Index d1, Index d2) : m_data(data), m_d0(d0), m_d1(d1), m_d2(d2) {}
  ConstView3(const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& m)  // NOLINT(implicit)
      : m_data(m.data()), m_d0(m.rows()), m_d1(m.cols()), m_d2(1) {}
  ConstView3(const Tensor<T, 3>& t)  // NOLINT(implicit)
      : m_data(t.data()), m_d0(t.dimension(0)), m_d1(t.dimension(1)), m_d2(t.dimension(2)) {}
  ConstView3(Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>&&) = delete;
  ConstView3(Tensor<T, 3>&&) = delete;

  bool empty() const noexcept { return m_data == nullptr; }
  const T* data() const noexcept { return m_data; }
  Index dimension(int i) const noexcept { return i == 0 ? m_d0 : (i == 1 ? m_d1 : m_d2); }
  Index size() const noexcept { return m_d0 * m_d1 * m_d2; }
  const T& operator()(Index i, Index j, Index k) const { return m_data[i + m_d0 * (j + m_d1 * k)]; }

 private:
  const T* m_data = nullptr;
  Index m_d0 = 0, m_d1 = 0, m_d2 = 0;
};

/// A boolean "allowed" mask view: true = takes part.
using AllowedView = ConstView3<bool>;

/// The (Lk, Lq) allowed mask of a causal alignment (all true for Causal::none).
inline BoolMatrix causalAllowed(Index queryLength, Index keyLength, Causal causal) {
  checkNonNegative("causalAllowed", "queryLength", queryLength);
  checkNonNegative("causalAllowed", "keyLength", keyLength);
  BoolMatrix m(keyLength, queryLength);
  const Index offset = causal == Causal::bottomRight ? keyLength - queryLength : 0;
  for (Index q = 0; q < queryLength; ++q) {
    for (Index k = 0; k < keyLength; ++k) m(k, q) = causal == Causal::none || k <= q + offset;
  }
  return m;
}

/// (Lk, batch) key-padding allowed mask from sequence lengths: key k of batch element b
/// takes part when k < lengths[b].
template <typename Derived>
BoolMatrix keyAllowedFromLengths(const Eigen::DenseBase<Derived>& lengths, Index keyLength) {
  checkNonNegative("keyAllowedFromLengths", "keyLength", keyLength);
  BoolMatrix m(keyLength, lengths.size());
  for (Index b = 0; b < lengths.size(); ++b) {
    const auto len = static_cast<Index>(lengths.derived().coeff(b));
    checkBetween("keyAllowedFromLengths", "lengths", len, Index(0), keyLength);
    for (Index k = 0; k < keyLength; ++k) m(k, b) = k < len;
  }
  return m;
}

/// Converts a PyTorch-polarity mask (true = blocked, as nn.MultiheadAttention's
/// attn_mask / key_padding_mask) into an eigenrec allowed mask, and back.
inline BoolMatrix allowedFromBlocked(const BoolMatrix& blocked) { return blocked.unaryExpr([](bool b) { return !b; }); }
inline Tensor<bool, 3> allowedFromBlocked(const Tensor<bool, 3>& blocked) {
  Tensor<bool, 3> out = blocked.unaryExpr([](bool b) { return !b; });
  return out;
}

}  // namespace eigenrec::attention

#endif  // EIGENREC_ATTENTION_MASKS_HPP
