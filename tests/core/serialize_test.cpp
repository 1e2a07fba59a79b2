#include <catch2/catch.hpp>
#include <eigenrec/core/serialize.hpp>
#include <eigenrec/core/tensor.hpp>
#include <support/temp_path.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace eigenrec;

namespace {

std::string sampleArchive() {
  std::ostringstream os;
  ArchiveWriter w(os, "test.Model", 2);
  Eigen::MatrixXf m(2, 3);
  m << 1, 2, 3, 4, 5, 6;
  w.write("weight", m);
  Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(4, -1, 1);
  w.write("bias", v);
  Tensor<float, 3> t(2, 3, 4);
  t.setConstant(0.5f);
  t(1, 2, 3) = -7;
  w.writeTensor("tensor", t);
  w.writeVector("ids", std::vector<std::int64_t>{5, -3, 9});
  w.writeValue("step", std::int64_t{42});
  w.writeValue("lr", 0.125);
  w.writeString("name", "hello");
  w.writeStrings("vocab", {"a", "", "ccc"});
  w.finish();
  return os.str();
}

void readAll(std::istream& is) {
  ArchiveReader r(is, "test.Model", 2, "sample");
  Eigen::MatrixXf m;
  r.read("weight", m, 2, 3);
  Eigen::VectorXd v;
  r.read("bias", v, 4);
  Tensor<float, 3> t;
  r.readTensor("tensor", t);
  r.readVector<std::int64_t>("ids");
  r.readValue<std::int64_t>("step");
  r.readValue<double>("lr");
  r.readString("name");
  r.readStrings("vocab");
  r.finish();
}

}  // namespace

TEST_CASE("archive: round trip of every entry kind", "[core][serialize]") {
  std::istringstream is(sampleArchive());
  ArchiveReader r(is, "test.Model", 3, "sample");
  CHECK(r.kindVersion() == 2);
  const Eigen::MatrixXf m = r.readMatrix<float>("weight");
  REQUIRE(m.rows() == 2);
  CHECK(m(1, 2) == 6);
  Eigen::VectorXd v;
  r.read("bias", v);
  CHECK(v(3) == 1.0);
  Tensor<float, 3> t;
  r.readTensor("tensor", t);
  CHECK(t.dimension(2) == 4);
  CHECK(t(1, 2, 3) == -7);
  CHECK(t(0, 0, 0) == 0.5f);
  CHECK(r.readVector<std::int64_t>("ids") == std::vector<std::int64_t>{5, -3, 9});
  CHECK(r.readValue<std::int64_t>("step") == 42);
  CHECK(r.readValue<double>("lr") == 0.125);
  CHECK(r.readString("name") == "hello");
  CHECK(r.readStrings("vocab") == std::vector<std::string>{"a", "", "ccc"});
  CHECK_NOTHROW(r.finish());
}

TEST_CASE("archive: wrong kind, version, name, dtype, shape are rejected", "[core][serialize]") {
  const std::string bytes = sampleArchive();
  {
    std::istringstream is(bytes);
    CHECK_THROWS_WITH(ArchiveReader(is, "other.Model", 2, "f.bin"), Catch::Contains("holds 'test.Model'"));
  }
  {
    std::istringstream is(bytes);
    CHECK_THROWS_WITH(ArchiveReader(is, "test.Model", 1, "f.bin"), Catch::Contains("version 2 is not supported"));
  }
  {
    std::istringstream is(bytes);
    ArchiveReader r(is, "test.Model", 2, "f.bin");
    Eigen::MatrixXd wrongType;
    CHECK_THROWS_WITH(r.read("weight", wrongType), Catch::Contains("expected dtype f64, got f32"));
  }
  {
    std::istringstream is(bytes);
    ArchiveReader r(is, "test.Model", 2, "f.bin");
    Eigen::MatrixXf m;
    CHECK_THROWS_WITH(r.read("weights", m), Catch::Contains("expected entry 'weights', found 'weight'"));
  }
  {
    std::istringstream is(bytes);
    ArchiveReader r(is, "test.Model", 2, "f.bin");
    Eigen::MatrixXf m;
    CHECK_THROWS_WITH(r.read("weight", m, 3, 3), Catch::Contains("dimension 0 expected 3, got 2"));
  }
  {
    std::istringstream is("NOTANARCHIVE....");
    CHECK_THROWS_WITH(ArchiveReader(is, "test.Model", 2, "f.bin"), Catch::StartsWith("f.bin: not an eigenrec"));
  }
}

