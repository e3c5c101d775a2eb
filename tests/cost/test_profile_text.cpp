// FittedProfile::from_text: a profile read in place (JsonView over simdjson's document) is the
// profile nlohmann's tree gives, and every error is the one nlohmann's reader gives.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "tests/error_of.h"
#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/json_view.h"
#include "sim/cost/fitted_profile.h"

namespace servesim {
namespace {

using servesim::testing::error_of;

const std::string kProfile = std::string(SERVESIM_TEST_DATA) + "/profile_small.json";

TEST(ProfileText, EveryCommittedProfileReadsInPlaceAsThroughNlohmann) {
  int profiles = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles")) {
    const std::string path = entry.path().string();
    if (entry.path().extension() != ".json" || path.ends_with(".residuals.json")) continue;
    const std::string text = read_json_text(path);
    const auto fast = FittedProfile::from_text_fast(text, path);
    ASSERT_TRUE(fast.has_value()) << path << ": the in-place reader declined a committed profile";
    EXPECT_EQ(fast->to_json().dump(), FittedProfile::from_json(parse_json_text(text, path), path).to_json().dump()) << path;
    ++profiles;
  }
  EXPECT_GE(profiles, 10);
}

TEST(ProfileText, ErrorsAreTheNlohmannReadersErrors) {
  const nlohmann::json good = read_json_file(kProfile);
  auto same_error = [](const std::string& text, const std::string& needle) {
    const std::string slow = error_of([&] { (void)FittedProfile::from_json(parse_json_text(text, "p.json"), "p.json"); });
    EXPECT_FALSE(FittedProfile::from_text_fast(text, "p.json").has_value()) << needle;
    EXPECT_EQ(error_of([&] { (void)FittedProfile::from_text(text, "p.json"); }), slow);
    EXPECT_NE(slow.find(needle), std::string::npos) << slow;
  };
  auto bad = good;
  bad["status"] = "guessed";
  same_error(bad.dump(), "p.json: status: got 'guessed'");
  bad = good;
  bad["families"]["collective"]["curves"][0]["us"][1] = -3;
  same_error(bad.dump(), "collective: curves[0]: us[1]: got '-3'");
  bad = good;
  bad["families"]["gemm"]["bf16"]["lines"] = {{"n", 1}};  // an object, not an array of lines
  same_error(bad.dump(), "gemm: bf16: lines: got '{\"n\":1}', expected an array of measured lines");
  bad = good;
  bad["families"]["collective"]["curves"] = 7;
  same_error(bad.dump(), "collective: curves: got '7', expected an array of curves");
  // A key given twice, and malformed JSON: parse_json_text's own messages.
  same_error(R"({"schema": "a", "schema": "b"})", "key given twice");
  same_error(R"({"schema": )", "p.json:1:12: malformed JSON");
}

TEST(ProfileText, AByteOrderMarkIsSkippedAsNlohmannsReaderSkipsIt) {
  const std::string text = read_json_text(kProfile);
  const auto with_bom = FittedProfile::from_text("\xEF\xBB\xBF" + text, "p.json");
  EXPECT_EQ(with_bom.to_json().dump(), FittedProfile::from_text(text, "p.json").to_json().dump());
}

TEST(JsonView, MirrorsNlohmannsAccessorsWhereTheTypeIsTheOneAsked) {
  const auto doc = JsonDocument::parse(R"({"i": 3, "u": 18446744073709551615, "d": 2.5, "s": "x\"y", "a": [1, 2.5], "o": {}})");
  ASSERT_TRUE(doc.has_value());
  const JsonView r = doc->root();
  EXPECT_TRUE(r.is_object());
  EXPECT_EQ(r["i"].get<double>(), 3.0);  // integers read as doubles, as nlohmann's get<double>
  EXPECT_EQ(r["u"].get<double>(), 18446744073709551615.0);
  EXPECT_EQ(r["s"].get<std::string>(), "x\"y");
  EXPECT_EQ(r["a"].size(), 2u);
  double sum = 0;
  for (const JsonView x : r["a"]) sum += x.get<double>();
  EXPECT_EQ(sum, 3.5);
  EXPECT_FALSE(r.contains("missing"));
  EXPECT_FALSE(r["a"].contains("i"));  // contains() on a non-object: false, as nlohmann
  EXPECT_EQ(r.to_nlohmann(), parse_json_text(r.dump(), "x"));
  // Anything nlohmann would assert on or throw its own error for: Mismatch.
  EXPECT_THROW((void)r["missing"], JsonView::Mismatch);
  EXPECT_THROW((void)r["s"].get<double>(), JsonView::Mismatch);
  EXPECT_THROW((void)r["o"].size(), JsonView::Mismatch);
  EXPECT_THROW((void)r["a"].items(), JsonView::Mismatch);
}

TEST(JsonView, DocumentsNlohmannWouldReadDifferentlyAreDeclined) {
  EXPECT_FALSE(JsonDocument::parse(R"({"a": {"k": 1, "k": 2}})").has_value());  // a key twice
  EXPECT_FALSE(JsonDocument::parse(R"([-0])").has_value());                      // -0: signed to nlohmann
  EXPECT_FALSE(JsonDocument::parse(R"([1e400])").has_value());                   // out of range
  EXPECT_FALSE(JsonDocument::parse(std::string(kMaxJsonDepth + 1, '[') + std::string(kMaxJsonDepth + 1, ']')).has_value());
  EXPECT_FALSE(JsonDocument::parse(R"({"a": )").has_value());
  EXPECT_TRUE(JsonDocument::parse(R"({"a": -0.5, "b": -0e1})").has_value());  // doubles to both
}

}  // namespace
}  // namespace servesim
