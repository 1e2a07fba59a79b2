// eigenrec/cf/neighbourhood.hpp: what ItemCF and UserCF share: recommendation results
// and options, and the model machinery (histories, popularity fallback, filters,
// incremental updates, Surprise-style rating prediction, save/load).
//
// Scores (r_ui = 1 for binary feedback, the weight or rating otherwise):
//   ItemCF  p(u, j) = sum_{i in N(u), j in S(i, K)} w_ij r_ui   -- each of u's items i
//                     adds its K neighbours j (the book's and implicit's reading)
//   UserCF  p(u, i) = sum_{v in S(u, K), i in N(v)} w_uv r_vi
// Ranking: unseen, allowed items with p > 0 by decreasing score (ties: smaller index);
// then, if fewer than N, the fallback: the remaining allowed unseen items by decreasing
// training popularity |N(i)| (ties: smaller index), so a list has N items whenever N
// candidates exist. Fallback items carry fallback = true and their score (0 when no
// neighbour reached them).
#ifndef EIGENREC_CF_NEIGHBOURHOOD_HPP
#define EIGENREC_CF_NEIGHBOURHOOD_HPP

#include <eigenrec/cf/interactions.hpp>
#include <eigenrec/cf/similarity.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/parallel.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eigenrec::cf {

/// One term of a score: score = sum of contribution over the explanation.
struct Contribution {
  Index source = -1;        ///< ItemCF: the user's item i; UserCF: the neighbour user v
  double similarity = 0.0;  ///< w_ij (ItemCF) or w_uv (UserCF)
  double value = 0.0;       ///< r_ui (ItemCF) or r_vi (UserCF)
  double contribution = 0.0;  ///< similarity * value
};

/// One recommended item.
struct Recommendation {
  Index item = -1;
  double score = 0.0;
  bool fallback = false;                  ///< added by the popularity fallback
  std::vector<Contribution> explanation;  ///< filled when RecommendOptions::explain
};

/// ItemCF: which top-K lists connect the items a user has to a candidate item j.
enum class ItemNeighbourhood {
  /// Each item i of the user adds its K nearest neighbours j:
  ///   p(u, j) = sum_{i in N(u), j in S(i, K)} w_ij r_ui
  /// (implicit's ItemItemRecommender, the book's reference code, Karypis 2001).
  userItems,
  /// A candidate j collects from the user's items among its own K nearest neighbours:
  ///   p(u, j) = sum_{i in N(u) ∩ S(j, K)} w_ji r_ui
  /// (the book's formula, Sarwar et al. 2001's neighbourhood of the target item).
  candidate
};

inline const char* itemNeighbourhoodName(ItemNeighbourhood n) {
  return n == ItemNeighbourhood::candidate ? "candidate" : "user-items";
}

/// Options of ItemCF and UserCF: the similarity options plus how ItemCF scores.
struct NeighbourhoodOptions : SimilarityOptions {
  NeighbourhoodOptions() = default;
  /// Implicit conversion: similarity options with the default scoring.
  NeighbourhoodOptions(const SimilarityOptions& similarity) : SimilarityOptions(similarity) {}  // NOLINT

  /// ItemCF only (UserCF always uses the user's own K nearest users).
  ItemNeighbourhood neighbourhood = ItemNeighbourhood::userItems;
};

/// Options of a top-N request.
struct RecommendOptions {
  bool excludeSeen = true;        ///< never recommend items the user already has
  std::vector<Index> allowItems;  ///< if not empty, only these items may be recommended
  std::vector<Index> denyItems;   ///< these items are never recommended
  bool fallback = true;           ///< fill up to N with popular items (see the header)
  bool explain = false;           ///< fill Recommendation::explanation
  int threads = 1;                ///< batch requests: 0 = hardware concurrency

  void validate(std::string_view where, Index items) const {
    checkNonNegative(where, "threads", threads);
    for (Index i : allowItems) checkIndex(where, "allowItems item", i, items);
    for (Index i : denyItems) checkIndex(where, "denyItems item", i, items);
  }
};

/// Options of rating prediction (Surprise's KNNBasic).
struct PredictOptions {
  Index k = 40;    ///< neighbours considered: the k most similar, of which those with sim > 0 count
  Index minK = 1;  ///< fewer positive neighbours than this: prediction impossible (global mean)

  void validate(std::string_view where) const {
    checkPositive(where, "k", k);
    checkNonNegative(where, "minK", minK);
  }
};

/// A predicted rating.
struct Prediction {
  double value = 0.0;     ///< estimate, or the global mean when impossible
  bool possible = false;  ///< false: fewer than minK positive neighbours
  Index neighbours = 0;   ///< positive-similarity neighbours used
};

/// Converts recommendations to item lists (for the metrics module).
inline std::vector<Index> itemsOf(const std::vector<Recommendation>& list) {
  std::vector<Index> items;
  items.reserve(list.size());
  for (const auto& r : list) items.push_back(r.item);
  return items;
}

namespace detail {

/// Scratch space of one recommendation or prediction.
struct ScoreWorkspace {
  enum : std::uint8_t { reached = 1, blocked = 2, chosen = 4 };
  std::vector<double> score;        // per item
  std::vector<std::uint8_t> flag;   // per item
  std::vector<Index> touched;       // items with flag & reached (sparse accumulation)
  bool dense = false;               // dense accumulation: scan all items, no touched list
  std::vector<std::pair<double, Index>> candidates;
  std::vector<std::pair<double, Index>> neighbours;  // UserCF: the user's neighbours (similarity, user)
  std::vector<std::uint8_t> entityMark;               // per entity (prediction)
  std::vector<double> entityValue;                    // per entity (prediction)
  std::unique_ptr<SimilarityWorkspace> similarity;
};

/// The allow / deny lists of one request.
struct ItemFilter {
  bool active = false;
  std::vector<std::uint8_t> allowed;  // per item, when active
  std::vector<Index> allowedByPopularity;
  bool allows(Index item) const { return !active || allowed[static_cast<std::size_t>(item)] != 0; }
};

/// A pool that is not copied with the model that owns it.
template <typename Work>
struct PoolHolder {
  PoolHolder() = default;
  PoolHolder(const PoolHolder&) {}
  PoolHolder& operator=(const PoolHolder&) { return *this; }
  mutable WorkspacePool<Work> pool;
};

/// ItemCF (ItemBased = true) and UserCF (false).
template <typename Scalar, bool ItemBased>
class NeighbourhoodModel {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  using Options = NeighbourhoodOptions;
  using Data = InteractionMatrix<Scalar>;
  using SparseMatrix = SparseRowMatrix<Scalar>;
  using StorageIndex = typename SparseMatrix::StorageIndex;

