#include "core/request_parsing.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace failcat {
namespace {

using nlohmann::json;

constexpr Micros kNow = 1'767'225'600 * kMicrosPerSecond;

// The field a failed parse names, or "<ok>" when it succeeded.
template <class T>
std::string field_of(const Result<T>& result) {
  if (result.ok()) return "<ok>";
  EXPECT_EQ(result.error().kind, ErrorKind::invalid_argument);
  EXPECT_FALSE(result.error().message.empty());
  return result.error().field;
}

json valid_failure() {
  return json{{"run_id", "run-1"}, {"error_code", "RATE_LIMITED"}};
}

std::string with(const std::string& key, const json& value) {
  json body = valid_failure();
  body[key] = value;
  return body.dump();
}

std::string nested(std::size_t depth) {
  std::string inner;
  for (std::size_t i = 1; i < depth; ++i) inner += "[";
  for (std::size_t i = 1; i < depth; ++i) inner += "]";
  return R"({"run_id":"r","error_code":"E","context":{"deep":)" +
         (inner.empty() ? std::string("1") : inner) + "}}";
}

TEST(FailureBody, AcceptsEveryField) {
  const json body = {{"run_id", "run-7"},
                     {"tenant_id", "0196A3B0-0000-7000-8000-00000000ABCD"},
                     {"error_code", "  HTTP_429\t"},
                     {"error_message", "too many requests"},
                     {"skill_id", "search"},
                     {"step_index", 3},
                     {"context", {{"attempt", 2}, {"model", "m"}}},
                     {"event_id", "evt-1"}};
  const auto in = parse_failure_body(body.dump());
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_EQ(in->run_id, "run-7");
  EXPECT_EQ(in->tenant_id, "0196a3b0-0000-7000-8000-00000000abcd");
  EXPECT_EQ(in->error_code, "HTTP_429");
  EXPECT_EQ(in->error_message, "too many requests");
  EXPECT_EQ(in->skill_id, "search");
  EXPECT_EQ(in->step_index, 3);
  EXPECT_EQ(in->context_json, R"({"attempt":2,"model":"m"})");
  EXPECT_EQ(in->event_id, "evt-1");
}

TEST(FailureBody, NullOptionalFieldsAreAbsent) {
  const json body = {{"run_id", "r"},        {"error_code", "E"},
                     {"tenant_id", nullptr}, {"error_message", nullptr},
                     {"skill_id", nullptr},  {"step_index", nullptr},
                     {"context", nullptr},   {"event_id", nullptr}};
  const auto in = parse_failure_body(body.dump());
  ASSERT_TRUE(in.ok()) << in.error().message;
  EXPECT_FALSE(in->tenant_id);
  EXPECT_FALSE(in->error_message);
  EXPECT_FALSE(in->skill_id);
  EXPECT_FALSE(in->step_index);
  EXPECT_FALSE(in->context_json);
  EXPECT_FALSE(in->event_id);
}

TEST(FailureBody, UnknownFieldIsNamed) {
  EXPECT_EQ(field_of(parse_failure_body(with("colour", "red"))), "colour");
  EXPECT_EQ(field_of(parse_failure_body(with("context_json", "{}"))), "context_json");
}

TEST(FailureBody, WrongTypesAreNamed) {
  EXPECT_EQ(field_of(parse_failure_body(with("run_id", 5))), "run_id");
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", json::array()))), "error_code");
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", nullptr))), "error_code");
  EXPECT_EQ(field_of(parse_failure_body(with("error_message", true))), "error_message");
  EXPECT_EQ(field_of(parse_failure_body(with("skill_id", 1.5))), "skill_id");
  EXPECT_EQ(field_of(parse_failure_body(with("tenant_id", 7))), "tenant_id");
  EXPECT_EQ(field_of(parse_failure_body(with("event_id", json::object()))), "event_id");
  const auto r = parse_failure_body(with("run_id", 5));
  EXPECT_NE(r.error().message.find("must be a string"), std::string::npos) << r.error().message;
}

TEST(FailureBody, RequiredFieldsMissing) {
  EXPECT_EQ(field_of(parse_failure_body(R"({"error_code":"E"})")), "run_id");
  EXPECT_EQ(field_of(parse_failure_body(R"({"run_id":"r"})")), "error_code");
}

TEST(FailureBody, ErrorCodeEmptyWhitespaceOrTooLong) {
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", ""))), "error_code");
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", " \t\n "))), "error_code");
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", std::string(256, 'E')))), "error_code");
  const auto at_limit = parse_failure_body(with("error_code", " " + std::string(255, 'E') + " "));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().message;
  EXPECT_EQ(at_limit->error_code.size(), 255u);
}

TEST(FailureBody, RunIdEmptyOrTooLong) {
  EXPECT_EQ(field_of(parse_failure_body(with("run_id", ""))), "run_id");
  EXPECT_EQ(field_of(parse_failure_body(with("run_id", " \t "))), "run_id");
  EXPECT_EQ(field_of(parse_failure_body(with("skill_id", "   "))), "skill_id");
  const auto spaced = parse_failure_body(with("run_id", " run 7 "));  // kept as sent
  ASSERT_TRUE(spaced.ok()) << spaced.error().message;
  EXPECT_EQ(spaced->run_id, " run 7 ");
  EXPECT_EQ(field_of(parse_failure_body(with("run_id", std::string(256, 'r')))), "run_id");
  EXPECT_TRUE(parse_failure_body(with("run_id", std::string(255, 'r'))).ok());
}

// The columns are VARCHAR(255): characters, not bytes.
TEST(FailureBody, RunIdAndErrorCodeLimitsCountCharacters) {
  std::string e_acute_255;
  for (int i = 0; i < 255; ++i) e_acute_255 += "\xc3\xa9";  // 510 bytes
  EXPECT_TRUE(parse_failure_body(with("run_id", e_acute_255)).ok());
  EXPECT_TRUE(parse_failure_body(with("error_code", e_acute_255)).ok());
  EXPECT_EQ(field_of(parse_failure_body(with("run_id", e_acute_255 + "x"))), "run_id");
  EXPECT_EQ(field_of(parse_failure_body(with("error_code", e_acute_255 + "x"))), "error_code");
  EXPECT_TRUE(parse_filter_value("run_id", e_acute_255).ok());
  std::string category_50;
  for (int i = 0; i < 50; ++i) category_50 += "\xc3\xa9";
  EXPECT_TRUE(parse_filter_value("category", category_50).ok());
  EXPECT_EQ(field_of(parse_filter_value("category", category_50 + "x")), "category");
}

TEST(FailureBody, ErrorMessageLimitCountsCharacters) {
  EXPECT_TRUE(parse_failure_body(with("error_message", std::string(10'000, 'x'))).ok());
  EXPECT_EQ(field_of(parse_failure_body(with("error_message", std::string(10'001, 'x')))),
            "error_message");
  std::string accents;
  for (int i = 0; i < 10'000; ++i) accents += "\xC3\xA9";  // é: two bytes, one character
  EXPECT_TRUE(parse_failure_body(with("error_message", accents)).ok());
  EXPECT_EQ(field_of(parse_failure_body(with("error_message", accents + "\xC3\xA9"))),
            "error_message");
  EXPECT_TRUE(parse_failure_body(with("error_message", "")).ok());
}

TEST(FailureBody, ShortTextLimits) {
  EXPECT_TRUE(parse_failure_body(with("skill_id", std::string(100, 's'))).ok());
  EXPECT_EQ(field_of(parse_failure_body(with("skill_id", std::string(101, 's')))), "skill_id");
  EXPECT_EQ(field_of(parse_failure_body(with("skill_id", ""))), "skill_id");
  EXPECT_EQ(field_of(parse_failure_body(with("event_id", ""))), "event_id");
  EXPECT_EQ(field_of(parse_failure_body(with("event_id", std::string(256, 'e')))), "event_id");
  EXPECT_TRUE(parse_failure_body(with("event_id", std::string(255, 'e'))).ok());
}

TEST(FailureBody, ContextMustBeASmallObject) {
  EXPECT_EQ(field_of(parse_failure_body(with("context", "{}"))), "context");
  EXPECT_EQ(field_of(parse_failure_body(with("context", json::array({1})))), "context");
  EXPECT_EQ(field_of(parse_failure_body(with("context", 3))), "context");
  // {"k":"…"} is 8 bytes of syntax around the value.
  const std::size_t fits = kMaxContextBytes - 8;
  const auto at_limit = parse_failure_body(with("context", {{"k", std::string(fits, 'x')}}));
  ASSERT_TRUE(at_limit.ok()) << at_limit.error().message;
  EXPECT_EQ(at_limit->context_json->size(), kMaxContextBytes);
  EXPECT_EQ(field_of(parse_failure_body(with("context", {{"k", std::string(fits + 1, 'x')}}))),
            "context");
}

TEST(FailureBody, ContextIsStoredCompactly) {
  const auto in =
      parse_failure_body(R"({"run_id":"r","error_code":"E","context": { "a" : [ 1 , 2 ] }})");
  ASSERT_TRUE(in.ok());
  EXPECT_EQ(in->context_json, R"({"a":[1,2]})");
}

TEST(FailureBody, NulCharactersAreRejected) {
  EXPECT_EQ(field_of(parse_failure_body(R"({"run_id":"r\u0000","error_code":"E"})")), "run_id");
  EXPECT_EQ(
      field_of(parse_failure_body(R"({"run_id":"r","error_code":"E","context":{"a":"\u0000"}})")),
      "context");
}

TEST(FailureBody, TenantMustBeAUuid) {
  EXPECT_EQ(field_of(parse_failure_body(with("tenant_id", "acme"))), "tenant_id");
  EXPECT_EQ(field_of(parse_failure_body(with("tenant_id", ""))), "tenant_id");
  EXPECT_EQ(field_of(parse_failure_body(with("tenant_id", "0196a3b0-0000-7000-8000-00000000abc"))),
            "tenant_id");
  EXPECT_EQ(
      field_of(parse_failure_body(with("tenant_id", "{0196a3b0-0000-7000-8000-00000000abcd}"))),
      "tenant_id");
}

TEST(FailureBody, StepIndexMustBeANonNegativeInt32) {
  EXPECT_EQ(field_of(parse_failure_body(with("step_index", -1))), "step_index");
  EXPECT_EQ(field_of(parse_failure_body(with("step_index", 1.5))), "step_index");
  EXPECT_EQ(field_of(parse_failure_body(R"({"run_id":"r","error_code":"E","step_index":2.0})")),
            "step_index");
  EXPECT_EQ(field_of(parse_failure_body(with("step_index", "3"))), "step_index");
  EXPECT_EQ(field_of(parse_failure_body(with("step_index", true))), "step_index");
  EXPECT_EQ(field_of(parse_failure_body(with("step_index", 2'147'483'648LL))), "step_index");
  EXPECT_EQ(field_of(parse_failure_body(R"({"run_id":"r","error_code":"E","step_index":1e400})")),
            "body");
  const auto max = parse_failure_body(with("step_index", 2'147'483'647LL));
  ASSERT_TRUE(max.ok());
  EXPECT_EQ(max->step_index, 2'147'483'647);
  EXPECT_EQ(parse_failure_body(with("step_index", 0))->step_index, 0);
}

TEST(FailureBody, NestingIsBoundedAtSixtyFour) {
  // The body object is level 1 and `context` level 2, so nested(n) is n + 1 deep.
  EXPECT_TRUE(parse_failure_body(nested(63)).ok());
  EXPECT_EQ(field_of(parse_failure_body(nested(64))), "body");
  EXPECT_EQ(field_of(parse_failure_body(std::string(100'000, '['))), "body");
}

TEST(JsonBody, DepthScanSkipsStringsAndEscapes) {
  EXPECT_EQ(json_nesting_depth(R"({"a":"[[[[\"[[{{"})", 64), 1u);
  EXPECT_EQ(json_nesting_depth(R"([["\\"],[{}]])", 64), 3u);
  std::string at_limit(64, '[');
  at_limit += std::string(64, ']');
  EXPECT_EQ(json_nesting_depth(at_limit, 64), 64u);
  const std::string arrays_63 = std::string(63, '[') + std::string(63, ']');
  EXPECT_TRUE(parse_json_body("{\"a\":" + arrays_63 + "}").ok());
  EXPECT_EQ(field_of(parse_json_body("{\"a\":" + at_limit + "}")), "body");
}

TEST(JsonBody, InvalidJsonAndUtf8NameTheBody) {
  EXPECT_EQ(field_of(parse_json_body("")), "body");
  EXPECT_EQ(field_of(parse_json_body("{")), "body");
  EXPECT_EQ(field_of(parse_json_body(R"({"a":1,})")), "body");
  EXPECT_EQ(field_of(parse_json_body(R"({"a":1} trailing)")), "body");
  EXPECT_EQ(field_of(parse_json_body("{\"a\":\"\xff\xfe\"}")), "body");
  EXPECT_EQ(field_of(parse_json_body("{\"a\":\"\xc0\xaf\"}")), "body");
  EXPECT_EQ(field_of(parse_json_body(R"({"a":"\ud800"})")), "body");
  EXPECT_EQ(field_of(parse_json_body("[1]")), "body");
  EXPECT_EQ(field_of(parse_json_body("\"text\"")), "body");
  EXPECT_EQ(field_of(parse_json_body("null")), "body");
}

TEST(JsonBody, RepeatedKeyIsNamedByPath) {
  EXPECT_EQ(field_of(parse_json_body(R"({"run_id":"a","run_id":"b"})")), "run_id");
  EXPECT_EQ(field_of(parse_json_body(R"({"failures":[{"a":1},{"b":1,"c":[2],"b":2}]})")),
            "failures[1].b");
  EXPECT_EQ(field_of(parse_json_body(R"({"x":{"y":{"z":1,"z":2}}})")), "x.y.z");
  EXPECT_TRUE(parse_json_body(R"({"a":{"k":1},"b":{"k":1}})").ok());
}

TEST(FailureInput, PrefixNamesTheItem) {
  EXPECT_EQ(field_of(parse_failure_input(json{{"run_id", "r"}}, "failures[3].")),
            "failures[3].error_code");
  EXPECT_EQ(field_of(parse_failure_input(json::array(), "failures[3].")), "failures[3]");
  EXPECT_EQ(field_of(parse_failure_input(json("x"), "")), "body");
}

TEST(FailureInput, InvalidUtf8BuiltInCodeIsRejected) {
  json object = valid_failure();
  object["error_message"] = "\xff";
  EXPECT_EQ(field_of(parse_failure_input(object, "")), "error_message");
  object = valid_failure();
  object["context"] = {{"k", "\xff"}};
  EXPECT_EQ(field_of(parse_failure_input(object, "")), "context");
}

std::string batch_of(std::size_t n) {
  json items = json::array();
  for (std::size_t i = 0; i < n; ++i) {
    items.push_back({{"run_id", "r" + std::to_string(i)}, {"error_code", "E"}});
  }
  return json{{"failures", items}}.dump();
}

TEST(FailureBatch, AcceptsOneToAThousand) {
  const auto one = parse_failure_batch(batch_of(1));
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->size(), 1u);
  const auto full = parse_failure_batch(batch_of(1000));
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full->size(), 1000u);
  EXPECT_EQ((*full)[999].run_id, "r999");
}

TEST(FailureBatch, RejectsEmptyOversizedAndMalformed) {
  EXPECT_EQ(field_of(parse_failure_batch(batch_of(0))), "failures");
  EXPECT_EQ(field_of(parse_failure_batch(batch_of(1001))), "failures");
  EXPECT_EQ(field_of(parse_failure_batch("{}")), "failures");
  EXPECT_EQ(field_of(parse_failure_batch(R"({"failures":{}})")), "failures");
  EXPECT_EQ(field_of(parse_failure_batch(R"({"failures":null})")), "failures");
  EXPECT_EQ(
      field_of(parse_failure_batch(R"({"failures":[{"run_id":"r","error_code":"E"}],"x":1})")),
      "x");
  EXPECT_EQ(field_of(parse_failure_batch(R"([{"run_id":"r","error_code":"E"}])")), "body");
}

TEST(FailureBatch, ItemErrorsNameTheItem) {
  json body = json::parse(batch_of(5));
  body["failures"][3]["error_code"] = "";
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[3].error_code");
  body = json::parse(batch_of(5));
  body["failures"][4]["extra"] = 1;
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[4].extra");
  body = json::parse(batch_of(5));
  body["failures"][2] = "not an object";
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[2]");
  body = json::parse(batch_of(5));
  body["failures"][1]["step_index"] = -4;
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[1].step_index");
}

TEST(FailureBatch, ItemTenantMustBeAUuid) {
  json body = json::parse(batch_of(3));
  body["failures"][1]["tenant_id"] = "acme";
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[1].tenant_id");
  body["failures"][1]["tenant_id"] = "0196A3B0-0000-7000-8000-00000000ABCD";
  auto items = parse_failure_batch(body.dump());
  ASSERT_TRUE(items.ok());
  EXPECT_EQ((*items)[1].tenant_id, "0196a3b0-0000-7000-8000-00000000abcd");
}

TEST(FailureBatch, RepeatedEventIdIsRejected) {
  json body = json::parse(batch_of(3));
  body["failures"][0]["event_id"] = "evt";
  body["failures"][2]["event_id"] = "evt";
  EXPECT_EQ(field_of(parse_failure_batch(body.dump())), "failures[2].event_id");
  body["failures"][2]["event_id"] = "evt-2";
  EXPECT_TRUE(parse_failure_batch(body.dump()).ok());
}

TEST(RecoveryPatch, ParsesAndDefaults) {
  const auto minimal = parse_recovery_patch(R"({"recovery_succeeded":false})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_FALSE(minimal->recovery_succeeded);
  EXPECT_TRUE(minimal->recovery_attempted);
  EXPECT_FALSE(minimal->notes);
  EXPECT_FALSE(minimal->recovered_by);

  const auto full = parse_recovery_patch(
      R"({"recovery_succeeded":true,"recovery_attempted":true,"notes":"restarted","recovered_by":"ops"})");
  ASSERT_TRUE(full.ok());
  EXPECT_TRUE(full->recovery_succeeded);
  EXPECT_EQ(full->notes, "restarted");
  EXPECT_EQ(full->recovered_by, "ops");

  const auto nulls = parse_recovery_patch(
      R"({"recovery_succeeded":false,"recovery_attempted":null,"notes":null,"recovered_by":null})");
  ASSERT_TRUE(nulls.ok());
  EXPECT_TRUE(nulls->recovery_attempted);

  const auto not_attempted =
      parse_recovery_patch(R"({"recovery_succeeded":false,"recovery_attempted":false})");
  ASSERT_TRUE(not_attempted.ok());
  EXPECT_FALSE(not_attempted->recovery_attempted);
}

TEST(RecoveryPatch, RejectsBadInput) {
  EXPECT_EQ(field_of(parse_recovery_patch("{}")), "recovery_succeeded");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":null})")), "recovery_succeeded");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":"true"})")),
            "recovery_succeeded");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":1})")), "recovery_succeeded");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"recovery_attempted":0})")),
            "recovery_attempted");
  EXPECT_EQ(
      field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"recovery_attempted":false})")),
      "recovery_attempted");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"notes":5})")), "notes");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"recovered_by":""})")),
            "recovered_by");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"recovered_by":"  "})")),
            "recovered_by");
  EXPECT_EQ(field_of(parse_recovery_patch(R"({"recovery_succeeded":true,"status":"done"})")),
            "status");
  const json long_notes = {{"recovery_succeeded", true}, {"notes", std::string(10'001, 'n')}};
  EXPECT_EQ(field_of(parse_recovery_patch(long_notes.dump())), "notes");
  const json long_by = {{"recovery_succeeded", true}, {"recovered_by", std::string(101, 'b')}};
  EXPECT_EQ(field_of(parse_recovery_patch(long_by.dump())), "recovered_by");
}

TEST(BulkRecovery, BuildsFilterAndPatch) {
  const auto req = parse_bulk_recovery(
      R"({"tenant_id":"0196A3B0-0000-7000-8000-00000000ABCD","category":"rate_limit",
          "error_code":" E1 ","run_id":"run-9","since_hours":48,"status":"unrecovered",
          "recovery_succeeded":true,"notes":"bulk","recovered_by":"ops"})",
      kNow);
  ASSERT_TRUE(req.ok()) << req.error().message;
  EXPECT_EQ(req->filter.tenant_id, "0196a3b0-0000-7000-8000-00000000abcd");
  EXPECT_EQ(req->filter.category, "rate_limit");
  EXPECT_EQ(req->filter.error_code, "E1");
  EXPECT_EQ(req->filter.run_id, "run-9");
  EXPECT_EQ(req->filter.since, kNow - 48 * kMicrosPerHour);
  EXPECT_EQ(req->filter.status, RecoveryStatus::unrecovered);
  EXPECT_TRUE(req->patch.recovery_succeeded);
  EXPECT_TRUE(req->patch.recovery_attempted);
  EXPECT_EQ(req->patch.notes, "bulk");
  EXPECT_EQ(req->patch.recovered_by, "ops");
}

TEST(BulkRecovery, Defaults) {
  const auto req = parse_bulk_recovery(R"({"recovery_succeeded":false})", kNow);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(req->filter.since, kNow - 24 * kMicrosPerHour);
  EXPECT_EQ(req->filter.status, RecoveryStatus::all);
  EXPECT_FALSE(req->filter.tenant_id);
  EXPECT_FALSE(req->filter.run_id);
}

TEST(BulkRecovery, RejectsBadInput) {
  const auto bad = [](const std::string& extra) {
    return field_of(parse_bulk_recovery(R"({"recovery_succeeded":true,)" + extra + "}", kNow));
  };
  EXPECT_EQ(bad(R"("since_hours":0)"), "since_hours");
  EXPECT_EQ(bad(R"("since_hours":8761)"), "since_hours");
  EXPECT_EQ(bad(R"("since_hours":1.5)"), "since_hours");
  EXPECT_EQ(bad(R"("since_hours":"24")"), "since_hours");
  EXPECT_EQ(bad(R"("since_hours":-3)"), "since_hours");
  EXPECT_EQ(bad(R"("status":"pending")"), "status");
  EXPECT_EQ(bad(R"("status":1)"), "status");
  EXPECT_EQ(bad(R"("tenant_id":"nope")"), "tenant_id");
  EXPECT_EQ(bad(R"("category":"")"), "category");
  EXPECT_EQ(bad(R"("error_code":"  ")"), "error_code");
  EXPECT_EQ(bad(R"("run_id":3)"), "run_id");
  EXPECT_EQ(bad(R"("limit":10)"), "limit");
  // A null filter would widen the update to every value of the field.
  for (const char* name :
       {"tenant_id", "category", "error_code", "run_id", "since_hours", "status"}) {
    EXPECT_EQ(bad("\"" + std::string(name) + "\":null"), name);
  }
  EXPECT_EQ(field_of(parse_bulk_recovery(R"({"since_hours":8760})", kNow)), "recovery_succeeded");
  EXPECT_TRUE(parse_bulk_recovery(R"({"recovery_succeeded":true,"since_hours":8760})", kNow).ok());
}

TEST(RequestParsing, RoutesWithoutABodyTakeNothingOrAnEmptyObject) {
  EXPECT_TRUE(parse_empty_body(""));
  EXPECT_TRUE(parse_empty_body(" \r\n"));
  EXPECT_TRUE(parse_empty_body("{}"));
  const auto field = parse_empty_body(R"({"x":1})");
  ASSERT_FALSE(field);
  EXPECT_EQ(field.error().field, "x");
  EXPECT_EQ(parse_empty_body("[]").error().field, "body");
  EXPECT_EQ(parse_empty_body("nonsense").error().field, "body");
}

TEST(BreakerAction, ParsesTheThreeActions) {
  EXPECT_EQ(*parse_breaker_action(R"({"action":"open"})"), BreakerAction::open);
  EXPECT_EQ(*parse_breaker_action(R"({"action":"close"})"), BreakerAction::close);
  EXPECT_EQ(*parse_breaker_action(R"({"action":"auto"})"), BreakerAction::automatic);
  EXPECT_EQ(field_of(parse_breaker_action(R"({"action":"OPEN"})")), "action");
  EXPECT_EQ(field_of(parse_breaker_action(R"({"action":"automatic"})")), "action");
  EXPECT_EQ(field_of(parse_breaker_action(R"({"action":1})")), "action");
  EXPECT_EQ(field_of(parse_breaker_action("{}")), "action");
  EXPECT_EQ(field_of(parse_breaker_action(R"({"action":"open","force":true})")), "force");
  EXPECT_EQ(field_of(parse_breaker_action("open")), "body");
}

TEST(FilterValue, ValidatesPerField) {
  EXPECT_EQ(*parse_filter_value("tenant_id", "00000000-0000-0000-0000-00000000000A"),
            "00000000-0000-0000-0000-00000000000a");
  EXPECT_EQ(*parse_filter_value("error_code", "\tE1 "), "E1");
  EXPECT_EQ(field_of(parse_filter_value("category", std::string(51, 'c'))), "category");
  EXPECT_TRUE(parse_filter_value("category", std::string(50, 'c')).ok());
  EXPECT_EQ(field_of(parse_filter_value("run_id", std::string(256, 'r'))), "run_id");
  EXPECT_EQ(field_of(parse_filter_value("run_id", std::string("a\0b", 3))), "run_id");
  EXPECT_EQ(field_of(parse_filter_value("run_id", "\xff")), "run_id");
}

}  // namespace
}  // namespace failcat

namespace failcat {
namespace {

TEST(ToFailureRecord, CopiesInputAndDefaultsTheTenant) {
  FailureInput in;
  in.run_id = "run-7";
  in.error_code = "E1";
  in.error_message = "boom";
  in.skill_id = "web.search";
  in.step_index = 3;
  in.context_json = R"({"a":1})";
  const auto r = to_failure_record(in, "id-1", 42);
  EXPECT_EQ(r.id, "id-1");
  EXPECT_EQ(r.run_id, "run-7");
  EXPECT_EQ(r.tenant_id, "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(r.error_message, "boom");
  EXPECT_EQ(r.step_index, 3);
  EXPECT_EQ(r.context_json, R"({"a":1})");
  EXPECT_EQ(r.created_at, 42);
  EXPECT_EQ(r.updated_at, 42);
  EXPECT_FALSE(r.catalog_entry_id.has_value());
  in.tenant_id = "11111111-1111-4111-8111-111111111111";
  EXPECT_EQ(to_failure_record(in, "id-2", 1).tenant_id, *in.tenant_id);
}

}  // namespace
}  // namespace failcat
