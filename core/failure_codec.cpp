#include "core/failure_codec.hpp"

#include <cstring>
#include <limits>

namespace failcat {
namespace {

// Presence bits for the optional columns, then the three booleans.
enum Flag : std::uint32_t {
  kErrorMessage = 1u << 0,
  kCatalogEntryId = 1u << 1,
  kMatchType = 1u << 2,
  kMatchConfidence = 1u << 3,
  kCategory = 1u << 4,
  kSeverity = 1u << 5,
  kRecoveryMode = 1u << 6,
  kRecoverySuggestion = 1u << 7,
  kRecoveredAt = 1u << 8,
  kRecoveredBy = 1u << 9,
  kRecoveryNotes = 1u << 10,
  kSkillId = 1u << 11,
  kStepIndex = 1u << 12,
  kContextJson = 1u << 13,
  kIdempotencyKey = 1u << 14,
  kIsRetryable = 1u << 15,
  kRecoveryAttempted = 1u << 16,
  kRecoverySucceeded = 1u << 17,
};
constexpr std::uint32_t kKnownFlags = (1u << 18) - 1;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }

  void varint(std::uint64_t v) {
    while (v >= 0x80) {
      byte(static_cast<std::uint8_t>(v | 0x80));
      v >>= 7;
    }
    byte(static_cast<std::uint8_t>(v));
  }

  void signed_varint(std::int64_t v) {
    const auto u = static_cast<std::uint64_t>(v);
    varint((u << 1) ^ (v < 0 ? ~std::uint64_t{0} : 0));
  }

  void string(std::string_view s) {
    varint(s.size());
    out_.append(s.data(), s.size());
  }

  void float64(double d) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &d, sizeof bits);
    for (int i = 0; i < 8; ++i) byte(static_cast<std::uint8_t>(bits >> (8 * i)));
  }

  template <class T>
  void optional_string(const std::optional<T>& s) {
    if (s) string(*s);
  }

 private:
  std::string& out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool done() const { return pos_ == in_.size(); }

  bool byte(std::uint8_t& b) {
    if (pos_ >= in_.size()) return false;
    b = static_cast<std::uint8_t>(in_[pos_++]);
    return true;
  }

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::uint8_t b = 0;
      if (!byte(b)) return false;
      // The tenth byte may only carry the top bit of a 64-bit value.
      if (shift == 63 && b > 1) return false;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }

  bool signed_varint(std::int64_t& v) {
    std::uint64_t u = 0;
    if (!varint(u)) return false;
    v = static_cast<std::int64_t>((u >> 1) ^ (~(u & 1) + 1));
    return true;
  }

  bool string(std::string& s) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > in_.size() - pos_) return false;
    s.assign(in_.data() + pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return true;
  }

  bool float64(double& d) {
    if (in_.size() - pos_ < 8) return false;
    std::uint64_t bits = 0;
    for (int i = 0; i < 8; ++i) {
      bits |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ + i])) << (8 * i);
    }
    pos_ += 8;
    std::memcpy(&d, &bits, sizeof d);
    return true;
  }

  bool optional_string(std::uint32_t flags, std::uint32_t bit, std::optional<std::string>& s) {
    if ((flags & bit) == 0) {
      s.reset();
      return true;
    }
    s.emplace();
    return string(*s);
  }

 private:
  std::string_view in_;
  std::size_t pos_ = 0;
};

std::uint32_t flags_of(const FailureRecord& r) {
  std::uint32_t f = 0;
  auto set = [&f](bool present, std::uint32_t bit) {
    if (present) f |= bit;
  };
  set(r.error_message.has_value(), kErrorMessage);
  set(r.catalog_entry_id.has_value(), kCatalogEntryId);
  set(r.match_type.has_value(), kMatchType);
  set(r.match_confidence.has_value(), kMatchConfidence);
  set(r.category.has_value(), kCategory);
  set(r.severity.has_value(), kSeverity);
  set(r.recovery_mode.has_value(), kRecoveryMode);
  set(r.recovery_suggestion.has_value(), kRecoverySuggestion);
  set(r.recovered_at.has_value(), kRecoveredAt);
  set(r.recovered_by.has_value(), kRecoveredBy);
  set(r.recovery_notes.has_value(), kRecoveryNotes);
  set(r.skill_id.has_value(), kSkillId);
  set(r.step_index.has_value(), kStepIndex);
  set(r.context_json.has_value(), kContextJson);
  set(r.idempotency_key.has_value(), kIdempotencyKey);
  set(r.is_retryable, kIsRetryable);
  set(r.recovery_attempted, kRecoveryAttempted);
  set(r.recovery_succeeded, kRecoverySucceeded);
  return f;
}

}  // namespace