  /// A user's items and values (sorted by item).
  struct History {
    const StorageIndex* items = nullptr;
    const Scalar* values = nullptr;
    Index size = 0;
  };

  static constexpr const char* name() { return ItemBased ? "ItemCF" : "UserCF"; }
  static constexpr const char* kind() { return ItemBased ? "cf.ItemCF" : "cf.UserCF"; }

  NeighbourhoodModel() = default;
  explicit NeighbourhoodModel(Options options) : m_options(std::move(options)) {
    m_options.validate(where("constructor"));
  }

  const Options& options() const noexcept { return m_options; }
  bool fitted() const noexcept { return m_fitted; }

  /// Learns the neighbour graph from `data` (copied or moved in; the model keeps it for
  /// histories and predictions). The id maps of `data` become the model's.
  /// @throws std::invalid_argument if data has no interactions or the options are bad.
  void fit(Data data) {
    const std::string w = where("fit");
    m_options.validate(w);
    checkExpected(data.nonZeros() > 0, w, "data", "at least one interaction", "none");
    detail::SimilarityEngine<Scalar> engine(entityMatrix(data), featureMatrix(data), m_options, w);
    NeighbourGraph<Scalar> graph = detail::computeNeighbours(engine, entityMatrix(data), featureMatrix(data));
    engine.clearProgress();
    m_userIds = data.userIds();
    m_itemIds = data.itemIds();
    data.setIds({}, {});
    m_data = std::move(data);
    m_engine = std::move(engine);
    m_graph = std::move(graph);
    buildScoringGraph();
    m_overrides.clear();
    m_users = m_data.users();
    m_globalMean = m_data.meanValue();
    rebuildPopularity();
    m_fitted = true;
  }

  Index users() const noexcept { return m_users; }
  Index items() const noexcept { return m_data.items(); }
  /// The training data of the last fit (without later addInteraction calls).
  const Data& data() const noexcept { return m_data; }
  /// The neighbour graph: items x items (ItemCF) or users x users (UserCF); row a holds
  /// the K nearest neighbours of a.
  const NeighbourGraph<Scalar>& neighbours() const noexcept { return m_graph; }
  const IdMap& userIds() const noexcept { return m_userIds; }
  const IdMap& itemIds() const noexcept { return m_itemIds; }
  double globalMean() const noexcept { return m_globalMean; }

  /// Index of a user / item id; throws std::invalid_argument for an unknown id.
  Index userIndex(std::string_view id) const { return m_userIds.at(id, where("userIndex"), "user"); }
  Index itemIndex(std::string_view id) const { return m_itemIds.at(id, where("itemIndex"), "item"); }
  /// External id of a user / item (the index in decimal when the model has no ids).
  std::string userName(Index u) const { return m_userIds.empty() ? std::to_string(u) : m_userIds.id(u); }
  std::string itemName(Index i) const { return m_itemIds.empty() ? std::to_string(i) : m_itemIds.id(i); }

  /// Training popularity |N(i)| of every item (updated by addInteraction).
  const std::vector<Index>& popularity() const noexcept { return m_popularity; }

  /// The current items of user u (training data plus addInteraction), sorted by item.
  History history(Index user) const {
    checkFitted("history");
    checkIndex(where("history"), "user", user, m_users);
    return historyOf(user);
  }

  /// Top-n items for `user` (0 <= user < users()).
  /// @throws std::invalid_argument for an unknown user, n <= 0 or bad options.
  std::vector<Recommendation> recommend(Index user, Index n, const RecommendOptions& options = {}) const {
    const std::string w = where("recommend");
    checkFitted("recommend");
    checkIndex(w, "user", user, m_users);
    checkPositive(w, "n", n);
    options.validate(w, items());
    const ItemFilter filter = makeFilter(options);
    auto ws = acquire();
    std::vector<Recommendation> out;
    recommendInto(user, historyOf(user), nullptr, n, filter, options, *ws, out);
    release(std::move(ws));
    return out;
  }

  /// Top-n items for an anonymous or new user described by (item, value) pairs (any
  /// order; repeats are combined as in fit: binary presence, weighted sum, rating last).
  /// An empty list gives the popularity fallback (the cold-start answer).
  std::vector<Recommendation> recommendFromItems(const std::vector<std::pair<Index, Scalar>>& itemValues, Index n,
                                                 const RecommendOptions& options = {}) const {
    const std::string w = where("recommendFromItems");
    checkFitted("recommendFromItems");
    checkPositive(w, "n", n);
    options.validate(w, items());
    const auto query = normaliseItems(itemValues, w);
    const ItemFilter filter = makeFilter(options);
    auto ws = acquire();
    std::vector<Recommendation> out;
    History h{query.first.data(), query.second.data(), static_cast<Index>(query.first.size())};
    recommendInto(-1, h, &query, n, filter, options, *ws, out);
    release(std::move(ws));
    return out;
  }

  /// Top-n lists of many users, computed in parallel (options.threads); result[k]
  /// belongs to users[k]. Identical to calling recommend for each user.
  std::vector<std::vector<Recommendation>> recommendAll(const std::vector<Index>& userList, Index n,
                                                        const RecommendOptions& options = {}) const {
    const std::string w = where("recommendAll");
    checkFitted("recommendAll");
    checkPositive(w, "n", n);
    options.validate(w, items());
    for (Index u : userList) checkIndex(w, "user", u, m_users);
    const ItemFilter filter = makeFilter(options);
    std::vector<std::vector<Recommendation>> result(userList.size());
    parallelFor(0, static_cast<Index>(userList.size()), 64, options.threads, [&](Index b, Index e) {
      auto ws = acquire();
      for (Index k = b; k < e; ++k) {
        const Index u = userList[static_cast<std::size_t>(k)];
        recommendInto(u, historyOf(u), nullptr, n, filter, options, *ws, result[static_cast<std::size_t>(k)]);
      }
      release(std::move(ws));
    });
    return result;
  }

