// Tests of the cf data layer: id maps, logs, interaction matrices, the u.data reader,
// splits.
#include <catch2/catch.hpp>
#include <eigenrec/cf.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::cf;

namespace {

InteractionLog readString(const std::string& text, const ReaderOptions& options = {}) {
  std::istringstream is(text);
  InteractionLog log;
  readInteractions(is, "mem.tsv", options, log);
  return log;
}

template <typename Scalar>
Matrix<double> dense(const SparseRowMatrix<Scalar>& m) {
  return Matrix<Scalar>(m).template cast<double>();
}

}  // namespace

TEST_CASE("IdMap: dense indices in order of first appearance", "[cf][data]") {
  IdMap map;
  CHECK(map.add("u9") == 0);
  CHECK(map.add("7") == 1);
  CHECK(map.add("u9") == 0);
  CHECK(map.size() == 2);
  CHECK(map.find("7") == 1);
  CHECK(map.find("nope") == -1);
  CHECK(map.id(1) == "7");
  CHECK_THROWS_WITH(map.at("nope", "Where", "user"), "Where: unknown user 'nope'");
  CHECK_THROWS_AS(map.id(2), std::invalid_argument);
  const IdMap copy = IdMap::fromIds({"a", "b"});
  CHECK(copy.find("b") == 1);
  CHECK_THROWS_WITH(IdMap::fromIds({"a", "a"}), Catch::Contains("'a' repeats"));
}

TEST_CASE("reader: MovieLens u.data, ml-1m '::', CSV with header, string ids", "[cf][data][reader]") {
  const InteractionLog a = readString("196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t4.5\t1\n");
  REQUIRE(a.size() == 3);
  CHECK(a.users().size() == 2);
  CHECK(a.items().size() == 2);
  CHECK(a.users().id(0) == "196");
  CHECK(a.records()[2].user == 0);
  CHECK(a.records()[2].item == 1);
  CHECK(a.records()[2].value == 4.5);
  CHECK(a.records()[0].timestamp == 881250949);

  const InteractionLog b = readString("1::1193::5::978300760\n1::661::3::978302109\n");
  CHECK(b.size() == 2);
  CHECK(b.items().id(1) == "661");

  ReaderOptions csv;
  csv.skipLines = 1;
  const InteractionLog c = readString("userId,movieId,rating,timestamp\nalice, m1 ,4,10\n\n# note\nbob,m1,2,11\n", csv);
  CHECK(c.size() == 2);
  CHECK(c.items().id(0) == "m1");
  CHECK(c.users().id(1) == "bob");

  ReaderOptions pairs;  // item first, no value, no timestamp, whitespace
  pairs.delimiter = "whitespace";
  pairs.userColumn = 1;
  pairs.itemColumn = 0;
  pairs.valueColumn = -1;
  pairs.timestampColumn = -1;
  const InteractionLog d = readString("book1   u1\nbook2 u1\n", pairs);
  CHECK(d.size() == 2);
  CHECK(d.users().size() == 1);
  CHECK(d.records()[1].value == 1.0);
  CHECK(d.records()[1].timestamp == 0);
}

TEST_CASE("reader: malformed lines name file, line and column", "[cf][data][reader]") {
  CHECK_THROWS_AS(readString("1\t2\t3\n"), FormatError);
  CHECK_THROWS_WITH(readString("1\t2\t3\t4\n1\t2\t3\n"),
                    "mem.tsv:2: expected at least 4 fields (user, item, value, timestamp), got 3");
  CHECK_THROWS_WITH(readString("1\t2\tfive\t4\n"), Catch::StartsWith("mem.tsv:1:5: value expected a finite number"));
  CHECK_THROWS_WITH(readString("1\t2\tnan\t4\n"), Catch::Contains("value expected a finite number"));
  CHECK_THROWS_WITH(readString("1\t2\t3\t4x\n"), Catch::StartsWith("mem.tsv:1:7: timestamp expected an integer"));
  CHECK_THROWS_WITH(readString("\t2\t3\t4\n"), "mem.tsv:1:1: empty user id");
  CHECK_THROWS_WITH(readString("1\t \t3\t4\n"), "mem.tsv:1:3: empty item id");
  ReaderOptions bad;
  bad.itemColumn = 0;
  CHECK_THROWS_WITH(readString("1\t2\t3\t4\n", bad), Catch::Contains("columns expected distinct"));
  bad = {};
  bad.delimiter = "";
  CHECK_THROWS_AS(readString("1\t2\t3\t4\n", bad), std::invalid_argument);
  CHECK(readString("").empty());
  InteractionLog log;
  CHECK_THROWS_AS(readInteractions("/nonexistent/u.data", {}, log), IoError);
}

