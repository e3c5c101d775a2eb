// Reading measured tables: CSV layout, gzip, and each source format's mapping to servesim's
// shapes and units (AIConfigurator and Vidur report milliseconds; we keep microseconds).
#include <gtest/gtest.h>

#include "tests/error_of.h"
#include "sim/calibrate/csv_table.h"
#include "sim/calibrate/measurements.h"
#include "sim/core/error.h"

namespace servesim::calib {
namespace {

using servesim::testing::error_of;

const std::string kFormats = std::string(SERVESIM_TEST_DATA) + "/formats/";
const std::string kSynthetic = std::string(SERVESIM_TEST_DATA) + "/synthetic/";

TEST(CsvTable, MetadataHeaderAndQuotedFields) {
  const auto t = CsvTable::parse("# family: gemm\n# note: a, b\nname,v\n\"x, \"\"y\"\"\",3\nz,4\n", "t.csv");
  ASSERT_EQ(t.metadata().size(), 2u);
  EXPECT_EQ(*t.meta("note"), "a, b");
  EXPECT_EQ(t.columns(), (std::vector<std::string>{"name", "v"}));
  EXPECT_EQ(t.cell(0, 0), "x, \"y\"");
  EXPECT_EQ(t.line(1), 5);
  EXPECT_DOUBLE_EQ(t.number(1, t.col("v")), 4);
}

TEST(CsvTable, ErrorsNameFileLineAndColumn) {
  EXPECT_NE(error_of([] { (void)CsvTable::read(kFormats + "ragged.csv"); }).find("ragged.csv:2: got 3 fields, expected 4"),
            std::string::npos);
  const auto t = CsvTable::parse("a,b\n1,x\n", "t.csv");
  EXPECT_EQ(error_of([&] { (void)t.number(0, 1); }), "t.csv:2:2 (b): got 'x', expected a finite number");
  EXPECT_NE(error_of([&] { (void)t.col("c"); }).find("t.csv:1: missing column 'c'"), std::string::npos);
  EXPECT_NE(error_of([] { (void)CsvTable::read("/nonexistent.csv"); }).find("cannot open"), std::string::npos);
}

TEST(CsvTable, GzipAndPlainReadTheSame) {
  const auto a = CsvTable::read(kFormats + "aic_gemm.csv");
  const auto b = CsvTable::read(kFormats + "aic_gemm_copy.csv.gz");
  ASSERT_EQ(a.num_rows(), b.num_rows());
  for (std::size_t r = 0; r < a.num_rows(); ++r)
    for (std::size_t c = 0; c < a.columns().size(); ++c) EXPECT_EQ(a.cell(r, c), b.cell(r, c));
}

// Block-scaled fp8 rows of vLLM's dispatch (DeepGEMM, FlashInfer) are read as dtype fp8_block;
// CUTLASS's block-scaled kernel, measured beside them, is skipped and counted.
TEST(Readers, AiconfiguratorGemmInMicrosecondsWithBlockFp8OfVllmsDispatch) {
  MeasurementSet s;
  read_measurements(kFormats + "aic_gemm.csv", "aic_gemm.csv", s);
  ASSERT_EQ(s.rows.size(), 4u);
  EXPECT_EQ(s.rows[0].dtype, "bf16");
  EXPECT_DOUBLE_EQ(s.rows[0].us, 15);  // 0.015 ms
  EXPECT_EQ(s.rows[1].dtype, "fp8");
  EXPECT_DOUBLE_EQ(s.rows[0].m, 16);
  EXPECT_EQ(s.rows[2].dtype, "fp8_block");  // DeepGEMM
  EXPECT_DOUBLE_EQ(s.rows[2].us, 11);
  EXPECT_EQ(s.rows[3].dtype, "fp8_block");  // FlashInfer
  EXPECT_DOUBLE_EQ(s.rows[3].m, 8);
  EXPECT_EQ(s.inputs[0].format, "aiconfigurator_gemm");
  ASSERT_EQ(s.inputs[0].skipped.size(), 1u);
  EXPECT_NE(s.inputs[0].skipped.begin()->first.find("CutlassFp8BlockScaledMMKernel"), std::string::npos);
  EXPECT_EQ(s.inputs[0].skipped.begin()->second, 1u);
  EXPECT_EQ(s.inputs[0].sha256.size(), 64u);
}

TEST(Readers, AiconfiguratorDecodeContextIsIslPlusStepMinusTheNewToken) {
  MeasurementSet s;
  read_measurements(kFormats + "aic_generation.csv", "g.csv", s);
  ASSERT_EQ(s.rows.size(), 1u);  // the windowed row and the FA4 row are skipped
  const auto& m = s.rows[0];
  EXPECT_EQ(m.family, Family::kAttentionDecode);
  EXPECT_DOUBLE_EQ(m.q, 1);
  EXPECT_DOUBLE_EQ(m.ctx, 1 + 1023 - 1);  // KV length isl + step, the new token included
  EXPECT_EQ(m.dtype, "fp8");
  EXPECT_EQ(m.layout, "paged");
  EXPECT_EQ(m.kernel, "vllm_flash_attn_fa3");
  EXPECT_DOUBLE_EQ(m.us, 25);
}

TEST(Readers, SlidingWindowRowsOnlyWhenAskedAndThenOnlyThem) {
  MeasurementSet s;
  s.sliding_window_only = true;  // `calibrate check --sliding-window`
  read_measurements(kFormats + "aic_generation.csv", "g.csv", s);
  ASSERT_EQ(s.rows.size(), 1u);  // the full-attention row and the FA4 row are skipped
  EXPECT_DOUBLE_EQ(s.rows[0].window, 128);
  EXPECT_DOUBLE_EQ(s.rows[0].ctx, 1023);
  EXPECT_EQ(s.inputs[0].skipped.at("full attention (sliding-window rows only)"), 1u);
  // A window is part of the kernel configuration: its rows never share a full-attention group.
  Measurement full = s.rows[0];
  full.window = 0;
  EXPECT_NE(full.group(), s.rows[0].group());
}

TEST(Readers, AiconfiguratorCollectivesCountElementsNotBytes) {
  MeasurementSet s;
  read_measurements(kFormats + "aic_nccl.csv", "n.csv", s);
  read_measurements(kFormats + "aic_custom_ar.csv", "c.csv", s);
  ASSERT_EQ(s.rows.size(), 3u);  // the eager custom all-reduce is skipped
  EXPECT_EQ(s.rows[0].op, "all_to_all");
  EXPECT_DOUBLE_EQ(s.rows[0].bytes, 2048);  // 1024 half elements
  EXPECT_EQ(s.rows[0].ranks, 4);
  EXPECT_DOUBLE_EQ(s.rows[1].bytes, 2048);  // 2048 int8 elements
  EXPECT_EQ(s.rows[2].backend, "vllm_custom");
  EXPECT_DOUBLE_EQ(s.rows[2].bytes, 256);
}

TEST(Readers, VidurMlpRowIsFourGemmsOfTheTpShard) {
  MeasurementSet s;
  read_measurements(kFormats + "vidur_mlp.csv", "v.csv", s);
  ASSERT_EQ(s.rows.size(), 4u);
  // Llama-3-8B shapes at TP 2 (head_dim 4096/32 = 128): QKV n = (32 + 2*8)*128/2 = 3072,
  // k = 4096; O n = 4096, k = 32*128/2 = 2048; gated up n = 2*14336/2 = 14336; down k = 7168.
  EXPECT_DOUBLE_EQ(s.rows[0].n, 3072);
  EXPECT_DOUBLE_EQ(s.rows[0].k, 4096);
  EXPECT_DOUBLE_EQ(s.rows[1].n, 4096);
  EXPECT_DOUBLE_EQ(s.rows[1].k, 2048);
  EXPECT_DOUBLE_EQ(s.rows[2].n, 14336);
  EXPECT_DOUBLE_EQ(s.rows[3].k, 7168);
  EXPECT_DOUBLE_EQ(s.rows[0].m, 128);
  EXPECT_DOUBLE_EQ(s.rows[0].us, 50);  // 0.05 ms
}

TEST(Readers, VidurNetworkKeepsIntraNodeRowsOnly) {
  MeasurementSet s;
  read_measurements(kFormats + "vidur_all_reduce.csv", "a.csv", s);
  ASSERT_EQ(s.rows.size(), 1u);  // 4 workers on 2 devices per node span nodes
  EXPECT_DOUBLE_EQ(s.rows[0].us, 40);
  EXPECT_EQ(s.rows[0].ranks, 4);
}

TEST(Readers, HarnessTablesByFamily) {
  MeasurementSet s;
  read_measurements(kSynthetic + "attention_prefill.csv", "p.csv", s);
  EXPECT_EQ(s.rows.size(), 40u);  // the failed cudnn row is skipped
  EXPECT_EQ(s.inputs[0].date, "2026-01-02T03:04:05Z");
  EXPECT_EQ(s.rows[0].layout, "contiguous");
  read_measurements(kSynthetic + "attention_decode.csv", "d.csv", s);
  EXPECT_DOUBLE_EQ(s.rows[40].ctx, 127);  // ctx_len 128 keys include the new token's
  read_measurements(kSynthetic + "vmm.csv", "v.csv", s);
  EXPECT_EQ(s.inputs.back().kept, 8u);  // cuMemMap and cuMemSetAccess at 4 page sizes
  read_measurements(kSynthetic + "launch.csv", "l.csv", s);
  EXPECT_DOUBLE_EQ(s.launch["stream"]["host_launch_us"]["1"].get<double>(), 3.3);
}

TEST(Readers, UnknownFormatIsAnInputError) {
  EXPECT_NE(error_of([] {
              MeasurementSet s;
              read_measurements(kFormats + "unknown_format.csv", "u.csv", s);
            }).find("unknown_format.csv:1: unknown table format"),
            std::string::npos);
  EXPECT_FALSE(is_known_format(kFormats + "unknown_format.csv"));
  EXPECT_TRUE(is_known_format(kFormats + "aic_gemm_copy.csv.gz"));
}

TEST(Readers, MalformedValueNamesFileLineColumn) {
  const std::string e = error_of([] {
    MeasurementSet s;
    read_measurements(std::string(SERVESIM_TEST_DATA) + "/bad/gemm_bad_m.csv", "b.csv", s);
  });
  EXPECT_NE(e.find("gemm_bad_m.csv:3:2 (m): got 'twelve', expected a finite number"), std::string::npos) << e;
}

}  // namespace
}  // namespace servesim::calib