  /// Top-n lists of every user 0..users()-1.
  std::vector<std::vector<Recommendation>> recommendAll(Index n, const RecommendOptions& options = {}) const {
    std::vector<Index> all(static_cast<std::size_t>(m_users));
    for (Index u = 0; u < m_users; ++u) all[static_cast<std::size_t>(u)] = u;
    return recommendAll(all, n, options);
  }

  /// The score p(u, i) of every item for `user` (0 for items no neighbour reaches),
  /// before any filtering. Shape (items).
  Vector<double> scores(Index user) const {
    const std::string w = where("scores");
    checkFitted("scores");
    checkIndex(w, "user", user, m_users);
    auto ws = acquire();
    accumulate(user, historyOf(user), nullptr, *ws);
    Vector<double> s = Vector<double>::Zero(items());
    forEachScored(*ws, [&](Index i, double x) { s(i) = x; });
    clear(*ws);
    release(std::move(ws));
    return s;
  }

  /// The terms of p(user, item): which of the user's items (ItemCF) or which neighbours
  /// (UserCF) contributed how much. The contributions sum to scores(user)(item).
  std::vector<Contribution> explain(Index user, Index item) const {
    const std::string w = where("explain");
    checkFitted("explain");
    checkIndex(w, "user", user, m_users);
    checkIndex(w, "item", item, items());
    auto ws = acquire();
    std::vector<Contribution> out;
    const History h = historyOf(user);
    if constexpr (!ItemBased) userNeighboursInto(user, h, nullptr, *ws);
    explainInto(h, item, *ws, out);
    release(std::move(ws));
    return out;
  }

  /// Predicts the rating of (user, item) as Surprise's KNNBasic: the candidates are the
  /// items rated by the user (ItemCF) or the users who rated the item (UserCF); the k most
  /// similar are taken (ties: smaller index), those with similarity <= 0 dropped, and
  /// est = sum sim * r / sum sim. With fewer than minK left the prediction is impossible
  /// and the global mean is returned. Similarities are the model's measure (with
  /// shrinkage and minSupport, without top-K pruning or normalisation); a rated pair
  /// counts itself with similarity 1, as in Surprise.
  Prediction predict(Index user, Index item, const PredictOptions& options = {}) const {
    const std::string w = where("predict");
    checkFitted("predict");
    checkIndex(w, "user", user, m_users);
    checkIndex(w, "item", item, items());
    options.validate(w);
    auto ws = acquire();
    const Prediction p = predictWith(user, item, options, *ws);
    release(std::move(ws));
    return p;
  }

  /// Predictions of many (user, item) pairs, in parallel (threads, 0 = all cores).
  std::vector<Prediction> predictAll(const std::vector<std::pair<Index, Index>>& pairs,
                                     const PredictOptions& options = {}, int threads = 1) const {
    const std::string w = where("predictAll");
    checkFitted("predictAll");
    options.validate(w);
    checkNonNegative(w, "threads", threads);
    for (const auto& [u, i] : pairs) {
      checkIndex(w, "user", u, m_users);
      checkIndex(w, "item", i, items());
    }
    std::vector<Prediction> out(pairs.size());
    parallelFor(0, static_cast<Index>(pairs.size()), 256, threads, [&](Index b, Index e) {
      auto ws = acquire();
      for (Index k = b; k < e; ++k) {
        const auto& [u, i] = pairs[static_cast<std::size_t>(k)];
        out[static_cast<std::size_t>(k)] = predictWith(u, i, options, *ws);
      }
      release(std::move(ws));
    });
    return out;
  }

  /// Records that `user` interacted with `item` (value: 1 for binary feedback, a weight
  /// or a rating), without recomputing similarities. ItemCF's recommendations for the
  /// user change at once; UserCF recomputes this user's neighbours from the new history
  /// (one sparse row against the training users) at each request. The item becomes
  /// "seen" and counts for popularity. user == users() adds a new user (only for models
  /// without user ids; use the id overload otherwise). Repeats combine as in fit
  /// (binary: presence, weighted: sum, rating: replace). Not safe concurrently with
  /// other calls on the same model.
  void addInteraction(Index user, Index item, Scalar value = Scalar(1)) {
    const std::string w = where("addInteraction");
    checkFitted("addInteraction");
    checkIndex(w, "item", item, items());
    if (user == m_users) {
      checkArgument(m_userIds.empty(), w, "a new user of a model with user ids must be added by id");
    } else {
      checkIndex(w, "user", user, m_users + 1);
    }
    addChecked(user, item, value, w);
  }

  /// The same with ids; an unknown user id adds a new user. The item must be known.
  void addInteraction(std::string_view userId, std::string_view itemId, Scalar value = Scalar(1)) {
    const std::string w = where("addInteraction");
    checkFitted("addInteraction");
    checkArgument(!m_userIds.empty() || m_users == 0, w, "the model has no user ids; use the index overload");
    const Index item = itemIndex(itemId);
    Index user = m_userIds.find(userId);
    checkArgument(!userId.empty(), w, "user id expected non-empty, got ''");
    if (user < 0) user = m_users;
    validateValue(value, w);
    if (user == m_users) m_userIds.add(userId);
    addChecked(user, item, value, w);
  }

