#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/failure_query.hpp"

namespace failcat {

/// One (error_code, error_message) group of unmatched failures, as a store counts it.
struct UnmatchedMessageCount {
  std::string error_code;
  std::string error_message;
  std::int64_t count = 0;
};

/// Regroups unmatched messages by `message_signature`, so messages that differ only in
/// numbers, ids or hex group together. Each signature reports its total count, its most
/// frequent error code and the message of its most frequent variant. Failures without a
/// message group by error code (several entries with an empty signature). Sorted by count
/// (descending), then signature, then code; at most `top_n`.
std::vector<UnmatchedSignature> group_unmatched(const std::vector<UnmatchedMessageCount>& rows,
                                                std::size_t top_n);

}  // namespace failcat
