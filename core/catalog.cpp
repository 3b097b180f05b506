#include "core/catalog.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "core/json_guard.hpp"
#include "core/matcher.hpp"
#include "core/tokenizer.hpp"

namespace failcat {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxVersionBytes = 64;
constexpr std::size_t kMaxPatternBytes = 2048;
constexpr std::size_t kMaxExampleBytes = 10'000;
constexpr std::int64_t kMaxAttemptsLimit = 1000;
constexpr std::int64_t kMaxBackoffMs = 24LL * 60 * 60 * 1000;

constexpr std::array<std::string_view, 14> kEntryFields = {
    "id",          "error_codes",  "code_prefixes",      "message_patterns", "examples",
    "category",    "severity",     "is_retryable",       "recovery_mode",    "recovery_suggestion",
    "runbook_url", "max_attempts", "initial_backoff_ms", "description"};
constexpr std::array<std::string_view, 3> kDocumentFields = {"version", "entries", "description"};

template <std::size_t N>
bool is_one_of(const std::array<std::string_view, N>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

bool is_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.' || c == ':';
}

bool valid_id(std::string_view id) {
  return !id.empty() && id.size() <= kMaxEntryIdBytes &&
         std::all_of(id.begin(), id.end(), is_id_char);
}

std::string type_name(const json& value) {
  return value.type_name();
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : bytes) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// The index of the catalog entry a duplicate key sits in (`entries[i]…`), if any.
std::optional<std::size_t> entry_of(const JsonPath& path) {
  if (path.size() >= 3 && !path[0].is_index && path[0].key == "entries" && path[1].is_index) {
    return path[1].index;
  }
  return std::nullopt;
}

// Validates one document, collecting every problem it finds.
class Validator {
 public:
  explicit Validator(std::vector<CatalogProblem>& problems) : problems_(problems) {}

  void add(std::string entry, std::string field, std::string reason) {
    problems_.push_back({std::move(entry), std::move(field), std::move(reason)});
  }

  std::optional<std::string> read_version(const json& doc) {
    auto it = doc.find("version");
    if (it == doc.end()) {
      add("", "version", "required field is missing");
      return std::nullopt;
    }
    if (!it->is_string()) {
      add("", "version", "must be a string, not " + type_name(*it));
      return std::nullopt;
    }
    const auto& version = it->get_ref<const std::string&>();
    if (version.empty() || version.size() > kMaxVersionBytes) {
      add("", "version", "must be 1 to " + std::to_string(kMaxVersionBytes) + " characters");
      return std::nullopt;
    }
    for (char c : version) {
      if (static_cast<unsigned char>(c) <= ' ' || c == '+') {
        add("", "version", "must not contain whitespace, control characters or '+'");
        return std::nullopt;
      }
    }
    return version;
  }