  /// Writes the model (options, training data, graph, ids and later interactions) to an
  /// eigenrec archive.
  void save(std::ostream& os) const {
    checkFitted("save");
    ArchiveWriter a(os, kind(), 1);
    a.writeString("scalar", scalarName<Scalar>());
    a.writeValue("feedback", static_cast<std::int32_t>(m_data.feedback()));
    a.writeValue("measure", static_cast<std::int32_t>(m_options.measure));
    a.writeValue("k", static_cast<std::int64_t>(m_options.k));
    a.writeValue("alpha", m_options.alpha);
    a.writeValue("shrinkage", m_options.shrinkage);
    a.writeValue("min_support", static_cast<std::int64_t>(m_options.minSupport));
    a.writeValue("normalize", static_cast<std::uint8_t>(m_options.normalize ? 1 : 0));
    a.writeValue("neighbourhood", static_cast<std::int32_t>(m_options.neighbourhood));
    a.writeValue("data_users", static_cast<std::int64_t>(m_data.users()));
    a.writeValue("data_items", static_cast<std::int64_t>(m_data.items()));
    const SparseMatrix& ui = m_data.userItems();
    a.writeVector("data_outer", std::vector<std::int64_t>(ui.outerIndexPtr(), ui.outerIndexPtr() + ui.rows() + 1));
    a.writeVector("data_inner", std::vector<std::int64_t>(ui.innerIndexPtr(), ui.innerIndexPtr() + ui.nonZeros()));
    a.writeVector("data_values", std::vector<Scalar>(ui.valuePtr(), ui.valuePtr() + ui.nonZeros()));
    a.writeVector("graph_offsets", toI64(m_graph.offsets()));
    a.writeVector("graph_neighbours", toI64(m_graph.neighbours()));
    a.writeVector("graph_similarities", m_graph.similarities());
    a.writeValue("users", static_cast<std::int64_t>(m_users));
    a.writeStrings("user_ids", m_userIds.ids());
    a.writeStrings("item_ids", m_itemIds.ids());
    std::vector<std::int64_t> ou, oo{0}, oi;
    std::vector<Scalar> ov;
    std::vector<Index> keys;
    for (const auto& kv : m_overrides) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    for (Index u : keys) {
      const auto& row = m_overrides.at(u);
      ou.push_back(u);
      oi.insert(oi.end(), row.items.begin(), row.items.end());
      ov.insert(ov.end(), row.values.begin(), row.values.end());
      oo.push_back(static_cast<std::int64_t>(oi.size()));
    }
    a.writeVector("override_users", ou);
    a.writeVector("override_offsets", oo);
    a.writeVector("override_items", oi);
    a.writeVector("override_values", ov);
    a.finish();
  }

  /// Writes the model to `path` atomically.
  void save(const std::string& path) const {
    saveFileAtomically(path, [&](std::ostream& os) { save(os); });
  }

  /// Reads a model written by save(). The model is unchanged if anything fails.
  /// @throws FormatError for a wrong, truncated or corrupted archive.
  void load(std::istream& is, const std::string& source = "") {
    ArchiveReader a(is, kind(), 1, source);
    const std::string scalar = a.readString("scalar");
    const auto feedback = a.readValue<std::int32_t>("feedback");
    const auto measure = a.readValue<std::int32_t>("measure");
    Options o;
    o.k = static_cast<Index>(a.readValue<std::int64_t>("k"));
    o.alpha = a.readValue<double>("alpha");
    o.shrinkage = a.readValue<double>("shrinkage");
    o.minSupport = static_cast<Index>(a.readValue<std::int64_t>("min_support"));
    o.normalize = a.readValue<std::uint8_t>("normalize") != 0;
    const auto neighbourhood = a.readValue<std::int32_t>("neighbourhood");
    const auto dataUsers = a.readValue<std::int64_t>("data_users");
    const auto dataItems = a.readValue<std::int64_t>("data_items");
    auto outer = a.readVector<std::int64_t>("data_outer");
    auto inner = a.readVector<std::int64_t>("data_inner");
    auto values = a.readVector<Scalar>("data_values");
    auto offsets = a.readVector<std::int64_t>("graph_offsets");
    auto nbrs = a.readVector<std::int64_t>("graph_neighbours");
    auto sims = a.readVector<Scalar>("graph_similarities");
    const auto users = a.readValue<std::int64_t>("users");
    auto userIds = a.readStrings("user_ids");
    auto itemIds = a.readStrings("item_ids");
    auto ou = a.readVector<std::int64_t>("override_users");
    auto oo = a.readVector<std::int64_t>("override_offsets");
    auto oi = a.readVector<std::int64_t>("override_items");
    auto ov = a.readVector<Scalar>("override_values");
    a.finish();

    const std::string src = source.empty() ? "<archive>" : source;
    auto bad = [&](const std::string& message) { throw FormatError(src, 0, 0, message); };
    if (scalar != scalarName<Scalar>()) bad("scalar type " + scalar + " does not match the model's " + scalarName<Scalar>());
    if (feedback < 0 || feedback > 2) bad("unknown feedback mode " + std::to_string(feedback));
    if (measure < 0 || measure > static_cast<int>(Measure::msd)) bad("unknown measure " + std::to_string(measure));
    o.measure = static_cast<Measure>(measure);
    if (neighbourhood < 0 || neighbourhood > 1) bad("unknown neighbourhood " + std::to_string(neighbourhood));
    o.neighbourhood = static_cast<ItemNeighbourhood>(neighbourhood);
    o.threads = m_options.threads;
    try {
      o.validate(where("load"));
      Data data = Data::fromCsr(dataUsers, dataItems, toStorage(outer), toStorage(inner), values,
                                static_cast<Feedback>(feedback));
      NeighbourGraph<Scalar> graph(toIndex(offsets), toIndex(nbrs), std::move(sims));
      const Index entities = ItemBased ? data.items() : data.users();
      if (graph.rows() != entities) bad("graph rows " + std::to_string(graph.rows()) + " != " + std::to_string(entities));
      if (users < dataUsers) bad("users " + std::to_string(users) + " < data users " + std::to_string(dataUsers));
      IdMap uids = IdMap::fromIds(std::move(userIds));
      IdMap iids = IdMap::fromIds(std::move(itemIds));
      if (!uids.empty() && uids.size() != users) bad("user ids size does not match users");
      if (!iids.empty() && iids.size() != dataItems) bad("item ids size does not match items");
      if (oo.size() != ou.size() + 1 || oo.front() != 0 || oo.back() != static_cast<std::int64_t>(oi.size()) ||
          oi.size() != ov.size()) {
        bad("inconsistent override arrays");
      }
      std::unordered_map<Index, OverrideRow> overrides;
      for (std::size_t r = 0; r < ou.size(); ++r) {
        if (ou[r] < 0 || ou[r] >= users || oo[r] > oo[r + 1]) bad("bad override row " + std::to_string(r));
        OverrideRow row;
        for (auto p = oo[r]; p < oo[r + 1]; ++p) {
          const auto i = oi[static_cast<std::size_t>(p)];
          if (i < 0 || i >= dataItems || (!row.items.empty() && row.items.back() >= i)) {
            bad("bad override item in row " + std::to_string(r));
          }
          row.items.push_back(static_cast<StorageIndex>(i));
          row.values.push_back(ov[static_cast<std::size_t>(p)]);
        }
        overrides[static_cast<Index>(ou[r])] = std::move(row);
      }
      detail::SimilarityEngine<Scalar> engine(entityMatrix(data), featureMatrix(data), o, where("load"));
      // Commit.
      m_options = o;
      m_data = std::move(data);
      m_graph = std::move(graph);
      buildScoringGraph();
      m_engine = std::move(engine);
      m_userIds = std::move(uids);
      m_itemIds = std::move(iids);
      m_overrides = std::move(overrides);
      m_users = users;
      m_globalMean = m_data.meanValue();
      rebuildPopularity();
      m_fitted = true;
    } catch (const FormatError&) {
      throw;
    } catch (const std::invalid_argument& e) {
      bad(std::string("invalid model: ") + e.what());
    }
  }

