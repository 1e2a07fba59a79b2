// eigenrec/text/detail/documents.hpp: documents in blocks, from memory or streamed from a
// file with one document per line, and errors that say which document was bad.
#ifndef EIGENREC_TEXT_DETAIL_DOCUMENTS_HPP
#define EIGENREC_TEXT_DETAIL_DOCUMENTS_HPP

#include <eigenrec/core/checks.hpp>
#include <eigenrec/core/memory.hpp>
#include <eigenrec/text/analyzer.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#define EIGENREC_TEXT_MAPPED_FILES 1
#else
#define EIGENREC_TEXT_MAPPED_FILES 0
#endif

namespace eigenrec::text::detail {

/// A run of consecutive documents. Views point into the source's buffer (file) or the
/// caller's strings (memory) and stay valid until the next call of next().
struct DocumentBlock {
  std::vector<std::string_view> docs;
  std::int64_t firstIndex = 0;  ///< index of docs[0] in the whole input
  std::int64_t firstLine = 0;   ///< 1-based line of docs[0] in a file; 0 for memory input
};

/// Turns an analyzer error on document `index` of a block into the library's error:
/// FormatError "file:line:column: ..." for files, std::invalid_argument naming the
/// function and the document index for memory input.
[[noreturn]] inline void rethrowDocumentError(std::string_view where, const std::string& source,
                                              const DocumentBlock& block, std::size_t index) {
  const std::int64_t doc = block.firstIndex + static_cast<std::int64_t>(index);
  try {
    throw;
  } catch (const InvalidUtf8& e) {
    if (block.firstLine > 0) {
      throw FormatError(source, block.firstLine + static_cast<std::int64_t>(index),
                        static_cast<std::int64_t>(e.offset()) + 1,
                        eigenrec::detail::concat("invalid UTF-8 byte 0x", std::hex, e.byte(),
                                                 " (use DecodeError::replace or ::ignore to accept it)"));
    }
    throwInvalidArgument(where, "document ", doc, ": ", e.what());
  } catch (const DocumentTooLong& e) {
    if (block.firstLine > 0) {
      throw FormatError(source, block.firstLine + static_cast<std::int64_t>(index), 0, e.what());
    }
    throwInvalidArgument(where, "document ", doc, ": ", e.what());
  }
}

/// Documents of a random-access container of strings, in blocks.
class MemoryDocuments {
 public:
  explicit MemoryDocuments(std::vector<std::string_view> docs, std::size_t blockDocs = std::size_t{1} << 16)
      : m_docs(std::move(docs)), m_blockDocs(blockDocs) {}

  bool next(DocumentBlock& block) {
    if (m_next >= m_docs.size()) return false;
    const std::size_t end = std::min(m_docs.size(), m_next + m_blockDocs);
    block.docs.assign(m_docs.begin() + static_cast<std::ptrdiff_t>(m_next),
                      m_docs.begin() + static_cast<std::ptrdiff_t>(end));
    block.firstIndex = static_cast<std::int64_t>(m_next);
    block.firstLine = 0;
    m_next = end;
    return true;
  }

  const std::string& source() const noexcept { return m_source; }
  std::int64_t bytesRead() const noexcept { return 0; }

