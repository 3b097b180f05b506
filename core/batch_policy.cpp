#include "core/batch_policy.hpp"

#include <algorithm>

namespace failcat {

BatchPolicy::BatchPolicy(const Clock& clock, BatchPolicyConfig config)
    : clock_(clock), config_(config) {
  config_.max_rows = std::max<std::size_t>(config_.max_rows, 1);
  config_.max_bytes = std::max<std::size_t>(config_.max_bytes, 1);
  config_.max_age = std::max<Micros>(config_.max_age, 0);
}

void BatchPolicy::on_add(std::size_t bytes) {
  on_add(1, bytes);
}

void BatchPolicy::on_add(std::size_t rows, std::size_t bytes) {
  if (rows == 0) return;
  if (rows_ == 0) oldest_ = clock_.steady();
  rows_ += rows;
  bytes_ += bytes;
}

bool BatchPolicy::should_flush(Micros now) const {
  if (rows_ == 0) return false;
  return rows_ >= config_.max_rows || bytes_ >= config_.max_bytes ||
         now - oldest_ >= config_.max_age;
}

std::optional<Micros> BatchPolicy::next_deadline() const {
  if (rows_ == 0) return std::nullopt;
  return oldest_ + config_.max_age;
}

void BatchPolicy::on_flush() {
  rows_ = 0;
  bytes_ = 0;
  oldest_ = 0;
}

void BatchPolicy::on_flush(std::size_t rows, std::size_t bytes) {
  if (rows >= rows_) {
    on_flush();
    return;
  }
  rows_ -= rows;
  bytes_ -= std::min(bytes, bytes_);
}

}  // namespace failcat
