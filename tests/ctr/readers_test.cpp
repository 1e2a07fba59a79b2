// SparseBatch, the libsvm / libFM / libffm readers and the binary cache.
#include <catch2/catch.hpp>
#include <eigenrec/ctr/sparse_batch.hpp>
#include <eigenrec/io/libsvm.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

using namespace eigenrec;
using namespace eigenrec::io;

namespace {

template <typename Scalar = float>
SparseBatch<Scalar> parse(const std::string& text, SparseReadOptions options, bool allowEmpty = false) {
  std::istringstream in(text);
  SparseReader<Scalar> reader(in, "mem.txt", options);
  return reader.readAll(allowEmpty);
}

SparseReadOptions libffm() {
  SparseReadOptions o;
  o.format = SparseFormat::libffm;
  return o;
}

// A scratch directory removed at the end of the test.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           ("eigenrec_ctr_" + std::to_string(reinterpret_cast<std::uintptr_t>(this)) + "_" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

void writeText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

}  // namespace

TEST_CASE("libsvm reader: labels, CRLF, blanks, comments, qid", "[ctr][io][libsvm]") {
  const std::string text =
      "1 0:1 3:0.5\r\n"
      "-1\t2:2 \t \n"
      "\n"
      "# a comment line\n"
      "  0 qid:7 5:-1.25e1 # trailing comment 9:9\n"
      "3.75 1:1\n";
  const auto batch = parse(text, SparseReadOptions{});
  REQUIRE(batch.size() == 4);
  CHECK(batch.nnz() == 5);
  CHECK(batch.numFeatures() == 6);
  CHECK(batch.numFields() == 1);
  CHECK(batch.labels() == std::vector<float>{1.0f, -1.0f, 0.0f, 3.75f});
  CHECK(batch.offsets() == std::vector<std::int64_t>{0, 2, 3, 4, 5});
  CHECK(batch.features() == std::vector<std::int32_t>{0, 3, 2, 5, 1});
  CHECK(batch.values() == std::vector<float>{1.0f, 0.5f, 2.0f, -12.5f, 1.0f});
  CHECK(batch.fields() == std::vector<std::int32_t>{0, 0, 0, 0, 0});
  CHECK_FALSE(batch.hasWeights());
  CHECK(batch.weight(2) == 1.0f);
  const auto x = batch.example(1);
  CHECK(x.label == -1.0f);
  REQUIRE(x.size == 1);
  CHECK(x.features[0] == 2);
  CHECK(batch.binaryLabels() == Eigen::Vector4f(1, 0, 0, 1));
  CHECK(batch.minLabel() == -1.0f);
  CHECK(batch.maxLabel() == 3.75f);
}

TEST_CASE("libsvm reader: fields from positions (frappe layout)", "[ctr][io][libsvm]") {
  SparseReadOptions o;
  o.fieldsFromPosition = true;
  const auto batch = parse("-1 204:1 4798:1 5041:1\n1 42:1 1572:1 5042:1\n", o);
  CHECK(batch.fields() == std::vector<std::int32_t>{0, 1, 2, 0, 1, 2});
  CHECK(batch.numFields() == 3);
  CHECK(batch.numFeatures() == 5043);
}

TEST_CASE("libffm reader: fields, a feature in two fields, empty examples", "[ctr][io][libffm]") {
  const auto batch = parse("1 0:3:1 1:5:0.5 2:3:2\r\n0\n-1 4:0:1  \n", libffm());
  REQUIRE(batch.size() == 3);
  CHECK(batch.fields() == std::vector<std::int32_t>{0, 1, 2, 4});
  CHECK(batch.features() == std::vector<std::int32_t>{3, 5, 3, 0});
  CHECK(batch.values() == std::vector<float>{1.0f, 0.5f, 2.0f, 1.0f});
  CHECK(batch.example(1).size == 0);
  CHECK(batch.numFields() == 5);
  CHECK(batch.numFeatures() == 6);
}

