#pragma once

#include <cstddef>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/failure.hpp"

namespace failcat {

/// Recent ingests by (tenant, idempotency key), so a retry gets the first answer without a
/// database round trip. Bounded (least recently used entries leave first); the store's
/// `failure_idempotency` table answers for anything older. Thread-safe.
class IdempotencyCache {
 public:
  explicit IdempotencyCache(std::size_t capacity = 100'000) : capacity_(capacity) {}

  std::optional<FailureRecord> find(const std::string& tenant_id, const std::string& key);

  /// Records `record` under its tenant and key unless the key is already taken; returns the
  /// record that owns the key afterwards (the existing one when taken).
  FailureRecord insert_if_absent(const FailureRecord& record);

  /// Forgets a key (its failure was not accepted after all).
  void erase(const std::string& tenant_id, const std::string& key);
  /// Forgets `record`'s key if it still names `record` (the failure is lost: dropped or set
  /// aside), so that a retry is not answered with a failure that is in no table.
  void erase_owner(const FailureRecord& record);

  std::size_t size() const;

 private:
  static std::string slot(const std::string& tenant_id, const std::string& key) {
    return tenant_id + '\n' + key;
  }

  using Lru = std::list<std::pair<std::string, FailureRecord>>;
  mutable std::mutex mutex_;
  std::size_t capacity_;
  Lru lru_;  ///< Most recent first.
  std::unordered_map<std::string, Lru::iterator> index_;
};

}  // namespace failcat
