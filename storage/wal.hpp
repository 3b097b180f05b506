#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace failcat {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), as used by iSCSI and ext4.
/// `crc32c(b, crc32c(a)) == crc32c(a + b)`.
std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);
/// The table-driven implementation `crc32c` falls back to on CPUs without SSE 4.2.
std::uint32_t crc32c_portable(std::string_view data, std::uint32_t crc = 0);

/// Where and how big the write-ahead log is.
struct WalOptions {
  std::string dir;                          ///< Created when missing; one WAL per directory.
  std::uint64_t segment_bytes = 16u << 20;  ///< A segment is closed once it reaches this size.
  /// Cap on unpersisted bytes (framed records not yet marked persisted, buffered or on
  /// disk). `append` answers `overloaded` rather than exceed it: the backpressure signal.
  std::uint64_t max_bytes = 1ull << 30;
  /// Makes a segment's written frames durable; null is fdatasync(2). Returns 0, or -1 with
  /// errno set. Tests hold or fail group syncs with it (it runs on the thread of the ticket).
  std::shared_ptr<const std::function<int(int fd)>> datasync;
};

/// One logged record.
struct WalRecord {
  std::uint64_t lsn = 0;
  std::string payload;
};

/// Damage found in a segment that is not the last one: records there were acknowledged, so
/// they are reported rather than silently dropped.
struct WalCorruption {
  std::string segment;       ///< File name.
  std::uint64_t offset = 0;  ///< Byte offset of the first unreadable frame (0: header).
  std::uint64_t first_lost_lsn = 0;
  std::uint64_t last_lost_lsn = 0;
  std::string reason;
};

/// What `Wal::open` found and repaired.
struct WalRecoveryReport {
  std::uint64_t checkpoint_lsn = 0;  ///< Highest LSN the database held at the last checkpoint.
  bool checkpoint_corrupt = false;   ///< The checkpoint was unreadable and treated as 0.
  std::uint64_t replay_records = 0;  ///< Readable records above the checkpoint.
  std::uint64_t replay_bytes = 0;    ///< Their payload bytes.
  std::uint64_t torn_bytes_dropped =
      0;                              ///< Cut off the tail of the last segment (torn, or reused).
  bool torn_segment_removed = false;  ///< The last segment's header itself was torn.
  std::vector<WalCorruption> corruptions;
};

/// Counters for metrics and the admin API.
struct WalStats {
  std::uint64_t bytes_on_disk = 0;      ///< Sum of the segment files' sizes.
  std::uint64_t unpersisted_bytes = 0;  ///< What counts against `max_bytes`.
  std::uint64_t backlog_records = 0;    ///< last_lsn - persisted_lsn.
  std::uint64_t buffered_bytes = 0;     ///< Appended but not yet written (awaiting `sync`).
  std::uint64_t segment_count = 0;
  std::uint64_t last_lsn = 0;         ///< Last appended.
  std::uint64_t last_synced_lsn = 0;  ///< Everything up to here is durable.
  std::uint64_t persisted_lsn = 0;    ///< Everything up to here is in the database.
};

/// The durable half of one group commit, detached from the log so that it can run on another
/// thread: an fdatasync of the segment written and, when a segment was created, an fsync of
/// the directory. It owns duplicates of the descriptors it needs, so it stays valid whatever
/// the log does meanwhile. Move-only.
class WalSyncTicket {
 public:
  WalSyncTicket() = default;
  ~WalSyncTicket();
  WalSyncTicket(WalSyncTicket&& other) noexcept;
  WalSyncTicket& operator=(WalSyncTicket&& other) noexcept;
  WalSyncTicket(const WalSyncTicket&) = delete;
  WalSyncTicket& operator=(const WalSyncTicket&) = delete;

  /// Blocks for the fsyncs. Touches nothing but the ticket's own descriptors.
  Status run();
  /// The last LSN this ticket makes durable.
  std::uint64_t lsn() const { return lsn_; }

 private:
  friend class Wal;
  int fd_ = -1;
  int dir_fd_ = -1;
  std::shared_ptr<const std::function<int(int fd)>> datasync_;
  std::uint64_t lsn_ = 0;
  std::string path_;
  std::string dir_;
};

/// The durable half of a checkpoint, detached from the log so that it can run on another
/// thread: writes the checkpoint file (a temporary file, fdatasync, rename, directory fsync).
/// Touches nothing of the log's state.
class WalCheckpointTicket {
 public:
  /// Blocks for the writes and fsyncs.
  Status run();
  /// The LSN the database holds everything up to.
  std::uint64_t lsn() const { return lsn_; }

 private:
  friend class Wal;
  std::uint64_t lsn_ = 0;
  std::uint64_t sequence_ = 0;  ///< Names its temporary file.
  std::string dir_;
};