TEST_CASE("readers: malformed lines name file, line and column", "[ctr][io][errors]") {
  const SparseReadOptions svm{};
  CHECK_THROWS_WITH(parse("1 0:1\n1 3 4:1\n", svm), "mem.txt:2:3: expected index:value, got '3'");
  CHECK_THROWS_WITH(parse("1 a:1\n", svm), "mem.txt:1:3: feature expected an integer, got 'a'");
  CHECK_THROWS_WITH(parse("1 -2:1\n", svm), "mem.txt:1:3: feature expected >= 0, got -2");
  CHECK_THROWS_WITH(parse("1 2:nan\n", svm), "mem.txt:1:5: value expected a finite number, got 'nan'");
  CHECK_THROWS_WITH(parse("1 2:inf\n", svm), Catch::Contains("mem.txt:1:5: value expected a finite number"));
  CHECK_THROWS_WITH(parse("1 2:\n", svm), Catch::Contains("mem.txt:1:5:"));
  CHECK_THROWS_WITH(parse("yes 2:1\n", svm), "mem.txt:1:1: label expected a finite number, got 'yes'");
  CHECK_THROWS_WITH(parse("1 99999999999:1\n", svm), Catch::Contains("feature expected <= 2147483646"));
  CHECK_THROWS_WITH(parse("1 1:1e39\n", svm), Catch::Contains("overflows f32"));
  CHECK_NOTHROW(parse<double>("1 1:1e39\n", svm));

  const SparseReadOptions ffm = libffm();
  CHECK_THROWS_WITH(parse("1 0:3\n", ffm), "mem.txt:1:3: expected field:feature:value, got '0:3'");
  CHECK_THROWS_WITH(parse("1 0:3:1 -1:2:1\n", ffm), "mem.txt:1:9: field expected >= 0, got -1");
  CHECK_THROWS_WITH(parse("1 0:x:1\n", ffm), "mem.txt:1:5: feature expected an integer, got 'x'");
  CHECK_THROWS_WITH(parse("1 0:1:2:3\n", ffm), Catch::Contains("expected field:feature:value"));
  CHECK_THROWS_WITH(parse("1 0:1:NaN\n", ffm), Catch::Contains("mem.txt:1:7: value expected a finite number"));
  CHECK_THROWS_AS(parse("1 0:1:1\n0 f:1:1\n", ffm), FormatError);
  try {
    parse("1 0:1:1\n0 f:1:1\n", ffm);
  } catch (const FormatError& e) {
    CHECK(e.source() == "mem.txt");
    CHECK(e.line() == 2);
    CHECK(e.column() == 3);
  }

  // Empty input: an error unless allowed.
  CHECK_THROWS_WITH(parse("", svm), "mem.txt: no examples (empty input)");
  CHECK_THROWS_AS(parse("\n# only a comment\n", ffm), FormatError);
  CHECK(parse("", svm, true).empty());

  // Options that contradict each other, and missing files.
  SparseReadOptions bad = ffm;
  bad.fieldsFromPosition = true;
  CHECK_THROWS_AS(parse("1 0:1:1\n", bad), std::invalid_argument);
  bad = svm;
  bad.hashBuckets = -1;
  CHECK_THROWS_AS(parse("1 0:1\n", bad), std::invalid_argument);
  CHECK_THROWS_AS(readLibffm("/nonexistent/eigenrec/file.ffm"), IoError);
}

