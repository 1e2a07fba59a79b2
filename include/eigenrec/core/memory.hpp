// eigenrec/core/memory.hpp: storage for large tables read and written at random.
//
// A model whose tables are tens of megabytes or more and which it touches at random
// places (FFM's latent blocks, word2vec's vectors, embedding tables) spends much of its
// time in TLB misses when the tables sit in 4 KiB pages: a second-level TLB covers a few
// megabytes, so almost every access pays a page walk. `LargeArrayAllocator` asks the
// kernel for transparent huge pages (2 MiB) for every allocation of at least 2 MiB:
// the block is 2 MiB aligned, rounded up to whole huge pages (less than 2 MiB more than
// asked for, so that its end is not faulted in 4 KiB at a time) and, on Linux, marked
// with madvise(MADV_HUGEPAGE) before it is first touched, which is what a kernel in the
// common `madvise` THP mode needs. Where huge pages are unavailable (other systems, THP
// off, no free huge page) the request is a hint that changes nothing but speed: the
// memory is ordinary memory either way.
// Smaller blocks are 64-byte aligned (a cache line; enough for any SIMD load).
#ifndef EIGENREC_CORE_MEMORY_HPP
#define EIGENREC_CORE_MEMORY_HPP

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif
#if defined(_WIN32)
#include <malloc.h>
#endif

namespace eigenrec {

namespace detail {

inline constexpr std::size_t kHugePageBytes = std::size_t(2) << 20;

/// `bytes` bytes aligned to `alignment` (a power of two, multiple of sizeof(void*)).
/// @throws std::bad_alloc when the system has no memory for it.
inline void* alignedAllocate(std::size_t bytes, std::size_t alignment) {
  if (bytes == 0) bytes = 1;
#if defined(_WIN32)
  void* p = _aligned_malloc(bytes, alignment);
#else
  void* p = nullptr;
  if (posix_memalign(&p, alignment, bytes) != 0) p = nullptr;
#endif
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

inline void alignedFree(void* p) noexcept {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}

}  // namespace detail

/// Advises the kernel to back the whole 2 MiB pages inside [data, data + bytes) with
/// transparent huge pages (Linux; elsewhere, or for less than one whole huge page, it
/// does nothing). For storage this library does not allocate itself, such as an Eigen
/// matrix: call it after the allocation and before the first write, when the pages
/// are not yet faulted in. Only speed changes, never contents.
inline void adviseHugePages(void* data, std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + detail::kHugePageBytes - 1) & ~(detail::kHugePageBytes - 1);
  const std::uintptr_t last = (begin + bytes) & ~(detail::kHugePageBytes - 1);
  if (data != nullptr && last > first) {
    (void)madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
  }
#else
  (void)data;
  (void)bytes;
#endif
}

/// adviseHugePages over the whole storage of a contiguous object with data() and size()
/// (an Eigen matrix or array, a std::vector).
template <typename Storage>
void adviseHugePages(Storage& storage) noexcept {
  adviseHugePages(static_cast<void*>(storage.data()),
                  sizeof(*storage.data()) * static_cast<std::size_t>(storage.size()));
}

/// Standard allocator for large randomly accessed arrays (see the file comment):
/// blocks of 2 MiB or more are 2 MiB aligned, rounded up to whole huge pages and advised
/// for transparent huge pages; smaller ones are 64-byte aligned. Stateless; all instances
/// compare equal.
template <typename T>
struct LargeArrayAllocator {
  using value_type = T;

  LargeArrayAllocator() noexcept = default;
  template <typename U>
  LargeArrayAllocator(const LargeArrayAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t bytes = n * sizeof(T);
    if (bytes < detail::kHugePageBytes) {
      return static_cast<T*>(detail::alignedAllocate(bytes, alignof(T) > 64 ? alignof(T) : 64));
    }
    // Whole huge pages: a partial last page would be faulted in 4 KiB at a time.
    if (bytes > std::numeric_limits<std::size_t>::max() - detail::kHugePageBytes) throw std::bad_alloc();
    const std::size_t rounded = (bytes + detail::kHugePageBytes - 1) & ~(detail::kHugePageBytes - 1);
    void* p = detail::alignedAllocate(rounded, detail::kHugePageBytes);
    adviseHugePages(p, rounded);
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t) noexcept { detail::alignedFree(p); }

  template <typename U>
  bool operator==(const LargeArrayAllocator<U>&) const noexcept {
    return true;
  }
  template <typename U>
  bool operator!=(const LargeArrayAllocator<U>&) const noexcept {
    return false;
  }
};

/// A std::vector in LargeArrayAllocator storage.
template <typename T>
using LargeArray = std::vector<T, LargeArrayAllocator<T>>;

/// Frees a container's storage now. (`v = {}` does not: for a std::vector it assigns an
/// empty initializer list and keeps the capacity; shrink_to_fit() is only a request.)
template <typename Container>
void freeStorage(Container& c) noexcept {
  Container().swap(c);
}

/// A fixed number of trivially copyable T in LargeArrayAllocator storage, left
/// uninitialised: for buffers that are written before they are read, where a vector's
/// zero-filling would be a needless first pass over fresh memory. Move-only.
template <typename T>
class LargeBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "LargeBuffer holds trivially copyable elements");

 public:
  LargeBuffer() noexcept = default;
  /// @throws std::bad_alloc when the system has no memory for it.
  explicit LargeBuffer(std::size_t n) : m_data(n > 0 ? LargeArrayAllocator<T>().allocate(n) : nullptr), m_size(n) {}
  LargeBuffer(LargeBuffer&& other) noexcept : m_data(std::move(other.m_data)), m_size(std::exchange(other.m_size, 0)) {}
  LargeBuffer& operator=(LargeBuffer&& other) noexcept {
    m_data = std::move(other.m_data);
    m_size = std::exchange(other.m_size, 0);
    return *this;
  }

  T* data() noexcept { return m_data.get(); }
  const T* data() const noexcept { return m_data.get(); }
  std::size_t size() const noexcept { return m_size; }

 private:
  struct Free {
    void operator()(T* p) const noexcept { LargeArrayAllocator<T>().deallocate(p, 0); }
  };
  std::unique_ptr<T[], Free> m_data;
  std::size_t m_size = 0;
};

}  // namespace eigenrec

#endif  // EIGENREC_CORE_MEMORY_HPP
