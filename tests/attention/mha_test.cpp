// MultiHeadAttention (PyTorch parity, gradcheck, bad input), the safetensors reader and
// writer, and loading PyTorch-saved weights.
#include <catch2/catch.hpp>
#include <eigenrec/attention/multi_head.hpp>
#include <eigenrec/attention/pytorch_state.hpp>
#include <eigenrec/io/safetensors.hpp>
#include <eigenrec/nn/gradcheck.hpp>

#include "attention_test_util.hpp"

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

using namespace eigenrec;
using namespace eigenrec::attention;
using eigenrec::test::Fixture;
using eigenrec::test::fixtureMask3;
using eigenrec::test::fixtureTensor3;
using eigenrec::test::randomTensor3;

namespace {

const Fixture& mhaFixture() {
  static const Fixture f("attention/mha.txt");
  return f;
}

std::string fixturePath(const std::string& name) { return std::string(EIGENREC_FIXTURES_DIR) + "/attention/" + name; }

std::string readBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEMPLATE_TEST_CASE("MultiHeadAttention: PyTorch parity of output, weights and every gradient", "[attention][mha]",
                   float, double) {
  using S = TestType;
  const auto& f = mhaFixture();
  const int cases = static_cast<int>(f.scalar("mha_cases"));
  REQUIRE(cases >= 9);
  for (int c = 0; c < cases; ++c) {
    const std::string p = "mha" + std::to_string(c) + "_";
    const Vector<double> cfg = f.vector(p + "config");
    typename MultiHeadAttention<S>::Options o;
    o.embedDim = static_cast<Index>(cfg(0));
    o.numHeads = static_cast<Index>(cfg(1));
    o.bias = cfg(5) != 0;
    o.addBiasKV = cfg(6) != 0;
    o.addZeroAttn = cfg(7) != 0;
    o.kdim = static_cast<Index>(cfg(8));
    o.vdim = static_cast<Index>(cfg(9));
    const bool self = cfg(10) != 0;
    for (int threads : {1, 2}) {
      INFO("case " << c << " threads " << threads);
      o.threads = threads;
      MultiHeadAttention<S> mha(o, 3);
      mha.setTraining(false);
      for (auto& np : mha.namedParameters()) np.parameter->value() = f.matrix<S>(p + "p_" + np.name);
      MhaForwardOptions<S> fo;
      Tensor<bool, 3> allowed, keyAllowed;
      Tensor3<S> bias;
      if (f.has(p + "allowed")) {
        allowed = fixtureMask3(f, p + "allowed");
        fo.allowed = allowed;
      }
      if (f.has(p + "key_allowed")) {
        keyAllowed = fixtureMask3(f, p + "key_allowed");
        fo.keyAllowed = keyAllowed;
      }
      if (f.has(p + "bias")) {
        bias = fixtureTensor3<S>(f, p + "bias");
        fo.bias = bias;
      }
      if (cfg(11) != 0) fo.causal = Causal::topLeft;
      if (cfg(12) != 0) fo.causal = Causal::bottomRight;
      fo.needWeights = cfg(13) != 0;
      fo.averageWeights = cfg(14) != 0;
      const auto xq = fixtureTensor3<S>(f, p + "xq");
      const auto r = fixtureTensor3<S>(f, p + "r");
      Tensor3<S> y;
      if (self) {
        y = mha.forward(xq, fo);
      } else {
        y = mha.forward(xq, fixtureTensor3<S>(f, p + "xk"), fixtureTensor3<S>(f, p + "xv"), fo);
      }
      EIGENREC_REQUIRE_ATTN(S, y, fixtureTensor3<S>(f, p + "out"));
      if (fo.needWeights) EIGENREC_REQUIRE_ATTN(S, mha.weights(), fixtureTensor3<S>(f, p + "weights"));
      mha.zeroGrad();
      if (self) {
        const auto dx = mha.backward(r);
        EIGENREC_REQUIRE_ATTN(S, dx, fixtureTensor3<S>(f, p + "dxq"));
      } else {
        Tensor3<S> dq, dk, dv;
        mha.backward(r, dq, dk, dv);
        EIGENREC_REQUIRE_ATTN(S, dq, fixtureTensor3<S>(f, p + "dxq"));
        EIGENREC_REQUIRE_ATTN(S, dk, fixtureTensor3<S>(f, p + "dxk"));
        EIGENREC_REQUIRE_ATTN(S, dv, fixtureTensor3<S>(f, p + "dxv"));
      }
      for (auto& np : mha.namedParameters()) {
        INFO("gradient of " << np.name);
        EIGENREC_REQUIRE_CLOSE(np.parameter->grad(), f.matrix<S>(p + "g_" + np.name), test::AttnTol<S>::rtol,
                               test::AttnTol<S>::atol);
      }
    }
  }
}

TEST_CASE("MultiHeadAttention: names, shapes and initialisation follow PyTorch", "[attention][mha]") {
  MultiHeadAttention<float>::Options o;
  o.embedDim = 12;
  o.numHeads = 3;
  o.addBiasKV = true;
  MultiHeadAttention<float> mha(o, 1);
  std::vector<std::string> names;
  for (const auto& p : mha.namedParameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                                          "out_proj.bias"});
  CHECK(mha.inProjWeight().rows() == 36);
  CHECK(mha.inProjWeight().value().cwiseAbs().maxCoeff() <= std::sqrt(6.0f / 48.0f));
  CHECK(mha.inProjBias().value().isZero());
  CHECK(mha.outProj().bias().value().isZero());
  CHECK(mha.outProj().weight().value().cwiseAbs().maxCoeff() <= 1.0f / std::sqrt(12.0f));
  CHECK_THROWS_AS(mha.qProjWeight(), std::invalid_argument);
  o.kdim = 5;
  o.addBiasKV = false;
  o.bias = false;
  MultiHeadAttention<float> cross(o, 1);
  names.clear();
  for (const auto& p : cross.namedParameters()) names.push_back(p.name);
  CHECK(names == std::vector<std::string>{"q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"});
  CHECK(cross.kProjWeight().cols() == 5);
  CHECK_THROWS_AS(cross.inProjWeight(), std::invalid_argument);
  CHECK_THROWS_AS(cross.biasK(), std::invalid_argument);
  // save / load through the nn archive
  std::stringstream ss;
  nn::saveState(ss, mha);
  MultiHeadAttention<float>::Options o2 = mha.options();
  MultiHeadAttention<float> other(o2, 99);
  CHECK(other.inProjWeight().value() != mha.inProjWeight().value());
  nn::loadState(ss, other);
  CHECK(other.inProjWeight().value() == mha.inProjWeight().value());
  CHECK(other.biasV().value() == mha.biasV().value());

