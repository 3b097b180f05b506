#include "core/json_guard.hpp"

#include <algorithm>

namespace failcat {

std::size_t json_nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

std::string to_string(const JsonPath& path) {
  std::string out;
  for (const auto& step : path) {
    if (step.is_index) {
      out += "[" + std::to_string(step.index) + "]";
    } else {
      if (!out.empty()) out += '.';
      out += step.key;
    }
  }
  return out;
}

bool DuplicateKeyTracker::operator()(int /*depth*/, nlohmann::json::parse_event_t event,
                                     nlohmann::json& parsed) {
  using E = nlohmann::json::parse_event_t;
  if ((event == E::value || event == E::object_start || event == E::array_start) &&
      !frames_.empty() && frames_.back().is_array) {
    ++frames_.back().count;
  }
  switch (event) {
    case E::object_start:
      frames_.push_back(Frame{false, 0, {}, {}});
      break;
    case E::array_start:
      frames_.push_back(Frame{true, 0, {}, {}});
      break;
    case E::object_end:
    case E::array_end:
      if (!frames_.empty()) frames_.pop_back();
      break;
    case E::key: {
      if (frames_.empty()) break;
      Frame& frame = frames_.back();
      frame.key = parsed.get<std::string>();
      if (!frame.keys.insert(frame.key).second) duplicates_->push_back(path());
      break;
    }
    case E::value:
      break;
  }
  return true;
}

JsonPath DuplicateKeyTracker::path() const {
  JsonPath out;
  for (const Frame& frame : frames_) {
    if (frame.is_array) {
      out.push_back({true, frame.count == 0 ? 0 : frame.count - 1, {}});
    } else {
      out.push_back({false, 0, frame.key});
    }
  }
  return out;
}

}  // namespace failcat
