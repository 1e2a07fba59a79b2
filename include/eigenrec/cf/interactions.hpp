// eigenrec/cf/interactions.hpp: user-item interaction data for neighbourhood CF.
//
// Records (user, item, value, timestamp) with arbitrary string or integer ids go into an
// InteractionLog, which maps ids to dense indices 0..n-1 in order of first appearance.
// InteractionMatrix turns a log (or records with dense indices, or a sparse matrix) into
// the two sparse views every algorithm needs:
//
//   userItems()  (users, items) CSR: row u holds the items of user u, sorted by index
//   itemUsers()  (items, users) CSR: row i holds the users of item i (the transpose)
//
// Feedback modes: binary (every stored value is 1), weighted (implicit weights such as
// play counts) and rating (explicit ratings). Duplicate (user, item) records are
// aggregated as documented in Duplicates.
#ifndef EIGENREC_CF_INTERACTIONS_HPP
#define EIGENREC_CF_INTERACTIONS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace eigenrec::cf {

/// Bidirectional map between external ids (strings; integers are written in decimal) and
/// dense indices 0..size()-1, assigned in order of first appearance.
class IdMap {
 public:
  /// Number of ids.
  Index size() const noexcept { return static_cast<Index>(m_ids.size()); }
  bool empty() const noexcept { return m_ids.empty(); }

  /// Index of `id`, adding it if it is new.
  Index add(std::string_view id) {
    const auto [it, inserted] = m_index.try_emplace(std::string(id), size());
    if (inserted) m_ids.emplace_back(id);
    return it->second;
  }

  /// Index of `id`, or -1 if unknown.
  Index find(std::string_view id) const {
    const auto it = m_index.find(std::string(id));
    return it == m_index.end() ? Index(-1) : it->second;
  }

  /// Index of `id`; throws std::invalid_argument("<where>: unknown <what> '<id>'") if unknown.
  Index at(std::string_view id, std::string_view where, std::string_view what) const {
    const Index index = find(id);
    if (index < 0) throwInvalidArgument(where, "unknown ", what, " '", id, "'");
    return index;
  }

  /// The id of index `index` (0 <= index < size()).
  const std::string& id(Index index) const {
    checkIndex("IdMap::id", "index", index, size());
    return m_ids[static_cast<std::size_t>(index)];
  }

  /// All ids in index order.
  const std::vector<std::string>& ids() const noexcept { return m_ids; }

  /// Rebuilds a map from ids in index order; throws if an id repeats.
  static IdMap fromIds(std::vector<std::string> ids) {
    IdMap map;
    map.m_index.reserve(ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (!map.m_index.try_emplace(ids[i], static_cast<Index>(i)).second) {
        throwInvalidArgument("IdMap::fromIds", "id '", ids[i], "' repeats at index ", i);
      }
    }
    map.m_ids = std::move(ids);
    return map;
  }

 private:
  std::unordered_map<std::string, Index> m_index;
  std::vector<std::string> m_ids;
};

/// One interaction with dense indices. `value` is 1 for plain implicit feedback, a weight
/// (play count, dwell time) or a rating; `timestamp` orders the records of a user
/// (0 when unknown).
struct Interaction {
  Index user = 0;
  Index item = 0;
  double value = 1.0;
  std::int64_t timestamp = 0;
};

/// A list of interaction records with the id maps of their users and items.
class InteractionLog {
 public:
  InteractionLog() = default;

  /// An empty log that starts with a copy of `other`'s id maps, so that the indices of
  /// known users and items agree (a test file read after a training file).
  static InteractionLog sharingIds(const InteractionLog& other) {
    InteractionLog log;
    log.m_users = other.m_users;
    log.m_items = other.m_items;
    return log;
  }

  /// Appends a record, mapping the ids to indices (new ids get the next index).
  /// @throws std::invalid_argument if an id is empty or `value` is not finite.
  void add(std::string_view user, std::string_view item, double value = 1.0, std::int64_t timestamp = 0) {
    const char* where = "InteractionLog::add";
    checkArgument(!user.empty(), where, "user id expected non-empty, got ''");
    checkArgument(!item.empty(), where, "item id expected non-empty, got ''");
    checkFinite(where, "value", value);
    m_records.push_back({m_users.add(user), m_items.add(item), value, timestamp});
  }