  /// Reads a model from `path`.
  void load(const std::string& path) {
    loadFile(path, [&](std::istream& is) { load(is, path); });
  }

  /// Bytes held by the model: data (both orientations), graph, engine statistics,
  /// popularity, and the histories added after fitting (ids not counted).
  std::size_t memoryBytes() const {
    std::size_t b = m_data.memoryBytes() + m_graph.memoryBytes() + m_reverse.memoryBytes() + m_engine.memoryBytes();
    b += (m_popularity.size() + m_popOrder.size() + m_popRank.size()) * sizeof(Index);
    for (const auto& kv : m_overrides) {
      b += kv.second.items.capacity() * sizeof(StorageIndex) + kv.second.values.capacity() * sizeof(Scalar);
    }
    return b;
  }

 protected:
  struct OverrideRow {
    std::vector<StorageIndex> items;
    std::vector<Scalar> values;
  };
  using Query = std::pair<std::vector<StorageIndex>, std::vector<Scalar>>;

  static std::string where(std::string_view method) { return std::string(name()) + "::" + std::string(method); }

  void checkFitted(std::string_view method) const {
    if (!m_fitted) throwInvalidArgument(where(method), "the model is not fitted (call fit or load first)");
  }

  static const SparseMatrix& entityMatrix(const Data& d) { return ItemBased ? d.itemUsers() : d.userItems(); }
  static const SparseMatrix& featureMatrix(const Data& d) { return ItemBased ? d.userItems() : d.itemUsers(); }

  template <typename T>
  static std::vector<std::int64_t> toI64(const std::vector<T>& v) {
    return std::vector<std::int64_t>(v.begin(), v.end());
  }
  static std::vector<StorageIndex> toStorage(const std::vector<std::int64_t>& v) {
    return std::vector<StorageIndex>(v.begin(), v.end());
  }
  static std::vector<Index> toIndex(const std::vector<std::int64_t>& v) { return std::vector<Index>(v.begin(), v.end()); }

  History historyOf(Index user) const {
    if (!m_overrides.empty()) {
      const auto it = m_overrides.find(user);
      if (it != m_overrides.end()) {
        return {it->second.items.data(), it->second.values.data(), static_cast<Index>(it->second.items.size())};
      }
    }
    if (user >= m_data.users()) return {};
    const SparseMatrix& ui = m_data.userItems();
    const auto b = ui.outerIndexPtr()[user], e = ui.outerIndexPtr()[user + 1];
    return {ui.innerIndexPtr() + b, ui.valuePtr() + b, static_cast<Index>(e - b)};
  }

  bool modified(Index user) const { return user >= m_data.users() || m_overrides.count(user) > 0; }

  std::unique_ptr<ScoreWorkspace> acquire() const {
    return m_pool.pool.acquire([&] {
      auto w = std::make_unique<ScoreWorkspace>();
      w->score.assign(static_cast<std::size_t>(items()), 0.0);
      w->flag.assign(static_cast<std::size_t>(items()), 0);
      w->similarity = m_engine.makeWorkspace();
      return w;
    });
  }
  void release(std::unique_ptr<ScoreWorkspace> w) const { m_pool.pool.release(std::move(w)); }

  void validateValue(Scalar value, std::string_view w) const {
    checkFinite(w, "value", value);
    if (m_data.feedback() == Feedback::weighted) checkPositive(w, "value", value);
  }

  void addChecked(Index user, Index item, Scalar value, std::string_view w) {
    validateValue(value, w);
    if (m_data.feedback() == Feedback::binary) value = Scalar(1);
    auto it = m_overrides.find(user);
    if (it == m_overrides.end()) {
      OverrideRow row;
      const History h = historyOf(user);
      row.items.assign(h.items, h.items + h.size);
      row.values.assign(h.values, h.values + h.size);
      it = m_overrides.emplace(user, std::move(row)).first;
    }
    OverrideRow& row = it->second;
    const auto pos = std::lower_bound(row.items.begin(), row.items.end(), static_cast<StorageIndex>(item));
    const auto at = static_cast<std::size_t>(pos - row.items.begin());
    if (pos != row.items.end() && *pos == item) {
      if (m_data.feedback() == Feedback::weighted) row.values[at] += value;
      if (m_data.feedback() == Feedback::rating) row.values[at] = value;
    } else {
      row.items.insert(pos, static_cast<StorageIndex>(item));
      row.values.insert(row.values.begin() + static_cast<std::ptrdiff_t>(at), value);
      bumpPopularity(item);
    }
    if (user == m_users) ++m_users;
  }