TEST_CASE("archive: every truncation and every flipped byte is detected", "[core][serialize]") {
  const std::string bytes = sampleArchive();
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    std::istringstream is(bytes.substr(0, cut));
    INFO("cut at " << cut);
    CHECK_THROWS_AS(readAll(is), FormatError);
  }
  for (std::size_t pos = 0; pos < bytes.size(); pos += 3) {
    std::string corrupt = bytes;
    corrupt[pos] = static_cast<char>(corrupt[pos] ^ 0x5A);
    std::istringstream is(corrupt);
    INFO("flipped byte " << pos);
    CHECK_THROWS_AS(readAll(is), FormatError);
  }
  std::istringstream intact(bytes);
  CHECK_NOTHROW(readAll(intact));
}

TEST_CASE("archive: the checksum also works on streams that cannot seek", "[core][serialize]") {
  // A std::stringstream that refuses tellg() behaves like a pipe.
  struct PipeBuf : std::stringbuf {
    using std::stringbuf::stringbuf;
    pos_type seekoff(off_type, std::ios_base::seekdir, std::ios_base::openmode) override { return pos_type(-1); }
  };
  std::string corrupt = sampleArchive();
  corrupt[corrupt.size() - 12] ^= 1;  // inside the checksum-covered data, not a length
  PipeBuf buf(corrupt);
  std::istream is(&buf);
  CHECK_THROWS_WITH(readAll(is), Catch::Contains("checksum mismatch"));
}

TEST_CASE("saveFileAtomically: complete file or untouched file", "[core][serialize]") {
  namespace fs = std::filesystem;
  // Per process: two suites running at once must not share (and remove_all) one directory.
  const fs::path dir = eigenrec::test::uniqueTempPath("eigenrec_serialize_test_");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string path = (dir / "model.bin").string();
  saveFileAtomically(path, [](std::ostream& os) { os << "first"; });
  CHECK(loadFile(path, [](std::istream& is) {
          std::string s;
          is >> s;
          return s;
        }) == "first");
  // A writer that fails half way leaves the old file and no temporary behind.
  CHECK_THROWS_AS(saveFileAtomically(path,
                                     [](std::ostream& os) {
                                       os << "partial";
                                       throw std::runtime_error("disk full");
                                     }),
                  std::runtime_error);
  std::ifstream in(path);
  std::string content;
  in >> content;
  CHECK(content == "first");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  CHECK_THROWS_AS(saveFileAtomically((dir / "no/such/dir/x").string(), [](std::ostream&) {}), IoError);
  CHECK_THROWS_AS(loadFile((dir / "missing").string(), [](std::istream&) { return 0; }), IoError);
  fs::remove_all(dir);
}

TEST_CASE("uniqueTempPath: scratch names differ between processes", "[core][serialize]") {
  namespace fs = std::filesystem;
  const std::string tag = test::processTag();
#if defined(_WIN32)
  const std::string pid = std::to_string(_getpid());
#else
  const std::string pid = std::to_string(getpid());
#endif
  // The tag starts with this process's id, followed by a random part.
  CHECK(tag.rfind(pid + "-", 0) == 0);
  CHECK(tag.size() > pid.size() + 1);
  CHECK(test::processTag() == tag);  // fixed for the process
  const fs::path p = test::uniqueTempPath("eigenrec_x_", "model.bin");
  CHECK(p.parent_path() == fs::temp_directory_path());
  CHECK(p.filename().string() == "eigenrec_x_" + tag + "_model.bin");
  CHECK(p.extension() == ".bin");
  CHECK(test::uniqueTempPath("eigenrec_x_").filename().string() == "eigenrec_x_" + tag);
}