  /// Appends a record with known indices (0 <= user < users().size(), same for items).
  void addIndexed(Index user, Index item, double value = 1.0, std::int64_t timestamp = 0) {
    const char* where = "InteractionLog::addIndexed";
    checkIndex(where, "user", user, m_users.size());
    checkIndex(where, "item", item, m_items.size());
    checkFinite(where, "value", value);
    m_records.push_back({user, item, value, timestamp});
  }

  const IdMap& users() const noexcept { return m_users; }
  const IdMap& items() const noexcept { return m_items; }
  IdMap& users() noexcept { return m_users; }
  IdMap& items() noexcept { return m_items; }
  const std::vector<Interaction>& records() const noexcept { return m_records; }
  std::vector<Interaction>& records() noexcept { return m_records; }
  Index size() const noexcept { return static_cast<Index>(m_records.size()); }
  bool empty() const noexcept { return m_records.empty(); }

 private:
  IdMap m_users;
  IdMap m_items;
  std::vector<Interaction> m_records;
};

/// What the values mean.
enum class Feedback {
  binary,    ///< implicit, presence only: every stored value is 1 (values in the input are ignored)
  weighted,  ///< implicit with weights (counts, durations): values > 0
  rating     ///< explicit ratings (any finite values)
};

/// How repeated (user, item) records are combined.
enum class Duplicates {
  automatic,  ///< binary: one entry; weighted: sum; rating: last
  sum,        ///< sum of the values
  last,       ///< the record with the latest timestamp (ties: the later record)
  first,      ///< the record with the earliest timestamp (ties: the earlier record)
  max,        ///< the largest value
  error       ///< throw std::invalid_argument naming the pair
};

inline const char* feedbackName(Feedback f) {
  switch (f) {
    case Feedback::binary: return "binary";
    case Feedback::weighted: return "weighted";
    case Feedback::rating: return "rating";
  }
  return "unknown";
}

/// How records become a matrix.
struct BuildOptions {
  Feedback feedback = Feedback::binary;
  Duplicates duplicates = Duplicates::automatic;
  /// Records with value < minValue are dropped before aggregation (e.g. 4 keeps only
  /// ratings of 4 and 5 as positive implicit feedback). -infinity keeps all.
  double minValue = -std::numeric_limits<double>::infinity();

  void validate(std::string_view where) const {
    checkArgument(!std::isnan(minValue), where, "minValue expected a number, got NaN");
  }
};

/// The user-item interaction matrix in both orientations, with id maps.
///
/// Memory: 2 x (sizeof(Scalar) + 8) bytes per stored interaction plus 8 bytes per user
/// and per item (the CSR offsets).
template <typename Scalar = float>
class InteractionMatrix {
  EIGENREC_STATIC_ASSERT_SCALAR(Scalar);

 public:
  using SparseMatrix = SparseRowMatrix<Scalar>;
  using StorageIndex = typename SparseMatrix::StorageIndex;

  InteractionMatrix() = default;
  InteractionMatrix(const InteractionMatrix&) = default;
  InteractionMatrix& operator=(const InteractionMatrix&) = default;
  // Eigen 3.4's SparseMatrix has no move operations (std::move of one copies it), so
  // the moves are written out: they swap the storage, and leave `other` empty.
  InteractionMatrix(InteractionMatrix&& other) noexcept { swapWith(other); }
  InteractionMatrix& operator=(InteractionMatrix&& other) noexcept {
    if (this != &other) {
      InteractionMatrix taken(std::move(other));
      swapWith(taken);
    }
    return *this;
  }

