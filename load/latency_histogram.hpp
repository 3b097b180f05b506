#pragma once

#include <cstdint>
#include <vector>

namespace failcat::load {

/// A latency histogram with HdrHistogram-style log-linear buckets: exact below 256 ns, then 128
/// sub-buckets per power of two (relative error below 0.8 %), up to about 2^44 ns (4.8 hours).
/// Recording is a few instructions and never allocates; merge per-thread copies at the end.
class LatencyHistogram {
 public:
  LatencyHistogram();

  /// Records one value in nanoseconds (clamped to the covered range).
  void record(std::uint64_t nanos);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  std::uint64_t max() const { return max_; }
  std::uint64_t min() const { return count_ == 0 ? 0 : min_; }
  double mean() const { return count_ == 0 ? 0.0 : static_cast<double>(sum_) / count_; }
  /// The smallest recorded value v such that at least `q` (0..1) of the values are <= v, given
  /// as the upper edge of its bucket (never below the true quantile); 0 when empty.
  std::uint64_t quantile(double q) const;

 private:
  static std::size_t index_of(std::uint64_t v);
  static std::uint64_t upper_edge(std::size_t index);

  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
};

}  // namespace failcat::load
