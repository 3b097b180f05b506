#include "core/idempotency_cache.hpp"

namespace failcat {

std::optional<FailureRecord> IdempotencyCache::find(const std::string& tenant_id,
                                                    const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = index_.find(slot(tenant_id, key));
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

FailureRecord IdempotencyCache::insert_if_absent(const FailureRecord& record) {
  if (!record.idempotency_key) return record;
  auto name = slot(record.tenant_id, *record.idempotency_key);
  std::lock_guard<std::mutex> lock(mutex_);
  if (const auto it = index_.find(name); it != index_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second);
    return it->second->second;
  }
  lru_.emplace_front(name, record);
  index_.emplace(std::move(name), lru_.begin());
  while (index_.size() > capacity_ && !lru_.empty()) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
  return record;
}

void IdempotencyCache::erase(const std::string& tenant_id, const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = index_.find(slot(tenant_id, key));
  if (it == index_.end()) return;
  lru_.erase(it->second);
  index_.erase(it);
}

void IdempotencyCache::erase_owner(const FailureRecord& record) {
  if (!record.idempotency_key) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = index_.find(slot(record.tenant_id, *record.idempotency_key));
  if (it == index_.end() || it->second->second.id != record.id) return;
  lru_.erase(it->second);
  index_.erase(it);
}

std::size_t IdempotencyCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return index_.size();
}

}  // namespace failcat
