// tests/support/fixtures.hpp: reads the reference values that the generator scripts in
// tests/fixtures/ write (with fixture_io.py), and compares matrices with a tolerance.
//
// File format (text, so diffs stay readable):
//   # comment
//   <name> <rank> <d0> ... <d_rank-1>
//   <prod(d) numbers, column-major (PyTorch's contiguous order read backwards), any layout>
//
// A (d0, d1, d2) record holds exactly the bytes of a PyTorch tensor of shape [d2, d1, d0].
#ifndef EIGENREC_TESTS_SUPPORT_FIXTURES_HPP
#define EIGENREC_TESTS_SUPPORT_FIXTURES_HPP

#include <catch2/catch.hpp>
#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/types.hpp>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace eigenrec::test {

struct FixtureRecord {
  std::vector<Index> dims;
  std::vector<double> values;
};

/// All records of one fixture file under tests/fixtures/.
class Fixture {
 public:
  explicit Fixture(const std::string& relativePath) : m_path(std::string(EIGENREC_FIXTURES_DIR) + "/" + relativePath) {
    std::ifstream in(m_path);
    if (!in) throw std::runtime_error("cannot open fixture " + m_path);
    std::string token;
    while (in >> token) {
      if (token[0] == '#') {
        std::getline(in, token);
        continue;
      }
      FixtureRecord record;
      int rank = 0;
      in >> rank;
      Index count = 1;
      for (int i = 0; i < rank; ++i) {
        Index d = 0;
        in >> d;
        record.dims.push_back(d);
        count *= d;
      }
      record.values.resize(static_cast<std::size_t>(count));
      for (auto& v : record.values) {
        std::string number;
        in >> number;
        v = parse(number);
      }
      if (!in) throw std::runtime_error("truncated fixture " + m_path + " at record " + token);
      m_records[token] = std::move(record);
    }
  }

  bool has(const std::string& name) const { return m_records.count(name) > 0; }

  const FixtureRecord& record(const std::string& name) const {
    const auto it = m_records.find(name);
    if (it == m_records.end()) throw std::runtime_error("fixture " + m_path + " has no record " + name);
    return it->second;
  }

  /// A rank-0/1/2 record as a matrix (rank 1 -> column vector; rank > 2 -> (d0, rest)).
  template <typename Scalar = double>
  Matrix<Scalar> matrix(const std::string& name) const {
    const auto& r = record(name);
    const Index rows = r.dims.empty() ? 1 : r.dims[0];
    const Index cols = rows == 0 ? 0 : static_cast<Index>(r.values.size()) / std::max<Index>(rows, 1);
    Matrix<Scalar> m(rows, cols);
    for (Index i = 0; i < m.size(); ++i) m.data()[i] = static_cast<Scalar>(r.values[static_cast<std::size_t>(i)]);
    return m;
  }

  template <typename Scalar = double>
  Vector<Scalar> vector(const std::string& name) const {
    const auto& r = record(name);
    Vector<Scalar> v(static_cast<Index>(r.values.size()));
    for (Index i = 0; i < v.size(); ++i) v(i) = static_cast<Scalar>(r.values[static_cast<std::size_t>(i)]);
    return v;
  }

  double scalar(const std::string& name) const {
    const auto& r = record(name);
    if (r.values.size() != 1) throw std::runtime_error("fixture record " + name + " is not a scalar");
    return r.values[0];
  }

  std::vector<Index> dims(const std::string& name) const { return record(name).dims; }

 private:
  static double parse(const std::string& s) {
    if (s == "nan") return std::nan("");
    if (s == "inf") return INFINITY;
    if (s == "-inf") return -INFINITY;
    return std::stod(s);
  }

  std::string m_path;
  std::map<std::string, FixtureRecord> m_records;
};

/// Largest |a - b| / (atol + rtol * |b|) over all coefficients; <= 1 means close.
template <typename A, typename B>
double closeness(const Eigen::DenseBase<A>& a, const Eigen::DenseBase<B>& b, double rtol, double atol) {
  double worst = 0;
  for (Index j = 0; j < a.cols(); ++j) {
    for (Index i = 0; i < a.rows(); ++i) {
      const double x = static_cast<double>(a.derived().coeff(i, j));
      const double y = static_cast<double>(b.derived().coeff(i, j));
      if (std::isnan(x) || std::isnan(y)) {
        if (std::isnan(x) != std::isnan(y)) return INFINITY;
        continue;
      }
      if (x == y) continue;
      worst = std::max(worst, std::abs(x - y) / (atol + rtol * std::abs(y)));
    }
  }
  return worst;
}

/// Catch2 check that two matrices have the same shape and agree within
/// |a - b| <= atol + rtol |b| everywhere.
#define EIGENREC_REQUIRE_CLOSE(a, b, rtol, atol)                                                     \
  do {                                                                                                \
    const auto& eigenrec_a_ = (a);                                                                    \
    const auto& eigenrec_b_ = (b);                                                                    \
    REQUIRE(eigenrec_a_.rows() == eigenrec_b_.rows());                                                \
    REQUIRE(eigenrec_a_.cols() == eigenrec_b_.cols());                                                \
    const double eigenrec_c_ = ::eigenrec::test::closeness(eigenrec_a_, eigenrec_b_, (rtol), (atol)); \
    INFO("worst |a-b| / (atol + rtol|b|) = " << eigenrec_c_);                                        \
    REQUIRE(eigenrec_c_ <= 1.0);                                                                      \
  } while (false)

}  // namespace eigenrec::test

#endif  // EIGENREC_TESTS_SUPPORT_FIXTURES_HPP
