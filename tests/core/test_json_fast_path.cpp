// parse_json_text's fast path (simdjson) must give exactly the value nlohmann's parser gives:
// the same types (unsigned for integers >= 0, signed for negative ones and "-0", double for
// the rest) and the same numbers, or leave the text to the slow path. The rule checked here is
// that equality, on hand-picked edge cases and on the real data files servesim reads.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"

namespace servesim {
namespace {

using nlohmann::json;

// Every value with its type, in document order: equal texts mean equal types and values.
void typed(const json& j, std::string& s) {
  switch (j.type()) {
    case json::value_t::object:
      s.push_back('{');
      for (const auto& [k, v] : j.items()) {
        s.append(k).push_back(':');
        typed(v, s);
        s.push_back(',');
      }
      s.push_back('}');
      return;
    case json::value_t::array:
      s.push_back('[');
      for (const auto& v : j) {
        typed(v, s);
        s.push_back(',');
      }
      s.push_back(']');
      return;
    case json::value_t::number_unsigned:
      s.push_back('u');
      break;
    case json::value_t::number_integer:
      s.push_back('i');
      break;
    case json::value_t::number_float:
      s.push_back('f');
      break;
    default:
      s.append(j.type_name());
  }
  s.append(j.dump());
}

std::string typed(const json& j) {
  std::string s;
  typed(j, s);
  return s;
}

void expect_as_nlohmann(const std::string& text) {
  EXPECT_EQ(typed(parse_json_text(text, "f.json")), typed(json::parse(text))) << text;
}

TEST(JsonFastPath, IntegersKeepNlohmannsSignedness) {
  expect_as_nlohmann("[0, 1, -1, -0, 9223372036854775807, -9223372036854775808, 18446744073709551615]");
  expect_as_nlohmann("{\"a\": -0, \"b\": \"-0\", \"c\": -0.5, \"d\": [-0]}");
}

TEST(JsonFastPath, IntegersBeyondSixtyFourBitsBecomeDoubles) {
  expect_as_nlohmann("[18446744073709551616, -9223372036854775809, 123456789012345678901234567890]");
}

TEST(JsonFastPath, DoublesAreCorrectlyRoundedAlike) {
  expect_as_nlohmann("[0.1, 1.0, -0.0, 1e2, 1E-5, 2.675, 1.7976931348623157e308, 4.9e-324, 1e-320, 1e-400,"
                     " 0.30000000000000004, 3.141592653589793238462643383279, 1.00000000000000011102230246251565404236316680908203125]");
}

TEST(JsonFastPath, StringsAndLiteralsAlike) {
  expect_as_nlohmann(R"({"s": "a\"b\\c\/d\n\t\u0000\u00e9\ud83d\ude00", "": "", "t": true, "f": false, "n": null})");
  expect_as_nlohmann("\"\xC3\xA9\"");
  expect_as_nlohmann("  17  \n");
  expect_as_nlohmann("[[], {}, [[]], {\"a\": {}}]");
}

TEST(JsonFastPath, MalformedTextStillNamesLineAndColumn) {
  // Refused by both parsers: the slow path's message (line 1, column 4: the ']').
  try {
    parse_json_text("[1,]", "f.json");
    FAIL() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("f.json:1:4"), std::string::npos) << e.what();
  }
}

TEST(JsonFastPath, TheDataFilesParseAsNlohmannParsesThem) {
  // Every model, hardware and fitted-profile file shipped: the fast path's value equals nlohmann's.
  namespace fs = std::filesystem;
  int files = 0;
  for (const char* dir : {"models", "hardware_profiles", "calibration/profiles"}) {
    for (const auto& e : fs::recursive_directory_iterator(fs::path(SERVESIM_DATA_DIR) / dir)) {
      if (e.path().extension() != ".json") continue;
      std::ifstream in(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << in.rdbuf();
      EXPECT_EQ(typed(read_json_file(e.path().string())), typed(json::parse(ss.str()))) << e.path();
      ++files;
    }
  }
  EXPECT_GT(files, 10);
}

}  // namespace
}  // namespace servesim
