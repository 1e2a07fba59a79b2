// eigenrec/cf/item_cf.hpp: item-based collaborative filtering (Sarwar et al. 2001;
// Karypis 2001; ItemCF, ItemCF-IUF and ItemCF-Norm of Xiang Liang's "Recommender Systems
// Practice"; implicit's ItemItemRecommender).
//
// fit() computes the K most similar items of every item (similarity.hpp) from the
// (users, items) interaction matrix; recommend() scores
//   p(u, j) = sum_{i in N(u), j in S(i, K)} w_ij r_ui
// and ranks as described in neighbourhood.hpp. predict() is Surprise's KNNBasic with
// user_based = False.
#ifndef EIGENREC_CF_ITEM_CF_HPP
#define EIGENREC_CF_ITEM_CF_HPP

#include <eigenrec/cf/neighbourhood.hpp>

namespace eigenrec::cf {

/// Item-based CF. Options are SimilarityOptions (measure, k, alpha, shrinkage,
/// minSupport, normalize, threads, progress); the graph is (items, items).
///
/// Typical use:
///   SimilarityOptions options;
///   options.measure = Measure::inverseFrequency;  // ItemCF-IUF
///   options.k = 40;
///   ItemCF<float> model(options);
///   model.fit(InteractionMatrix<float>::fromLog(log));
///   RecommendOptions request;
///   request.explain = true;
///   std::vector<Recommendation> top = model.recommend(user, 10, request);
template <typename Scalar = float>
class ItemCF : public detail::NeighbourhoodModel<Scalar, true> {
 public:
  using Base = detail::NeighbourhoodModel<Scalar, true>;
  using Base::Base;
};

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_ITEM_CF_HPP