  std::optional<CatalogEntry> read_entry(const json& value, std::size_t index) {
    const std::string fallback_label = "#" + std::to_string(index);
    if (!value.is_object()) {
      add(fallback_label, "", "an entry must be an object, not " + type_name(value));
      return std::nullopt;
    }
    CatalogEntry entry;
    const std::size_t problems_before = problems_.size();

    // The id labels every other problem of the entry, so it is read first.
    std::string label = fallback_label;
    if (auto it = value.find("id"); it == value.end()) {
      add(label, "id", "required field is missing");
    } else if (!it->is_string()) {
      add(label, "id", "must be a string, not " + type_name(*it));
    } else if (!valid_id(it->get_ref<const std::string&>())) {
      add(label, "id",
          "must be 1 to " + std::to_string(kMaxEntryIdBytes) + " characters of A-Za-z0-9._:-");
    } else {
      entry.id = it->get<std::string>();
      label = entry.id;
    }

    for (const auto& item : value.items()) {
      if (!is_one_of(kEntryFields, item.key())) add(label, item.key(), "unknown field");
    }

    read_list(value, label, "error_codes", kMaxCodeBytes, entry.error_codes);
    read_list(value, label, "code_prefixes", kMaxCodeBytes, entry.code_prefixes);
    read_list(value, label, "message_patterns", kMaxPatternBytes, entry.message_patterns);
    read_list(value, label, "examples", kMaxExampleBytes, entry.examples);
    if (entry.error_codes.empty() && entry.code_prefixes.empty() &&
        entry.message_patterns.empty() && entry.examples.empty() &&
        problems_.size() == problems_before) {
      add(label, "error_codes",
          "an entry needs at least one of error_codes, code_prefixes, message_patterns, examples");
    }
    check_patterns(label, entry.message_patterns);
    check_examples(label, entry.examples);

    if (auto s = read_string(value, label, "category", true, kMaxLabelBytes)) {
      entry.category = std::move(*s);
    }
    if (auto s = read_string(value, label, "severity", true, 16)) {
      if (auto severity = parse_severity(*s)) {
        entry.severity = *severity;
      } else {
        add(label, "severity", "must be one of low|medium|high|critical, not '" + *s + "'");
      }
    }
    if (auto it = value.find("is_retryable"); it == value.end()) {
      add(label, "is_retryable", "required field is missing");
    } else if (!it->is_boolean()) {
      add(label, "is_retryable", "must be a boolean, not " + type_name(*it));
    } else {
      entry.is_retryable = it->get<bool>();
    }
    if (auto s = read_string(value, label, "recovery_mode", true, kMaxLabelBytes)) {
      entry.recovery_mode = std::move(*s);
    }
    if (auto s = read_string(value, label, "recovery_suggestion", true, 4096)) {
      entry.recovery_suggestion = std::move(*s);
    }
    if (auto s = read_string(value, label, "runbook_url", false, 2048)) {
      if (s->rfind("https://", 0) == 0 || s->rfind("http://", 0) == 0) {
        entry.runbook_url = std::move(*s);
      } else {
        add(label, "runbook_url", "must be an http:// or https:// URL");
      }
    }
    if (auto s = read_string(value, label, "description", false, 4096)) {
      entry.description = std::move(*s);
    }
    entry.max_attempts = read_int(value, label, "max_attempts", 1, kMaxAttemptsLimit);
    entry.initial_backoff_ms = read_int(value, label, "initial_backoff_ms", 0, kMaxBackoffMs);

    if (problems_.size() != problems_before) return std::nullopt;
    return entry;
  }

 private:
  std::optional<std::string> read_string(const json& object, const std::string& label,
                                         const char* field, bool required, std::size_t max_bytes) {
    auto it = object.find(field);
    if (it == object.end() || (!required && it->is_null())) {
      if (required) add(label, field, "required field is missing");
      return std::nullopt;
    }
    if (!it->is_string()) {
      add(label, field, "must be a string, not " + type_name(*it));
      return std::nullopt;
    }
    const auto& text = it->get_ref<const std::string&>();
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
      add(label, field, "must not be empty");
      return std::nullopt;
    }
    if (text.size() > max_bytes) {
      add(label, field, "longer than " + std::to_string(max_bytes) + " bytes");
      return std::nullopt;
    }
    return text;
  }

  void read_list(const json& object, const std::string& label, const char* field,
                 std::size_t max_bytes, std::vector<std::string>& out) {
    auto it = object.find(field);
    if (it == object.end()) return;
    if (!it->is_array()) {
      add(label, field, "must be an array of strings, not " + type_name(*it));
      return;
    }
    for (std::size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string where = std::string(field) + "[" + std::to_string(i) + "]";
      if (!item.is_string()) {
        add(label, where, "must be a string, not " + type_name(item));
        continue;
      }
      const auto& text = item.get_ref<const std::string&>();
      if (text.find_first_not_of(" \t\r\n\f\v") == std::string::npos) {
        add(label, where, "must not be empty");
      } else if (text.size() > max_bytes) {
        add(label, where, "longer than " + std::to_string(max_bytes) + " bytes");
      } else {
        out.push_back(text);
      }
    }
  }

