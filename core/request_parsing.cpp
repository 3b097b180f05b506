#include "core/request_parsing.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <new>
#include <set>
#include <unordered_map>
#include <utility>

#include "core/uuid.hpp"

namespace failcat {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 8> kFailureFields = {
    "run_id",   "tenant_id",  "error_code", "error_message",
    "skill_id", "step_index", "context",    "event_id"};
constexpr std::array<std::string_view, 4> kPatchFields = {
    "recovery_succeeded", "recovery_attempted", "notes", "recovered_by"};
constexpr std::array<std::string_view, 10> kBulkFields = {
    "tenant_id", "category",           "error_code",         "run_id", "since_hours",
    "status",    "recovery_succeeded", "recovery_attempted", "notes",  "recovered_by"};
constexpr std::array<std::string_view, 1> kBatchFields = {"failures"};
constexpr std::array<std::string_view, 1> kBreakerFields = {"action"};

template <std::size_t N>
bool is_one_of(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && is_ascii_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_ascii_space(text.back())) text.remove_suffix(1);
  return text;
}

// Strict UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t extra = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      extra = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
      extra = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      extra = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (text.size() - i <= extra) return false;
    const auto first = static_cast<unsigned char>(text[i + 1]);
    if (first < lo || first > hi) return false;
    for (std::size_t k = 2; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if (next < 0x80 || next > 0xBF) return false;
    }
    i += extra + 1;
  }
  return true;
}