  // a copy taken between forward and backward differentiates its own state
  Rng rng(4);
  const auto x = randomTensor3<float>(12, 5, 2, rng);
  mha.forward(x);
  MultiHeadAttention<float> copy = mha;
  mha.zeroGrad();
  const auto dx = mha.backward(x);
  mha.forward(randomTensor3<float>(12, 3, 1, rng));  // reuses (resizes) the original's buffers
  copy.zeroGrad();
  const auto dxCopy = copy.backward(x);
  CHECK(test::flat(dxCopy) == test::flat(dx));
  CHECK(copy.inProjWeight().grad() == mha.inProjWeight().grad());
}

TEST_CASE("MultiHeadAttention: gradcheck in double (self, cross, extra keys, masks, dropout)", "[attention][mha][gradcheck]") {
  Rng rng(11);
  for (int variant = 0; variant < 4; ++variant) {
    MultiHeadAttention<double>::Options o;
    o.embedDim = 6;
    o.numHeads = 2;
    o.addBiasKV = variant >= 2;
    o.addZeroAttn = variant == 3;
    o.kdim = variant == 1 ? 4 : 0;
    o.vdim = variant == 1 ? 3 : 0;
    o.dropout = variant == 3 ? 0.2 : 0.0;
    o.backend = variant == 2 ? SdpaBackend::naive : SdpaBackend::automatic;
    MultiHeadAttention<double> mha(o, 5);
    for (auto* p : mha.parameters()) p->value() += Matrix<double>::Random(p->rows(), p->cols()) * 0.1;
    const bool self = variant != 1;
    const Index b = 2, lq = 4, lk = self ? 4 : 5;
    auto xq = randomTensor3<double>(6, lq, b, rng);
    auto xk = randomTensor3<double>(mha.kdim(), lk, b, rng);
    auto xv = randomTensor3<double>(mha.vdim(), lk, b, rng);
    const auto proj = randomTensor3<double>(6, lq, b, rng);
    BoolMatrix keyAllowed = BoolMatrix::Constant(lk, b, true);
    keyAllowed(lk - 1, 0) = false;
    MhaForwardOptions<double> fo;
    fo.keyAllowed = keyAllowed;
    fo.causal = variant == 2 ? Causal::bottomRight : (variant == 0 ? Causal::topLeft : Causal::none);
    fo.needWeights = variant == 2;
    auto run = [&]() { return self ? mha.forward(xq, fo) : mha.forward(xq, xk, xv, fo); };
    nn::GradCheckOptions gco;
    gco.beforeForward = [&]() { mha.reseed(17); };
    gco.beforeForward();
    run();
    mha.zeroGrad();
    Tensor3<double> dq, dk, dv;
    if (self) {
      dq = mha.backward(proj);
    } else {
      mha.backward(proj, dq, dk, dv);
    }
    std::vector<Matrix<double>> grads;
    std::vector<nn::GradVariable> vars = {{"query", xq.data(), dq.data(), xq.size()}};
    if (!self) {
      vars.push_back({"key", xk.data(), dk.data(), xk.size()});
      vars.push_back({"value", xv.data(), dv.data(), xv.size()});
    }
    const auto params = mha.namedParameters();
    grads.reserve(params.size());
    for (const auto& p : params) {
      grads.push_back(p.parameter->grad());
      vars.push_back({p.name, p.parameter->value().data(), grads.back().data(), p.parameter->size()});
    }
    const auto report = nn::checkGradients(
        vars,
        [&]() {
          const auto y = run();
          double s = 0;
          for (Index i = 0; i < y.size(); ++i) s += y.data()[i] * proj.data()[i];
          return s;
        },
        gco);
    INFO("variant " << variant << ": " << report.summary());
    CHECK(report.ok);
  }
}