 private:
  std::vector<std::string_view> m_docs;
  std::size_t m_blockDocs;
  std::size_t m_next = 0;
  std::string m_source = "<memory>";
};

/// Streams a file with one document per line: lines end at '\n', a '\r' before it is
/// removed, a last line without '\n' counts. Reads about `blockBytes` at a time; a line
/// longer than maxLineBytes throws FormatError instead of filling memory.
///
/// A regular file is mapped into memory (POSIX): the lines are views of the page cache,
/// with no copy and no fresh buffer pages, and the reading thread has little left to do
/// (Reuters-21578, 16 MB, eigenrec-tfidf in alternating runs: 1.3 ms faster on 1 thread,
/// 3.6-4.6 ms on 2); the pages of a block leave the process once the block is done, so
/// memory stays a few blocks whatever the file's size. Pipes and other files are read
/// into two alternating buffers. As with any reader, a file must not change while it is
/// read: a mapped file truncated meanwhile ends the process with SIGBUS.
class FileDocuments {
 public:
  /// `map`: map a regular file (else it is read like a pipe; for tests of both ways).
  FileDocuments(const std::string& path, std::int64_t maxLineBytes, std::size_t blockBytes = std::size_t{4} << 20,
                bool map = true)
      : m_in(path, std::ios::binary), m_source(path), m_maxLine(maxLineBytes), m_blockBytes(blockBytes) {
    if (!m_in) throw IoError(eigenrec::detail::concat("cannot open '", path, "' for reading"));
    m_in.seekg(0, std::ios::end);
    const auto size = m_in.tellg();
    m_fileSize = size < 0 ? -1 : static_cast<std::int64_t>(size);
    m_in.seekg(0, std::ios::beg);
    if (map) mapFile(path);
  }
  FileDocuments(const FileDocuments&) = delete;
  FileDocuments& operator=(const FileDocuments&) = delete;
  ~FileDocuments() {
#if EIGENREC_TEXT_MAPPED_FILES
    if (m_map != nullptr) ::munmap(const_cast<char*>(m_map), m_mapSize);
#endif
  }

  /// The next block of lines. Its views stay valid until the call after next (two
  /// buffers alternate), so a block can be read ahead while the previous one is used.
  bool next(DocumentBlock& block) {
    block.docs.clear();
    if (m_map != nullptr) return nextMapped(block);
    Buffer& previous = m_buffers[m_current];
    m_current = 1 - m_current;
    Buffer& buffer = m_buffers[m_current];
    // The unfinished line of the previous buffer starts this one; then read more.
    const std::size_t leftover = previous.size - m_consumed;
    reserve(buffer, leftover + m_blockBytes, false);
    if (leftover > 0) std::memcpy(buffer.data.data(), previous.data.data() + m_consumed, leftover);
    buffer.size = leftover;
    m_consumed = 0;
    while (!m_eof) {
      reserve(buffer, buffer.size + m_blockBytes, true);
      const std::size_t old = buffer.size;
      m_in.read(buffer.data.data() + old, static_cast<std::streamsize>(m_blockBytes));
      const auto got = static_cast<std::size_t>(m_in.gcount());
      buffer.size = old + got;
      m_bytesRead += static_cast<std::int64_t>(got);
      if (got < m_blockBytes) {
        if (m_in.bad()) throw IoError(eigenrec::detail::concat(m_source, ": read error after line ", m_line));
        m_eof = true;
      }
      if (got > 0 && std::memchr(buffer.data.data() + old, '\n', got) != nullptr) break;
      if (static_cast<std::int64_t>(buffer.size) > m_maxLine) {
        throw FormatError(m_source, m_line + 1, 0,
                          eigenrec::detail::concat("line longer than maxDocumentBytes = ", m_maxLine));
      }
    }
    block.firstIndex = m_docCount;
    block.firstLine = m_line + 1;
    const char* data = buffer.data.data();
    std::size_t start = 0;
    while (start < buffer.size) {
      const void* nl = std::memchr(data + start, '\n', buffer.size - start);
      if (nl == nullptr) break;
      const auto at = static_cast<std::size_t>(static_cast<const char*>(nl) - data);
      addLine(block, data, start, at);
      start = at + 1;
    }
    if (m_eof && start < buffer.size) {
      addLine(block, data, start, buffer.size);
      start = buffer.size;
    }
    m_consumed = start;
    return !block.docs.empty();
  }

  const std::string& source() const noexcept { return m_source; }
  std::int64_t bytesRead() const noexcept { return m_bytesRead; }
  bool mapped() const noexcept { return m_map != nullptr; }
  std::int64_t fileSize() const noexcept { return m_fileSize; }

 private:
  void addLine(DocumentBlock& block, const char* data, std::size_t start, std::size_t end) {
    ++m_line;
    ++m_docCount;
    if (end > start && data[end - 1] == '\r') --end;
    if (static_cast<std::int64_t>(end - start) > m_maxLine) {
      throw FormatError(m_source, m_line, 0,
                        eigenrec::detail::concat("line of ", end - start, " bytes exceeds maxDocumentBytes = ", m_maxLine));
    }
    block.docs.emplace_back(data + start, end - start);
  }

