#include "storage/wal.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

namespace failcat {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kHeader = 24;
constexpr std::uint64_t kFrame = 8;

std::string payload_of(std::uint64_t i, std::size_t size = 20) {
  std::string p = "record-" + std::to_string(i) + "-";
  p.resize(std::max(size, p.size()), static_cast<char>('a' + i % 26));
  return p;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "failcat-wal-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  WalOptions options(std::uint64_t segment_bytes = 16u << 20,
                     std::uint64_t max_bytes = 1ull << 30) const {
    return WalOptions{dir_.string(), segment_bytes, max_bytes, nullptr};
  }

  std::unique_ptr<Wal> open(const WalOptions& opts) {
    auto wal = Wal::open(opts);
    EXPECT_TRUE(wal.ok()) << (wal.ok() ? "" : wal.error().message);
    return wal.ok() ? std::move(wal).value() : nullptr;
  }
  std::unique_ptr<Wal> open() { return open(options()); }

  static void append_n(Wal& wal, std::uint64_t from, std::uint64_t to, std::size_t size = 20) {
    for (std::uint64_t i = from; i <= to; ++i) {
      auto lsn = wal.append(payload_of(i, size));
      ASSERT_TRUE(lsn.ok()) << lsn.error().message;
      EXPECT_EQ(*lsn, i);
    }
  }

  /// Records 1–3 written as one group and 4–5 as the next, both tickets in flight.
  static void begin_two_groups(Wal& wal, std::optional<WalSyncTicket>& first,
                               std::optional<WalSyncTicket>& second) {
    append_n(wal, 1, 3);
    auto one = wal.begin_sync();
    ASSERT_TRUE(one.ok()) << one.error().message;
    first = std::move(*one);
    append_n(wal, 4, 5);
    auto two = wal.begin_sync();
    ASSERT_TRUE(two.ok()) << two.error().message;
    second = std::move(*two);
  }

  static std::vector<WalRecord> replay_all(Wal& wal) {
    std::vector<WalRecord> out;
    auto st = wal.replay([&out](std::uint64_t lsn, std::string_view payload) {
      out.push_back(WalRecord{lsn, std::string(payload)});
    });
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().message);
    return out;
  }

  static void expect_records(const std::vector<WalRecord>& records, std::uint64_t from,
                             std::uint64_t to, std::size_t size = 20) {
    ASSERT_EQ(records.size(), to + 1 - from);
    for (std::uint64_t i = from; i <= to; ++i) {
      EXPECT_EQ(records[i - from].lsn, i);
      EXPECT_EQ(records[i - from].payload, payload_of(i, size));
    }
  }

  std::vector<fs::path> files_with_prefix(const std::string& prefix) const {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().rfind(prefix, 0) == 0) out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  std::vector<fs::path> spares() const { return files_with_prefix("spare-"); }
  /// Bytes of every segment and spare file.
  std::uint64_t disk_bytes() const {
    std::uint64_t total = 0;
    for (const auto& f : files_with_prefix("wal-")) total += fs::file_size(f);
    for (const auto& f : spares()) total += fs::file_size(f);
    return total;
  }

  std::vector<fs::path> segments() const {
    std::vector<fs::path> out;
    for (const auto& entry : fs::directory_iterator(dir_)) {
      if (entry.path().filename().string().rfind("wal-", 0) == 0) out.push_back(entry.path());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST(Crc32c, MatchesKnownVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  const std::string text = "The quick brown fox jumps over the lazy dog, twice over.";
  for (std::size_t split = 0; split <= text.size(); ++split) {
    EXPECT_EQ(crc32c(text.substr(split), crc32c(text.substr(0, split))), crc32c(text));
  }
}

TEST(Crc32c, PortableAndDispatchedImplementationsAgree) {
  // Known vectors through the table-driven path, then every length 0..300 and every
  // continuation split against the implementation this CPU dispatches to.
  EXPECT_EQ(crc32c_portable("123456789"), 0xE3069283u);
  EXPECT_EQ(crc32c_portable(std::string(32, '\xff')), 0x62A8AB43u);
  std::string data;
  std::uint32_t x = 12345;
  for (int i = 0; i < 300; ++i) {
    x = x * 1103515245u + 12345u;
    data.push_back(static_cast<char>(x >> 16));
  }
  for (std::size_t n = 0; n <= data.size(); ++n) {
    const std::string_view prefix(data.data(), n);
    ASSERT_EQ(crc32c(prefix), crc32c_portable(prefix)) << "length " << n;
    ASSERT_EQ(crc32c(prefix, 0xDEADBEEFu), crc32c_portable(prefix, 0xDEADBEEFu)) << n;
  }
}

TEST_F(WalTest, EmptyDirectoryStartsAtLsnOne) {
  auto wal = open();
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->last_lsn(), 0u);
  EXPECT_TRUE(replay_all(*wal).empty());
  EXPECT_EQ(*wal->append("x"), 1u);
  EXPECT_EQ(*wal->append("y"), 2u);
}

TEST_F(WalTest, AppendSyncReopenReplaysAll) {
  {
    auto wal = open();
    ASSERT_TRUE(wal);
    append_n(*wal, 1, 100);
    EXPECT_TRUE(wal->has_unsynced());
    auto synced = wal->sync();
    ASSERT_TRUE(synced.ok());
    EXPECT_EQ(*synced, 100u);
    EXPECT_FALSE(wal->has_unsynced());
  }
  auto wal = open();
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->recovery().replay_records, 100u);
  EXPECT_EQ(wal->recovery().torn_bytes_dropped, 0u);
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  expect_records(replay_all(*wal), 1, 100);
  EXPECT_EQ(*wal->append("next"), 101u);
}