std::string encode_failure(const FailureRecord& r) {
  std::string out;
  encode_failure_to(out, r);
  return out;
}

void encode_failure_to(std::string& out, const FailureRecord& r) {
  const auto size_of = [](const std::optional<std::string>& s) {
    return s ? s->size() : std::size_t{0};
  };
  out.reserve(out.size() + 96 + r.id.size() + r.run_id.size() + r.tenant_id.size() +
              r.error_code.size() + size_of(r.error_message) + size_of(r.recovery_suggestion) +
              size_of(r.context_json));
  Writer w(out);
  w.byte(kFailureCodecVersion);
  w.varint(flags_of(r));
  w.string(r.id);
  w.string(r.run_id);
  w.string(r.tenant_id);
  w.string(r.error_code);
  w.optional_string(r.error_message);
  w.optional_string(r.catalog_entry_id);
  w.optional_string(r.match_type);
  if (r.match_confidence) w.float64(*r.match_confidence);
  w.optional_string(r.category);
  w.optional_string(r.severity);
  w.optional_string(r.recovery_mode);
  w.optional_string(r.recovery_suggestion);
  if (r.recovered_at) w.signed_varint(*r.recovered_at);
  w.optional_string(r.recovered_by);
  w.optional_string(r.recovery_notes);
  w.optional_string(r.skill_id);
  if (r.step_index) w.signed_varint(*r.step_index);
  w.optional_string(r.context_json);
  w.signed_varint(r.created_at);
  w.signed_varint(r.updated_at);
  w.optional_string(r.idempotency_key);
}

std::optional<FailureRecord> decode_failure(std::string_view bytes) {
  Reader in(bytes);
  std::uint8_t version = 0;
  if (!in.byte(version) || version != kFailureCodecVersion) return std::nullopt;
  std::uint64_t flags64 = 0;
  if (!in.varint(flags64) || (flags64 & ~std::uint64_t{kKnownFlags}) != 0) return std::nullopt;
  const auto flags = static_cast<std::uint32_t>(flags64);

  FailureRecord r;
  r.is_retryable = (flags & kIsRetryable) != 0;
  r.recovery_attempted = (flags & kRecoveryAttempted) != 0;
  r.recovery_succeeded = (flags & kRecoverySucceeded) != 0;

  bool ok = in.string(r.id) && in.string(r.run_id) && in.string(r.tenant_id) &&
            in.string(r.error_code) && in.optional_string(flags, kErrorMessage, r.error_message) &&
            in.optional_string(flags, kCatalogEntryId, r.catalog_entry_id) &&
            in.optional_string(flags, kMatchType, r.match_type);
  if (ok && (flags & kMatchConfidence) != 0) {
    double d = 0;
    ok = in.float64(d);
    r.match_confidence = d;
  }
  ok = ok && in.optional_string(flags, kCategory, r.category) &&
       in.optional_string(flags, kSeverity, r.severity) &&
       in.optional_string(flags, kRecoveryMode, r.recovery_mode) &&
       in.optional_string(flags, kRecoverySuggestion, r.recovery_suggestion);
  if (ok && (flags & kRecoveredAt) != 0) {
    std::int64_t t = 0;
    ok = in.signed_varint(t);
    r.recovered_at = t;
  }
  ok = ok && in.optional_string(flags, kRecoveredBy, r.recovered_by) &&
       in.optional_string(flags, kRecoveryNotes, r.recovery_notes) &&
       in.optional_string(flags, kSkillId, r.skill_id);
  if (ok && (flags & kStepIndex) != 0) {
    std::int64_t step = 0;
    ok = in.signed_varint(step) && step >= std::numeric_limits<std::int32_t>::min() &&
         step <= std::numeric_limits<std::int32_t>::max();
    r.step_index = static_cast<std::int32_t>(step);
  }
  ok = ok && in.optional_string(flags, kContextJson, r.context_json) &&
       in.signed_varint(r.created_at) && in.signed_varint(r.updated_at) &&
       in.optional_string(flags, kIdempotencyKey, r.idempotency_key);
  if (!ok || !in.done()) return std::nullopt;
  return r;
}

}  // namespace failcat
