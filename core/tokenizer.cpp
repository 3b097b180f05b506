#include "core/tokenizer.hpp"

#include "core/uuid.hpp"

namespace failcat {
namespace {

constexpr std::size_t kMaxSignatureBytes = 200;
constexpr std::size_t kSignatureInputBytes = 4096;
constexpr std::size_t kMaxSignatureTokenBytes = 64;

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

/// A UUID at `text[i]` ending a word or a part of one (no word byte but `_` right after it).
bool uuid_at(std::string_view text, std::size_t i) {
  if (i + 36 > text.size() || !is_uuid(text.substr(i, 36))) return false;
  const std::size_t end = i + 36;
  return end == text.size() || text[end] == '_' ||
         !is_word_byte(static_cast<unsigned char>(text[end]));
}

/// The word starting at `text[i]` (a word byte), masked part by part between underscores, so
/// that ids joined to a name (`req_4f1c2d9e8a7b`, `run_<uuid>`) mask like ids standing alone.
/// Returns where the word ends.
std::size_t emit_word(std::string_view text, std::size_t i, std::vector<std::string>& out) {
  std::string token;
  const std::size_t n = text.size();
  while (true) {
    if (uuid_at(text, i)) {
      token += "<uuid>";
      i += 36;
    } else {
      std::size_t j = i;
      while (j < n && text[j] != '_' && is_word_byte(static_cast<unsigned char>(text[j]))) ++j;
      const std::string_view part = text.substr(i, j - i);
      token += looks_hex(part) ? std::string("<hex>") : mask_numbers(part);
      i = j;
    }
    if (i < n && text[i] == '_') {
      token.push_back('_');
      ++i;
      if (i < n && is_word_byte(static_cast<unsigned char>(text[i]))) continue;
    }
    break;
  }
  out.push_back(std::move(token));
  return i;
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
    // A UUID spans dashes, so each part of a word is checked for one before splitting.
    i = emit_word(lower, i, out);
  }
  return out;
}

std::string message_signature(std::string_view message) {
  // 200 bytes of tokens never need more than the message's first few kilobytes.
  if (message.size() > kSignatureInputBytes) message = message.substr(0, kSignatureInputBytes);
  std::string sig;
  for (const auto& token : tokenize_message(message)) {
    // A token this long is a blob (base64, a path, a dump): one placeholder, so it neither
    // ends the signature nor keeps apart messages that differ only in it.
    std::string_view word = token;
    if (word.size() > kMaxSignatureTokenBytes) word = "<long>";
    if (sig.size() + word.size() + 1 > kMaxSignatureBytes) break;
    if (!sig.empty()) sig.push_back(' ');
    sig += word;
  }
  return sig;
}

}  // namespace failcat