TEST_F(WalTest, UnsyncedAppendsAreNotRecovered) {
  {
    auto wal = open();
    append_n(*wal, 1, 5);
    ASSERT_TRUE(wal->sync().ok());
    append_n(*wal, 6, 8);
  }
  auto wal = open();
  expect_records(replay_all(*wal), 1, 5);
  EXPECT_EQ(*wal->append(payload_of(6)), 6u);
}

TEST_F(WalTest, ReadFromReturnsOnlySyncedRecords) {
  auto wal = open();
  append_n(*wal, 1, 3);
  auto before = wal->read_from(1, 100, 1 << 20);
  ASSERT_TRUE(before.ok());
  EXPECT_TRUE(before->empty());
  ASSERT_TRUE(wal->sync().ok());
  append_n(*wal, 4, 5);
  auto after = wal->read_from(1, 100, 1 << 20);
  ASSERT_TRUE(after.ok());
  expect_records(*after, 1, 3);
}

TEST_F(WalTest, ReadFromHonoursRecordAndByteLimits) {
  {
    auto wal = open();
    append_n(*wal, 1, 10, 100);
    ASSERT_TRUE(wal->sync().ok());
  }
  auto wal = open();
  auto first = wal->read_from(1, 3, 1 << 20);
  ASSERT_TRUE(first.ok());
  expect_records(*first, 1, 3, 100);
  auto by_bytes = wal->read_from(4, 100, 250);
  ASSERT_TRUE(by_bytes.ok());
  expect_records(*by_bytes, 4, 5, 100);
  auto at_least_one = wal->read_from(6, 100, 1);
  ASSERT_TRUE(at_least_one.ok());
  expect_records(*at_least_one, 6, 6, 100);
  auto middle = wal->read_from(9, 100, 1 << 20);  // no hint: scans from the segment start
  ASSERT_TRUE(middle.ok());
  expect_records(*middle, 9, 10, 100);
  auto past = wal->read_from(11, 100, 1 << 20);
  ASSERT_TRUE(past.ok());
  EXPECT_TRUE(past->empty());
  auto none = wal->read_from(1, 0, 1 << 20);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(WalTest, DrainsInBatchesWhileAppendsContinue) {
  auto wal = open(options(512));
  std::uint64_t appended = 0;
  std::uint64_t cursor = 1;
  std::vector<WalRecord> drained;
  for (int round = 0; round < 40; ++round) {
    append_n(*wal, appended + 1, appended + 10, 30);
    appended += 10;
    ASSERT_TRUE(wal->sync().ok());
    auto batch = wal->read_from(cursor, 7, 1 << 20);
    ASSERT_TRUE(batch.ok());
    ASSERT_FALSE(batch->empty());
    drained.insert(drained.end(), batch->begin(), batch->end());
    cursor = batch->back().lsn + 1;
    ASSERT_TRUE(wal->mark_persisted(batch->back().lsn).ok());
  }
  while (true) {
    auto batch = wal->read_from(cursor, 7, 1 << 20);
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    drained.insert(drained.end(), batch->begin(), batch->end());
    cursor = batch->back().lsn + 1;
    ASSERT_TRUE(wal->mark_persisted(batch->back().lsn).ok());
  }
  expect_records(drained, 1, appended, 30);
  const WalStats s = wal->stats();
  EXPECT_EQ(s.backlog_records, 0u);
  EXPECT_EQ(s.unpersisted_bytes, 0u);
  EXPECT_EQ(s.persisted_lsn, appended);
  EXPECT_LE(s.segment_count, 2u);
}

TEST_F(WalTest, RereadsABatchAfterAFailedPersist) {
  auto wal = open(options(400));
  append_n(*wal, 1, 30);
  ASSERT_TRUE(wal->sync().ok());
  auto first = wal->read_from(1, 10, 1 << 20);
  auto ahead = wal->read_from(11, 10, 1 << 20);
  ASSERT_TRUE(first.ok() && ahead.ok());
  // The database rejected the first batch: the persister reads it again.
  auto again = wal->read_from(1, 10, 1 << 20);
  ASSERT_TRUE(again.ok());
  expect_records(*again, 1, 10);
}

TEST_F(WalTest, MarkPersistedDeletesSegmentsAndReplaysOnlyLaterRecords) {
  {
    auto wal = open(options(1024));
    for (std::uint64_t i = 1; i <= 50; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
    const auto before = segments().size();
    ASSERT_GE(before, 5u);
    ASSERT_TRUE(wal->mark_persisted(30).ok());
    EXPECT_EQ(wal->persisted_lsn(), 30u);
    EXPECT_LT(segments().size(), before);
    EXPECT_EQ(wal->stats().segment_count, segments().size());
    EXPECT_EQ(wal->stats().backlog_records, 20u);
    EXPECT_EQ(wal->stats().unpersisted_bytes, 20 * (kFrame + 100));
    // The first remaining segment still covers LSN 31.
    const std::string first = segments().front().filename().string();
    EXPECT_LE(std::stoull(first.substr(4, 20)), 31u);
    auto from_start = wal->read_from(1, 100, 1 << 20);
    ASSERT_TRUE(from_start.ok());
    expect_records(*from_start, 31, 50, 100);
    EXPECT_TRUE(wal->mark_persisted(10).ok());  // going backwards changes nothing
    EXPECT_EQ(wal->persisted_lsn(), 30u);
  }
  auto wal = open(options(1024));
  EXPECT_EQ(wal->recovery().checkpoint_lsn, 30u);
  EXPECT_EQ(wal->recovery().replay_records, 20u);
  expect_records(replay_all(*wal), 31, 50, 100);
  EXPECT_EQ(wal->stats().unpersisted_bytes, 20 * (kFrame + 100));
  EXPECT_EQ(*wal->append("more"), 51u);
}

TEST_F(WalTest, OpenMakesWhatItReadsDurableBeforeTreatingItSo) {
  {
    // Written (the process died before the group's fsync returned): in the page cache only.
    auto wal = open(options(1024));
    for (std::uint64_t i = 1; i <= 30; ++i) {
      append_n(*wal, i, i, 100);
      auto ticket = wal->begin_sync();
      ASSERT_TRUE(ticket.ok()) << ticket.error().message;
      ASSERT_TRUE(wal->finish_sync(*ticket, ok_status()).ok());  // no fsync ran
    }
    ASSERT_TRUE(wal->mark_persisted(10).ok());
  }
  // Reopened, every segment holding records above the checkpoint is synced before the log
  // counts them durable (the next open of a segment above the checkpoint included).
  auto syncs = std::make_shared<std::vector<int>>();
  WalOptions opts = options(1024);
  opts.datasync = std::make_shared<const std::function<int(int)>>([syncs](int fd) {
    syncs->push_back(fd);
    return ::fdatasync(fd);
  });
  const auto holding = segments().size();
  auto wal = open(opts);
  ASSERT_TRUE(wal);
  EXPECT_EQ(wal->recovery().replay_records, 20u);
  EXPECT_GE(syncs->size(), 1u);
  EXPECT_LE(syncs->size(), holding);
  EXPECT_EQ(wal->stats().last_synced_lsn, 30u);
  // A failing sync at open fails the open: nothing unsynced is taken for durable.
  wal.reset();
  opts.datasync = std::make_shared<const std::function<int(int)>>([](int) {
    errno = EIO;
    return -1;
  });
  auto failed = Wal::open(opts);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message.find("fdatasync"), std::string::npos) << failed.error().message;
}

TEST_F(WalTest, LongRunsCheckpointAndReadAtArbitraryPositions) {
  // Enough records, in groups of uneven size across many segments, that the remembered
  // positions are thinned out several times; every checkpoint and read lands mid-group.
  constexpr std::uint64_t kTotal = 200'000;
  auto wal = open(options(256u << 10));
  std::uint64_t next = 1;
  std::uint64_t group = 1;
  while (next <= kTotal) {
    const std::uint64_t last = std::min(kTotal, next + group * 37 % 1500);
    append_n(*wal, next, last, 24);
    ASSERT_TRUE(wal->sync().ok());
    next = last + 1;
    ++group;
  }
  for (std::uint64_t mark :
       {1ull, 63ull, 64ull, 65ull, 4'097ull, 65'600ull, 131'071ull, 199'999ull}) {
    ASSERT_TRUE(wal->mark_persisted(mark).ok()) << mark;
    EXPECT_EQ(wal->stats().backlog_records, kTotal - mark);
    EXPECT_EQ(wal->stats().unpersisted_bytes, (kTotal - mark) * (kFrame + 24)) << mark;
    auto read = wal->read_from(mark + 1, 3, 1 << 20);
    ASSERT_TRUE(read.ok()) << read.error().message;
    expect_records(*read, mark + 1, std::min(mark + 3, kTotal), 24);
  }
  auto reopened_from = wal->persisted_lsn();
  wal.reset();
  wal = open(options(256u << 10));
  expect_records(replay_all(*wal), reopened_from + 1, kTotal, 24);
}

TEST_F(WalTest, AppendsContinueWhileASyncIsInFlight) {
  // The persister writes a group, fsyncs it elsewhere and keeps appending meanwhile; full
  // segments rotate with frames waiting in the buffer.
  constexpr std::uint64_t kTotal = 300;
  {
    auto wal = open(options(512));
    std::optional<WalSyncTicket> ticket;
    std::uint64_t acknowledged = 0;
    for (std::uint64_t i = 1; i <= kTotal; ++i) {
      append_n(*wal, i, i, 40);
      if (i % 7 != 0) continue;
      if (ticket) {
        const Status ran = ticket->run();
        auto synced = wal->finish_sync(*ticket, ran);
        ASSERT_TRUE(synced.ok()) << synced.error().message;
        EXPECT_EQ(*synced, ticket->lsn());
        acknowledged = *synced;
        // Only durable records are readable, even with later ones written or buffered.
        auto read = wal->read_from(1, 1000, 1 << 20);
        ASSERT_TRUE(read.ok()) << read.error().message;
        expect_records(*read, 1, acknowledged, 40);
      }
      auto next = wal->begin_sync();
      ASSERT_TRUE(next.ok()) << next.error().message;
      EXPECT_EQ(next->lsn(), i);
      ticket = std::move(*next);
    }
    ASSERT_TRUE(wal->finish_sync(*ticket, ticket->run()).ok());
    ASSERT_TRUE(wal->sync().ok());
    EXPECT_EQ(wal->synced_lsn(), kTotal);
    EXPECT_GT(segments().size(), 10u);
    ASSERT_TRUE(wal->mark_persisted(100).ok());
    auto read = wal->read_from(101, 5, 1 << 20);
    ASSERT_TRUE(read.ok());
    expect_records(*read, 101, 105, 40);
  }
  auto wal = open(options(512));
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  expect_records(replay_all(*wal), 101, kTotal, 40);
  // Every segment starts where its name says: the n-th frame has LSN start + n.
  for (const auto& path : segments()) {
    const auto start = std::stoull(path.filename().string().substr(4, 20));
    if (start <= 100) continue;  // the first one also holds persisted records
    auto first = wal->read_from(start, 1, 1 << 20);
    ASSERT_TRUE(first.ok());
    ASSERT_FALSE(first->empty());
    EXPECT_EQ(first->front().lsn, start);
    EXPECT_EQ(first->front().payload, payload_of(start, 40));
  }
}

TEST_F(WalTest, TwoSyncsMayOverlapWithinASegmentAndFinishInOrder) {
  {
    auto wal = open();
    append_n(*wal, 1, 3);
    auto first = wal->begin_sync();
    ASSERT_TRUE(first.ok()) << first.error().message;
    append_n(*wal, 4, 6);
    EXPECT_TRUE(wal->can_begin_sync());
    auto second = wal->begin_sync();
    ASSERT_TRUE(second.ok()) << second.error().message;
    EXPECT_EQ(second->lsn(), 6u);
    EXPECT_EQ(wal->syncs_in_flight(), 2u);
    append_n(*wal, 7, 7);
    EXPECT_FALSE(wal->can_begin_sync());  // two in flight at most
    EXPECT_FALSE(wal->begin_sync().ok());
    EXPECT_FALSE(wal->sync().ok());
    // The second fsync may return first; the log hears of both in order.
    const Status second_ran = second->run();
    const Status first_ran = first->run();
    auto one = wal->finish_sync(*first, first_ran);
    ASSERT_TRUE(one.ok()) << one.error().message;
    EXPECT_EQ(*one, 3u);
    auto read = wal->read_from(1, 100, 1 << 20);
    ASSERT_TRUE(read.ok());
    expect_records(*read, 1, 3);  // only durable records are read
    auto two = wal->finish_sync(*second, second_ran);
    ASSERT_TRUE(two.ok()) << two.error().message;
    EXPECT_EQ(*two, 6u);
    auto all = wal->sync();
    ASSERT_TRUE(all.ok()) << all.error().message;
    EXPECT_EQ(*all, 7u);
  }
  auto wal = open();
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  expect_records(replay_all(*wal), 1, 7);
}

TEST_F(WalTest, AGroupThatStartsASegmentWaitsForTheOneInFlight) {
  {
    auto wal = open(options(512));
    append_n(*wal, 1, 12, 40);  // 12 frames of 48 bytes fill a 512-byte segment
    auto first = wal->begin_sync();
    ASSERT_TRUE(first.ok()) << first.error().message;
    append_n(*wal, 13, 14, 40);
    EXPECT_FALSE(wal->can_begin_sync());
    EXPECT_FALSE(wal->begin_sync().ok());
    ASSERT_TRUE(wal->finish_sync(*first, first->run()).ok());
    EXPECT_TRUE(wal->can_begin_sync());
    auto second = wal->begin_sync();
    ASSERT_TRUE(second.ok()) << second.error().message;
    ASSERT_TRUE(wal->finish_sync(*second, second->run()).ok());
    EXPECT_EQ(segments().size(), 2u);
  }
  auto wal = open(options(512));
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  expect_records(replay_all(*wal), 1, 14, 40);
}

TEST_F(WalTest, AFailedSyncFailsTheOneInFlightAfterIt) {
  auto wal = open();
  std::optional<WalSyncTicket> first;
  std::optional<WalSyncTicket> second;
  ASSERT_NO_FATAL_FAILURE(begin_two_groups(*wal, first, second));
  ASSERT_TRUE(second->run().ok());
  EXPECT_FALSE(wal->finish_sync(*first, Error::unavailable("disk gone")).ok());
  // The later group's own fsync succeeded, but the frames before it are not durable.
  EXPECT_FALSE(wal->finish_sync(*second, ok_status()).ok());
  EXPECT_EQ(wal->synced_lsn(), 0u);
  EXPECT_FALSE(wal->append("more").ok());
}

TEST_F(WalTest, AGroupInFlightStaysDurableWhenWritingTheNextOneFails) {
  auto wal = open();
  append_n(*wal, 1, 3);
  auto first = wal->begin_sync();
  ASSERT_TRUE(first.ok()) << first.error().message;
  append_n(*wal, 4, 5);
  // The next group's write fails: no byte may go past the segment's current end.
  const auto size = fs::file_size(segments().back());
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit capped = saved;
  capped.rlim_cur = static_cast<rlim_t>(size);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &capped), 0);
  auto second = wal->begin_sync();
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  ASSERT_FALSE(second.ok());
  EXPECT_FALSE(wal->append("more").ok());  // the log has failed

  // The group in flight was written before: its fsync makes it durable all the same.
  EXPECT_FALSE(wal->finish_sync(*first, first->run()).ok());
  EXPECT_EQ(wal->synced_lsn(), 3u);
  auto read = wal->read_from(1, 100, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.error().message;
  expect_records(*read, 1, 3);
  wal.reset();
  auto reopened = open();
  expect_records(replay_all(*reopened), 1, 3);
}