TEST_CASE("readers: streaming in blocks", "[ctr][io]") {
  std::istringstream in("1 0:1\n0 1:1\n\n1 2:1\n0 3:1\n1 4:1\n");
  SparseReader<double> reader(in, "mem", SparseReadOptions{});
  SparseBatch<double> block;
  CHECK(reader.readBlock(block, 2) == 2);
  CHECK(block.features() == std::vector<std::int32_t>{0, 1});
  block.clear();
  CHECK(reader.readBlock(block, 2) == 2);
  CHECK(block.features() == std::vector<std::int32_t>{2, 3});
  CHECK(reader.lineNumber() == 5);
  block.clear();
  CHECK(reader.readBlock(block, 2) == 1);
  CHECK(reader.readBlock(block, 2) == 0);
  CHECK(reader.examplesRead() == 5);
  CHECK_THROWS_AS(reader.readBlock(block, 0), std::invalid_argument);
}

TEST_CASE("readers: feature hashing", "[ctr][io][hash]") {
  SparseReadOptions o = libffm();
  o.hashBuckets = 1000;
  const auto batch = parse("1 0:user=alice:1 1:ad=42:1 2:user=alice:1\n0 0:user=alice:1 1:7:1\n", o);
  CHECK(batch.numFeatures() == 1000);
  for (const auto j : batch.features()) CHECK((j >= 0 && j < 1000));
  // Same token, same field -> same bucket; the field takes part in the hash.
  CHECK(batch.features()[0] == batch.features()[3]);
  CHECK(batch.features()[0] == hashFeature("user=alice", 0, 1000));
  CHECK(batch.features()[2] == hashFeature("user=alice", 2, 1000));
  CHECK(hashFeature("user=alice", 0, 1000) != hashFeature("user=alice", 2, 1000));
  // Integers are hashed as text too.
  CHECK(batch.features()[4] == hashFeature("7", 1, 1000));

  SparseReadOptions svm;
  svm.hashBuckets = 1 << 20;
  const auto b2 = parse("1 city:paris:1 age:0.5\n", svm);  // the last colon separates the value
  CHECK(b2.features()[0] == hashFeature("city:paris", -1, 1 << 20));
  CHECK(b2.values()[1] == 0.5f);
  // Buckets spread: 2000 distinct tokens into 4096 buckets collide rarely.
  std::vector<int> counts(4096, 0);
  for (int i = 0; i < 2000; ++i) ++counts[static_cast<std::size_t>(hashFeature("tok" + std::to_string(i), 3, 4096))];
  CHECK(*std::max_element(counts.begin(), counts.end()) <= 6);
}

TEMPLATE_TEST_CASE("SparseBatch: building, checks, selection, sparse matrix", "[ctr][batch]", float, double) {
  SparseBatch<TestType> b;
  CHECK_THROWS_AS(b.push(0, 1, 1), std::invalid_argument);  // no example started
  b.startExample(1);
  b.push(0, 3, 2);
  b.push(1, 3, 1);
  b.addExample(0, {2}, {0}, {TestType(-1)}, TestType(0.5));
  b.startExample(TestType(-1));
  CHECK(b.size() == 3);
  CHECK(b.nnz() == 3);
  CHECK(b.hasWeights());
  CHECK(b.weights() == std::vector<TestType>{1, TestType(0.5), 1});
  CHECK(b.numFeatures() == 4);
  CHECK(b.numFields() == 3);
  CHECK(b.countOutside(3, 3) == 2);
  CHECK(b.countOutside(4, 2) == 1);

  CHECK_THROWS_AS(b.push(-1, 0, 1), std::invalid_argument);
  CHECK_THROWS_AS(b.push(0, -1, 1), std::invalid_argument);
  CHECK_THROWS_AS(b.push(0, 0, std::numeric_limits<TestType>::quiet_NaN()), std::invalid_argument);
  CHECK_THROWS_AS(b.startExample(std::numeric_limits<TestType>::infinity()), std::invalid_argument);
  CHECK_THROWS_AS(b.startExample(1, -1), std::invalid_argument);
  CHECK_THROWS_WITH(b.setShape(3, 3), Catch::Contains("numFeatures expected >= 4"));
  CHECK_THROWS_AS(b.addExample(1, {0, 1}, {0}, {TestType(1)}), std::invalid_argument);
  CHECK_THROWS_AS(b.setWeights({1, 2}), std::invalid_argument);

  b.setShape(10, 5);
  const auto s = b.select({2, 0});
  CHECK(s.size() == 2);
  CHECK(s.labels() == std::vector<TestType>{-1, 1});
  CHECK(s.offsets() == std::vector<std::int64_t>{0, 0, 2});
  CHECK(s.numFeatures() == 10);
  const auto sl = b.slice(1, 2);
  CHECK(sl.features() == std::vector<std::int32_t>{0});
  CHECK(sl.weight(0) == TestType(0.5));
  CHECK_THROWS_AS(b.slice(2, 4), std::invalid_argument);
  CHECK_THROWS_AS(b.select({3}), std::invalid_argument);

  const SparseColMatrix<TestType> x = b.toSparseMatrix();
  CHECK(x.rows() == 10);
  CHECK(x.cols() == 3);
  CHECK(x.coeff(3, 0) == TestType(3));  // duplicate feature 3 summed: 2 + 1
  CHECK(x.coeff(0, 1) == TestType(-1));
  CHECK(x.nonZeros() == 2);

  SparseBatch<TestType> c;
  c.append(b);
  c.append(s);
  CHECK(c.size() == 5);
  CHECK(c.numFeatures() == 10);
  c.clear();
  CHECK(c.empty());
  CHECK(c.numFeatures() == 0);
}