TEST_CASE("MultiHeadAttention: dropout in training only, weights averaged, bad input", "[attention][mha]") {
  Rng rng(2);
  MultiHeadAttention<float>::Options o;
  o.embedDim = 8;
  o.numHeads = 2;
  o.dropout = 0.5;
  MultiHeadAttention<float> mha(o, 4);
  const auto x = randomTensor3<float>(8, 5, 3, rng);
  MhaForwardOptions<float> fo;
  fo.needWeights = true;
  mha.setTraining(false);
  const auto e1 = mha.forward(x, fo);
  const auto e2 = mha.forward(x, fo);
  CHECK(test::flat(e1) == test::flat(e2));
  const Tensor3<float> w = mha.weights();
  CHECK(w.dimension(0) == 5);
  CHECK(w.dimension(2) == 3);
  for (Index b = 0; b < 3; ++b) {
    for (Index q = 0; q < 5; ++q) {
      float s = 0;
      for (Index k = 0; k < 5; ++k) s += w(k, q, b);
      CHECK(s == Approx(1.0f).epsilon(1e-5));
    }
  }
  fo.averageWeights = false;
  mha.forward(x, fo);
  CHECK(mha.weights().dimension(2) == 6);
  mha.setTraining(true);
  const auto t1 = mha.forward(x);
  const auto t2 = mha.forward(x);
  CHECK(test::flat(t1) != test::flat(t2));  // fresh dropout masks per forward
  mha.reseed(3);
  const auto t3 = mha.forward(x);
  mha.reseed(3);
  const auto t4 = mha.forward(x);
  CHECK(test::flat(t3) == test::flat(t4));
  CHECK_THROWS_WITH(mha.weights(), Catch::Contains("needWeights"));

  // construction
  auto bad = [](Index e, Index h, double p) {
    MultiHeadAttention<float>::Options b;
    b.embedDim = e;
    b.numHeads = h;
    b.dropout = p;
    return MultiHeadAttention<float>(b);
  };
  CHECK_THROWS_WITH(bad(10, 3, 0), "MultiHeadAttention: numHeads expected a divisor of embedDim 10, got 3");
  CHECK_THROWS_AS(bad(0, 1, 0), std::invalid_argument);
  CHECK_THROWS_AS(bad(8, 0, 0), std::invalid_argument);
  CHECK_THROWS_AS(bad(8, 2, 1.0), std::invalid_argument);
  // shapes
  CHECK_THROWS_WITH(mha.forward(randomTensor3<float>(7, 5, 3, rng)), "MultiHeadAttention::forward: query dim expected 8, got 7");
  CHECK_THROWS_AS(mha.forward(x, randomTensor3<float>(8, 4, 3, rng), randomTensor3<float>(8, 5, 3, rng)),
                  std::invalid_argument);
  CHECK_THROWS_AS(mha.forward(x, randomTensor3<float>(8, 4, 2, rng), randomTensor3<float>(8, 4, 2, rng)),
                  std::invalid_argument);
  CHECK_THROWS_AS(mha.forward(x, randomTensor3<float>(6, 4, 3, rng), randomTensor3<float>(8, 4, 3, rng)),
                  std::invalid_argument);
  MhaForwardOptions<float> wrong;
  BoolMatrix kp = BoolMatrix::Constant(5, 2, true);  // batch 2 != 3
  wrong.keyAllowed = kp;
  CHECK_THROWS_WITH(mha.forward(x, wrong), "MultiHeadAttention::forward: keyAllowed expected (5, 3, 1), got (5, 2, 1)");
  BoolMatrix am = BoolMatrix::Constant(4, 5, true);
  wrong = MhaForwardOptions<float>();
  wrong.allowed = am;
  CHECK_THROWS_AS(mha.forward(x, wrong), std::invalid_argument);
  Tensor<bool, 3> am3(5, 5, 3);  // needs batch * heads = 6
  am3.setConstant(true);
  wrong.allowed = am3;
  CHECK_THROWS_AS(mha.forward(x, wrong), std::invalid_argument);
  // backward before forward / wrong form / wrong shape
  MultiHeadAttention<float> fresh(o, 1);
  CHECK_THROWS_WITH(fresh.backward(x), Catch::Contains("no forward pass"));
  mha.forward(x);
  Tensor3<float> a, b, c;
  CHECK_THROWS_WITH(mha.backward(x, a, b, c), Catch::Contains("use backward(gradOutput, gradInput)"));
  CHECK_THROWS_AS(mha.backward(randomTensor3<float>(8, 4, 3, rng)), std::invalid_argument);
  mha.forward(x, x, x);
  CHECK_THROWS_WITH(mha.backward(x), Catch::Contains("cross-attention"));
  o.kdim = 4;
  MultiHeadAttention<float> crossOnly(o, 1);
  CHECK_THROWS_WITH(crossOnly.forward(x), Catch::Contains("self-attention needs kdim == vdim == embedDim"));
#ifndef NDEBUG
  auto xn = x;
  xn(0, 0, 0) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(mha.forward(xn), Catch::Contains("finite"));
#endif
}