  std::optional<int> read_int(const json& object, const std::string& label, const char* field,
                              std::int64_t min, std::int64_t max) {
    auto it = object.find(field);
    if (it == object.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer()) {
      add(label, field, "must be an integer, not " + type_name(*it));
      return std::nullopt;
    }
    const bool too_big =
        it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(max);
    const std::int64_t number = too_big ? max + 1 : it->get<std::int64_t>();
    if (number < min || number > max) {
      add(label, field, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return std::nullopt;
    }
    return static_cast<int>(number);
  }

  void check_patterns(const std::string& label, const std::vector<std::string>& patterns) {
    RE2::Options options;
    options.set_log_errors(false);
    for (std::size_t i = 0; i < patterns.size(); ++i) {
      RE2 re(patterns[i], options);
      if (!re.ok()) {
        add(label, "message_patterns[" + std::to_string(i) + "]",
            "invalid RE2 pattern: " + re.error());
        continue;
      }
      // A pattern that matches any text (`rate limit|` and `x*` match the empty string, `.`
      // any character) would take every failure whose code is not in the catalog, leaving the
      // fuzzy tier and the misses (and their alert) nothing.
      bool matches_all = true;
      for (const char* probe : {"x", "0", " ", "\xc3\xa9", "Timeout after 3000ms.\nRetrying"}) {
        matches_all = matches_all && RE2::PartialMatch(probe, re);
      }
      if (matches_all) {
        add(label, "message_patterns[" + std::to_string(i) + "]",
            "matches every message: '" + patterns[i] + "'");
      }
    }
  }

  void check_examples(const std::string& label, const std::vector<std::string>& examples) {
    for (std::size_t i = 0; i < examples.size(); ++i) {
      if (tokenize_message(examples[i]).empty()) {
        add(label, "examples[" + std::to_string(i) + "]", "has no word to match on");
      }
    }
  }

  std::vector<CatalogProblem>& problems_;
};

// Cross-entry uniqueness: ids exactly, codes and prefixes in their normalised form.
void check_duplicates(const std::vector<CatalogEntry>& entries,
                      std::vector<CatalogProblem>& problems) {
  std::unordered_map<std::string, std::string> ids;
  std::unordered_map<std::string, std::string> codes;
  std::unordered_map<std::string, std::string> prefixes;
  auto check = [&problems](std::unordered_map<std::string, std::string>& seen,
                           const CatalogEntry& entry, const std::vector<std::string>& list,
                           const char* field, const char* what) {
    for (std::size_t i = 0; i < list.size(); ++i) {
      const auto [it, inserted] = seen.emplace(normalize_code(list[i]), entry.id);
      if (!inserted) {
        problems.push_back({entry.id, std::string(field) + "[" + std::to_string(i) + "]",
                            std::string(what) + " '" + list[i] + "' is already used by entry '" +
                                it->second + "'"});
      }
    }
  };
  for (const auto& entry : entries) {
    if (const auto [it, inserted] = ids.emplace(entry.id, entry.id); !inserted) {
      problems.push_back({entry.id, "id", "duplicate id"});
    }
    check(codes, entry, entry.error_codes, "error_codes", "error code");
    check(prefixes, entry, entry.code_prefixes, "code_prefixes", "code prefix");
  }
}

std::string hex32(std::uint32_t value) {
  char buffer[9];
  std::snprintf(buffer, sizeof buffer, "%08x", value);
  return std::string(buffer, 8);
}

}  // namespace

struct CatalogBuilder {
  static std::shared_ptr<const Catalog> make(std::string file_version, std::string version,
                                             std::vector<CatalogEntry> entries) {
    return std::shared_ptr<const Catalog>(
        new Catalog(std::move(file_version), std::move(version), std::move(entries)));
  }
};

std::string_view to_string(Severity severity) noexcept {
  switch (severity) {
    case Severity::low:
      return "low";
    case Severity::medium:
      return "medium";
    case Severity::high:
      return "high";
    case Severity::critical:
      return "critical";
  }
  return "medium";
}

std::optional<Severity> parse_severity(std::string_view text) noexcept {
  if (text == "low") return Severity::low;
  if (text == "medium") return Severity::medium;
  if (text == "high") return Severity::high;
  if (text == "critical") return Severity::critical;
  return std::nullopt;
}

std::string describe(const CatalogProblem& problem) {
  std::string out;
  if (!problem.entry.empty()) out += "entry '" + problem.entry + "'";
  if (!problem.field.empty()) {
    if (!out.empty()) out += ", ";
    out += "field '" + problem.field + "'";
  }
  if (!out.empty()) out += ": ";
  return out + problem.reason;
}

Catalog::Catalog(std::string file_version, std::string version, std::vector<CatalogEntry> entries)
    : file_version_(std::move(file_version)),
      version_(std::move(version)),
      entries_(std::move(entries)) {
  summary_.entries = entries_.size();
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const CatalogEntry& entry = entries_[i];
    by_id_.emplace(entry.id, i);
    summary_.codes += entry.error_codes.size();
    summary_.prefixes += entry.code_prefixes.size();
    summary_.patterns += entry.message_patterns.size();
    summary_.examples += entry.examples.size();
  }
  matcher_ = std::make_unique<const Matcher>(entries_);
}

Catalog::~Catalog() = default;

const CatalogEntry* Catalog::find(std::string_view id) const {
  auto it = by_id_.find(std::string(id));
  return it == by_id_.end() ? nullptr : &entries_[it->second];
}