TEST_F(WalTest, SyncsFinishedOutOfOrderFailTheLog) {
  auto wal = open();
  std::optional<WalSyncTicket> first;
  std::optional<WalSyncTicket> second;
  ASSERT_NO_FATAL_FAILURE(begin_two_groups(*wal, first, second));
  EXPECT_FALSE(wal->finish_sync(*second, second->run()).ok());
  EXPECT_EQ(wal->synced_lsn(), 0u);
  EXPECT_FALSE(wal->append("more").ok());
}

TEST_F(WalTest, AFailedGroupFsyncFailsTheLog) {
  auto wal = open();
  append_n(*wal, 1, 3);
  auto ticket = wal->begin_sync();
  ASSERT_TRUE(ticket.ok());
  auto finished = wal->finish_sync(*ticket, Error::unavailable("disk gone"));
  ASSERT_FALSE(finished.ok());
  EXPECT_EQ(wal->synced_lsn(), 0u);
  EXPECT_FALSE(wal->append("more").ok());
  EXPECT_FALSE(wal->sync().ok());
}

TEST_F(WalTest, MarkPersistedBeyondSyncedIsRejected) {
  auto wal = open();
  append_n(*wal, 1, 5);
  auto st = wal->mark_persisted(1);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::invalid_argument);
  ASSERT_TRUE(wal->sync().ok());
  EXPECT_TRUE(wal->mark_persisted(5).ok());
  EXPECT_FALSE(wal->mark_persisted(6).ok());
}

