#pragma once
// Guards against hostile JSON, run before or while nlohmann-json builds a document: its parser
// recurses (so depth is bounded first) and keeps the last of repeated keys silently.

#include <cstddef>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace failcat {

/// Deepest nesting of arrays and objects in `text`, counted outside string literals (escapes
/// honoured); stops counting once past `limit`, so it is cheap on hostile input.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit);

/// One step of a path into a JSON document: an object key or an array index.
struct JsonPathStep {
  bool is_index = false;
  std::size_t index = 0;
  std::string key;
};
using JsonPath = std::vector<JsonPathStep>;

/// `failures[2].run_id`.
std::string to_string(const JsonPath& path);

/// A parser callback for `nlohmann::json::parse` that records the path of every object key
/// appearing twice in the same object (the path ends with that key).
class DuplicateKeyTracker {
 public:
  explicit DuplicateKeyTracker(std::vector<JsonPath>* duplicates) : duplicates_(duplicates) {}

  bool operator()(int depth, nlohmann::json::parse_event_t event, nlohmann::json& parsed);

 private:
  struct Frame {
    bool is_array = false;
    std::size_t count = 0;  ///< Arrays: elements seen so far.
    std::string key;        ///< Objects: the key being read.
    std::set<std::string> keys;
  };

  JsonPath path() const;

  std::vector<JsonPath>* duplicates_;
  std::vector<Frame> frames_;
};

}  // namespace failcat
