#pragma once
// ASCII case folding, whatever the process's locale: header names, media types, UUIDs and host
// names compare case-insensitively in ASCII only.

#include <string>
#include <string_view>

namespace failcat {

inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

inline std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace failcat