// Code points in text already known to be valid UTF-8.
std::size_t count_code_points(std::string_view text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// PostgreSQL refuses NUL in TEXT and JSONB, so it never gets past the edge.
bool has_nul(std::string_view text) {
  return text.find('\0') != std::string_view::npos;
}

bool json_has_nul(const json& value) {
  switch (value.type()) {
    case json::value_t::string:
      return has_nul(value.get_ref<const std::string&>());
    case json::value_t::object:
      for (const auto& item : value.items()) {
        if (has_nul(item.key()) || json_has_nul(item.value())) return true;
      }
      return false;
    case json::value_t::array:
      return std::any_of(value.begin(), value.end(), [](const json& v) { return json_has_nul(v); });
    default:
      return false;
  }
}

Error wrong_type(const std::string& field, const char* expected, const json& value) {
  return Error::invalid(field, field + " must be " + expected + ", not " + value.type_name());
}

Error missing(const std::string& field) {
  return Error::invalid(field, field + " is required");
}

struct TextRule {
  std::size_t max = 0;
  bool count_chars = false;  // limit in code points rather than bytes
  bool allow_empty = false;
};

Status check_text(const std::string& field, std::string_view value, TextRule rule) {
  if (!valid_utf8(value)) return Error::invalid(field, field + " must be valid UTF-8");
  if (has_nul(value)) return Error::invalid(field, field + " must not contain NUL characters");
  if (value.empty() && !rule.allow_empty) {
    return Error::invalid(field, field + " must not be empty");
  }
  if (!value.empty() && !rule.allow_empty && trim(value).empty()) {
    return Error::invalid(field, field + " must not be only whitespace");
  }
  const std::size_t size = rule.count_chars ? count_code_points(value) : value.size();
  if (size > rule.max) {
    return Error::invalid(field, field + " must be at most " + std::to_string(rule.max) +
                                     (rule.count_chars ? " characters" : " bytes"));
  }
  return ok_status();
}

// A JSON object's fields, looked up by name; `null` counts as absent.
class FieldReader {
 public:
  FieldReader(const json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  std::string field(std::string_view name) const { return prefix_ + std::string(name); }

  // The value of `name`, or nullptr when absent or null.
  const json* find(std::string_view name) const {
    const auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) return nullptr;
    return &*it;
  }

  // Whether `name` is present with the value null.
  bool is_null(std::string_view name) const {
    const auto it = object_.find(name);
    return it != object_.end() && it->is_null();
  }

  template <std::size_t N>
  Status reject_unknown(const std::array<std::string_view, N>& known) const {
    for (const auto& item : object_.items()) {
      if (!is_one_of(known, item.key())) {
        const std::string name = field(item.key());
        return Error::invalid(name, "unknown field '" + name + "'");
      }
    }
    return ok_status();
  }

  // A required field must be present (null then fails its type check); an optional one is
  // nullptr when absent or null.
  Result<const json*> lookup(std::string_view name, bool required) const {
    if (!required) return find(name);
    const auto it = object_.find(name);
    if (it == object_.end()) return missing(field(name));
    return &*it;
  }

  Result<std::optional<std::string>> text(std::string_view name, TextRule rule,
                                          bool required) const {
    auto value = lookup(name, required);
    if (!value) return value.error();
    if (*value == nullptr) return std::optional<std::string>{};
    const std::string name_field = field(name);
    if (!(*value)->is_string()) return wrong_type(name_field, "a string", **value);
    const auto& s = (*value)->get_ref<const std::string&>();
    if (auto ok = check_text(name_field, s, rule); !ok) return ok.error();
    return std::optional<std::string>{s};
  }

  Result<std::optional<bool>> boolean(std::string_view name, bool required) const {
    auto value = lookup(name, required);
    if (!value) return value.error();
    if (*value == nullptr) return std::optional<bool>{};
    if (!(*value)->is_boolean()) return wrong_type(field(name), "a boolean", **value);
    return std::optional<bool>{(*value)->get<bool>()};
  }

  // An optional integer in [min, max]; fractions and strings are rejected.
  Result<std::optional<std::int64_t>> integer(std::string_view name, std::int64_t min,
                                              std::int64_t max) const {
    const std::string name_field = field(name);
    const json* value = find(name);
    if (value == nullptr) return std::optional<std::int64_t>{};
    const std::string range =
        "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!value->is_number_integer()) {
      if (value->is_number_float()) {
        return Error::invalid(name_field, name_field + " must be " + range + ", not a fraction");
      }
      return wrong_type(name_field, range.c_str(), *value);
    }
    bool in_range = false;
    std::int64_t n = 0;
    if (value->is_number_unsigned()) {
      const auto u = value->get<std::uint64_t>();
      in_range = u <= static_cast<std::uint64_t>(max);
      n = in_range ? static_cast<std::int64_t>(u) : 0;
      in_range = in_range && n >= min;
    } else {
      n = value->get<std::int64_t>();
      in_range = n >= min && n <= max;
    }
    if (!in_range) {
      return Error::invalid(name_field,
                            name_field + " must be " + range + ", not " + value->dump());
    }
    return std::optional<std::int64_t>{n};
  }

 private:
  const json& object_;
  std::string prefix_;
};

// nlohmann's messages start with `[json.exception.parse_error.101] `; the caller needs the rest.
std::string parse_error_detail(const std::string& what) {
  const auto end = what.find("] ");
  return end == std::string::npos ? what : what.substr(end + 2);
}

Error out_of_memory() {
  return Error{ErrorKind::overloaded, "out of memory while reading the request", {}};
}

Result<RecoveryPatch> read_patch(const FieldReader& fields) {
  RecoveryPatch patch;
  auto succeeded = fields.boolean("recovery_succeeded", true);
  if (!succeeded) return succeeded.error();
  patch.recovery_succeeded = **succeeded;
  auto attempted = fields.boolean("recovery_attempted", false);
  if (!attempted) return attempted.error();
  patch.recovery_attempted = attempted->value_or(true);
  if (patch.recovery_succeeded && !patch.recovery_attempted) {
    return Error::invalid("recovery_attempted",
                          "recovery_attempted cannot be false when recovery_succeeded is true");
  }
  auto notes = fields.text("notes", TextRule{kMaxNotesChars, true, true}, false);
  if (!notes) return notes.error();
  patch.notes = std::move(*notes);
  auto by = fields.text("recovered_by", TextRule{kMaxShortText, true, false}, false);
  if (!by) return by.error();
  patch.recovered_by = std::move(*by);
  return patch;
}