// ----------------------------------------------------------------------- safetensors

TEST_CASE("safetensors: PyTorch-written dtypes read back exactly", "[attention][safetensors]") {
  const auto& f = mhaFixture();
  const auto file = io::SafetensorsFile::load(fixturePath("dtypes.safetensors"));
  CHECK(file.metadata().at("note") == "dtype test");
  CHECK(file.entries().size() == 5);
  for (const char* name : {"f32", "f64", "f16", "bf16"}) {
    INFO(name);
    CHECK(file.entry(name).shape == std::vector<std::int64_t>{2, 4});
    CHECK(file.matrix<double>(name) == f.matrix<double>(std::string("st_dtype_") + name));
  }
  CHECK(file.entry("f16").dtype == io::DType::f16);
  CHECK(file.entry("bf16").dtype == io::DType::bf16);
  CHECK(file.entry("i64").dtype == io::DType::i64);
  CHECK_THROWS_AS(file.values<float>("i64"), FormatError);
  CHECK_THROWS_AS(file.entry("nope"), std::invalid_argument);
  // eigenrec layout view: [2, 4] -> (4, 2) with the same bytes
  const Tensor<double, 2> t = file.tensor<double, 2>("f64");
  CHECK(t.dimension(0) == 4);
  CHECK(t(1, 0) == f.matrix<double>("st_dtype_f64")(0, 1));
  CHECK_THROWS_AS((file.tensor<double, 1>("f64")), FormatError);

  // Writing doubles as F16 / BF16 rounds exactly as torch does.
  io::SafetensorsWriter w;
  const Matrix<double> base = f.matrix<double>("st_dtype_f64");
  w.addMatrix("h", base, io::DType::f16);
  w.addMatrix("b", base, io::DType::bf16);
  w.addMatrix("s", base, io::DType::f32);
  w.addMatrix("d", base, io::DType::f64);
  w.addMatrix("v", Vector<float>::LinSpaced(3, 0, 1), io::DType::f32, true);
  w.setMetadata("k", "v");
  const auto back = io::SafetensorsFile::fromBytes(w.bytes());
  CHECK(back.matrix<double>("h") == f.matrix<double>("st_dtype_f16"));
  CHECK(back.matrix<double>("b") == f.matrix<double>("st_dtype_bf16"));
  CHECK(back.matrix<double>("s") == f.matrix<double>("st_dtype_f32"));
  CHECK(back.matrix<double>("d") == base);
  CHECK(back.entry("v").shape == std::vector<std::int64_t>{3});
  CHECK(back.metadata().at("k") == "v");
  CHECK_THROWS_AS(w.addMatrix("h", base), std::invalid_argument);
  std::vector<float> one{1.0f};
  CHECK_THROWS_AS(w.add("x", {1}, one.data(), io::DType::i64), std::invalid_argument);

  // Every finite half converts to float and back unchanged; specials behave.
  for (std::uint32_t h = 0; h < 0x10000u; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    const float v = io::detail::halfToFloat(bits);
    if (std::isnan(v)) continue;
    REQUIRE(io::detail::floatToHalf(v) == bits);
  }
  CHECK(io::detail::halfToFloat(0x0001) == std::ldexp(1.0f, -24));
  CHECK(io::detail::floatToHalf(65520.0f) == 0x7C00);
  CHECK(io::detail::floatToHalf(65519.0f) == 0x7BFF);
  CHECK(std::isnan(io::detail::halfToFloat(io::detail::floatToHalf(std::numeric_limits<float>::quiet_NaN()))));
  CHECK(std::isnan(io::detail::bf16ToFloat(io::detail::floatToBf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST_CASE("safetensors: malformed and truncated files are rejected", "[attention][safetensors]") {
  auto make = [](const std::string& header, const std::string& data) {
    std::string out;
    io::detail::writeLE(out, header.size(), 8);
    return out + header + data;
  };
  const std::string eight(8, '\0');
  auto rejects = [](const std::string& bytes, const std::string& what) {
    INFO(what);
    CHECK_THROWS_AS(io::SafetensorsFile::fromBytes(bytes, "t.safetensors"), FormatError);
  };
  const std::string ok = make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight);
  CHECK_NOTHROW(io::SafetensorsFile::fromBytes(ok));
  CHECK_NOTHROW(io::SafetensorsFile::fromBytes(make("{}", "")));
  CHECK_NOTHROW(io::SafetensorsFile::fromBytes(make(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", "")));
  CHECK_THROWS_WITH(io::SafetensorsFile::fromBytes("abc", "t.safetensors"),
                    "t.safetensors: file of 3 bytes is too short for a safetensors header");
  std::string huge;
  io::detail::writeLE(huge, 1000, 8);
  huge += "{}";
  CHECK_THROWS_WITH(io::SafetensorsFile::fromBytes(huge, "t"), "t: header length 1000 exceeds the 2 bytes after the length field");
  std::string giant;
  io::detail::writeLE(giant, ~std::uint64_t(0), 8);
  rejects(giant, "length near 2^64");
  rejects(make("[1,2]", ""), "not an object");
  rejects(make("{\"a\":", ""), "invalid JSON");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", eight),
          "duplicate name");
  rejects(make(R"({"a":{"dtype":"F31","shape":[2],"data_offsets":[0,8]}})", eight), "unknown dtype");
  rejects(make(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", eight), "negative dim");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", eight), "fractional dim");
  rejects(make(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", eight), "shape not an array");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", eight), "one offset");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", eight), "begin > end");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,16]}})", eight), "past the data");
  rejects(make(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", eight), "size mismatch");
  rejects(make(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}})", eight), "overflow");
  rejects(make(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", eight), "gap at the start");
  rejects(make(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", eight), "bytes left over");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               eight),
          "overlap");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2]}})", eight), "missing offsets");
  rejects(make(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}})", eight), "unknown field");
  rejects(make(R"({"a":5})", ""), "entry not an object");
  rejects(make(R"({"__metadata__":{"k":1}})", ""), "metadata value not a string");
  rejects(make(R"({"__metadata__":[1]})", ""), "metadata not an object");
  rejects(make("{\"\xff\":{}}", ""), "invalid UTF-8");
  // every truncation of a real file fails cleanly
  const std::string real = readBytes(fixturePath("mha_packed.safetensors"));
  REQUIRE(real.size() > 100);
  CHECK_NOTHROW(io::SafetensorsFile::fromBytes(real));
  for (std::size_t n = 0; n < real.size(); ++n) {
    REQUIRE_THROWS_AS(io::SafetensorsFile::fromBytes(real.substr(0, n)), FormatError);
  }
  CHECK_THROWS_AS(io::SafetensorsFile::load(fixturePath("does_not_exist.safetensors")), IoError);
}

TEST_CASE("safetensors: PyTorch-saved MultiheadAttention weights reproduce PyTorch's output",
          "[attention][safetensors][mha]") {
  const auto& f = mhaFixture();
  {
    MultiHeadAttention<float>::Options o;
    o.embedDim = 8;
    o.numHeads = 2;
    o.addBiasKV = true;
    MultiHeadAttention<float> mha(o, 1);
    loadPyTorchState(mha, fixturePath("mha_packed.safetensors"));
    mha.setTraining(false);
    const auto keyAllowed = fixtureMask3(f, "st_packed_key_allowed");
    MhaForwardOptions<float> fo;
    fo.keyAllowed = keyAllowed;
    const auto y = mha.forward(fixtureTensor3<float>(f, "st_packed_x"), fo);
    EIGENREC_REQUIRE_CLOSE(test::flat(y), test::flat(fixtureTensor3<float>(f, "st_packed_out")), 1e-5, 1e-6);

    // round trip through savePyTorchState
    io::SafetensorsWriter w;
    savePyTorchState(mha, w, "m.");
    MultiHeadAttention<float> copy(o, 2);
    loadPyTorchState(copy, io::SafetensorsFile::fromBytes(w.bytes()), "m.");
    CHECK(copy.inProjWeight().value() == mha.inProjWeight().value());
    CHECK(copy.biasK().value() == mha.biasK().value());
    CHECK(copy.outProj().weight().value() == mha.outProj().weight().value());

    // layers that do not match the file
    o.addBiasKV = false;
    MultiHeadAttention<float> noKV(o, 1);
    CHECK_THROWS_WITH(loadPyTorchState(noKV, fixturePath("mha_packed.safetensors")),
                      Catch::Contains("unexpected tensor 'bias_k'"));
    CHECK_NOTHROW(loadPyTorchState(noKV, fixturePath("mha_packed.safetensors"), "", false));
    o.embedDim = 4;
    MultiHeadAttention<float> small(o, 1);
    const auto before = small.inProjWeight().value();
    CHECK_THROWS_WITH(loadPyTorchState(small, fixturePath("mha_packed.safetensors"), "", false),
                      Catch::Contains("tensor 'in_proj_weight' has shape [24, 8], the layer expects [12, 4]"));
    CHECK(small.inProjWeight().value() == before);  // unchanged
    CHECK_THROWS_WITH(loadPyTorchState(mha, fixturePath("mha_packed.safetensors"), "encoder."),
                      Catch::Contains("missing tensor 'encoder.in_proj_weight'"));
    // a weight of the wrong dtype, and a NaN weight
    io::SafetensorsWriter bad;
    savePyTorchState(noKV, bad);
    std::string bytes = bad.bytes();
    auto nanFile = [&]() {
      io::SafetensorsWriter n;
      Matrix<float> w0 = noKV.inProjWeight().value();
      w0(0, 0) = std::numeric_limits<float>::quiet_NaN();
      n.addMatrix("in_proj_weight", w0);
      n.addMatrix("in_proj_bias", noKV.inProjBias().value(), io::DType::f32, true);
      n.addMatrix("out_proj.weight", noKV.outProj().weight().value());
      n.addMatrix("out_proj.bias", noKV.outProj().bias().value(), io::DType::f32, true);
      return io::SafetensorsFile::fromBytes(n.bytes());
    };
    CHECK_THROWS_WITH(loadPyTorchState(noKV, nanFile()), Catch::Contains("NaN"));
    CHECK_NOTHROW(loadPyTorchState(noKV, io::SafetensorsFile::fromBytes(bytes)));
  }
  {
    MultiHeadAttention<double>::Options o;
    o.embedDim = 6;
    o.numHeads = 3;
    o.bias = false;
    o.kdim = 4;
    o.vdim = 5;
    MultiHeadAttention<double> mha(o, 1);
    const auto file = io::SafetensorsFile::load(fixturePath("mha_separate.safetensors"));
    CHECK(file.entry("encoder.attn.k_proj_weight").dtype == io::DType::f64);
    loadPyTorchState(mha, file, "encoder.attn.");
    mha.setTraining(false);
    MhaForwardOptions<double> fo;
    fo.needWeights = true;
    const auto y = mha.forward(fixtureTensor3<double>(f, "st_separate_xq"), fixtureTensor3<double>(f, "st_separate_xk"),
                               fixtureTensor3<double>(f, "st_separate_xv"), fo);
    EIGENREC_REQUIRE_CLOSE(test::flat(y), test::flat(fixtureTensor3<double>(f, "st_separate_out")), 1e-10, 1e-12);
    EIGENREC_REQUIRE_CLOSE(test::flat(mha.weights()), test::flat(fixtureTensor3<double>(f, "st_separate_weights")), 1e-10,
                           1e-12);
    // the I64 tensor "encoder.step" outside the prefix is ignored; inside it is not
    CHECK_THROWS_WITH(loadPyTorchState(mha, file, "encoder."), Catch::Contains("missing tensor"));
  }
}