TEST_CASE("writeSparse: text round trip in both formats", "[ctr][io]") {
  const auto batch = parse<double>("1 0:3:0.1 1:5:0.333333333333 2:3:2\n0\n-1 4:0:1e-7\n", libffm());
  for (const auto format : {SparseFormat::libffm, SparseFormat::libsvm}) {
    std::ostringstream os;
    writeSparse(os, batch, format);
    SparseReadOptions o;
    o.format = format;
    const auto back = parse<double>(os.str(), o);
    CHECK(back.labels() == batch.labels());
    CHECK(back.features() == batch.features());
    CHECK(back.values() == batch.values());
    if (format == SparseFormat::libffm) CHECK(back.fields() == batch.fields());
  }
}

TEST_CASE("SparseCache: blocks, staleness, corruption", "[ctr][io][cache]") {
  TempDir dir;
  const std::string text = dir.file("data.ffm");
  std::ostringstream os;
  for (int i = 0; i < 50; ++i) {
    os << (i % 3 == 0 ? 1 : 0) << ' ' << 0 << ':' << i % 7 << ":1 " << 1 << ':' << 7 + i % 5 << ':' << 0.5 * (i % 4)
       << ' ' << 2 << ':' << 20 + i << ":1\n";
  }
  writeText(text, os.str());
  const SparseReadOptions o = libffm();
  const auto expected = readSparse<float>(text, o);
  const std::string cachePath = dir.file("data.ffm.bin");

  bool rebuilt = false;
  {
    auto cache = SparseCache<float>::openOrBuild(text, cachePath, o, 40, &rebuilt);
    CHECK(rebuilt);
    CHECK(cache.numBlocks() == 4);  // 14 examples (42 entries) per block: 14 + 14 + 14 + 8
    CHECK(cache.numExamples() == 50);
    CHECK(cache.nnz() == 150);
    CHECK(cache.numFeatures() == expected.numFeatures());
    CHECK(cache.numFields() == 3);
    CHECK(cache.minLabel() == 0.0);
    CHECK(cache.maxLabel() == 1.0);
    SparseBatch<float> block;
    cache.readBlock(3, block);
    CHECK(block.size() == 8);
    CHECK(block.numFeatures() == expected.numFeatures());
    const auto all = cache.readAll();
    CHECK(all.labels() == expected.labels());
    CHECK(all.features() == expected.features());
    CHECK(all.fields() == expected.fields());
    CHECK(all.values() == expected.values());
    CHECK(all.offsets() == expected.offsets());
    CHECK_THROWS_AS(cache.readBlock(4, block), std::invalid_argument);
  }
  CHECK(SparseCache<float>::isCurrent(text, cachePath, o));
  CHECK_FALSE(SparseCache<double>::isCurrent(text, cachePath, o));  // other scalar type
  SparseReadOptions hashed = o;
  hashed.hashBuckets = 64;
  CHECK_FALSE(SparseCache<float>::isCurrent(text, cachePath, hashed));  // other options
  {
    auto again = SparseCache<float>::openOrBuild(text, cachePath, o, 40, &rebuilt);
    CHECK_FALSE(rebuilt);
  }
  CHECK_THROWS_WITH(SparseCache<double>(cachePath), Catch::Contains("holds f32 values, expected f64"));

  // Text edited (same size would still change the hash of the head): stale.
  std::string edited = os.str();
  edited[0] = edited[0] == '1' ? '0' : '1';
  writeText(text, edited);
  CHECK_FALSE(SparseCache<float>::isCurrent(text, cachePath, o));

  // Corruption and truncation are detected.
  const auto size = std::filesystem::file_size(cachePath);
  {
    std::fstream f(cachePath, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 2));
    char c = 0;
    f.read(&c, 1);
    f.seekp(static_cast<std::streamoff>(size / 2));
    c = static_cast<char>(c ^ 0x5A);
    f.write(&c, 1);
  }
  {
    SparseCache<float> corrupted(cachePath);
    SparseBatch<float> block;
    bool detected = false;
    for (Index b = 0; b < corrupted.numBlocks(); ++b) {
      try {
        corrupted.readBlock(b, block);
      } catch (const FormatError& e) {
        detected = true;
        CHECK_THAT(std::string(e.what()), Catch::Contains("checksum mismatch") || Catch::Contains("corrupted"));
      }
    }
    CHECK(detected);
  }
  std::filesystem::resize_file(cachePath, size - 20);
  CHECK_THROWS_AS(SparseCache<float>(cachePath), FormatError);
  std::filesystem::resize_file(cachePath, 10);
  CHECK_THROWS_WITH(SparseCache<float>(cachePath), Catch::Contains("truncated"));
  writeText(cachePath, std::string(400, 'x'));
  CHECK_THROWS_WITH(SparseCache<float>(cachePath), Catch::Contains("bad magic"));
  CHECK_THROWS_AS(SparseCache<float>(dir.file("missing.bin")), IoError);

  // An empty text file cannot become a cache, and leaves no file behind.
  writeText(dir.file("empty.ffm"), "");
  CHECK_THROWS_AS(SparseCache<float>::build(dir.file("empty.ffm"), dir.file("empty.bin"), o), FormatError);
  CHECK_FALSE(std::filesystem::exists(dir.file("empty.bin")));
}

TEST_CASE("ctr sources: memory and cache give the same blocks", "[ctr][batch]") {
  TempDir dir;
  writeText(dir.file("a.svm"), "1 0:1 1:1\n0 2:1\n1 3:1 0:2\n");
  SparseReadOptions o;
  o.fieldsFromPosition = true;
  const auto batch = readSparse<float>(dir.file("a.svm"), o);
  auto cache = SparseCache<float>::build(dir.file("a.svm"), dir.file("a.bin"), o, 2);
  ctr::MemorySource<float> mem(batch);
  ctr::CacheSource<float> disk(cache);
  CHECK(mem.numBlocks() == 1);
  CHECK(disk.numBlocks() == 2);
  CHECK(disk.numExamples() == 3);
  CHECK(disk.numFeatures() == mem.numFeatures());
  CHECK(disk.numFields() == 2);
  SparseBatch<float> scratch;
  CHECK(&mem.block(0, scratch) == &batch);
  CHECK(disk.block(1, scratch).features() == std::vector<std::int32_t>{2, 3, 0});
}
