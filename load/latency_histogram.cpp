#include "load/latency_histogram.hpp"

#include <algorithm>
#include <cmath>

namespace failcat::load {
namespace {

constexpr int kSubBits = 8;  // 256 linear slots in the first bucket, 128 per later power of two
constexpr std::uint64_t kSubCount = 1u << kSubBits;
constexpr std::uint64_t kHalf = kSubCount / 2;
constexpr int kMaxExponent = 44;
constexpr std::uint64_t kMaxValue = (1ull << kMaxExponent) - 1;
constexpr std::size_t kSlots = kSubCount + (kMaxExponent - kSubBits) * kHalf;

int msb(std::uint64_t v) {
  return 63 - __builtin_clzll(v);
}

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kSlots, 0) {}

std::size_t LatencyHistogram::index_of(std::uint64_t v) {
  if (v < kSubCount) return static_cast<std::size_t>(v);
  const int shift = msb(v) - (kSubBits - 1);  // >= 1
  const std::uint64_t sub = v >> shift;       // in [128, 256)
  return static_cast<std::size_t>(kSubCount + (shift - 1) * kHalf + (sub - kHalf));
}

std::uint64_t LatencyHistogram::upper_edge(std::size_t index) {
  if (index < kSubCount) return index;
  const std::uint64_t rel = index - kSubCount;
  const int shift = static_cast<int>(rel / kHalf) + 1;
  const std::uint64_t sub = rel % kHalf + kHalf;
  return ((sub + 1) << shift) - 1;
}

void LatencyHistogram::record(std::uint64_t nanos) {
  const std::uint64_t v = std::min(nanos, kMaxValue);
  ++counts_[index_of(v)];
  ++count_;
  sum_ += v;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

std::uint64_t LatencyHistogram::quantile(double q) const {
  if (count_ == 0) return 0;
  if (q >= 1.0) return max_;
  const auto rank = static_cast<std::uint64_t>(
      std::max(1.0, std::ceil(std::clamp(q, 0.0, 1.0) * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(upper_edge(i), max_);
  }
  return max_;
}

}  // namespace failcat::load