TEST_F(WalTest, LsnsContinueAfterEverySegmentWasDeleted) {
  {
    auto wal = open(options(64));  // every record fills a segment
    for (std::uint64_t i = 1; i <= 3; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
    ASSERT_EQ(segments().size(), 3u);
    ASSERT_TRUE(wal->mark_persisted(3).ok());
    EXPECT_TRUE(segments().empty());
    EXPECT_EQ(spares().size(), 2u);  // kept for reuse; the third is deleted
    EXPECT_EQ(wal->stats().bytes_on_disk, disk_bytes());
  }
  auto wal = open(options(64));
  EXPECT_TRUE(replay_all(*wal).empty());
  EXPECT_EQ(*wal->append("after"), 4u);
  ASSERT_TRUE(wal->sync().ok());
  ASSERT_EQ(segments().size(), 1u);
  EXPECT_EQ(segments()[0].filename().string(), "wal-00000000000000000004.log");
}

// A checkpoint that could not be written (a full disk) gives back a spare segment's blocks,
// so that the next one can be; the log goes on as before.
TEST_F(WalTest, AFailedCheckpointGivesBackASpare) {
  auto wal = open(options(64));  // every record fills a segment
  for (std::uint64_t i = 1; i <= 4; ++i) {
    append_n(*wal, i, i, 100);
    ASSERT_TRUE(wal->sync().ok());
  }
  ASSERT_TRUE(wal->mark_persisted(2).ok());
  ASSERT_EQ(spares().size(), 2u);
  auto ticket = wal->begin_checkpoint(3);
  ASSERT_TRUE(ticket.ok()) << ticket.error().message;
  EXPECT_FALSE(wal->finish_checkpoint(*ticket, Error::unavailable("no space left")).ok());
  EXPECT_EQ(spares().size(), 1u);
  EXPECT_EQ(wal->stats().bytes_on_disk, disk_bytes());
  ASSERT_TRUE(wal->mark_persisted(3).ok());
  EXPECT_EQ(*wal->append("after"), 5u);
  ASSERT_TRUE(wal->sync().ok());
  EXPECT_EQ(replay_all(*wal).size(), 2u);
}

TEST_F(WalTest, RotatesSegmentsAtConfiguredSize) {
  const std::uint64_t segment_bytes = 1000;
  auto wal = open(options(segment_bytes));
  for (std::uint64_t i = 1; i <= 60; ++i) {
    append_n(*wal, i, i, 100);
    ASSERT_TRUE(wal->sync().ok());
  }
  // Each segment takes records until it reaches 1000 bytes: header + 9 frames of 108.
  const auto files = segments();
  ASSERT_EQ(files.size(), 6u);
  EXPECT_EQ(wal->stats().segment_count, 6u);
  std::uint64_t expected_start = 1;
  std::uint64_t total = 0;
  for (const auto& f : files) {
    EXPECT_EQ(f.filename().string(),
              "wal-" + std::string(20 - std::to_string(expected_start).size(), '0') +
                  std::to_string(expected_start) + ".log");
    const auto size = fs::file_size(f);
    total += size;
    EXPECT_LE(size, segment_bytes + kFrame + 100);
    expected_start += (size - kHeader) / (kFrame + 100);
  }
  EXPECT_EQ(expected_start, 61u);
  EXPECT_EQ(wal->stats().bytes_on_disk, total);
  wal.reset();
  auto reopened = open(options(segment_bytes));
  expect_records(replay_all(*reopened), 1, 60, 100);
}

TEST_F(WalTest, ByteCapAnswersOverloaded) {
  // Frames of 108 bytes: nine fit under 1000.
  auto wal = open(options(16u << 20, 1000));
  append_n(*wal, 1, 9, 100);
  auto refused = wal->append(payload_of(10, 100));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().kind, ErrorKind::overloaded);
  EXPECT_EQ(wal->last_lsn(), 9u);
  EXPECT_EQ(wal->stats().unpersisted_bytes, 9 * (kFrame + 100));
  ASSERT_TRUE(wal->sync().ok());
  EXPECT_FALSE(wal->append(payload_of(10, 100)).ok());
  ASSERT_TRUE(wal->mark_persisted(3).ok());
  append_n(*wal, 10, 12, 100);
  EXPECT_FALSE(wal->append(payload_of(13, 100)).ok());

  auto too_big = wal->append(std::string(2000, 'x'));
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.error().kind, ErrorKind::invalid_argument);
}