TEST_CASE("reader: reads a file; a test file shares the training ids", "[cf][data][reader]") {
  const std::string path = "cf_reader_test.tsv";
  {
    std::ofstream os(path);
    os << "u1\ti1\t5\t1\nu2\ti2\t3\t2\n";
  }
  InteractionLog train = readInteractions(path);
  std::istringstream more("u2\ti3\t4\t3\nu1\ti2\t1\t4\n");
  InteractionLog test = InteractionLog::sharingIds(train);
  readInteractions(more, "test", {}, test);
  std::remove(path.c_str());
  CHECK(train.items().size() == 2);
  CHECK(test.items().size() == 3);
  CHECK(test.records()[0].user == 1);
  CHECK(test.records()[0].item == 2);
  CHECK(test.records()[1].item == 1);
}

TEMPLATE_TEST_CASE("InteractionMatrix: feedback modes and duplicate aggregation", "[cf][data]", float, double) {
  InteractionLog log;
  log.add("u0", "a", 4, 10);
  log.add("u0", "b", 2, 5);
  log.add("u0", "a", 1, 30);  // duplicate, later
  log.add("u0", "a", 3, 20);  // duplicate, in between
  log.add("u1", "b", 5, 1);
  log.add("u1", "c", 1, 1);

  const auto bin = InteractionMatrix<TestType>::fromLog(log);
  CHECK(bin.users() == 2);
  CHECK(bin.items() == 3);
  CHECK(bin.nonZeros() == 4);
  Matrix<double> expected(2, 3);
  expected << 1, 1, 0, 0, 1, 1;
  CHECK(dense(bin.userItems()) == expected);
  CHECK(dense(bin.itemUsers()) == expected.transpose());
  CHECK(bin.itemCount(1) == 2);
  CHECK(bin.userCount(0) == 2);

  BuildOptions o;
  o.feedback = Feedback::weighted;
  CHECK(dense(InteractionMatrix<TestType>::fromLog(log, o).userItems())(0, 0) == 8.0);  // sum
  o.feedback = Feedback::rating;
  const auto rating = InteractionMatrix<TestType>::fromLog(log, o);
  CHECK(dense(rating.userItems())(0, 0) == 1.0);  // last by timestamp
  CHECK(rating.meanValue() == Approx((1.0 + 2 + 5 + 1) / 4));
  o.duplicates = Duplicates::first;
  CHECK(dense(InteractionMatrix<TestType>::fromLog(log, o).userItems())(0, 0) == 4.0);
  o.duplicates = Duplicates::max;
  CHECK(dense(InteractionMatrix<TestType>::fromLog(log, o).userItems())(0, 0) == 4.0);
  o.duplicates = Duplicates::sum;
  CHECK(dense(InteractionMatrix<TestType>::fromLog(log, o).userItems())(0, 0) == 8.0);
  o.duplicates = Duplicates::error;
  CHECK_THROWS_WITH(InteractionMatrix<TestType>::fromLog(log, o), Catch::Contains("duplicate interaction of user 0 with item 0"));

  BuildOptions positive;  // implicit feedback from ratings >= 3
  positive.minValue = 3;
  const auto pos = InteractionMatrix<TestType>::fromLog(log, positive);
  Matrix<double> expectedPos(2, 3);
  expectedPos << 1, 0, 0, 0, 1, 0;
  CHECK(dense(pos.userItems()) == expectedPos);
  CHECK(pos.items() == 3);  // ids of dropped records stay as empty columns
}

TEMPLATE_TEST_CASE("InteractionMatrix: moves take the storage, copies are deep", "[cf][data]", float, double) {
  // Eigen 3.4's SparseMatrix has no move operations, so InteractionMatrix writes its own:
  // a move must hand over the very same arrays (no copy) and leave the source empty.
  InteractionLog log;
  log.add("u0", "a");
  log.add("u0", "b");
  log.add("u1", "b");
  auto a = InteractionMatrix<TestType>::fromLog(log);
  const Matrix<double> expected = dense(a.userItems());
  const TestType* values = a.userItems().valuePtr();
  const auto* inner = a.itemUsers().innerIndexPtr();

  InteractionMatrix<TestType> b(std::move(a));
  CHECK(b.userItems().valuePtr() == values);
  CHECK(b.itemUsers().innerIndexPtr() == inner);
  CHECK(dense(b.userItems()) == expected);
  CHECK(b.userName(1) == "u1");
  CHECK(a.nonZeros() == 0);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(a.users() == 0);

  InteractionMatrix<TestType> c;
  c = std::move(b);
  CHECK(c.userItems().valuePtr() == values);
  CHECK(dense(c.itemUsers()) == expected.transpose());
  CHECK(b.nonZeros() == 0);  // NOLINT(bugprone-use-after-move)
  auto& self = c;
  c = std::move(self);
  CHECK(c.userItems().valuePtr() == values);

  const InteractionMatrix<TestType> d = c;  // a copy owns new arrays
  CHECK(d.userItems().valuePtr() != values);
  CHECK(dense(d.userItems()) == expected);
  CHECK(c.nonZeros() == 3);
}

