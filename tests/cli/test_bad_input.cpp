// Bad input: every case gets exit code 2, exactly one line on the terminal naming the file,
// the line or field, the value and what was expected, and no output directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "tests/cli/cli_helpers.h"

namespace servesim {
namespace {
using testing::count_lines;
using testing::run_cli;
using testing::temp_dir;
using testing::write_text;
namespace fs = std::filesystem;

class BadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    out_ = dir_ / "out";
    in_ = dir_ / "in";
    fs::create_directories(in_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `servesim run` with a small workload plus `extra`; checks the error contract and
  // that every expected fragment appears in the one-line message.
  void expect_error(const std::string& extra, const std::vector<std::string>& fragments) {
    const auto r = run_cli("run --quiet --out " + out_.string() + " " + extra);
    EXPECT_EQ(r.exit_code, 2) << r.out;
    EXPECT_EQ(count_lines(r.out), 1) << r.out;
    EXPECT_EQ(r.out.rfind("error: ", 0), 0u) << r.out;
    for (const auto& f : fragments) EXPECT_NE(r.out.find(f), std::string::npos) << "missing '" << f << "' in: " << r.out;
    EXPECT_FALSE(fs::exists(out_)) << "partial output left behind";
    for (const auto& e : fs::directory_iterator(dir_)) {
      if (e.path().filename() != "in") ADD_FAILURE() << "stray file " << e.path();
    }
  }

  fs::path dir_, out_, in_;
};

const std::string kSmall = "--set workload.num_requests=5 ";

TEST_F(BadInput, MissingScenarioFile) {
  expect_error("--scenario " + (in_ / "nope.json").string(), {"nope.json", "cannot open"});
}

TEST_F(BadInput, MalformedScenarioJsonNamesLineAndColumn) {
  write_text(in_ / "s.json", "{\n  \"name\": \"x\",\n  \"seed\": ,\n}\n");
  expect_error("--scenario " + (in_ / "s.json").string(), {"s.json:3:", "malformed JSON"});
  fs::remove(in_ / "s.json");
}

TEST_F(BadInput, UnknownTopLevelKey) {
  expect_error(kSmall + "--set colour=blue", {"<default scenario>: colour", "expected a known key"});
}

TEST_F(BadInput, UnknownComponentImplementation) {
  expect_error(kSmall + "--set scheduler.impl=fcfs_magic", {"scheduler.impl", "fcfs_magic", "vllm_v1"});
}

TEST_F(BadInput, UnknownComponentKey) {
  expect_error(kSmall + "--set scheduler.max_seqs=3", {"scheduler.max_seqs", "max_num_seqs"});
}

TEST_F(BadInput, ValueOutOfRange) {
  expect_error(kSmall + "--set scheduler.max_num_seqs=0", {"scheduler.max_num_seqs", "'0'", "[1, 16777216]"});
  expect_error(kSmall + "--set engine.gpu_memory_utilization=1.5", {"engine.gpu_memory_utilization", "1.5"});
  // Block scaling is a weight format: no KV cache is stored in it.
  expect_error(kSmall + "--set engine.kv_cache_dtype=fp8_block", {"engine.kv_cache_dtype", "fp8_block", "a KV-cache dtype"});
}

TEST_F(BadInput, WrongTypeAndBadUnit) {
  expect_error(kSmall + "--set workload.rate=\\\"fast\\\"", {"workload.rate", "fast", "a number"});
  expect_error(kSmall + "--set metrics.sample_interval=5parsecs", {"metrics.sample_interval", "5parsecs", "duration"});
}

TEST_F(BadInput, UnknownModelAndHardware) {
  expect_error(kSmall + "--set model=Llama-9-1T", {"model", "Llama-9-1T", "config.json"});
  expect_error(kSmall + "--set hardware=tpu_v9", {"hardware", "tpu_v9", "devices"});
}

TEST_F(BadInput, ModelThatDoesNotFit) {
  // Llama-3.1-70B in bf16 is ~141 GB of weights; one H100 has ~80 GB.
  expect_error(kSmall + "--set model=Llama-3.1-70B", {"Llama-3.1-70B", "does not fit", "h100_sxm", "weights"});
}

TEST_F(BadInput, ImpossibleTensorParallelDegree) {
  expect_error(kSmall + "--set parallel.tp=3", {"parallel.tp", "'3'", "num_attention_heads"});
}

TEST_F(BadInput, BadSyntheticLengthDistribution) {
  expect_error(kSmall + "--set workload.prompt={\\\"dist\\\":\\\"fixed\\\",\\\"value\\\":0}", {"workload.prompt.value", "0"});
  expect_error(kSmall + "--set workload.output={\\\"dist\\\":\\\"zipf\\\"}", {"workload.output.dist", "zipf", "lognormal"});
}

TEST_F(BadInput, MalformedAzureCsvLineNamesFileAndLine) {
  const fs::path csv = in_ / "trace.csv";
  write_text(csv, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:50.99,396\n");
  expect_error("--set workload={\\\"impl\\\":\\\"azure_csv\\\",\\\"path\\\":\\\"" + csv.string() + "\\\"}",
               {"trace.csv:3", "3 comma-separated fields"});
  fs::remove(csv);
}

TEST_F(BadInput, ZeroLengthInAzureCsv) {
  const fs::path csv = in_ / "trace.csv";
  write_text(csv, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,374,0\n");
  expect_error("--set workload={\\\"impl\\\":\\\"azure_csv\\\",\\\"path\\\":\\\"" + csv.string() + "\\\"}",
               {"trace.csv:2: GeneratedTokens", "'0'", "positive integer"});
  fs::remove(csv);
}

TEST_F(BadInput, MissingTraceFile) {
  expect_error("--set workload={\\\"impl\\\":\\\"azure_csv\\\",\\\"path\\\":\\\"/no/such/trace.csv\\\"}",
               {"workload.path", "/no/such/trace.csv", "readable trace file"});
}

TEST_F(BadInput, MalformedMooncakeLine) {
  const fs::path jl = in_ / "t.jsonl";
  write_text(jl, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5, \"hash_ids\": [0]}\n{\"timestamp\": 5, \"input_length\": -4, \"output_length\": 5}\n");
  expect_error("--set workload={\\\"impl\\\":\\\"mooncake_jsonl\\\",\\\"path\\\":\\\"" + jl.string() + "\\\"}",
               {"t.jsonl:2: input_length", "-4", "positive integer"});
  write_text(jl, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\nnot json\n");
  expect_error("--set workload={\\\"impl\\\":\\\"mooncake_jsonl\\\",\\\"path\\\":\\\"" + jl.string() + "\\\"}",
               {"t.jsonl:2", "one JSON object per line"});
  fs::remove(jl);
}

TEST_F(BadInput, MalformedOverrideAndUnknownOption) {
  expect_error("--set nonsense", {"--set", "nonsense", "key=value"});
  expect_error("--frobnicate", {"frobnicate"});
}

TEST(Cli, UnknownCommandExitsTwo) {
  const auto r = run_cli("fly");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.out.find("unknown command 'fly'"), std::string::npos) << r.out;
}

TEST(Cli, HelpOnEverySubcommand) {
  for (const char* c : {"run", "list"}) {
    const auto r = run_cli(std::string(c) + " --help");
    EXPECT_EQ(r.exit_code, 0) << c;
    EXPECT_NE(r.out.find(std::string("servesim ") + c), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace servesim
