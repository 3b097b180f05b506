#include "core/tokenizer.hpp"

#include <gtest/gtest.h>

namespace failcat {
namespace {

using Tokens = std::vector<std::string>;

TEST(Tokenizer, LowercasesAndSplitsOnPunctuation) {
  EXPECT_EQ(tokenize_message("Rate limit: Too MANY requests!"),
            (Tokens{"rate", "limit", "too", "many", "requests"}));
}

TEST(Tokenizer, MasksNumbersHexAndUuids) {
  EXPECT_EQ(tokenize_message("timeout after 3000ms"), tokenize_message("timeout after 5000ms"));
  EXPECT_EQ(
      tokenize_message("req 7f3a9c2e11 at 0xdeadbeef for 123e4567-e89b-12d3-a456-426614174000"),
      (Tokens{"req", "<hex>", "at", "<hex>", "for", "<uuid>"}));
  EXPECT_EQ(tokenize_message("http2 v1"), (Tokens{"http<num>", "v<num>"}));
}

TEST(Tokenizer, SurvivesBinaryAndHugeInput) {
  std::string garbage;
  for (int i = 0; i < 20'000; ++i) garbage.push_back(static_cast<char>(i * 37));
  const auto tokens = tokenize_message(garbage);
  EXPECT_LE(tokens.size(), kMaxTokens);
  EXPECT_TRUE(tokenize_message("").empty());
}

TEST(Tokenizer, TakesEveryWordOfTheLongestMessageTheApiAccepts) {
  // 10,000 characters: 5,000 one-letter words; then a long word before a short one.
  std::string words;
  for (int i = 0; i < 5'000; ++i) words += i + 1 < 5'000 ? "a " : "z";
  const auto tokens = tokenize_message(words);
  ASSERT_EQ(tokens.size(), 5'000u);
  EXPECT_EQ(tokens.back(), "z");
  EXPECT_EQ(tokenize_message(std::string(9'000, 'q') + " tail").back(), "tail");
}

TEST(Tokenizer, SignatureGroupsVariants) {
  EXPECT_EQ(message_signature("Connection reset by peer 10.0.0.7:5432"),
            message_signature("connection reset by peer 10.0.0.9:6543"));
  EXPECT_EQ(message_signature("Timeout after 3000ms"), "timeout after <num>ms");
  EXPECT_LE(message_signature(std::string(5000, 'a') + " b").size(), 200u);
}

}  // namespace
}  // namespace failcat