  void rebuildPopularity() {
    const Index n = items();
    m_popularity.assign(static_cast<std::size_t>(n), 0);
    for (Index i = 0; i < n; ++i) m_popularity[static_cast<std::size_t>(i)] = m_data.itemCount(i);
    for (const auto& kv : m_overrides) {
      // Items the user did not have in the training data count once more.
      const Index u = kv.first;
      for (const auto i : kv.second.items) {
        bool inData = false;
        if (u < m_data.users()) {
          const SparseMatrix& ui = m_data.userItems();
          const auto* b = ui.innerIndexPtr() + ui.outerIndexPtr()[u];
          const auto* e = ui.innerIndexPtr() + ui.outerIndexPtr()[u + 1];
          inData = std::binary_search(b, e, i);
        }
        if (!inData) ++m_popularity[static_cast<std::size_t>(i)];
      }
    }
    m_popOrder.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) m_popOrder[static_cast<std::size_t>(i)] = i;
    std::sort(m_popOrder.begin(), m_popOrder.end(), [&](Index a, Index b) { return morePopular(a, b); });
    m_popRank.resize(static_cast<std::size_t>(n));
    for (Index r = 0; r < n; ++r) m_popRank[static_cast<std::size_t>(m_popOrder[static_cast<std::size_t>(r)])] = r;
  }

  bool morePopular(Index a, Index b) const {
    const Index pa = m_popularity[static_cast<std::size_t>(a)], pb = m_popularity[static_cast<std::size_t>(b)];
    return pa > pb || (pa == pb && a < b);
  }

  void bumpPopularity(Index item) {
    ++m_popularity[static_cast<std::size_t>(item)];
    Index r = m_popRank[static_cast<std::size_t>(item)];
    while (r > 0 && morePopular(item, m_popOrder[static_cast<std::size_t>(r - 1)])) {
      const Index other = m_popOrder[static_cast<std::size_t>(r - 1)];
      m_popOrder[static_cast<std::size_t>(r)] = other;
      m_popRank[static_cast<std::size_t>(other)] = r;
      --r;
    }
    m_popOrder[static_cast<std::size_t>(r)] = item;
    m_popRank[static_cast<std::size_t>(item)] = r;
  }

  ItemFilter makeFilter(const RecommendOptions& o) const {
    ItemFilter f;
    if (o.allowItems.empty() && o.denyItems.empty()) return f;
    f.active = true;
    f.allowed.assign(static_cast<std::size_t>(items()), o.allowItems.empty() ? 1 : 0);
    for (Index i : o.allowItems) f.allowed[static_cast<std::size_t>(i)] = 1;
    for (Index i : o.denyItems) f.allowed[static_cast<std::size_t>(i)] = 0;
    if (!o.allowItems.empty()) {
      for (Index i : o.allowItems) {
        if (f.allowed[static_cast<std::size_t>(i)] == 1) {
          f.allowed[static_cast<std::size_t>(i)] = 2;  // dedupe
          f.allowedByPopularity.push_back(i);
        }
      }
      for (Index i : f.allowedByPopularity) f.allowed[static_cast<std::size_t>(i)] = 1;
      std::sort(f.allowedByPopularity.begin(), f.allowedByPopularity.end(),
                [&](Index a, Index b) { return m_popRank[static_cast<std::size_t>(a)] < m_popRank[static_cast<std::size_t>(b)]; });
    }
    return f;
  }

  Query normaliseItems(const std::vector<std::pair<Index, Scalar>>& itemValues, std::string_view w) const {
    std::vector<std::pair<Index, Scalar>> v;
    v.reserve(itemValues.size());
    for (const auto& [i, x] : itemValues) {
      checkIndex(w, "item", i, items());
      validateValue(x, w);
      v.emplace_back(i, m_data.feedback() == Feedback::binary ? Scalar(1) : x);
    }
    std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    Query q;
    for (const auto& [i, x] : v) {
      if (!q.first.empty() && q.first.back() == i) {
        if (m_data.feedback() == Feedback::weighted) q.second.back() += x;
        if (m_data.feedback() == Feedback::rating) q.second.back() = x;
        continue;
      }
      q.first.push_back(static_cast<StorageIndex>(i));
      q.second.push_back(x);
    }
    return q;
  }

  /// UserCF: the neighbours of `user` (graph row, or computed from the current history
  /// when it changed after fitting or for a query) into w.neighbours.
  void userNeighboursInto(Index user, const History& h, const Query* query, ScoreWorkspace& w) const {
    w.neighbours.clear();
    if (query == nullptr && !modified(user)) {
      const auto row = m_graph.row(user);
      for (Index p = 0; p < row.size; ++p) {
        w.neighbours.emplace_back(static_cast<double>(row.similarities[p]), row.neighbours[p]);
      }
      return;
    }
    std::vector<std::pair<Index, Scalar>> q;
    q.reserve(static_cast<std::size_t>(h.size));
    for (Index p = 0; p < h.size; ++p) q.emplace_back(static_cast<Index>(h.items[p]), h.values[p]);
    m_engine.topNeighbours(entityMatrix(m_data), featureMatrix(m_data), user < m_data.users() ? user : Index(-1),
                           *w.similarity, &q);
    for (const auto& [s, v] : w.similarity->candidates) w.neighbours.emplace_back(static_cast<Scalar>(s), v);
  }

  /// Adds p(u, .) into w.score, marking reached items.
  void accumulate(Index user, const History& h, const Query* query, ScoreWorkspace& w) const {
    Index work = 0;
    if constexpr (ItemBased) {
      (void)user;
      (void)query;
      for (Index p = 0; p < h.size; ++p) work += scoringGraph().row(static_cast<Index>(h.items[p])).size;
    } else {
      userNeighboursInto(user, h, query, w);
      for (const auto& nb : w.neighbours) work += historyOf(nb.second).size;
    }
    // Many additions: add without bookkeeping (callers then scan all items, w.dense).
    // Few: track the reached items as they come (w.touched). Same scores either way;
    // unreached items keep score 0.
    w.dense = items() <= 4 * work;
    if (w.dense) {
      accumulateWith<true>(h, w);
    } else {
      accumulateWith<false>(h, w);
    }
  }