Result<std::optional<std::string>> read_filter(const FieldReader& fields, std::string_view name) {
  const json* value = fields.find(name);
  if (value == nullptr) return std::optional<std::string>{};
  const std::string field = fields.field(name);
  if (!value->is_string()) return wrong_type(field, "a string", *value);
  auto parsed = parse_filter_value(field, value->get_ref<const std::string&>());
  if (!parsed) return parsed.error();
  return std::optional<std::string>{std::move(*parsed)};
}

}  // namespace

Result<std::string> parse_filter_value(const std::string& field, std::string_view value) {
  if (field == "tenant_id") {
    auto uuid = canonical_uuid(value);
    if (!uuid) return Error::invalid(field, field + " must be a UUID");
    return std::move(*uuid);
  }
  std::string_view compared = value;
  TextRule rule{kMaxRunIdChars, true, false};
  if (field == "error_code") {
    compared = trim(value);
    rule.max = kMaxErrorCodeChars;
  } else if (field == "category") {
    rule.max = kMaxCategoryChars;
  }
  if (auto ok = check_text(field, compared, rule); !ok) return ok.error();
  return std::string(compared);
}

Result<RecoveryStatus> parse_recovery_status(const std::string& field, std::string_view value) {
  if (value == "all") return RecoveryStatus::all;
  if (value == "unrecovered") return RecoveryStatus::unrecovered;
  if (value == "recovered") return RecoveryStatus::recovered;
  return Error::invalid(field, field + " must be one of unrecovered, recovered, all");
}