CatalogLoad parse_catalog(std::string_view json_text) {
  CatalogLoad load;
  auto& problems = load.problems;
  try {
    if (json_nesting_depth(json_text, kMaxCatalogJsonDepth) > kMaxCatalogJsonDepth) {
      problems.push_back(
          {"", "", "JSON nests deeper than " + std::to_string(kMaxCatalogJsonDepth) + " levels"});
      return load;
    }
    std::vector<JsonPath> duplicates;
    json doc;
    try {
      doc = json::parse(json_text.begin(), json_text.end(), DuplicateKeyTracker(&duplicates));
    } catch (const json::parse_error& e) {
      problems.push_back({"", "", std::string("invalid JSON: ") + e.what()});
      return load;
    }
    if (!doc.is_object()) {
      problems.push_back({"", "", "the document must be a JSON object, not " + type_name(doc)});
      return load;
    }

    Validator validator(problems);
    for (const auto& item : doc.items()) {
      if (!is_one_of(kDocumentFields, item.key())) validator.add("", item.key(), "unknown field");
    }
    const auto version = validator.read_version(doc);
    if (auto it = doc.find("description"); it != doc.end() && !it->is_string() && !it->is_null()) {
      validator.add("", "description", "must be a string, not " + type_name(*it));
    }

    std::vector<CatalogEntry> entries;
    auto list = doc.find("entries");
    if (list == doc.end()) {
      validator.add("", "entries", "required field is missing");
    } else if (!list->is_array()) {
      validator.add("", "entries", "must be an array, not " + type_name(*list));
    } else if (list->empty()) {
      validator.add("", "entries", "must hold at least one entry");
    } else {
      entries.reserve(list->size());
      for (std::size_t i = 0; i < list->size(); ++i) {
        if (auto entry = validator.read_entry((*list)[i], i)) entries.push_back(std::move(*entry));
      }
    }
    check_duplicates(entries, problems);

    for (const auto& path : duplicates) {
      std::string label;
      if (const auto index = entry_of(path)) {
        label = "#" + std::to_string(*index);
        if (list != doc.end() && list->is_array() && *index < list->size()) {
          const json& entry = (*list)[*index];
          if (entry.is_object()) {
            auto id = entry.find("id");
            if (id != entry.end() && id->is_string() &&
                valid_id(id->get_ref<const std::string&>())) {
              label = id->get<std::string>();
            }
          }
        }
      }
      problems.push_back({label, path.back().key, "key appears more than once"});
    }
    if (!problems.empty()) return load;

    const std::uint64_t digest = fnv1a64(doc.dump());
    auto catalog = CatalogBuilder::make(
        *version, *version + "+" + hex32(static_cast<std::uint32_t>(digest >> 32)),
        std::move(entries));
    if (const auto& error = catalog->matcher().pattern_set_error(); !error.empty()) {
      problems.push_back({"", "message_patterns", error});
      return load;
    }
    load.catalog = std::move(catalog);
  } catch (const std::exception& e) {
    problems.push_back({"", "", std::string("catalog could not be processed: ") + e.what()});
  }
  return load;
}

CatalogLoad load_catalog_file(const std::string& path) {
  CatalogLoad load;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    load.problems.push_back({"", "", "cannot open '" + path + "'"});
    return load;
  }
  std::string text;
  std::array<char, 64 * 1024> chunk;
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (text.size() + got > kMaxCatalogFileBytes) {
      load.problems.push_back(
          {"", "",
           "'" + path + "' is larger than " + std::to_string(kMaxCatalogFileBytes) + " bytes"});
      return load;
    }
    text.append(chunk.data(), got);
  }
  if (in.bad()) {
    load.problems.push_back({"", "", "cannot read '" + path + "'"});
    return load;
  }
  return parse_catalog(text);
}

CatalogHolder::CatalogHolder(std::shared_ptr<const Catalog> initial)
    : current_(std::move(initial)) {}

std::shared_ptr<const Catalog> CatalogHolder::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

CatalogLoad CatalogHolder::reload(const std::string& path) {
  CatalogLoad load = load_catalog_file(path);
  if (load.ok()) replace(load.catalog);
  return load;
}

void CatalogHolder::replace(std::shared_ptr<const Catalog> next) {
  if (!next) return;
  std::shared_ptr<const Catalog> previous;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    previous = std::exchange(current_, std::move(next));
    ++reloads_;
  }
  // `previous` may be the last reference: it is destroyed here, outside the lock.
}

std::uint64_t CatalogHolder::reloads() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return reloads_;
}

}  // namespace failcat