  /// Calls f(item, score) for every item with a non-zero score (after accumulate).
  template <typename F>
  void forEachScored(const ScoreWorkspace& w, F&& f) const {
    const double* score = w.score.data();
    if (w.dense) {
      for (Index i = 0; i < items(); ++i) {
        if (score[i] != 0) f(i, score[i]);
      }
    } else {
      for (Index i : w.touched) f(i, score[i]);
    }
  }

  template <bool Dense>
  void accumulateWith(const History& h, ScoreWorkspace& w) const {
    double* score = w.score.data();
    std::uint8_t* flag = w.flag.data();
    auto add = [&](Index item, double x) {
      if constexpr (!Dense) {
        if (!(flag[item] & ScoreWorkspace::reached)) {
          flag[item] |= ScoreWorkspace::reached;
          w.touched.push_back(item);
        }
      }
      score[item] += x;
    };
    if constexpr (ItemBased) {
      const NeighbourGraph<Scalar>& graph = scoringGraph();
      for (Index p = 0; p < h.size; ++p) {
        const double r = static_cast<double>(h.values[p]);
        const auto row = graph.row(static_cast<Index>(h.items[p]));
        for (Index q = 0; q < row.size; ++q) add(row.neighbours[q], static_cast<double>(row.similarities[q]) * r);
      }
    } else {
      // Binary feedback: every value is 1, so s * value is s (the same sums, one load less).
      const bool unit = m_data.feedback() == Feedback::binary;
      for (const auto& neighbour : w.neighbours) {
        // By value: a reference into w.neighbours would be reloaded after every store
        // to score (both are doubles, so the compiler must assume they may alias).
        const double s = neighbour.first;
        const History hv = historyOf(neighbour.second);
        if (unit) {
          for (Index q = 0; q < hv.size; ++q) add(static_cast<Index>(hv.items[q]), s);
        } else {
          for (Index q = 0; q < hv.size; ++q) add(static_cast<Index>(hv.items[q]), s * static_cast<double>(hv.values[q]));
        }
      }
    }
  }

  void explainInto(const History& h, Index item, const ScoreWorkspace& w, std::vector<Contribution>& out) const {
    out.clear();
    if constexpr (ItemBased) {
      (void)w;
      for (Index p = 0; p < h.size; ++p) {
        const double r = static_cast<double>(h.values[p]);
        const auto row = scoringGraph().row(static_cast<Index>(h.items[p]));
        for (Index q = 0; q < row.size; ++q) {
          if (row.neighbours[q] == item) {
            const double s = static_cast<double>(row.similarities[q]);
            out.push_back({static_cast<Index>(h.items[p]), s, r, s * r});
          }
        }
      }
    } else {
      (void)h;
      for (const auto& [s, v] : w.neighbours) {
        const History hv = historyOf(v);
        const auto* pos = std::lower_bound(hv.items, hv.items + hv.size, static_cast<StorageIndex>(item));
        if (pos != hv.items + hv.size && *pos == item) {
          const double r = static_cast<double>(hv.values[pos - hv.items]);
          out.push_back({v, s, r, s * r});
        }
      }
    }
  }

  void clear(ScoreWorkspace& w) const {
    if (w.dense) {
      std::fill(w.score.begin(), w.score.end(), 0.0);
      w.dense = false;
    }
    for (Index i : w.touched) {
      w.score[static_cast<std::size_t>(i)] = 0.0;
      w.flag[static_cast<std::size_t>(i)] = 0;
    }
    w.touched.clear();
  }

  /// The top-n scan of a dense accumulation: every item in index order. Seen items are
  /// zeroed first: a score must beat max(0, threshold), so that excludes them (the
  /// blocked flags need no test here), and their high scores no longer defeat the block
  /// test. A block of 8 scores none of which beats the bar is skipped with one
  /// vectorisable test; the rest take the per-item checks. In index order a score equal
  /// to the threshold loses its tie (larger index), so `>` is exact.
  void selectDense(const History& h, const ItemFilter& filter, const RecommendOptions& o, ScoreWorkspace& w,
                   TopK& top) const {
    double* score = w.score.data();
    if (o.excludeSeen) {
      for (Index p = 0; p < h.size; ++p) score[h.items[p]] = 0;
    }
    double bar = std::max(0.0, top.threshold());
    auto consider = [&](Index i) {
      const double s = score[i];
      if (!(s > bar) || !filter.allows(i)) return;
      top.push(s, i);
      bar = std::max(0.0, top.threshold());
    };
    const Index m = items();
    constexpr Index block = 8;
    Index i = 0;
    for (; i + block <= m; i += block) {
      bool any = false;
      for (Index j = 0; j < block; ++j) any |= score[i + j] > bar;
      if (!any) continue;
      for (Index j = 0; j < block; ++j) consider(i + j);
    }
    for (; i < m; ++i) consider(i);
  }