TEMPLATE_TEST_CASE("InteractionMatrix: sparse input and bad input", "[cf][data]", float, double) {
  std::vector<Interaction> recs = {{0, 1, 2.0, 0}, {1, 0, 3.0, 0}};
  CHECK_THROWS_WITH(InteractionMatrix<TestType>::fromRecords(1, 2, recs),
                    Catch::Contains("records[1].user expected an index in [0, 1), got 1"));
  CHECK_THROWS_WITH(InteractionMatrix<TestType>::fromRecords(2, 1, recs),
                    Catch::Contains("records[0].item expected an index in [0, 1), got 1"));
  recs[0].value = std::nan("");
  CHECK_THROWS_AS(InteractionMatrix<TestType>::fromRecords(2, 2, recs), std::invalid_argument);
  recs[0].value = -1;
  BuildOptions weighted;
  weighted.feedback = Feedback::weighted;
  CHECK_THROWS_WITH(InteractionMatrix<TestType>::fromRecords(2, 2, recs, weighted),
                    Catch::Contains("expected > 0 for weighted feedback"));
  CHECK(InteractionMatrix<TestType>::fromRecords(0, 0, {}).empty());
  InteractionLog log;
  CHECK_THROWS_AS(log.add("", "x"), std::invalid_argument);
  CHECK_THROWS_AS(log.add("u", "x", INFINITY), std::invalid_argument);
  CHECK_THROWS_AS(log.addIndexed(0, 0), std::invalid_argument);

  SparseRowMatrix<TestType> s(2, 3);
  s.insert(0, 2) = TestType(5);
  s.insert(1, 0) = TestType(2);
  const auto m = InteractionMatrix<TestType>::fromSparse(s, Feedback::binary);
  CHECK(m.nonZeros() == 2);
  CHECK(dense(m.itemUsers())(2, 0) == 1.0);
  CHECK(m.userName(1) == "1");
  const auto r = InteractionMatrix<TestType>::fromSparse(s, Feedback::rating);
  CHECK(dense(r.userItems())(0, 2) == 5.0);
  s.coeffRef(0, 2) = TestType(-1);
  CHECK_THROWS_AS(InteractionMatrix<TestType>::fromSparse(s, Feedback::weighted), std::invalid_argument);
}

TEST_CASE("splits: random split and leave-last-out keep ids and partition records", "[cf][data][split]") {
  InteractionLog log;
  for (int u = 0; u < 20; ++u) {
    for (int i = 0; i < 10; ++i) log.add("u" + std::to_string(u), "i" + std::to_string((u + i) % 15), 1.0, 100 - i);
  }
  const Split s = randomSplit(log, 0.25, 42);
  CHECK(s.train.size() + s.test.size() == log.size());
  CHECK(s.test.size() > 20);
  CHECK(s.test.size() < 80);
  CHECK(s.train.items().size() == log.items().size());
  const Split again = randomSplit(log, 0.25, 42);
  CHECK(again.test.size() == s.test.size());
  CHECK_THROWS_AS(randomSplit(log, 1.0, 1), std::invalid_argument);

  const Split last = leaveLastOut(log, 2);
  CHECK(last.test.size() == 40);
  for (const auto& r : last.test.records()) CHECK(r.timestamp >= 99);  // the two latest: 100 and 99
  for (const auto& r : last.train.records()) CHECK(r.timestamp <= 98);
  const auto relevant = relevantItems(last.test, log.users().size());
  CHECK(relevant.size() == 20);
  CHECK(relevant[3].size() == 2);
  CHECK_THROWS_AS(leaveLastOut(log, 0), std::invalid_argument);
  InteractionLog small;
  small.add("x", "a");
  CHECK(leaveLastOut(small, 1).test.empty());  // a user with <= n records stays in train
}
