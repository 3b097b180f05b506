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

TEST(Tokenizer, IdsJoinedToANameByUnderscoresAreMasked) {
  EXPECT_EQ(message_signature("rate limited (request id: req_4f1c2d9e8a7b)"),
            message_signature("rate limited (request id: req_9e0a1b2c3d4f)"));
  EXPECT_EQ(message_signature("rate limited (request id: req_4f1c2d9e8a7b)"),
            "rate limited request id req_<hex>");
  EXPECT_EQ(tokenize_message("run_0196a3b0-1c2d-7e3f-8a4b-5c6d7e8f9a0b failed"),
            (std::vector<std::string>{"run_<uuid>", "failed"}));
  EXPECT_EQ(tokenize_message("x_0196A3B0-1C2D-7E3F-8A4B-5C6D7E8F9A0B_y"),
            (std::vector<std::string>{"x_<uuid>_y"}));
  // Names stay as they were: parts without ids, trailing and doubled underscores.
  EXPECT_EQ(tokenize_message("E_TIMEOUT_3 tool__call_ _x"),
            (std::vector<std::string>{"e_timeout_<num>", "tool__call_", "_x"}));
}

TEST(Tokenizer, ALongTokenNeitherEmptiesNorEndsTheSignature) {
  const std::string blob(300, 'a');
  EXPECT_EQ(message_signature(blob + " connection refused"), "<long> connection refused");
  EXPECT_EQ(message_signature("upload " + blob + " failed"), "upload <long> failed");
  EXPECT_EQ(message_signature("upload " + blob + " failed"),
            message_signature("upload " + std::string(500, 'b') + " failed"));
  // Still at most 200 bytes, ending on a whole token.
  std::string many;
  for (int i = 0; i < 100; ++i) many += blob + " ";
  const auto sig = message_signature(many);
  EXPECT_LE(sig.size(), 200u);
  EXPECT_EQ(sig.rfind("<long>"), sig.size() - 6);
}

}  // namespace
}  // namespace failcat