  void recommendInto(Index user, const History& h, const Query* query, Index n, const ItemFilter& filter,
                     const RecommendOptions& o, ScoreWorkspace& w, std::vector<Recommendation>& out) const {
    out.clear();
    accumulate(user, h, query, w);
    std::uint8_t* flag = w.flag.data();
    if (o.excludeSeen) {
      for (Index p = 0; p < h.size; ++p) flag[h.items[p]] |= ScoreWorkspace::blocked;
    }
    TopK top(w.candidates, n);
    if (w.dense) {
      selectDense(h, filter, o, w, top);
    } else {
      forEachScored(w, [&](Index i, double s) {
        if (s > 0 && !(flag[i] & ScoreWorkspace::blocked) && filter.allows(i)) top.offer(s, i);
      });
    }
    top.finish();
    for (const auto& [s, i] : w.candidates) {
      out.push_back({i, s, false, {}});
      flag[i] |= ScoreWorkspace::chosen;
    }
    if (o.fallback && static_cast<Index>(out.size()) < n) {
      const std::vector<Index>& order = filter.allowedByPopularity.empty() ? m_popOrder : filter.allowedByPopularity;
      const bool restricted = !filter.allowedByPopularity.empty();
      for (Index i : order) {
        if (static_cast<Index>(out.size()) >= n) break;
        if ((flag[i] & (ScoreWorkspace::blocked | ScoreWorkspace::chosen)) || (!restricted && !filter.allows(i))) continue;
        out.push_back({i, w.score[static_cast<std::size_t>(i)], true, {}});  // 0 unless reached
        flag[i] |= ScoreWorkspace::chosen;
      }
    }
    if (o.explain) {
      for (auto& r : out) explainInto(h, r.item, w, r.explanation);
    }
    // Reset the workspace.
    for (const auto& r : out) flag[r.item] = 0;
    for (Index p = 0; p < h.size; ++p) flag[h.items[p]] = 0;
    clear(w);
  }

  Prediction predictWith(Index user, Index item, const PredictOptions& o, ScoreWorkspace& w) const {
    // Candidates: (entity, rating) pairs; the target entity is `item` (ItemCF) or `user`.
    const Index target = ItemBased ? item : user;
    const Index entities = m_engine.entities();
    if (w.entityMark.size() != static_cast<std::size_t>(entities)) {
      w.entityMark.assign(static_cast<std::size_t>(entities), 0);
      w.entityValue.assign(static_cast<std::size_t>(entities), 0.0);
    }
    std::vector<Index> marked;
    double selfValue = 0;
    bool self = false;
    auto mark = [&](Index e, double r) {
      if (e == target) {
        self = true;
        selfValue = r;
        return;
      }
      w.entityMark[static_cast<std::size_t>(e)] = 1;
      w.entityValue[static_cast<std::size_t>(e)] = r;
      marked.push_back(e);
    };
    if constexpr (ItemBased) {
      const History h = historyOf(user);
      for (Index p = 0; p < h.size; ++p) mark(static_cast<Index>(h.items[p]), static_cast<double>(h.values[p]));
    } else {
      const SparseMatrix& iu = m_data.itemUsers();
      for (auto p = iu.outerIndexPtr()[item]; p < iu.outerIndexPtr()[item + 1]; ++p) {
        mark(static_cast<Index>(iu.innerIndexPtr()[p]), static_cast<double>(iu.valuePtr()[p]));
      }
    }
    // (similarity, entity) of the candidates; value looked up afterwards.
    w.candidates.clear();
    if (self) w.candidates.emplace_back(1.0, target);
    if (target < entities && !marked.empty()) {
      m_engine.visitEntity(entityMatrix(m_data), featureMatrix(m_data), target, *w.similarity,
                           [&](Index b, double, double sim) {
                             if (w.entityMark[static_cast<std::size_t>(b)]) w.candidates.emplace_back(sim, b);
                           });
    }
    keepTop(w.candidates, o.k);
    double sumSim = 0, sumRating = 0;
    Index used = 0;
    for (const auto& [s, e] : w.candidates) {
      if (s <= 0) continue;
      const double r = e == target ? selfValue : w.entityValue[static_cast<std::size_t>(e)];
      sumSim += s;
      sumRating += s * r;
      ++used;
    }
    for (Index e : marked) w.entityMark[static_cast<std::size_t>(e)] = 0;
    Prediction p;
    p.neighbours = used;
    if (used < o.minK || used == 0) {
      p.value = m_globalMean;
      p.possible = false;
    } else {
      p.value = sumRating / sumSim;
      p.possible = true;
    }
    return p;
  }

  /// ItemCF: the graph whose row i lists the candidates j that item i scores, with the
  /// weight used: the graph itself (userItems) or its transpose (candidate: w_ji for
  /// every j that has i among its K nearest).
  const NeighbourGraph<Scalar>& scoringGraph() const {
    return ItemBased && m_options.neighbourhood == ItemNeighbourhood::candidate ? m_reverse : m_graph;
  }

  void buildScoringGraph() {
    m_reverse = NeighbourGraph<Scalar>();
    if (!(ItemBased && m_options.neighbourhood == ItemNeighbourhood::candidate)) return;
    const Index n = m_graph.rows();
    std::vector<Index> offsets(static_cast<std::size_t>(n) + 1, 0);
    for (const Index j : m_graph.neighbours()) ++offsets[static_cast<std::size_t>(j) + 1];
    for (Index i = 0; i < n; ++i) offsets[static_cast<std::size_t>(i) + 1] += offsets[static_cast<std::size_t>(i)];
    std::vector<Index> fill(offsets.begin(), offsets.end() - 1);
    std::vector<Index> targets(static_cast<std::size_t>(m_graph.nonZeros()));
    std::vector<Scalar> weights(static_cast<std::size_t>(m_graph.nonZeros()));
    for (Index j = 0; j < n; ++j) {  // rows in order: each reverse row lists j increasing
      const auto row = m_graph.row(j);
      for (Index p = 0; p < row.size; ++p) {
        const auto at = static_cast<std::size_t>(fill[static_cast<std::size_t>(row.neighbours[p])]++);
        targets[at] = j;
        weights[at] = row.similarities[p];
      }
    }
    m_reverse = NeighbourGraph<Scalar>(std::move(offsets), std::move(targets), std::move(weights));
  }

  Options m_options;
  bool m_fitted = false;
  Data m_data;
  detail::SimilarityEngine<Scalar> m_engine;
  NeighbourGraph<Scalar> m_graph;
  NeighbourGraph<Scalar> m_reverse;  // ItemCF with ItemNeighbourhood::candidate
  IdMap m_userIds, m_itemIds;
  std::unordered_map<Index, OverrideRow> m_overrides;
  Index m_users = 0;
  double m_globalMean = 0;
  std::vector<Index> m_popularity, m_popOrder, m_popRank;
  PoolHolder<ScoreWorkspace> m_pool;
};

}  // namespace detail
}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_NEIGHBOURHOOD_HPP