  std::ifstream m_in;
  std::string m_source;
  std::int64_t m_maxLine;
  std::size_t m_blockBytes;
  // Blocks of megabytes, each filled once by a read: huge-page storage (LargeBuffer)
  // saves most of the page faults.
  struct Buffer {
    LargeBuffer<char> data;
    std::size_t size = 0;
  };

  // Grows `buffer` to at least `capacity` bytes (no zero-filling), keeping its bytes if asked.
  static void reserve(Buffer& buffer, std::size_t capacity, bool keep) {
    if (buffer.data.size() >= capacity) return;
    LargeBuffer<char> data(std::max(2 * buffer.data.size(), capacity));
    if (keep && buffer.size > 0) std::memcpy(data.data(), buffer.data.data(), buffer.size);
    buffer.data = std::move(data);
  }

  // Maps a regular, non-empty file (m_map stays null otherwise, or if mapping fails).
  void mapFile(const std::string& path) {
#if EIGENREC_TEXT_MAPPED_FILES
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      const auto size = static_cast<std::size_t>(st.st_size);
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED) {
        (void)::madvise(p, size, MADV_SEQUENTIAL);
        m_map = static_cast<const char*>(p);
        m_mapSize = size;
        m_fileSize = static_cast<std::int64_t>(size);
      }
    }
    ::close(fd);
#else
    (void)path;
#endif
  }

  // next() of a mapped file: whole lines from about m_blockBytes of it.
  bool nextMapped(DocumentBlock& block) {
    // The block before the previous one is done with (see next()): its pages go.
    release(m_doneFrom, m_previousStart);
    m_doneFrom = m_previousStart;
    m_previousStart = m_consumed;
    if (m_consumed >= m_mapSize) return false;
    const char* data = m_map;
    std::size_t end = std::min(m_mapSize, m_consumed + m_blockBytes);
    if (end < m_mapSize) {  // end after the block's last newline, or the first one past it
      std::size_t back = end;
      while (back > m_consumed && data[back - 1] != '\n') --back;
      if (back > m_consumed) {
        end = back;
      } else {
        const void* nl = std::memchr(data + end, '\n', m_mapSize - end);
        end = nl == nullptr ? m_mapSize : static_cast<std::size_t>(static_cast<const char*>(nl) - data) + 1;
      }
    }
    block.firstIndex = m_docCount;
    block.firstLine = m_line + 1;
    std::size_t start = m_consumed;
    while (start < end) {
      const void* nl = std::memchr(data + start, '\n', end - start);
      const std::size_t at = nl == nullptr ? end : static_cast<std::size_t>(static_cast<const char*>(nl) - data);
      addLine(block, data, start, at);
      start = at + 1;
    }
    m_consumed = end;
    m_bytesRead = static_cast<std::int64_t>(end);
    return true;
  }

  // Drops the whole pages inside [from, to) of the mapping from this process (the page
  // cache keeps them; a later read would fault them in again, same bytes).
  void release(std::size_t from, std::size_t to) const noexcept {
#if EIGENREC_TEXT_MAPPED_FILES
    const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t first = (from + page - 1) / page * page, last = to / page * page;
    if (last > first) (void)::madvise(const_cast<char*>(m_map) + first, last - first, MADV_DONTNEED);
#else
    (void)from;
    (void)to;
#endif
  }

  const char* m_map = nullptr;  // mapped file, or null (buffers)
  std::size_t m_mapSize = 0;
  std::size_t m_previousStart = 0, m_doneFrom = 0;  // mapped: the previous block's start, the released end
  Buffer m_buffers[2];
  int m_current = 0;
  std::size_t m_consumed = 0;
  bool m_eof = false;
  std::int64_t m_line = 0;
  std::int64_t m_docCount = 0;
  std::int64_t m_bytesRead = 0;
  std::int64_t m_fileSize = -1;
};

}  // namespace eigenrec::text::detail

#endif  // EIGENREC_TEXT_DETAIL_DOCUMENTS_HPP
