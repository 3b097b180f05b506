#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

namespace failcat {

/// Work that finishes out of order, released in the order it started: an item is released once
/// it and every item started before it have finished successfully, by whichever call to
/// `finish` completes that prefix. After an item fails nothing is released any more (the items
/// after it depended on it). Thread-safe; `release` runs under the lock, in start order.
///
/// The persister uses it for group commit with two fsyncs in flight: a later group's frames
/// follow the earlier one's in the log, so its callers may hear only once both are durable.
template <typename Item>
class InOrderRelease {
 public:
  explicit InOrderRelease(std::function<void(Item&)> release) : release_(std::move(release)) {}

  /// The next item, in start order.
  void start(std::shared_ptr<Item> item) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failed_) return;
    queue_.push_back(Entry{std::move(item), false, false});
  }

  /// `item` finished (`ok`): releases every item now due. Unknown items (started after a
  /// failure) are ignored.
  void finish(const Item* item, bool ok) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = std::find_if(queue_.begin(), queue_.end(),
                           [&](const Entry& e) { return e.item.get() == item; });
    if (it == queue_.end()) return;
    it->finished = true;
    it->ok = ok;
    while (!queue_.empty() && queue_.front().finished) {
      Entry front = std::move(queue_.front());
      queue_.pop_front();
      if (!front.ok) {
        fail_locked();
        return;
      }
      release_(*front.item);
    }
  }

  /// Nothing more is released (an item will never finish).
  void fail() {
    std::lock_guard<std::mutex> lock(mutex_);
    fail_locked();
  }

  bool failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return failed_;
  }

 private:
  struct Entry {
    std::shared_ptr<Item> item;
    bool finished;
    bool ok;
  };

  void fail_locked() {
    failed_ = true;
    queue_.clear();
  }

  std::function<void(Item&)> release_;
  mutable std::mutex mutex_;
  std::deque<Entry> queue_;
  bool failed_ = false;
};

}  // namespace failcat
