#include "storage/wal.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <utility>

namespace failcat {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kSegmentHeaderBytes = 24;
constexpr std::uint64_t kFrameHeaderBytes = 8;
/// Version 2 seeds every frame's CRC with its segment's start LSN (`segment_seed`), so that
/// frames left in a reused file by its previous life never pass as records. Version 1
/// segments (seed 0) are still read.
constexpr std::uint32_t kSegmentVersion = 2;
constexpr std::uint32_t kSegmentVersionUnseeded = 1;
/// Checkpointed full segments kept for reuse instead of deleted.
constexpr std::size_t kMaxSpares = 2;
constexpr char kSparePrefix[] = "spare-";
constexpr char kSegmentMagic[8] = {'F', 'C', 'W', 'A', 'L', 'S', 'E', 'G'};
constexpr char kCheckpointMagic[8] = {'F', 'C', 'W', 'A', 'L', 'C', 'K', 'P'};
constexpr std::size_t kCheckpointBytes = 20;
constexpr char kCheckpointName[] = "checkpoint";
constexpr char kCheckpointTempName[] = "checkpoint.tmp";
constexpr std::size_t kReadChunk = 64u << 10;
// Positions remembered to find a record without scanning its segment from the start: one
// at every sync and one every kHintEvery appends. Past kMaxHints every other one is dropped,
// so they thin out evenly instead of forgetting the oldest (the ones a checkpoint needs).
constexpr std::size_t kMaxHints = 1024;
constexpr std::uint64_t kHintEvery = 64;
constexpr std::uint64_t kMinSegmentBytes = 64;

struct CrcTables {
  std::uint32_t t[8][256];
};

constexpr CrcTables make_crc_tables() {
  CrcTables tables{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    tables.t[0][i] = c;
  }
  for (int s = 1; s < 8; ++s) {
    for (std::uint32_t i = 0; i < 256; ++i) {
      const std::uint32_t prev = tables.t[s - 1][i];
      tables.t[s][i] = (prev >> 8) ^ tables.t[0][prev & 0xff];
    }
  }
  return tables;
}

constexpr CrcTables kCrc = make_crc_tables();

std::uint32_t load_u32(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<std::uint32_t>(b[0]) | static_cast<std::uint32_t>(b[1]) << 8 |
         static_cast<std::uint32_t>(b[2]) << 16 | static_cast<std::uint32_t>(b[3]) << 24;
}

std::uint64_t load_u64(const char* p) {
  return static_cast<std::uint64_t>(load_u32(p)) | static_cast<std::uint64_t>(load_u32(p + 4))
                                                       << 32;
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, std::uint64_t v) {
  put_u32(out, static_cast<std::uint32_t>(v));
  put_u32(out, static_cast<std::uint32_t>(v >> 32));
}

void store_u32(char* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint32_t frame_crc(std::string_view length_bytes, std::string_view payload,
                        std::uint32_t seed) {
  return crc32c(payload, crc32c(length_bytes, seed));
}

std::uint32_t segment_seed(std::uint64_t start_lsn) {
  std::string bytes;
  put_u64(bytes, start_lsn);
  return crc32c(bytes);
}

/// Recomputes the CRCs of consecutive frames for another segment's seed.
void reseal(std::string& frames, std::uint32_t seed) {
  std::size_t pos = 0;
  while (pos + kFrameHeaderBytes <= frames.size()) {
    const std::uint32_t length = load_u32(frames.data() + pos);
    const std::string_view length_bytes(frames.data() + pos, 4);
    const std::string_view payload(frames.data() + pos + kFrameHeaderBytes, length);
    store_u32(frames.data() + pos + 4, frame_crc(length_bytes, payload, seed));
    pos += kFrameHeaderBytes + length;
  }
}

std::string segment_name(std::uint64_t start_lsn) {
  char name[64];
  std::snprintf(name, sizeof name, "wal-%020llu.log", static_cast<unsigned long long>(start_lsn));
  return name;
}

std::optional<std::uint64_t> parse_segment_name(std::string_view name) {
  constexpr std::string_view kPrefix = "wal-";
  constexpr std::string_view kSuffix = ".log";
  if (name.size() != kPrefix.size() + 20 + kSuffix.size()) return std::nullopt;
  if (name.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : name.substr(kPrefix.size(), 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (v > (UINT64_MAX - digit) / 10) return std::nullopt;
    v = v * 10 + digit;
  }
  if (v == 0) return std::nullopt;
  return v;
}

std::string segment_header(std::uint64_t start_lsn, std::uint32_t version = kSegmentVersion) {
  std::string h(kSegmentMagic, sizeof kSegmentMagic);
  put_u32(h, version);
  put_u64(h, start_lsn);
  put_u32(h, crc32c(h));
  return h;
}

Error io_error(const std::string& what, const std::string& path, int err) {
  return Error::unavailable("wal: " + what + " " + path + ": " + std::strerror(err));
}

bool write_all(int fd, const char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

// Reads up to `size` bytes at `offset`; fewer only at end of file. -1 on error.
ssize_t read_up_to(int fd, char* data, std::size_t size, std::uint64_t offset) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

int close_fd(int fd) {
  return fd >= 0 ? ::close(fd) : 0;
}

/// Walks the frames of one segment between two offsets, reading in chunks.
class FrameScanner {
 public:
  enum class Outcome { record, end, truncated, corrupt, io_error };

  FrameScanner(int fd, std::uint64_t offset, std::uint64_t end, std::uint32_t seed)
      : fd_(fd), base_(offset), end_(end), seed_(seed) {}

  /// On `record`, `payload` views the frame's payload until the next call.
  Outcome next(std::string_view& payload) {
    frame_offset_ = base_ + pos_;
    if (frame_offset_ >= end_) return Outcome::end;
    const std::uint64_t remaining = end_ - frame_offset_;
    if (remaining < kFrameHeaderBytes) return Outcome::truncated;
    if (!fill(kFrameHeaderBytes)) return failed_ ? Outcome::io_error : Outcome::truncated;
    const char* header = buf_.data() + pos_;
    const std::uint32_t length = load_u32(header);
    const std::uint32_t crc = load_u32(header + 4);
    if (length > Wal::kMaxPayloadBytes) return Outcome::corrupt;
    if (kFrameHeaderBytes + length > remaining) return Outcome::truncated;
    if (!fill(kFrameHeaderBytes + length)) return failed_ ? Outcome::io_error : Outcome::truncated;
    header = buf_.data() + pos_;
    payload = std::string_view(header + kFrameHeaderBytes, length);
    if (frame_crc(std::string_view(header, 4), payload, seed_) != crc) return Outcome::corrupt;
    pos_ += kFrameHeaderBytes + length;
    return Outcome::record;
  }

  /// Offset of the frame `next` looked at last (the truncation point after damage).
  std::uint64_t frame_offset() const { return frame_offset_; }
  /// Offset just past the last frame returned.
  std::uint64_t offset() const { return base_ + pos_; }
  int error_number() const { return errno_; }

 private:
  bool fill(std::uint64_t need) {
    if (buf_.size() - pos_ >= need) return true;
    buf_.erase(0, pos_);
    base_ += pos_;
    pos_ = 0;
    const std::uint64_t want =
        std::min<std::uint64_t>(std::max<std::uint64_t>(need, kReadChunk), end_ - base_);
    const std::size_t have = buf_.size();
    if (want <= have) return have >= need;
    buf_.resize(static_cast<std::size_t>(want));
    const ssize_t n =
        read_up_to(fd_, buf_.data() + have, static_cast<std::size_t>(want - have), base_ + have);
    if (n < 0) {
      errno_ = errno;
      failed_ = true;
      buf_.resize(have);
      return false;
    }
    buf_.resize(have + static_cast<std::size_t>(n));
    return buf_.size() >= need;
  }

  int fd_;
  std::uint64_t base_;  // file offset of buf_[0]
  std::uint64_t end_;
  std::uint32_t seed_;
  std::string buf_;
  std::size_t pos_ = 0;
  std::uint64_t frame_offset_ = 0;
  bool failed_ = false;
  int errno_ = 0;
};

const char* describe(FrameScanner::Outcome outcome) {
  switch (outcome) {
    case FrameScanner::Outcome::truncated:
      return "truncated frame";
    case FrameScanner::Outcome::corrupt:
      return "frame checksum mismatch";
    case FrameScanner::Outcome::io_error:
      return "read error";
    default:
      return "unexpected end";
  }
}

}  // namespace

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FAILCAT_CRC32C_HW 1
/// The same CRC with the SSE 4.2 `crc32` instruction (which computes CRC-32C), 8 bytes a step.
__attribute__((target("sse4.2"))) static std::uint32_t crc32c_hw(std::string_view data,
                                                                 std::uint32_t crc) {
  std::uint64_t c = ~crc;
  const char* p = data.data();
  std::size_t n = data.size();
  while (n >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
    p += 8;
    n -= 8;
  }
  auto c32 = static_cast<std::uint32_t>(c);
  while (n-- > 0) c32 = __builtin_ia32_crc32qi(c32, static_cast<unsigned char>(*p++));
  return ~c32;
}
#endif

std::uint32_t crc32c_portable(std::string_view data, std::uint32_t crc) {
  std::uint32_t c = ~crc;
  const char* p = data.data();
  std::size_t n = data.size();
  while (n >= 8) {
    const std::uint32_t lo = c ^ load_u32(p);
    const std::uint32_t hi = load_u32(p + 4);
    c = kCrc.t[7][lo & 0xff] ^ kCrc.t[6][(lo >> 8) & 0xff] ^ kCrc.t[5][(lo >> 16) & 0xff] ^
        kCrc.t[4][lo >> 24] ^ kCrc.t[3][hi & 0xff] ^ kCrc.t[2][(hi >> 8) & 0xff] ^
        kCrc.t[1][(hi >> 16) & 0xff] ^ kCrc.t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  while (n-- > 0) c = kCrc.t[0][(c ^ static_cast<unsigned char>(*p++)) & 0xff] ^ (c >> 8);
  return ~c;
}

std::uint32_t crc32c(std::string_view data, std::uint32_t crc) {
#ifdef FAILCAT_CRC32C_HW
  static const bool hardware = __builtin_cpu_supports("sse4.2");
  if (hardware) return crc32c_hw(data, crc);
#endif
  return crc32c_portable(data, crc);
}

Wal::Wal(WalOptions options, int dir_fd) : options_(std::move(options)), dir_fd_(dir_fd) {}

Wal::~Wal() {
  close_reader();
  // A reused segment's old bytes past the last frame would read as a torn tail at the next
  // open; a clean close cuts them off.
  if (active_ && active_fd_ >= 0 && segments_.back().file_bytes > segments_.back().valid_bytes) {
    (void)::ftruncate(active_fd_, static_cast<off_t>(segments_.back().valid_bytes));
  }
  close_fd(active_fd_);
  close_fd(dir_fd_);  // also releases the flock
}

Result<std::unique_ptr<Wal>> Wal::open(WalOptions options) {
  if (options.dir.empty()) return Error::invalid("dir", "wal: no directory given");
  options.segment_bytes = std::max(options.segment_bytes, kMinSegmentBytes);
  std::error_code ec;
  fs::create_directories(options.dir, ec);
  if (ec) return Error::unavailable("wal: cannot create " + options.dir + ": " + ec.message());
  const int dir_fd = ::open(options.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return io_error("cannot open directory", options.dir, errno);
  if (::flock(dir_fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(dir_fd);
    if (err == EWOULDBLOCK) {
      return Error::unavailable("wal: " + options.dir + " is in use by another log");
    }
    return io_error("cannot lock", options.dir, err);
  }
  std::unique_ptr<Wal> wal(new Wal(std::move(options), dir_fd));
  auto recovered = wal->recover();
  if (!recovered) return std::move(recovered).error();
  return Result<std::unique_ptr<Wal>>(std::move(wal));
}

Status Wal::recover() {
  const fs::path dir(options_.dir);
  ::unlink((dir / kCheckpointTempName).c_str());

  // The checkpoint.
  const std::string checkpoint_path = (dir / kCheckpointName).string();
  if (const int fd = ::open(checkpoint_path.c_str(), O_RDONLY | O_CLOEXEC); fd >= 0) {
    std::array<char, kCheckpointBytes + 1> buf{};
    const ssize_t n = read_up_to(fd, buf.data(), buf.size(), 0);
    const int err = errno;
    ::close(fd);
    if (n < 0) return io_error("cannot read", checkpoint_path, err);
    const std::string_view body(buf.data(), 16);
    if (n == static_cast<ssize_t>(kCheckpointBytes) &&
        std::memcmp(buf.data(), kCheckpointMagic, sizeof kCheckpointMagic) == 0 &&
        crc32c(body) == load_u32(buf.data() + 16)) {
      persisted_lsn_ = load_u64(buf.data() + 8);
    } else {
      // NOTE: falling back to 0 replays whatever is still logged; the database inserts are
      // idempotent (ON CONFLICT DO NOTHING), so this costs time, never correctness.
      recovery_.checkpoint_corrupt = true;
    }
  } else if (errno != ENOENT) {
    return io_error("cannot open", checkpoint_path, errno);
  }
  recovery_.checkpoint_lsn = persisted_lsn_;

  // The segments, oldest first.
  std::vector<std::pair<std::uint64_t, std::string>> found;
  std::vector<std::string> spare_names;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (auto start = parse_segment_name(name)) {
      found.emplace_back(*start, name);
    } else if (name.rfind(kSparePrefix, 0) == 0) {
      spare_names.push_back(name);
    } else if (name.rfind(kCheckpointTempName, 0) == 0) {
      ::unlink(it->path().c_str());  // a checkpoint a crash cut short
    }
  }
  if (ec) return Error::unavailable("wal: cannot list " + options_.dir + ": " + ec.message());
  std::sort(found.begin(), found.end());

  bool tail_clean = false;  // the last kept segment may be appended to
  // The first LSN of a removed torn segment: numbering goes on from there (nothing in it was
  // acknowledged, its header never synced), so the sequence has no gap.
  std::uint64_t removed_tail_start = 0;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const bool last = i + 1 == found.size();
    Segment seg;
    seg.start_lsn = found[i].first;
    seg.end_lsn = seg.start_lsn - 1;
    seg.path = (dir / found[i].second).string();
    // Records of an older segment end where the next one starts.
    const std::uint64_t lsn_limit = last ? UINT64_MAX : found[i + 1].first - 1;

    const int fd = ::open(seg.path.c_str(), (last ? O_RDWR : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open", seg.path, errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot stat", seg.path, err);
    }
    seg.file_bytes = static_cast<std::uint64_t>(st.st_size);

    // Read what the disk holds, not what the page cache does: after a failed writeback
    // (an EIO seen by the previous process, which then refused ingest) Linux marks the pages
    // clean with their new bytes, and a later fdatasync reports nothing. Records read from
    // the cache would be answered to retries and appended after, then lost to a crash. Dirty
    // pages (a process killed before its fsync) are written first; clean ones are dropped.
    // This sync also makes durable what the scan below reads (see after it).
    if ((options_.datasync ? (*options_.datasync)(fd) : ::fdatasync(fd)) != 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot fdatasync", seg.path, err);
    }
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);

    std::array<char, kSegmentHeaderBytes> header{};
    const ssize_t hn = read_up_to(fd, header.data(), header.size(), 0);
    if (hn < 0) {
      const int err = errno;
      ::close(fd);
      return io_error("cannot read", seg.path, err);
    }
    const std::string_view got(header.data(), static_cast<std::size_t>(std::max<ssize_t>(hn, 0)));
    bool header_ok = true;
    if (got == segment_header(seg.start_lsn)) {
      seg.seed = segment_seed(seg.start_lsn);
    } else if (got == segment_header(seg.start_lsn, kSegmentVersionUnseeded)) {
      seg.seed = 0;
    } else {
      header_ok = false;
    }
    if (!header_ok) {
      ::close(fd);
      if (last) {
        // The header is synced with the segment's first records, so a bad one on the last
        // segment means nothing in it was ever acknowledged.
        if (::unlink(seg.path.c_str()) != 0) return io_error("cannot remove", seg.path, errno);
        recovery_.torn_bytes_dropped += seg.file_bytes;
        recovery_.torn_segment_removed = true;
        removed_tail_start = seg.start_lsn;
        continue;
      }
      recovery_.corruptions.push_back(
          WalCorruption{found[i].second, 0, seg.start_lsn, lsn_limit, "bad segment header"});
      seg.valid_bytes = kSegmentHeaderBytes;
      segments_.push_back(std::move(seg));
      tail_clean = false;
      continue;
    }

    FrameScanner scanner(fd, kSegmentHeaderBytes, seg.file_bytes, seg.seed);
    std::string_view payload;
    FrameScanner::Outcome outcome;
    while ((outcome = scanner.next(payload)) == FrameScanner::Outcome::record) {
      const std::uint64_t lsn = seg.end_lsn + 1;
      if (lsn > lsn_limit) {
        outcome = FrameScanner::Outcome::corrupt;
        break;
      }
      seg.end_lsn = lsn;
      if (lsn > persisted_lsn_) {
        ++recovery_.replay_records;
        recovery_.replay_bytes += payload.size();
        unpersisted_bytes_ += kFrameHeaderBytes + payload.size();
      }
    }
    if (outcome == FrameScanner::Outcome::io_error) {
      ::close(fd);
      return io_error("cannot read", seg.path, scanner.error_number());
    }
    seg.valid_bytes =
        outcome == FrameScanner::Outcome::end ? scanner.offset() : scanner.frame_offset();
    tail_clean = true;
    // A reused file holds its previous life's bytes after the last frame: in an older
    // segment that is unused space once every LSN up to the next segment was read.
    const bool complete = !last && seg.end_lsn == lsn_limit;
    if (outcome != FrameScanner::Outcome::end && !complete) {
      if (last) {
        if (::ftruncate(fd, static_cast<off_t>(seg.valid_bytes)) != 0 || ::fdatasync(fd) != 0) {
          const int err = errno;
          ::close(fd);
          return io_error("cannot truncate", seg.path, err);
        }
        recovery_.torn_bytes_dropped += seg.file_bytes - seg.valid_bytes;
        seg.file_bytes = seg.valid_bytes;
      } else {
        recovery_.corruptions.push_back(WalCorruption{
            found[i].second, seg.valid_bytes, seg.end_lsn + 1, lsn_limit, describe(outcome)});
        tail_clean = false;
      }
    }
    // What was read may have been only in the page cache (the process that wrote it died
    // before its group's fsync returned, or a rename before its directory fsync): the records
    // it holds are about to be treated as durable — answered to retries, appended after —
    // and the sync before the scan made them so.
    ::close(fd);
    segments_.push_back(std::move(seg));
  }

  // Spares are reused whole; any beyond the few kept (or cut short) go.
  std::sort(spare_names.begin(), spare_names.end());
  for (const auto& name : spare_names) {
    const std::string path = (dir / name).string();
    struct stat st {};
    if (spares_.size() < kMaxSpares && ::stat(path.c_str(), &st) == 0 &&
        static_cast<std::uint64_t>(st.st_size) >= options_.segment_bytes) {
      spares_.push_back(Spare{path, static_cast<std::uint64_t>(st.st_size)});
      continue;
    }
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return io_error("cannot remove", path, errno);
    }
  }

  std::uint64_t last_lsn = persisted_lsn_;
  if (!segments_.empty()) last_lsn = std::max(last_lsn, segments_.back().end_lsn);
  if (removed_tail_start > 0) last_lsn = std::max(last_lsn, removed_tail_start - 1);
  next_lsn_ = last_lsn + 1;
  synced_lsn_ = last_lsn;

  // Keep appending to the last segment when it is intact, continues the LSN sequence and
  // has room.
  if (!segments_.empty() && tail_clean) {
    const Segment& tail = segments_.back();
    if (tail.end_lsn + 1 == next_lsn_ && tail.valid_bytes < options_.segment_bytes) {
      active_fd_ = ::open(tail.path.c_str(), O_RDWR | O_CLOEXEC);
      if (active_fd_ < 0) return io_error("cannot open", tail.path, errno);
      active_ = true;
    }
  }

  // Segments holding nothing above the checkpoint were due for deletion before the restart.
  while (!segments_.empty() && segments_.front().end_lsn <= persisted_lsn_ &&
         !(active_ && segments_.size() == 1)) {
    if (auto retired = retire(segments_.front()); !retired) return retired;
    segments_.pop_front();
  }
  // Always: a segment renamed from a spare by the previous process may not have reached the
  // directory on disk yet, and this process appends to it without another rename.
  if (::fsync(dir_fd_) != 0) return io_error("cannot fsync", options_.dir, errno);
  return ok_status();
}

Error Wal::fail(Error error) {
  failed_ = error;
  return error;
}

Status Wal::retire(const Segment& seg) {
  if (spares_.size() < kMaxSpares && seg.file_bytes >= options_.segment_bytes) {
    char name[64];
    std::snprintf(name, sizeof name, "%s%020llu", kSparePrefix,
                  static_cast<unsigned long long>(seg.start_lsn));
    const std::string spare = (fs::path(options_.dir) / name).string();
    if (::rename(seg.path.c_str(), spare.c_str()) == 0) {
      spares_.push_back(Spare{spare, seg.file_bytes});
      return ok_status();
    }
  }
  if (::unlink(seg.path.c_str()) != 0 && errno != ENOENT) {
    return io_error("cannot remove", seg.path, errno);
  }
  return ok_status();
}

Status Wal::create_segment(std::uint64_t start_lsn) {
  const std::string path = (fs::path(options_.dir) / segment_name(start_lsn)).string();
  // A spare's blocks are allocated and written: overwriting them changes no metadata, so each
  // group's fdatasync writes the data alone instead of the data and the grown inode. Its old
  // frames fail their CRCs under this segment's seed. The rename is made durable with the
  // segment's first group (dir_dirty_).
  int fd = -1;
  std::uint64_t file_bytes = kSegmentHeaderBytes;
  while (fd < 0 && !spares_.empty()) {
    const Spare spare = spares_.back();
    spares_.pop_back();
    if (::renameat2(AT_FDCWD, spare.path.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE) != 0) {
      ::unlink(spare.path.c_str());
      continue;
    }
    fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return io_error("cannot open", path, errno);
    file_bytes = std::max(spare.bytes, kSegmentHeaderBytes);
  }
  if (fd < 0) fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", path, errno);
  const std::string header = segment_header(start_lsn);
  if (!write_all(fd, header.data(), header.size(), 0)) {
    const int err = errno;
    ::close(fd);
    return io_error("cannot write", path, err);
  }
  Segment seg;
  seg.start_lsn = start_lsn;
  seg.end_lsn = start_lsn - 1;
  seg.valid_bytes = kSegmentHeaderBytes;
  seg.file_bytes = file_bytes;
  seg.seed = segment_seed(start_lsn);
  seg.path = path;
  segments_.push_back(std::move(seg));
  active_ = true;
  active_fd_ = fd;
  active_needs_datasync_ = true;
  dir_dirty_ = true;
  return ok_status();
}

Result<std::uint64_t> Wal::append(std::string_view payload) {
  if (failed_) return *failed_;
  const std::uint64_t frame = kFrameHeaderBytes + payload.size();
  if (payload.size() > kMaxPayloadBytes || frame > options_.max_bytes) {
    return Error::invalid("payload", "wal: record of " + std::to_string(payload.size()) +
                                         " bytes exceeds the log's limits");
  }
  if (unpersisted_bytes_ + frame > options_.max_bytes) {
    return Error{ErrorKind::overloaded,
                 "wal: unpersisted bytes at the cap of " + std::to_string(options_.max_bytes),
                 {}};
  }
  if (!active_) {
    auto created = create_segment(next_lsn_);
    if (!created) return fail(std::move(created).error());
  }
  const std::uint64_t lsn = next_lsn_++;
  if (buffer_.empty()) buffer_first_lsn_ = lsn;
  if (lsn % kHintEvery == 0) {
    // Where this frame will sit once the buffer is written (sync writes it at valid_bytes).
    remember(lsn, Position{segments_.size() - 1, segments_.back().valid_bytes + buffer_.size()});
  }
  std::string length;
  put_u32(length, static_cast<std::uint32_t>(payload.size()));
  buffer_ += length;
  put_u32(buffer_, frame_crc(length, payload, segments_.back().seed));
  buffer_.append(payload.data(), payload.size());
  segments_.back().end_lsn = lsn;
  unpersisted_bytes_ += frame;
  return lsn;
}

WalSyncTicket::~WalSyncTicket() {
  close_fd(fd_);
  close_fd(dir_fd_);
}

WalSyncTicket::WalSyncTicket(WalSyncTicket&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      dir_fd_(std::exchange(other.dir_fd_, -1)),
      datasync_(std::move(other.datasync_)),
      lsn_(other.lsn_),
      path_(std::move(other.path_)),
      dir_(std::move(other.dir_)) {}

WalSyncTicket& WalSyncTicket::operator=(WalSyncTicket&& other) noexcept {
  if (this != &other) {
    close_fd(fd_);
    close_fd(dir_fd_);
    fd_ = std::exchange(other.fd_, -1);
    dir_fd_ = std::exchange(other.dir_fd_, -1);
    datasync_ = std::move(other.datasync_);
    lsn_ = other.lsn_;
    path_ = std::move(other.path_);
    dir_ = std::move(other.dir_);
  }
  return *this;
}

Status WalSyncTicket::run() {
  if (fd_ >= 0 && (datasync_ ? (*datasync_)(fd_) : ::fdatasync(fd_)) != 0) {
    return io_error("cannot fdatasync", path_, errno);
  }
  if (dir_fd_ >= 0 && ::fsync(dir_fd_) != 0) return io_error("cannot fsync", dir_, errno);
  return ok_status();
}

Result<std::uint64_t> Wal::sync() {
  if (!in_flight_lsns_.empty()) return Error::invalid("sync", "wal: a sync is in flight");
  auto ticket = begin_sync();
  if (!ticket) return std::move(ticket).error();
  const Status ran = ticket->run();
  return finish_sync(*ticket, ran);
}

Status Wal::start_segment_with_buffer() {
  // The full segment holds only durable frames (no sync is in flight); the buffered frames
  // move to a new segment that starts at the first of them.
  const std::uint64_t first = buffer_first_lsn_;
  const std::uint64_t old_start = segments_.back().start_lsn;
  const std::uint64_t old_valid = segments_.back().valid_bytes;
  segments_.back().end_lsn = first - 1;
  close_fd(active_fd_);
  active_fd_ = -1;
  active_ = false;
  if (auto created = create_segment(first); !created) return created;
  segments_.back().end_lsn = next_lsn_ - 1;
  reseal(buffer_, segments_.back().seed);
  for (auto& h : hints_) {
    if (h.segment_start == old_start && h.lsn >= first) {
      h.segment_start = first;
      h.offset = h.offset - old_valid + kSegmentHeaderBytes;
    }
  }
  return ok_status();
}

bool Wal::can_begin_sync() const {
  if (failed_) return false;
  if (in_flight_lsns_.empty()) return true;
  if (in_flight_lsns_.size() >= kMaxSyncsInFlight) return false;
  // The buffered frames would start a new segment: that waits until nothing is in flight.
  return buffer_.empty() || (active_ && segments_.back().valid_bytes < options_.segment_bytes);
}

Result<WalSyncTicket> Wal::begin_sync() {
  if (failed_) return *failed_;
  if (!can_begin_sync()) {
    return Error::invalid("sync", "wal: no further sync may start before one in flight ends");
  }
  WalSyncTicket ticket;
  ticket.lsn_ = next_lsn_ - 1;
  ticket.datasync_ = options_.datasync;
  if (!buffer_.empty()) {
    if (active_ && segments_.back().valid_bytes >= options_.segment_bytes) {
      if (auto started = start_segment_with_buffer(); !started) {
        return fail(std::move(started).error());
      }
    }
    Segment& seg = segments_.back();
    if (!write_all(active_fd_, buffer_.data(), buffer_.size(), seg.valid_bytes)) {
      return fail(io_error("cannot write", seg.path, errno));
    }
    seg.valid_bytes += buffer_.size();
    seg.file_bytes = std::max(seg.file_bytes, seg.valid_bytes);
    active_needs_datasync_ = true;
    buffer_.clear();
    if (buffer_.capacity() > (4u << 20)) std::string().swap(buffer_);
  }
  if (active_needs_datasync_ && active_fd_ >= 0) {
    // Its own open file description, not a dup: the kernel reports a failed writeback once per
    // description, and with two tickets in flight on one shared description the error could
    // reach the later ticket only, while the earlier one (whose frames it lost) succeeded.
    ticket.fd_ = ::open(segments_.back().path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ticket.fd_ < 0) return fail(io_error("cannot open", segments_.back().path, errno));
    ticket.path_ = segments_.back().path;
    active_needs_datasync_ = false;
  }
  if (dir_dirty_) {
    // Its own descriptor, not a dup: a dup would share the directory's flock and keep the
    // log locked for as long as the ticket lives.
    ticket.dir_fd_ = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (ticket.dir_fd_ < 0) return fail(io_error("cannot open", options_.dir, errno));
    ticket.dir_ = options_.dir;
    dir_dirty_ = false;
  }
  if (active_) {
    remember(ticket.lsn_ + 1, Position{segments_.size() - 1, segments_.back().valid_bytes});
  }
  in_flight_lsns_.push_back(ticket.lsn_);
  return ticket;
}

Result<std::uint64_t> Wal::finish_sync(const WalSyncTicket& ticket, const Status& outcome) {
  if (in_flight_lsns_.empty() || in_flight_lsns_.front() != ticket.lsn_) {
    return fail(Error::invalid("sync", "wal: syncs finished out of order"));
  }
  in_flight_lsns_.pop_front();
  if (!outcome) {
    sync_failed_ = true;
    return failed_ ? *failed_ : fail(outcome.error());
  }
  // Durable, unless a ticket before it failed (recovery cuts the log at that group's frames).
  // A failure since (writing a later group, creating a segment) leaves them durable.
  if (!sync_failed_) synced_lsn_ = std::max(synced_lsn_, ticket.lsn_);
  if (failed_) return *failed_;
  if (active_ && buffer_.empty() && in_flight_lsns_.empty() &&
      segments_.back().valid_bytes >= options_.segment_bytes) {
    // Full, durable and nothing waiting for it: the next append starts a new segment (with
    // frames waiting, `begin_sync` moves them to a new segment instead).
    close_fd(active_fd_);
    active_fd_ = -1;
    active_ = false;
  }
  return synced_lsn_;
}

void Wal::close_reader() {
  close_fd(reader_fd_);
  reader_fd_ = -1;
  reader_segment_ = 0;
}

Result<int> Wal::read_fd(std::size_t index) {
  const Segment& seg = segments_[index];
  if (active_ && index + 1 == segments_.size()) return active_fd_;
  if (reader_fd_ >= 0 && reader_segment_ == seg.start_lsn) return reader_fd_;
  close_reader();
  const int fd = ::open(seg.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", seg.path, errno);
  reader_fd_ = fd;
  reader_segment_ = seg.start_lsn;
  return fd;
}

void Wal::remember(std::uint64_t lsn, const Position& pos) {
  if (pos.index >= segments_.size()) return;
  if (!hints_.empty() && hints_.back().lsn >= lsn) return;
  hints_.push_back(Hint{lsn, segments_[pos.index].start_lsn, pos.offset});
  if (hints_.size() > kMaxHints) {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < hints_.size(); i += 2) hints_[kept++] = hints_[i];
    hints_.resize(kept);
  }
}

Result<Wal::Position> Wal::locate(std::uint64_t lsn) {
  std::size_t i = 0;
  while (i < segments_.size() && segments_[i].end_lsn < lsn) ++i;
  if (i == segments_.size()) return Position{i, 0};
  const Segment& seg = segments_[i];
  if (seg.start_lsn >= lsn) return Position{i, kSegmentHeaderBytes};

  std::uint64_t cur = seg.start_lsn;
  std::uint64_t offset = kSegmentHeaderBytes;
  for (const Hint& h : hints_) {
    if (h.segment_start == seg.start_lsn && h.lsn <= lsn && h.lsn > cur) {
      cur = h.lsn;
      offset = h.offset;
    }
  }
  auto fd = read_fd(i);
  if (!fd) return std::move(fd).error();
  FrameScanner scanner(*fd, offset, seg.valid_bytes, seg.seed);
  std::string_view payload;
  while (cur < lsn) {
    const auto outcome = scanner.next(payload);
    if (outcome != FrameScanner::Outcome::record) {
      return Error::unavailable("wal: " + seg.path + " changed on disk: " + describe(outcome));
    }
    ++cur;
  }
  return Position{i, scanner.offset()};
}

std::uint64_t Wal::bytes_after(const Position& pos) const {
  if (pos.index >= segments_.size()) return 0;
  std::uint64_t bytes = segments_[pos.index].valid_bytes - pos.offset;
  for (std::size_t j = pos.index + 1; j < segments_.size(); ++j) {
    bytes += segments_[j].valid_bytes - kSegmentHeaderBytes;
  }
  return bytes + buffer_.size();
}

Result<std::vector<WalRecord>> Wal::read_from(std::uint64_t lsn, std::size_t max_records,
                                              std::size_t max_bytes) {
  std::vector<WalRecord> out;
  std::uint64_t cur = std::max(lsn, persisted_lsn_ + 1);
  if (cur > synced_lsn_ || max_records == 0) return out;
  auto located = locate(cur);
  if (!located) return std::move(located).error();
  Position pos = *located;

  std::size_t bytes = 0;
  bool full = false;
  while (pos.index < segments_.size() && !full) {
    const Segment& seg = segments_[pos.index];
    cur = std::max(cur, seg.start_lsn);  // skips LSNs lost to corruption
    auto fd = read_fd(pos.index);
    if (!fd) return std::move(fd).error();
    FrameScanner scanner(*fd, pos.offset, seg.valid_bytes, seg.seed);
    std::string_view payload;
    while (true) {
      if (out.size() >= max_records || cur > synced_lsn_) {
        full = true;
        break;
      }
      const auto outcome = scanner.next(payload);
      if (outcome == FrameScanner::Outcome::end) break;
      if (outcome != FrameScanner::Outcome::record) {
        return Error::unavailable("wal: " + seg.path + " changed on disk: " + describe(outcome));
      }
      if (!out.empty() && bytes + payload.size() > max_bytes) {
        pos.offset = scanner.frame_offset();
        full = true;
        break;
      }
      out.push_back(WalRecord{cur++, std::string(payload)});
      bytes += payload.size();
      pos.offset = scanner.offset();
    }
    if (full) break;
    ++pos.index;
    pos.offset = kSegmentHeaderBytes;
  }
  remember(cur, pos);
  return out;
}

Status Wal::replay(const std::function<void(std::uint64_t, std::string_view)>& visit) {
  std::uint64_t next = persisted_lsn_ + 1;
  while (true) {
    auto batch = read_from(next, 1024, 4u << 20);
    if (!batch) return std::move(batch).error();
    if (batch->empty()) return ok_status();
    for (const WalRecord& r : *batch) visit(r.lsn, r.payload);
    next = batch->back().lsn + 1;
  }
}

Status WalCheckpointTicket::run() {
  const fs::path dir(dir_);
  const std::string temp =
      (dir / (std::string(kCheckpointTempName) + "-" + std::to_string(sequence_))).string();
  const std::string path = (dir / kCheckpointName).string();
  std::string body(kCheckpointMagic, sizeof kCheckpointMagic);
  put_u64(body, lsn_);
  put_u32(body, crc32c(body));

  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("cannot create", temp, errno);
  if (!write_all(fd, body.data(), body.size(), 0) || ::fdatasync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    return io_error("cannot write", temp, err);
  }
  if (::close(fd) != 0) return io_error("cannot close", temp, errno);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(temp.c_str());
    return io_error("cannot rename", temp, err);
  }
  // Its own descriptor: the log's holds the directory's flock.
  const int dir_fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return io_error("cannot open", dir_, errno);
  const int synced = ::fsync(dir_fd);
  const int err = errno;
  ::close(dir_fd);
  if (synced != 0) return io_error("cannot fsync", dir_, err);
  return ok_status();
}

Result<WalCheckpointTicket> Wal::begin_checkpoint(std::uint64_t lsn) {
  if (lsn <= persisted_lsn_) {
    return Error::invalid("lsn", "wal: " + std::to_string(lsn) + " is already checkpointed");
  }
  if (lsn > synced_lsn_) {
    return Error::invalid("lsn", "wal: cannot mark " + std::to_string(lsn) +
                                     " persisted; last synced is " + std::to_string(synced_lsn_));
  }
  WalCheckpointTicket ticket;
  ticket.lsn_ = lsn;
  ticket.sequence_ = ++checkpoint_sequence_;
  ticket.dir_ = options_.dir;
  return ticket;
}

Status Wal::finish_checkpoint(const WalCheckpointTicket& ticket, const Status& outcome) {
  if (!outcome) {
    // On a full disk the checkpoint's small file fails while each spare holds a segment's
    // worth of blocks, and only a checkpoint lets segments go: give one spare back, so that
    // the next attempt can be written.
    if (!spares_.empty()) {
      const Spare spare = spares_.back();
      if (::unlink(spare.path.c_str()) == 0 || errno == ENOENT) spares_.pop_back();
    }
    return outcome;
  }
  const std::uint64_t lsn = ticket.lsn_;
  // An older ticket finishing after a newer one changes nothing.
  if (lsn <= persisted_lsn_) return ok_status();
  auto pos = locate(lsn + 1);
  if (!pos) return std::move(pos).error();
  persisted_lsn_ = lsn;
  unpersisted_bytes_ = bytes_after(*pos);

  // Only after the checkpoint is durable may the records it covers disappear.
  while (!segments_.empty() && segments_.front().end_lsn <= lsn &&
         !(active_ && segments_.size() == 1)) {
    const Segment& seg = segments_.front();
    if (reader_fd_ >= 0 && reader_segment_ == seg.start_lsn) close_reader();
    if (auto retired = retire(seg); !retired) return retired;
    segments_.pop_front();
  }
  hints_.erase(
      std::remove_if(hints_.begin(), hints_.end(), [lsn](const Hint& h) { return h.lsn <= lsn; }),
      hints_.end());
  return ok_status();
}

Status Wal::mark_persisted(std::uint64_t lsn) {
  if (lsn <= persisted_lsn_) return ok_status();
  auto ticket = begin_checkpoint(lsn);
  if (!ticket) return std::move(ticket).error();
  return finish_checkpoint(*ticket, ticket->run());
}

WalStats Wal::stats() const {
  WalStats s;
  for (const Segment& seg : segments_) s.bytes_on_disk += seg.file_bytes;
  for (const Spare& spare : spares_) s.bytes_on_disk += spare.bytes;
  s.unpersisted_bytes = unpersisted_bytes_;
  s.backlog_records = last_lsn() - std::min(persisted_lsn_, last_lsn());
  s.buffered_bytes = buffer_.size();
  s.segment_count = segments_.size();
  s.last_lsn = last_lsn();
  s.last_synced_lsn = synced_lsn_;
  s.persisted_lsn = persisted_lsn_;
  return s;
}

}  // namespace failcat
