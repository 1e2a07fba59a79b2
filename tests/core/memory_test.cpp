#include <catch2/catch.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/core/types.hpp>

#include <cstdint>
#include <limits>
#include <numeric>
#include <type_traits>
#include <utility>
#include <vector>

using namespace eigenrec;

namespace {
std::uintptr_t address(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }
}  // namespace

TEST_CASE("LargeArrayAllocator aligns small blocks to a cache line and large ones to a huge page", "[core][memory]") {
  LargeArrayAllocator<float> alloc;
  for (std::size_t n : {std::size_t(1), std::size_t(3), std::size_t(1000), (std::size_t(2) << 20) / sizeof(float) - 1}) {
    float* p = alloc.allocate(n);
    CHECK(address(p) % 64 == 0);
    p[0] = 1.0f;
    p[n - 1] = 2.0f;
    alloc.deallocate(p, n);
  }
  for (std::size_t n : {(std::size_t(2) << 20) / sizeof(float), (std::size_t(5) << 20) / sizeof(float) + 7}) {
    float* p = alloc.allocate(n);
    CHECK(address(p) % (std::size_t(2) << 20) == 0);
    p[0] = 1.0f;
    p[n - 1] = 2.0f;
    alloc.deallocate(p, n);
  }
}

TEST_CASE("LargeArrayAllocator refuses sizes that overflow", "[core][memory]") {
  LargeArrayAllocator<double> alloc;
  CHECK_THROWS_AS(alloc.allocate(std::numeric_limits<std::size_t>::max() / 4), std::bad_array_new_length);
  // Fits in size_t, but not once rounded up to whole huge pages.
  CHECK_THROWS_AS(LargeArrayAllocator<char>().allocate(std::numeric_limits<std::size_t>::max() - 100), std::bad_alloc);
  LargeArrayAllocator<float> other(alloc);  // rebinding copies compare equal
  CHECK(other == LargeArrayAllocator<float>());
  CHECK_FALSE(other != LargeArrayAllocator<float>());
}

TEST_CASE("LargeArray keeps its contents through growth, copy and move", "[core][memory]") {
  LargeArray<std::int32_t> a(1000);
  std::iota(a.begin(), a.end(), 0);
  a.resize(3u << 20);  // crosses into huge-page storage
  for (std::int32_t i = 0; i < 1000; ++i) REQUIRE(a[static_cast<std::size_t>(i)] == i);
  CHECK(a.back() == 0);
  CHECK(address(a.data()) % (std::size_t(2) << 20) == 0);
  LargeArray<std::int32_t> b = a;
  CHECK(b == a);
  LargeArray<std::int32_t> c = std::move(b);
  CHECK(c == a);
  c.assign(5, 7);
  CHECK(c == LargeArray<std::int32_t>(5, 7));
}

TEST_CASE("LargeBuffer: uninitialised storage of a fixed size, moved not copied", "[core][memory]") {
  static_assert(!std::is_copy_constructible_v<LargeBuffer<int>>);
  LargeBuffer<std::uint64_t> empty;
  CHECK(empty.size() == 0);
  CHECK(empty.data() == nullptr);
  CHECK(LargeBuffer<std::uint64_t>(0).data() == nullptr);
  const std::size_t n = (std::size_t(3) << 20) / sizeof(std::uint64_t) + 5;  // past whole huge pages
  LargeBuffer<std::uint64_t> a(n);
  REQUIRE(a.size() == n);
  CHECK(address(a.data()) % (std::size_t(2) << 20) == 0);
  for (std::size_t i = 0; i < n; ++i) a.data()[i] = i * 3;
  const std::uint64_t* storage = a.data();
  LargeBuffer<std::uint64_t> b = std::move(a);
  CHECK(b.data() == storage);
  CHECK(a.size() == 0);  // NOLINT(bugprone-use-after-move): a moved-from buffer is empty
  CHECK(b.size() == n);
  CHECK(b.data()[n - 1] == (n - 1) * 3);
  b = LargeBuffer<std::uint64_t>(4);
  CHECK(b.size() == 4);
  CHECK(address(b.data()) % 64 == 0);
}

TEST_CASE("freeStorage frees a vector's capacity", "[core][memory]") {
  std::vector<int> v(1000, 1);
  v.clear();
  freeStorage(v);
  CHECK(v.capacity() == 0);
  LargeArray<double> a(5000);
  freeStorage(a);
  CHECK(a.capacity() == 0);
}

TEST_CASE("adviseHugePages is a harmless hint on any range", "[core][memory]") {
  adviseHugePages(nullptr, 0);
  adviseHugePages(nullptr, std::size_t(8) << 20);
  char small[100] = {1};
  adviseHugePages(small + 1, sizeof(small) - 1);
  CHECK(small[0] == 1);
  Matrix<float> m(512, 4096);  // 8 MiB, not huge-page aligned by Eigen
  adviseHugePages(m.data(), sizeof(float) * static_cast<std::size_t>(m.size()));
  m.setConstant(3.0f);
  CHECK(m.sum() == Approx(3.0 * 512 * 4096));
  // Already written memory: the advice must leave the contents alone.
  adviseHugePages(m.data() + 1, sizeof(float) * static_cast<std::size_t>(m.size() - 1));
  CHECK((m.array() == 3.0f).all());
  adviseHugePages(m);  // the whole-object overload
  std::vector<double> v(1u << 20, 2.0);
  adviseHugePages(v);
  CHECK((m.array() == 3.0f).all());
  CHECK(v.front() == 2.0);
  CHECK(v.back() == 2.0);
}