TEST_F(WalTest, TornTailAtEveryByteOffsetIsDropped) {
  // Four records, then the fifth cut at every byte of its frame.
  const std::uint64_t good_end = kHeader + 4 * (kFrame + 20);
  const std::uint64_t full_end = good_end + kFrame + 20;
  for (std::uint64_t cut = good_end; cut < full_end; ++cut) {
    SCOPED_TRACE(cut);
    fs::remove_all(dir_);
    {
      auto wal = open();
      append_n(*wal, 1, 5);
      ASSERT_TRUE(wal->sync().ok());
    }
    const auto files = segments();
    ASSERT_EQ(files.size(), 1u);
    ASSERT_EQ(fs::file_size(files[0]), full_end);
    fs::resize_file(files[0], cut);
    {
      auto wal = open();
      ASSERT_TRUE(wal);
      EXPECT_EQ(wal->recovery().torn_bytes_dropped, cut - good_end);
      EXPECT_TRUE(wal->recovery().corruptions.empty());
      EXPECT_EQ(fs::file_size(files[0]), good_end);
      expect_records(replay_all(*wal), 1, 4);
      auto lsn = wal->append(payload_of(5));
      ASSERT_TRUE(lsn.ok());
      EXPECT_EQ(*lsn, 5u);
      append_n(*wal, 6, 6);
      ASSERT_TRUE(wal->sync().ok());
    }
    auto wal = open();
    expect_records(replay_all(*wal), 1, 6);
  }
}