  /// Builds the matrix of a log; users() and items() are the sizes of its id maps (ids
  /// that only occur in dropped records are kept as empty rows).
  static InteractionMatrix fromLog(const InteractionLog& log, const BuildOptions& options = {}) {
    InteractionMatrix m =
        fromRecords(log.users().size(), log.items().size(), log.records(), options, "InteractionMatrix::fromLog");
    m.m_userIds = log.users();
    m.m_itemIds = log.items();
    return m;
  }

  /// Builds a (users, items) matrix from records with dense indices.
  /// @throws std::invalid_argument for an index out of range, a non-finite value, a value
  ///         <= 0 in weighted mode, or a duplicate with Duplicates::error.
  static InteractionMatrix fromRecords(Index users, Index items, const std::vector<Interaction>& records,
                                       const BuildOptions& options = {},
                                       std::string_view where = "InteractionMatrix::fromRecords") {
    checkNonNegative(where, "users", users);
    checkNonNegative(where, "items", items);
    options.validate(where);
    Duplicates rule = options.duplicates;
    if (rule == Duplicates::automatic) {
      rule = options.feedback == Feedback::binary   ? Duplicates::max
             : options.feedback == Feedback::weighted ? Duplicates::sum
                                                      : Duplicates::last;
    }
    checkExpected(records.size() < (std::size_t(1) << 32), where, "records size", "< 2^32", records.size());
    // Bucket the kept records by user (stable: record order within a user).
    std::vector<std::int64_t> start(static_cast<std::size_t>(users) + 1, 0);
    for (std::size_t r = 0; r < records.size(); ++r) {
      const Interaction& x = records[r];
      if (x.user < 0 || x.user >= users) {
        throwInvalidArgument(where, "records[", r, "].user expected an index in [0, ", users, "), got ", x.user);
      }
      if (x.item < 0 || x.item >= items) {
        throwInvalidArgument(where, "records[", r, "].item expected an index in [0, ", items, "), got ", x.item);
      }
      if (!std::isfinite(x.value)) throwInvalidArgument(where, "records[", r, "].value expected finite, got ", x.value);
      if (x.value < options.minValue) continue;
      if (options.feedback == Feedback::weighted && !(x.value > 0)) {
        throwInvalidArgument(where, "records[", r, "].value expected > 0 for weighted feedback, got ", x.value);
      }
      ++start[static_cast<std::size_t>(x.user) + 1];
    }
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<std::uint32_t> order(static_cast<std::size_t>(start.back()));
    {
      std::vector<std::int64_t> fill(start.begin(), start.end() - 1);
      for (std::size_t r = 0; r < records.size(); ++r) {
        if (records[r].value < options.minValue) continue;
        order[static_cast<std::size_t>(fill[static_cast<std::size_t>(records[r].user)]++)] =
            static_cast<std::uint32_t>(r);
      }
    }

    InteractionMatrix m;
    m.m_feedback = options.feedback;
    SparseMatrix& ui = m.m_userItems;
    ui.resize(users, items);
    std::vector<StorageIndex> outer(static_cast<std::size_t>(users) + 1, 0);
    std::vector<StorageIndex> inner;
    std::vector<Scalar> values;
    inner.reserve(order.size());
    values.reserve(order.size());
    for (Index u = 0; u < users; ++u) {
      const auto b = order.begin() + start[static_cast<std::size_t>(u)];
      const auto e = order.begin() + start[static_cast<std::size_t>(u) + 1];
      std::stable_sort(b, e, [&](std::uint32_t x, std::uint32_t y) { return records[x].item < records[y].item; });
      for (auto it = b; it != e;) {
        const Index item = records[*it].item;
        auto last = it;
        double value = records[*it].value;
        std::int64_t firstTs = records[*it].timestamp, lastTs = firstTs;
        double firstValue = value, lastValue = value;
        ++last;
        for (; last != e && records[*last].item == item; ++last) {
          const Interaction& x = records[*last];
          if (rule == Duplicates::error) {
            throwInvalidArgument(where, "duplicate interaction of user ", u, " with item ", item, " (records[", *it,
                                 "] and records[", *last, "])");
          }
          value = rule == Duplicates::max ? std::max(value, x.value) : value + x.value;
          if (x.timestamp >= lastTs) {
            lastTs = x.timestamp;
            lastValue = x.value;
          }
          if (x.timestamp < firstTs) {
            firstTs = x.timestamp;
            firstValue = x.value;
          }
        }
        if (rule == Duplicates::last) value = lastValue;
        if (rule == Duplicates::first) value = firstValue;
        if (options.feedback == Feedback::binary) value = 1.0;
        inner.push_back(static_cast<StorageIndex>(item));
        values.push_back(static_cast<Scalar>(value));
        it = last;
      }
      outer[static_cast<std::size_t>(u) + 1] = static_cast<StorageIndex>(inner.size());
    }
    m.assign(users, items, outer, inner, values);
    return m;
  }

