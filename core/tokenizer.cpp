#include "core/tokenizer.hpp"

#include "core/uuid.hpp"

namespace failcat {
namespace {

constexpr std::size_t kMaxSignatureBytes = 200;
constexpr std::size_t kSignatureInputBytes = 4096;

bool is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c >= 0x80;
}

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

bool looks_hex(std::string_view t) {
  if (t.size() > 2 && t[0] == '0' && t[1] == 'x') {
    for (std::size_t i = 2; i < t.size(); ++i)
      if (!is_hex_digit(t[i])) return false;
    return true;
  }
  if (t.size() < 6) return false;
  bool digit = false;
  bool letter = false;
  for (char c : t) {
    if (!is_hex_digit(c)) return false;
    (c <= '9' ? digit : letter) = true;
  }
  return digit && letter;
}

// Replaces each run of decimal digits with <num>.
std::string mask_numbers(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  for (std::size_t i = 0; i < t.size();) {
    if (t[i] >= '0' && t[i] <= '9') {
      while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
      out += "<num>";
    } else {
      out.push_back(t[i++]);
    }
  }
  return out;
}

void emit_word(std::string_view word, std::vector<std::string>& out) {
  if (word.empty() || out.size() >= kMaxTokens) return;
  if (looks_hex(word)) {
    out.emplace_back("<hex>");
  } else {
    out.push_back(mask_numbers(word));
  }
}

}  // namespace

std::vector<std::string> tokenize_message(std::string_view message) {
  if (message.size() > kMaxTokenizedBytes) message = message.substr(0, kMaxTokenizedBytes);
  std::string lower(message);
  for (auto& c : lower)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');

  std::vector<std::string> out;
  std::size_t i = 0;
  const std::size_t n = lower.size();
  while (i < n && out.size() < kMaxTokens) {
    if (!is_word_byte(static_cast<unsigned char>(lower[i]))) {
      ++i;
      continue;
    }
    // A UUID spans dashes, so check for one before splitting on them.
    if (i + 36 <= n && is_uuid(std::string_view(lower).substr(i, 36)) &&
        (i + 36 == n || !is_word_byte(static_cast<unsigned char>(lower[i + 36])))) {
      out.emplace_back("<uuid>");
      i += 36;
      continue;
    }
    std::size_t j = i;
    while (j < n && is_word_byte(static_cast<unsigned char>(lower[j]))) ++j;
    emit_word(std::string_view(lower).substr(i, j - i), out);
    i = j;
  }
  return out;
}

std::string message_signature(std::string_view message) {
  // 200 bytes of tokens never need more than the message's first few kilobytes.
  if (message.size() > kSignatureInputBytes) message = message.substr(0, kSignatureInputBytes);
  std::string sig;
  for (const auto& token : tokenize_message(message)) {
    if (sig.size() + token.size() + 1 > kMaxSignatureBytes) break;
    if (!sig.empty()) sig.push_back(' ');
    sig += token;
  }
  return sig;
}

}  // namespace failcat