TEST_F(WalTest, CorruptTailBytesAreDropped) {
  // Flip one byte in each part of the third of five frames: length, crc, payload.
  const std::uint64_t third = kHeader + 2 * (kFrame + 20);
  for (std::uint64_t at : {third + 1, third + 5, third + kFrame, third + kFrame + 19}) {
    SCOPED_TRACE(at);
    fs::remove_all(dir_);
    {
      auto wal = open();
      append_n(*wal, 1, 5);
      ASSERT_TRUE(wal->sync().ok());
    }
    const fs::path file = segments().at(0);
    std::string bytes = read_bytes(file);
    bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
    write_bytes(file, bytes);
    auto wal = open();
    ASSERT_TRUE(wal);
    expect_records(replay_all(*wal), 1, 2);
    EXPECT_EQ(fs::file_size(file), third);
    EXPECT_EQ(*wal->append(payload_of(3)), 3u);
  }
}

TEST_F(WalTest, ZeroFilledTailIsDropped) {
  {
    auto wal = open();
    append_n(*wal, 1, 3);
    ASSERT_TRUE(wal->sync().ok());
  }
  const fs::path file = segments().at(0);
  const auto good = fs::file_size(file);
  write_bytes(file, read_bytes(file) + std::string(4096, '\0'));
  auto wal = open();
  EXPECT_EQ(wal->recovery().torn_bytes_dropped, 4096u);
  EXPECT_EQ(fs::file_size(file), good);
  expect_records(replay_all(*wal), 1, 3);
}

