#include "core/failure.hpp"

#include <tuple>

namespace failcat {
namespace {

auto tie_columns(const FailureRecord& r) {
  return std::tie(r.id, r.run_id, r.tenant_id, r.error_code, r.error_message, r.catalog_entry_id,
                  r.match_type, r.match_confidence, r.category, r.severity, r.is_retryable,
                  r.recovery_mode, r.recovery_suggestion, r.recovery_attempted,
                  r.recovery_succeeded, r.recovered_at, r.recovered_by, r.recovery_notes,
                  r.skill_id, r.step_index, r.context_json, r.created_at, r.updated_at);
}

}  // namespace

bool FailureRecord::operator==(const FailureRecord& other) const {
  return tie_columns(*this) == tie_columns(other);
}

std::string record_etag(const FailureRecord& record) {
  return "\"" + std::to_string(record.updated_at) + "\"";
}

}  // namespace failcat