Result<json> parse_json_body(std::string_view body) {
  if (json_nesting_depth(body, kMaxJsonDepth) > kMaxJsonDepth) {
    return Error::invalid("body",
                          "JSON nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  try {
    std::vector<JsonPath> duplicates;
    json doc = json::parse(body.begin(), body.end(), DuplicateKeyTracker(&duplicates));
    if (!duplicates.empty()) {
      const auto field = to_string(duplicates.front());
      return Error::invalid(field, field + " appears more than once");
    }
    if (!doc.is_object()) {
      return Error::invalid("body",
                            std::string("body must be a JSON object, not ") + doc.type_name());
    }
    return doc;
  } catch (const json::exception& e) {
    return Error::invalid("body", "invalid JSON: " + parse_error_detail(e.what()));
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

Result<FailureInput> parse_failure_input(const json& object, const std::string& field_prefix) {
  // The item itself: `failures[3]`, or the whole body.
  std::string item_field = field_prefix;
  if (!item_field.empty() && item_field.back() == '.') item_field.pop_back();
  if (item_field.empty()) item_field = "body";
  if (!object.is_object()) return wrong_type(item_field, "a JSON object", object);
  try {
    const FieldReader fields(object, field_prefix);
    if (auto ok = fields.reject_unknown(kFailureFields); !ok) return ok.error();
    FailureInput in;

    auto run_id = fields.text("run_id", TextRule{kMaxRunIdChars, true, false}, true);
    if (!run_id) return run_id.error();
    in.run_id = std::move(**run_id);

    if (const json* tenant = fields.find("tenant_id")) {
      const std::string field = fields.field("tenant_id");
      if (!tenant->is_string()) return wrong_type(field, "a UUID string", *tenant);
      // Not parse_filter_value: that picks its rule by the bare field name, and inside a batch
      // the name carries the item's prefix.
      auto uuid = canonical_uuid(tenant->get_ref<const std::string&>());
      if (!uuid) return Error::invalid(field, field + " must be a UUID");
      in.tenant_id = std::move(*uuid);
    }

    // Trimming comes first so that whitespace alone counts as empty.
    const std::string code_field = fields.field("error_code");
    const auto code = object.find("error_code");
    if (code == object.end()) return missing(code_field);
    if (!code->is_string()) return wrong_type(code_field, "a string", *code);
    const std::string_view trimmed = trim(code->get_ref<const std::string&>());
    if (trimmed.empty() && !code->get_ref<const std::string&>().empty()) {
      return Error::invalid(code_field, code_field + " must not be only whitespace");
    }
    if (auto ok = check_text(code_field, trimmed, TextRule{kMaxErrorCodeChars, true, false}); !ok) {
      return ok.error();
    }
    in.error_code = std::string(trimmed);

    auto message = fields.text("error_message", TextRule{kMaxErrorMessageChars, true, true}, false);
    if (!message) return message.error();
    in.error_message = std::move(*message);

    auto skill = fields.text("skill_id", TextRule{kMaxShortText, true, false}, false);
    if (!skill) return skill.error();
    in.skill_id = std::move(*skill);

    auto step = fields.integer("step_index", 0, std::numeric_limits<std::int32_t>::max());
    if (!step) return step.error();
    if (*step) in.step_index = static_cast<std::int32_t>(**step);

    if (const json* context = fields.find("context")) {
      const std::string field = fields.field("context");
      if (!context->is_object()) return wrong_type(field, "a JSON object", *context);
      if (json_has_nul(*context)) {
        return Error::invalid(field, field + " must not contain NUL characters");
      }
      std::string text;
      try {
        text = context->dump();
      } catch (const json::type_error&) {
        return Error::invalid(field, field + " must be valid UTF-8");
      }
      if (text.size() > kMaxContextBytes) {
        return Error::invalid(field, field + " must be at most " +
                                         std::to_string(kMaxContextBytes) +
                                         " bytes when serialized");
      }
      in.context_json = std::move(text);
    }

    auto event = fields.text("event_id", TextRule{kMaxEventIdBytes, false, false}, false);
    if (!event) return event.error();
    in.event_id = std::move(*event);
    return in;
  } catch (const json::exception& e) {
    return Error::invalid(item_field, parse_error_detail(e.what()));
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

Result<FailureInput> parse_failure_body(std::string_view body) {
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  return parse_failure_input(*doc, "");
}

Result<std::vector<FailureInput>> parse_failure_batch(std::string_view body) {
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  try {
    const FieldReader fields(*doc, "");
    if (auto ok = fields.reject_unknown(kBatchFields); !ok) return ok.error();
    const auto list = doc->find("failures");
    if (list == doc->end()) return missing("failures");
    if (!list->is_array()) return wrong_type("failures", "an array", *list);
    if (list->empty()) return Error::invalid("failures", "failures must hold at least one item");
    if (list->size() > kMaxBatchItems) {
      return Error::invalid("failures", "failures must hold at most " +
                                            std::to_string(kMaxBatchItems) + " items, not " +
                                            std::to_string(list->size()));
    }
    std::vector<FailureInput> items;
    items.reserve(list->size());
    std::unordered_map<std::string, std::size_t> event_ids;
    for (std::size_t i = 0; i < list->size(); ++i) {
      const std::string prefix = "failures[" + std::to_string(i) + "].";
      auto item = parse_failure_input((*list)[i], prefix);
      if (!item) return item.error();
      if (item->event_id) {
        const auto [it, fresh] = event_ids.emplace(*item->event_id, i);
        if (!fresh) {
          return Error::invalid(prefix + "event_id", prefix + "event_id repeats failures[" +
                                                         std::to_string(it->second) + "].event_id");
        }
      }
      items.push_back(std::move(*item));
    }
    return items;
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

Result<RecoveryPatch> parse_recovery_patch(std::string_view body) {
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  try {
    const FieldReader fields(*doc, "");
    if (auto ok = fields.reject_unknown(kPatchFields); !ok) return ok.error();
    return read_patch(fields);
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

Result<BulkRecoveryRequest> parse_bulk_recovery(std::string_view body, Micros now) {
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  try {
    const FieldReader fields(*doc, "");
    if (auto ok = fields.reject_unknown(kBulkFields); !ok) return ok.error();
    // A filter set to null would widen a mass update to every value of that field, most
    // likely by a client's mistake: leaving it out says so.
    for (const char* name :
         {"tenant_id", "category", "error_code", "run_id", "since_hours", "status"}) {
      if (fields.is_null(name)) {
        return Error::invalid(name, std::string(name) +
                                        " must not be null (leave the filter out to match "
                                        "every value)");
      }
    }
    BulkRecoveryRequest request;
    FailureFilter& filter = request.filter;
    for (auto [name, target] :
         {std::pair{"tenant_id", &filter.tenant_id}, std::pair{"category", &filter.category},
          std::pair{"error_code", &filter.error_code}, std::pair{"run_id", &filter.run_id}}) {
      auto value = read_filter(fields, name);
      if (!value) return value.error();
      *target = std::move(*value);
    }
    auto hours = fields.integer("since_hours", 1, kMaxSinceHours);
    if (!hours) return hours.error();
    filter.since = now - hours->value_or(kDefaultSinceHours) * kMicrosPerHour;
    if (const json* status = fields.find("status")) {
      if (!status->is_string()) return wrong_type("status", "a string", *status);
      auto parsed = parse_recovery_status("status", status->get_ref<const std::string&>());
      if (!parsed) return parsed.error();
      filter.status = *parsed;
    }
    auto patch = read_patch(fields);
    if (!patch) return patch.error();
    request.patch = std::move(*patch);
    return request;
  } catch (const std::bad_alloc&) {
    return out_of_memory();
  }
}

Status parse_empty_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return ok_status();
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  const FieldReader fields(*doc, "");
  return fields.reject_unknown(std::array<std::string_view, 0>{});
}

Result<BreakerAction> parse_breaker_action(std::string_view body) {
  auto doc = parse_json_body(body);
  if (!doc) return doc.error();
  const FieldReader fields(*doc, "");
  if (auto ok = fields.reject_unknown(kBreakerFields); !ok) return ok.error();
  const auto action = doc->find("action");
  if (action == doc->end()) return missing("action");
  if (!action->is_string()) return wrong_type("action", "a string", *action);
  const auto& text = action->get_ref<const std::string&>();
  if (text == "open") return BreakerAction::open;
  if (text == "close") return BreakerAction::close;
  if (text == "auto") return BreakerAction::automatic;
  return Error::invalid("action", "action must be one of open, close, auto");
}

FailureRecord to_failure_record(const FailureInput& in, std::string id, Micros created_at) {
  FailureRecord r;
  r.id = std::move(id);
  r.run_id = in.run_id;
  r.tenant_id = in.tenant_id.value_or(std::string(kDefaultTenant));
  r.error_code = in.error_code;
  r.error_message = in.error_message;
  r.skill_id = in.skill_id;
  r.step_index = in.step_index;
  r.context_json = in.context_json;
  r.created_at = created_at;
  r.updated_at = created_at;
  return r;
}

FailureRecord to_failure_record(FailureInput&& in, std::string id, Micros created_at) {
  FailureRecord r;
  r.id = std::move(id);
  r.run_id = std::move(in.run_id);
  r.tenant_id = in.tenant_id ? std::move(*in.tenant_id) : std::string(kDefaultTenant);
  r.error_code = std::move(in.error_code);
  r.error_message = std::move(in.error_message);
  r.skill_id = std::move(in.skill_id);
  r.step_index = in.step_index;
  r.context_json = std::move(in.context_json);
  r.created_at = created_at;
  r.updated_at = created_at;
  return r;
}

}  // namespace failcat