TEST_F(WalTest, TornHeaderOfTheLastSegmentRemovesIt) {
  {
    auto wal = open(options(64));
    for (std::uint64_t i = 1; i <= 3; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
  }
  const auto files = segments();
  ASSERT_EQ(files.size(), 3u);
  fs::resize_file(files[2], 10);
  auto wal = open(options(64));
  EXPECT_TRUE(wal->recovery().torn_segment_removed);
  EXPECT_EQ(segments().size(), 2u);
  expect_records(replay_all(*wal), 1, 2, 100);
  // Numbering goes on from the removed segment's first LSN: nothing in it was acknowledged
  // (its header never synced), and the sequence keeps no gap.
  EXPECT_EQ(*wal->append("x"), 3u);
}

TEST_F(WalTest, CorruptionInAnOlderSegmentIsReportedAndSkipped) {
  {
    auto wal = open(options(400));  // four 108-byte frames take a segment past 400
    for (std::uint64_t i = 1; i <= 12; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
  }
  const auto files = segments();
  ASSERT_EQ(files.size(), 3u);  // LSNs 1-4, 5-8, 9-12
  std::string bytes = read_bytes(files[1]);
  const std::size_t second_frame = kHeader + (kFrame + 100) + kFrame + 50;
  bytes[second_frame] = static_cast<char>(bytes[second_frame] ^ 1);
  write_bytes(files[1], bytes);

  auto wal = open(options(400));
  ASSERT_TRUE(wal);
  ASSERT_EQ(wal->recovery().corruptions.size(), 1u);
  const WalCorruption& c = wal->recovery().corruptions[0];
  EXPECT_EQ(c.segment, files[1].filename().string());
  EXPECT_EQ(c.offset, kHeader + kFrame + 100);
  EXPECT_EQ(c.first_lost_lsn, 6u);
  EXPECT_EQ(c.last_lost_lsn, 8u);
  EXPECT_EQ(fs::file_size(files[1]), bytes.size());  // evidence is kept, not truncated
  const auto records = replay_all(*wal);
  std::vector<std::uint64_t> lsns;
  for (const auto& r : records) lsns.push_back(r.lsn);
  EXPECT_EQ(lsns, (std::vector<std::uint64_t>{1, 2, 3, 4, 5, 9, 10, 11, 12}));
  EXPECT_EQ(*wal->append(payload_of(13, 100)), 13u);
  ASSERT_TRUE(wal->sync().ok());
  ASSERT_TRUE(wal->mark_persisted(9).ok());
  EXPECT_EQ(segments().size(), 2u);  // 9-12 and the new 13-
  EXPECT_FALSE(fs::exists(files[1]));
}

TEST_F(WalTest, BadHeaderInAnOlderSegmentIsReported) {
  {
    auto wal = open(options(64));
    for (std::uint64_t i = 1; i <= 3; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
  }
  const auto files = segments();
  std::string bytes = read_bytes(files[1]);
  bytes[0] = 'X';
  write_bytes(files[1], bytes);
  auto wal = open(options(64));
  ASSERT_EQ(wal->recovery().corruptions.size(), 1u);
  EXPECT_EQ(wal->recovery().corruptions[0].first_lost_lsn, 2u);
  EXPECT_EQ(wal->recovery().corruptions[0].last_lost_lsn, 2u);
  const auto records = replay_all(*wal);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].lsn, 1u);
  EXPECT_EQ(records[1].lsn, 3u);
}

TEST_F(WalTest, CorruptCheckpointReplaysEverythingStillLogged) {
  {
    auto wal = open();
    append_n(*wal, 1, 5);
    ASSERT_TRUE(wal->sync().ok());
    ASSERT_TRUE(wal->mark_persisted(3).ok());
  }
  std::string bytes = read_bytes(dir_ / "checkpoint");
  ASSERT_EQ(bytes.size(), 20u);
  bytes[9] ^= 1;
  write_bytes(dir_ / "checkpoint", bytes);
  auto wal = open();
  EXPECT_TRUE(wal->recovery().checkpoint_corrupt);
  expect_records(replay_all(*wal), 1, 5);
  EXPECT_EQ(*wal->append("x"), 6u);
}

TEST_F(WalTest, SecondOpenOfTheSameDirectoryFails) {
  auto wal = open();
  auto second = Wal::open(options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().kind, ErrorKind::unavailable);
  wal.reset();
  EXPECT_TRUE(Wal::open(options()).ok());
}

TEST_F(WalTest, StatsTrackBacklogAndSync) {
  auto wal = open();
  append_n(*wal, 1, 4, 92);  // 100-byte frames
  WalStats s = wal->stats();
  EXPECT_EQ(s.last_lsn, 4u);
  EXPECT_EQ(s.last_synced_lsn, 0u);
  EXPECT_EQ(s.backlog_records, 4u);
  EXPECT_EQ(s.buffered_bytes, 400u);
  EXPECT_EQ(s.unpersisted_bytes, 400u);
  EXPECT_EQ(s.segment_count, 1u);
  ASSERT_TRUE(wal->sync().ok());
  s = wal->stats();
  EXPECT_EQ(s.last_synced_lsn, 4u);
  EXPECT_EQ(s.buffered_bytes, 0u);
  EXPECT_EQ(s.bytes_on_disk, kHeader + 400);
  ASSERT_TRUE(wal->mark_persisted(3).ok());
  s = wal->stats();
  EXPECT_EQ(s.backlog_records, 1u);
  EXPECT_EQ(s.unpersisted_bytes, 100u);
  EXPECT_EQ(s.persisted_lsn, 3u);
}

TEST_F(WalTest, SplitCheckpointLetsTheLogGoOnMeanwhile) {
  const auto opts = options(1000);  // ten 108-byte frames a segment
  {
    auto wal = open(opts);
    for (std::uint64_t i = 1; i <= 30; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
    auto older = wal->begin_checkpoint(12);
    auto ticket = wal->begin_checkpoint(25);
    ASSERT_TRUE(older.ok() && ticket.ok());
    EXPECT_FALSE(wal->begin_checkpoint(31).ok());  // not synced
    // The log goes on while the checkpoint is written elsewhere.
    append_n(*wal, 31, 35, 100);
    ASSERT_TRUE(wal->sync().ok());
    EXPECT_EQ(wal->persisted_lsn(), 0u);
    // A failed write changes nothing.
    EXPECT_FALSE(wal->finish_checkpoint(*ticket, Error::unavailable("disk")).ok());
    EXPECT_EQ(wal->persisted_lsn(), 0u);
    EXPECT_EQ(segments().size(), 4u);

    ASSERT_TRUE(ticket->run().ok());
    ASSERT_TRUE(wal->finish_checkpoint(*ticket, ok_status()).ok());
    EXPECT_EQ(wal->persisted_lsn(), 25u);
    EXPECT_EQ(segments().size(), 2u);  // 21-30 and 31-35
    EXPECT_EQ(wal->stats().unpersisted_bytes, 10 * (kFrame + 100));
    // The older ticket finishing late moves nothing back.
    ASSERT_TRUE(wal->finish_checkpoint(*older, ok_status()).ok());
    EXPECT_EQ(wal->persisted_lsn(), 25u);
    expect_records(*wal->read_from(1, 100, 1u << 20), 26, 35, 100);
  }
  write_bytes(dir_ / "checkpoint.tmp-7", "cut short");
  auto wal = open(opts);
  EXPECT_EQ(wal->recovery().checkpoint_lsn, 25u);
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint.tmp-7"));
  expect_records(replay_all(*wal), 26, 35, 100);
}

TEST_F(WalTest, ReusedSegmentsNeverYieldTheirOldFrames) {
  // 100-byte payloads: ten 108-byte frames fill a 1000-byte segment, and the new frames
  // line up with the old ones, so a reused file holds whole old frames right after the last
  // new one. They were written under another start LSN and must not read as records.
  const auto opts = options(1000);
  const fs::path image = dir_.string() + "-image";
  {
    auto wal = open(opts);
    for (std::uint64_t i = 1; i <= 30; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
    ASSERT_EQ(segments().size(), 3u);  // 1-10, 11-20, 21-30
    ASSERT_TRUE(wal->mark_persisted(25).ok());
    ASSERT_EQ(spares().size(), 2u);
    ASSERT_EQ(segments().size(), 1u);
    // Two more segments, both made from the spares, the first filled, the second one not.
    for (std::uint64_t i = 31; i <= 48; ++i) {
      append_n(*wal, i, i, 100);
      ASSERT_TRUE(wal->sync().ok());
    }
    EXPECT_TRUE(spares().empty());
    ASSERT_EQ(segments().size(), 3u);
    EXPECT_EQ(fs::file_size(segments()[2]), fs::file_size(segments()[1]));  // old bytes kept
    EXPECT_EQ(wal->stats().bytes_on_disk, disk_bytes());
    expect_records(*wal->read_from(26, 100, 1u << 20), 26, 48, 100);

    // What a crash leaves: everything synced, the old tail still there.
    fs::copy(dir_, image);
  }
  {
    auto crashed = Wal::open(WalOptions{image.string(), 1000, 1ull << 30, nullptr});
    ASSERT_TRUE(crashed.ok()) << crashed.error().message;
    EXPECT_TRUE((*crashed)->recovery().corruptions.empty());
    EXPECT_GT((*crashed)->recovery().torn_bytes_dropped, 0u);  // the old bytes are cut off
    expect_records(replay_all(**crashed), 26, 48, 100);
    EXPECT_EQ(*(*crashed)->append(payload_of(49, 100)), 49u);
  }
  fs::remove_all(image);
  // A clean close cut the old bytes off itself.
  auto wal = open(opts);
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  EXPECT_EQ(wal->recovery().torn_bytes_dropped, 0u);
  expect_records(replay_all(*wal), 26, 48, 100);
}

TEST_F(WalTest, ReadsAndAppendsToVersionOneSegments) {
  // Version 1: the same layout with unseeded frame CRCs.
  auto le32 = [](std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  };
  std::string bytes("FCWALSEG");
  le32(bytes, 1);
  le32(bytes, 1);  // start LSN 1, as two little-endian halves
  le32(bytes, 0);
  le32(bytes, crc32c(bytes));
  for (std::uint64_t i = 1; i <= 3; ++i) {
    const std::string payload = payload_of(i);
    std::string length;
    le32(length, static_cast<std::uint32_t>(payload.size()));
    bytes += length;
    le32(bytes, crc32c(payload, crc32c(length)));
    bytes += payload;
  }
  write_bytes(dir_ / "wal-00000000000000000001.log", bytes);
  {
    auto wal = open();
    EXPECT_TRUE(wal->recovery().corruptions.empty());
    EXPECT_EQ(wal->recovery().torn_bytes_dropped, 0u);
    expect_records(replay_all(*wal), 1, 3);
    append_n(*wal, 4, 5);
    ASSERT_TRUE(wal->sync().ok());
  }
  auto wal = open();
  EXPECT_TRUE(wal->recovery().corruptions.empty());
  expect_records(replay_all(*wal), 1, 5);
}

TEST_F(WalTest, IgnoresUnrelatedFilesAndStaleTemporaries) {
  write_bytes(dir_ / "README", "not a segment");
  write_bytes(dir_ / "checkpoint.tmp", "half written");
  write_bytes(dir_ / "wal-123.log", "bad name");
  auto wal = open();
  ASSERT_TRUE(wal);
  EXPECT_FALSE(fs::exists(dir_ / "checkpoint.tmp"));
  EXPECT_TRUE(fs::exists(dir_ / "README"));
  EXPECT_EQ(*wal->append("x"), 1u);
}

TEST_F(WalTest, CreatesAMissingDirectory) {
  const WalOptions opts{(dir_ / "a" / "b").string(), 16u << 20, 1u << 20, nullptr};
  auto wal = Wal::open(opts);
  ASSERT_TRUE(wal.ok());
  EXPECT_TRUE(fs::is_directory(dir_ / "a" / "b"));
  EXPECT_FALSE(Wal::open(WalOptions{}).ok());
}

}  // namespace
}  // namespace failcat