/// A segmented write-ahead log: every acknowledged failure lives here until the database has
/// it.
///
/// Usage: `append` assigns the next LSN (1, 2, 3, ...; never reused) and only buffers;
/// `sync` writes the buffer and fdatasyncs once for all of it (group commit; the owner
/// decides when). Once `sync` returns, every record appended before it is durable and may be
/// acknowledged. `begin_sync` / `finish_sync` split the same into the write and the fsync, so
/// the owner can keep appending while another thread waits for the disk. The drainer reads durable
/// records with `read_from` and, once a batch is in the database, calls `mark_persisted(last lsn of
/// the batch)`, which checkpoints and deletes segments that hold nothing newer.
///
/// On disk, in `dir`:
/// - `wal-<20-digit start LSN>.log` segments. A 24-byte header: magic `FCWALSEG`, u32
///   version (2), u64 start LSN, u32 CRC-32C of the preceding 20 bytes. Then frames
///   `[u32 length][u32 crc][payload]`, little-endian, where crc is CRC-32C over the four
///   length bytes and the payload, continued from the segment's seed: the CRC-32C of its
///   start LSN as 8 little-endian bytes (a zeroed or garbage length fails it too, and so does
///   a frame written under another start LSN). Version 1 segments (seed 0) are still read.
///   The n-th frame of a segment (from 0) has LSN start + n.
/// - `spare-<20 digits>`: up to two checkpointed full segments kept instead of deleted. A new
///   segment is made from a spare when there is one (renamed, header rewritten): its blocks
///   are already written, so the group fdatasyncs that fill it write no metadata. Bytes after
///   the last frame of such a file are its previous life's and fail their CRCs; a clean close
///   cuts them off.
/// - `checkpoint`: magic `FCWALCKP`, u64 persisted LSN, u32 CRC-32C; replaced atomically
///   (write `checkpoint.tmp-<n>`, fsync, rename, fsync directory; `open` removes leftovers).
///
/// A segment that has reached `segment_bytes` is closed when the next group is written: the
/// frames of that group start a new segment. Two groups may be in flight at once, but only
/// within one segment: a group that starts a new segment is written only once every earlier
/// one is durable, so only the last segment ever holds unsynced bytes. Recovery (`open`) relies
/// on that:
/// - In the last segment a short or corrupt frame (partial length, partial payload, CRC
///   mismatch) and everything after it was never acknowledged (or is a reused file's old
///   bytes): the file is truncated to the last good frame. A last segment whose header is
///   short or bad is removed.
/// - In an older segment the same damage before its last LSN (the next segment's start - 1)
///   is real corruption of acknowledged data: it is listed in `recovery().corruptions`, the
///   rest of that segment is skipped and its LSNs are lost; replay continues with the next
///   segment. After its last LSN it is a reused file's unused space.
/// - Records at or below the checkpoint are not replayed; segments holding only such records
///   are deleted.
///
/// Errors come back as values. A failed write or fsync leaves the log failed: every later
/// `append`/`sync` returns the same error (after a failed fsync the page cache cannot be
/// trusted), and the owner reopens the log, whose recovery keeps exactly what is intact.
///
/// Not thread-safe: one owner (the WAL actor) serialises every call. The directory is
/// locked (flock) so a second process, or a second `Wal` on it, cannot open it.
class Wal {
 public:
  /// Frames larger than this are refused.
  static constexpr std::uint64_t kMaxPayloadBytes = 64u << 20;

  /// Opens (or creates) the log in `options.dir` and recovers it.
  static Result<std::unique_ptr<Wal>> open(WalOptions options);

  /// Closes the files. Does not sync: what was appended but not synced was never
  /// acknowledged; call `sync()` first on an orderly shutdown.
  ~Wal();
  Wal(const Wal&) = delete;
  Wal& operator=(const Wal&) = delete;

  /// Buffers `payload` and returns its LSN; durable only after the next `sync()`.
  /// `overloaded` when the unpersisted bytes would exceed `max_bytes`.
  Result<std::uint64_t> append(std::string_view payload);

  /// Writes everything buffered and makes it durable (one fdatasync, plus a directory fsync
  /// when a segment was created). Returns the last synced LSN.
  Result<std::uint64_t> sync();

  /// The first half of `sync`: writes the buffered frames and returns the ticket whose
  /// `run()` makes them durable. Appends may continue meanwhile (they belong to the next
  /// group), and so may a second `begin_sync` while `can_begin_sync()` (its ticket may run
  /// at the same time as the first one's); no `sync` until every ticket is finished.
  Result<WalSyncTicket> begin_sync();
  /// The second half, for each ticket in the order `begin_sync` returned them: `outcome` is
  /// what `ticket.run()` returned. On success every record up to `ticket.lsn()` is durable
  /// (returned); on failure the log is failed. A group whose ticket ran first is durable only
  /// once the tickets before it are too. Once the log has failed it returns that error, but a
  /// ticket that succeeded after tickets that all did still counts (`synced_lsn()`): a later
  /// write that failed does not undo its frames.
  Result<std::uint64_t> finish_sync(const WalSyncTicket& ticket, const Status& outcome);
  /// True when `begin_sync` may be called now: no ticket is in flight, or one is and the
  /// buffered frames stay in its segment (a group that starts a new segment waits until the
  /// previous ones are durable).
  bool can_begin_sync() const;
  std::size_t syncs_in_flight() const { return in_flight_lsns_.size(); }
  /// At most this many tickets are in flight at once.
  static constexpr std::size_t kMaxSyncsInFlight = 2;

