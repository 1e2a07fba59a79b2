// eigenrec/cf/user_cf.hpp: user-based collaborative filtering (Resnick et al. 1994;
// Breese et al. 1998; UserCF and UserCF-IIF of Xiang Liang's "Recommender Systems
// Practice"; Surprise's KNN with user_based = True).
//
// fit() computes the K most similar users of every user; recommend() scores
//   p(u, i) = sum_{v in S(u, K), i in N(v)} w_uv r_vi
// and ranks as described in neighbourhood.hpp. A user whose history changed after
// fitting (addInteraction) or a query user (recommendFromItems) gets neighbours computed
// on the fly from one sparse row. predict() is Surprise's KNNBasic with user_based = True.
#ifndef EIGENREC_CF_USER_CF_HPP
#define EIGENREC_CF_USER_CF_HPP

#include <eigenrec/cf/neighbourhood.hpp>

namespace eigenrec::cf {

/// User-based CF. Options are SimilarityOptions; the graph is (users, users).
template <typename Scalar = float>
class UserCF : public detail::NeighbourhoodModel<Scalar, false> {
 public:
  using Base = detail::NeighbourhoodModel<Scalar, false>;
  using Base::Base;
};

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_USER_CF_HPP