  /// Wraps a (users, items) sparse matrix: every stored entry is an interaction. In
  /// binary mode the values become 1.
  /// @throws std::invalid_argument for non-finite values, or values <= 0 in weighted mode.
  static InteractionMatrix fromSparse(SparseMatrix userItems, Feedback feedback = Feedback::binary) {
    const char* where = "InteractionMatrix::fromSparse";
    userItems.makeCompressed();
    Scalar* v = userItems.valuePtr();
    for (Index p = 0; p < userItems.nonZeros(); ++p) {
      if (!std::isfinite(v[p])) throwInvalidArgument(where, "userItems values expected finite, got ", v[p]);
      if (feedback == Feedback::weighted && !(v[p] > 0)) {
        throwInvalidArgument(where, "userItems values expected > 0 for weighted feedback, got ", v[p]);
      }
      if (feedback == Feedback::binary) v[p] = Scalar(1);
    }
    InteractionMatrix m;
    m.m_feedback = feedback;
    m.m_userItems.swap(userItems);
    m.finishBuild();
    return m;
  }

  /// Rebuilds a matrix from CSR arrays (used by model loading). Checks the structure.
  static InteractionMatrix fromCsr(Index users, Index items, const std::vector<StorageIndex>& outer,
                                   const std::vector<StorageIndex>& inner, const std::vector<Scalar>& values,
                                   Feedback feedback) {
    const char* where = "InteractionMatrix::fromCsr";
    checkNonNegative(where, "users", users);
    checkNonNegative(where, "items", items);
    checkEqual(where, "outer size", users + 1, static_cast<Index>(outer.size()));
    checkEqual(where, "values size", static_cast<Index>(inner.size()), static_cast<Index>(values.size()));
    checkExpected(outer.front() == 0 && outer.back() == static_cast<StorageIndex>(inner.size()), where,
                  "outer offsets", "0 .. nonZeros", eigenrec::detail::concat(outer.front(), " .. ", outer.back()));
    for (Index u = 0; u < users; ++u) {
      if (outer[static_cast<std::size_t>(u)] > outer[static_cast<std::size_t>(u) + 1]) {
        throwInvalidArgument(where, "outer offsets expected non-decreasing, got a decrease at row ", u);
      }
    }
    for (Index u = 0; u < users; ++u) {
      const auto b = outer[static_cast<std::size_t>(u)], e = outer[static_cast<std::size_t>(u) + 1];
      for (auto p = b; p < e; ++p) {
        const auto item = inner[static_cast<std::size_t>(p)];
        checkIndex(where, "item index", item, items);
        if (p > b && inner[static_cast<std::size_t>(p) - 1] >= item) {
          throwInvalidArgument(where, "item indices expected strictly increasing within a row, got a repeat or "
                                      "decrease in row ", u);
        }
        if (!std::isfinite(values[static_cast<std::size_t>(p)])) checkFinite(where, "value", values[static_cast<std::size_t>(p)]);
      }
    }
    InteractionMatrix m;
    m.m_feedback = feedback;
    m.assign(users, items, outer, inner, values);
    return m;
  }

  Index users() const noexcept { return m_userItems.rows(); }
  Index items() const noexcept { return m_userItems.cols(); }
  Index nonZeros() const noexcept { return m_userItems.nonZeros(); }
  bool empty() const noexcept { return m_userItems.nonZeros() == 0; }
  Feedback feedback() const noexcept { return m_feedback; }

