#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/failure_query.hpp"

namespace failcat {

/// A group of unmatched failures of one error code, as a store counts it: `count` failures
/// (one message, or variants of one), of which `sample_count` carry `error_message` exactly.
struct UnmatchedMessageCount {
  std::string error_code;
  std::string error_message;
  std::int64_t count = 0;
  std::int64_t sample_count = 0;  ///< 0: `count` (the group is this one message).
};

/// Regroups unmatched messages by `message_signature`, so messages that differ only in
/// numbers, ids or hex group together. Each signature reports its total count, its most
/// frequent error code and a message of it: the one most frequent under a single error code
/// (the stores count each message per code; ties: the smallest, by bytes). Failures
/// without a message group by error code (several entries with an empty signature). Sorted by count
/// (descending), then signature, then code; at most `top_n`.
std::vector<UnmatchedSignature> group_unmatched(const std::vector<UnmatchedMessageCount>& rows,
                                                std::size_t top_n);

}  // namespace failcat
