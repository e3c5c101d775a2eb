// Limits on user JSON and on quoted values (issue 13, defects 4 and 6).
#include <gtest/gtest.h>

#include <string>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {
namespace {

std::string error_of(const std::string& text) {
  try {
    parse_json_text(text, "f.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(QuotedValue, ShortValuesAreQuotedWhole) { EXPECT_EQ(quoted_value("abc"), "abc"); }

TEST(QuotedValue, LongValuesAreCutAtEightyBytesWithTheirLength) {
  // 100 'x': the first 80, then the length of the whole.
  EXPECT_EQ(quoted_value(std::string(100, 'x')), std::string(80, 'x') + "... (100 bytes in all)");
}

TEST(QuotedValue, CutNeverSplitsAUtf8Character) {
  // 79 ASCII bytes then "é" (2 bytes: C3 A9) straddling byte 80: the cut moves back to 79.
  const std::string v = std::string(79, 'a') + "\xC3\xA9" + std::string(10, 'b');
  EXPECT_EQ(quoted_value(v), std::string(79, 'a') + "... (91 bytes in all)");
}

TEST(QuotedValue, ControlCharactersAreEscapedSoTheMessageStaysOneLine) {
  EXPECT_EQ(quoted_value("a\nb\tc\x01"), "a\\nb\\tc\\x01");
}

TEST(ParseJsonText, DepthSixtyFourIsAcceptedSixtyFiveRefusedWithItsPosition) {
  EXPECT_NO_THROW(parse_json_text(std::string(64, '[') + std::string(64, ']'), "f.json"));
  // The 65th '[' is byte 65 of line 1.
  const std::string e = error_of(std::string(65, '[') + std::string(65, ']'));
  EXPECT_NE(e.find("f.json:1:65"), std::string::npos) << e;
  EXPECT_NE(e.find("deeper than 64"), std::string::npos) << e;
}

TEST(ParseJsonText, BracketsInsideStringsDoNotCount) {
  EXPECT_NO_THROW(parse_json_text("{\"a\": \"" + std::string(1000, '[') + "\\\"[[\"}", "f.json"));
}

TEST(ParseJsonText, HundredThousandNestedBracketsAreRefusedNotACrash) {
  EXPECT_NE(error_of(std::string(100000, '[')).find("deeper than 64"), std::string::npos);
}

TEST(ParseJsonText, DuplicateKeysAreRefusedWithTheirPath) {
  const std::string e = error_of("{\"a\": {\"b\": 1, \"c\": [{\"d\": 1, \"d\": 2}]}}");
  EXPECT_NE(e.find("f.json: a.c.d"), std::string::npos) << e;
  EXPECT_NE(e.find("twice"), std::string::npos) << e;
  // The same key in two different objects is fine.
  EXPECT_NO_THROW(parse_json_text("{\"a\": {\"k\": 1}, \"b\": {\"k\": 2}, \"k\": 3}", "f.json"));
}

TEST(ParseJsonText, ByteOrderMarkIsSkipped) {
  EXPECT_EQ(parse_json_text("\xEF\xBB\xBF{\"a\": 1}", "f.json")["a"], 1);
}

TEST(ParseJsonText, NumberOverflowIsAnInputError) {
  EXPECT_NE(error_of("{\"seed\": 1e400}").find("f.json"), std::string::npos);
}

TEST(ParseJsonText, MalformedJsonNamesLineAndColumn) {
  // Line 2, column 7: the ',' where a value was expected (' "a": ,').
  EXPECT_NE(error_of("{\n \"a\": ,\n}").find("f.json:2:7"), std::string::npos) << error_of("{\n \"a\": ,\n}");
}

// optional_string: the default when absent, null or not in an object; a named error, not an
// internal JSON type error, for another type (found by the fuzzers on model_type).
TEST(OptionalString, AbsentNullOrNotAnObjectGiveTheDefault) {
  EXPECT_EQ(optional_string(nlohmann::json::object(), "k", "d", "f.json"), "d");
  EXPECT_EQ(optional_string(nlohmann::json::parse(R"({"k": null})"), "k", "d", "f.json"), "d");
  EXPECT_EQ(optional_string(nlohmann::json::array(), "k", "d", "f.json"), "d");
  EXPECT_EQ(optional_string(nlohmann::json::parse(R"({"k": "v"})"), "k", "d", "f.json"), "v");
}

TEST(OptionalString, AnotherTypeIsANamedBadValue) {
  try {
    optional_string(nlohmann::json::parse(R"({"k": 5})"), "k", "d", "f.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "f.json: k: got '5', expected a string");
  }
}

}  // namespace
}  // namespace servesim