  /// (users, items) CSR; row u lists the items of user u in increasing index order.
  const SparseMatrix& userItems() const noexcept { return m_userItems; }
  /// (items, users) CSR; row i lists the users of item i in increasing index order.
  const SparseMatrix& itemUsers() const noexcept { return m_itemUsers; }

  /// Id maps (empty when the matrix was built from indices; ids are then the indices).
  const IdMap& userIds() const noexcept { return m_userIds; }
  const IdMap& itemIds() const noexcept { return m_itemIds; }
  void setIds(IdMap users, IdMap items) {
    const char* where = "InteractionMatrix::setIds";
    if (!users.empty()) checkEqual(where, "users size", this->users(), users.size());
    if (!items.empty()) checkEqual(where, "items size", this->items(), items.size());
    m_userIds = std::move(users);
    m_itemIds = std::move(items);
  }

  /// External id of user / item `index`: the mapped id, or the index in decimal.
  std::string userName(Index index) const {
    return m_userIds.empty() ? std::to_string(index) : m_userIds.id(index);
  }
  std::string itemName(Index index) const {
    return m_itemIds.empty() ? std::to_string(index) : m_itemIds.id(index);
  }

  /// Number of interactions of user u: |N(u)|.
  Index userCount(Index u) const {
    return static_cast<Index>(m_userItems.outerIndexPtr()[u + 1] - m_userItems.outerIndexPtr()[u]);
  }
  /// Number of interactions of item i: |N(i)| (its popularity).
  Index itemCount(Index i) const {
    return static_cast<Index>(m_itemUsers.outerIndexPtr()[i + 1] - m_itemUsers.outerIndexPtr()[i]);
  }

  /// Mean of all stored values (the global mean rating); 0 when empty.
  double meanValue() const {
    if (nonZeros() == 0) return 0.0;
    double s = 0;
    const Scalar* v = m_userItems.valuePtr();
    for (Index p = 0; p < nonZeros(); ++p) s += static_cast<double>(v[p]);
    return s / static_cast<double>(nonZeros());
  }

  /// Bytes held by the two sparse views (values, indices and offsets).
  std::size_t memoryBytes() const {
    auto bytes = [](const SparseMatrix& s) {
      return static_cast<std::size_t>(s.nonZeros()) * (sizeof(Scalar) + sizeof(StorageIndex)) +
             static_cast<std::size_t>(s.outerSize() + 1) * sizeof(StorageIndex);
    };
    return bytes(m_userItems) + bytes(m_itemUsers);
  }

 private:
  void assign(Index users, Index items, const std::vector<StorageIndex>& outer, const std::vector<StorageIndex>& inner,
              const std::vector<Scalar>& values) {
    m_userItems = SparseMatrix(users, items);
    m_userItems.resizeNonZeros(static_cast<Index>(inner.size()));
    std::copy(outer.begin(), outer.end(), m_userItems.outerIndexPtr());
    std::copy(inner.begin(), inner.end(), m_userItems.innerIndexPtr());
    std::copy(values.begin(), values.end(), m_userItems.valuePtr());
    finishBuild();
  }

  void swapWith(InteractionMatrix& other) noexcept {
    std::swap(m_feedback, other.m_feedback);
    m_userItems.swap(other.m_userItems);
    m_itemUsers.swap(other.m_itemUsers);
    std::swap(m_userIds, other.m_userIds);
    std::swap(m_itemIds, other.m_itemIds);
  }

  void finishBuild() {
    m_itemUsers = m_userItems.transpose();
    m_itemUsers.makeCompressed();
  }

  Feedback m_feedback = Feedback::binary;
  SparseMatrix m_userItems;
  SparseMatrix m_itemUsers;
  IdMap m_userIds;
  IdMap m_itemIds;
};

}  // namespace eigenrec::cf

#endif  // EIGENREC_CF_INTERACTIONS_HPP