  /// Durable records not yet persisted, in LSN order, starting at the first one >= `lsn`:
  /// at most `max_records`, and at most `max_bytes` of payload (but always at least one
  /// record when there is one). Empty when the drainer has caught up.
  Result<std::vector<WalRecord>> read_from(std::uint64_t lsn, std::size_t max_records,
                                           std::size_t max_bytes);

  /// Calls `visit` for every durable record above the checkpoint, in LSN order, reading in
  /// bounded batches (the replay after `open`).
  Status replay(const std::function<void(std::uint64_t lsn, std::string_view payload)>& visit);

  /// Records that the database holds everything up to `lsn` (which must be synced):
  /// checkpoints it durably, then retires segments holding nothing above it.
  Status mark_persisted(std::uint64_t lsn);
  /// `mark_persisted` split like `sync`: `begin_checkpoint` returns the ticket whose `run()`
  /// writes the checkpoint (on any thread); `finish_checkpoint` with what `run()` returned
  /// then retires the segments. Appends, syncs and reads may go on in between. A failed
  /// checkpoint leaves the log as it was (the next one covers its records).
  Result<WalCheckpointTicket> begin_checkpoint(std::uint64_t lsn);
  Status finish_checkpoint(const WalCheckpointTicket& ticket, const Status& outcome);

  WalStats stats() const;
  const WalRecoveryReport& recovery() const { return recovery_; }
  std::uint64_t last_lsn() const { return next_lsn_ - 1; }
  std::uint64_t synced_lsn() const { return synced_lsn_; }
  std::uint64_t persisted_lsn() const { return persisted_lsn_; }
  /// True when appended records wait for `sync()`.
  bool has_unsynced() const { return synced_lsn_ + 1 < next_lsn_; }
  const WalOptions& options() const { return options_; }

 private:
  struct Segment {
    std::uint64_t start_lsn = 0;
    std::uint64_t end_lsn = 0;      ///< LSN of the last record; start_lsn - 1 when empty.
    std::uint64_t valid_bytes = 0;  ///< End of the last readable frame (written bytes).
    std::uint64_t file_bytes = 0;   ///< Size on disk (more than valid_bytes when reused).
    std::uint32_t seed = 0;         ///< Seeds its frames' CRCs (0 in version 1 segments).
    std::string path;
  };
  struct Spare {
    std::string path;
    std::uint64_t bytes = 0;
  };
  struct Position {
    std::size_t index = 0;  ///< Into segments_; segments_.size() means "past the end".
    std::uint64_t offset = 0;
  };
  struct Hint {
    std::uint64_t lsn = 0;
    std::uint64_t segment_start = 0;
    std::uint64_t offset = 0;
  };

  Wal(WalOptions options, int dir_fd);

  Status recover();
  Status create_segment(std::uint64_t start_lsn);
  /// Removes a checkpointed segment, or keeps its file as a spare for the next segment.
  Status retire(const Segment& seg);
  Status start_segment_with_buffer();
  Result<int> read_fd(std::size_t index);
  Result<Position> locate(std::uint64_t lsn);
  std::uint64_t bytes_after(const Position& pos) const;
  void remember(std::uint64_t lsn, const Position& pos);
  void close_reader();
  Error fail(Error error);

  WalOptions options_;
  int dir_fd_ = -1;
  std::deque<Segment> segments_;
  std::vector<Spare> spares_;
  bool active_ = false;  ///< segments_.back() is open for appending on active_fd_.
  int active_fd_ = -1;
  bool active_needs_datasync_ = false;
  bool dir_dirty_ = false;
  std::string buffer_;                  ///< Frames appended to the active segment, not yet written.
  std::uint64_t buffer_first_lsn_ = 0;  ///< LSN of the first frame in buffer_.
  std::deque<std::uint64_t> in_flight_lsns_;  ///< The LSN of each ticket in flight, in order.
  bool sync_failed_ = false;                  ///< A ticket's fsync failed.
  std::uint64_t next_lsn_ = 1;
  std::uint64_t synced_lsn_ = 0;
  std::uint64_t persisted_lsn_ = 0;
  std::uint64_t checkpoint_sequence_ = 0;
  std::uint64_t unpersisted_bytes_ = 0;
  std::optional<Error> failed_;
  int reader_fd_ = -1;
  std::uint64_t reader_segment_ = 0;
  std::deque<Hint> hints_;
  WalRecoveryReport recovery_;
};

}  // namespace failcat
