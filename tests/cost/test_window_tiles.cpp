// Sliding-window attention priced through a fitted profile: a kernel that reads whole key
// tiles (FA3 on Hopper: 128 keys per tile at head dim 128) reads, for each sequence the
// window clips, one tile beyond the window; a kernel whose tiles are unknown reads the window.
#include <gtest/gtest.h>

#include "sim/cost/fitted_profile.h"

namespace servesim {
namespace {

AttentionQuery decode(double ctx, double window) {
  return AttentionQuery::uniform(32, 8, 128, "bf16", true, 8, 1, ctx, window);
}

TEST(WindowTiles, Fa3ReadsOneTileBeyondTheWindow) {
  EXPECT_EQ(local_key_tile("vllm_flash_attn_fa3", 64), 160);
  EXPECT_EQ(local_key_tile("vllm_flash_attn_fa3", 128), 128);
  EXPECT_EQ(local_key_tile("vllm_flash_attn_fa3", 192), 96);
  EXPECT_EQ(local_key_tile("vllm_flash_attn_fa3", 256), 64);
  EXPECT_EQ(local_key_tile("flash_varlen", 128), 0);
  const FittedProfile p = FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h100_sxm.json");
  // 8 decodes after 4,095 cached tokens under a 128-key window: 128 keys each, plus one
  // 128-key tile = 256 keys, the same read as 8 full-attention decodes after 255 tokens.
  const auto windowed = p.predict_attention(false, decode(4095, 128), "vllm_flash_attn_fa3");
  const auto full = p.predict_attention(false, decode(255, 0), "vllm_flash_attn_fa3");
  ASSERT_TRUE(windowed && full);
  EXPECT_DOUBLE_EQ(windowed->us, full->us);
  // The extra tile never exceeds what the window cut: after 160 cached tokens (161 keys, 33
  // cut) a sequence reads 128 + 33 = 161 keys, i.e. all of them.
  const auto barely = p.predict_attention(false, decode(160, 128), "vllm_flash_attn_fa3");
  const auto all = p.predict_attention(false, decode(160, 0), "vllm_flash_attn_fa3");
  ASSERT_TRUE(barely && all);
  EXPECT_DOUBLE_EQ(barely->us, all->us);
  // A window that does not bind changes nothing.
  EXPECT_DOUBLE_EQ(p.predict_attention(false, decode(100, 128), "vllm_flash_attn_fa3")->us,
                   p.predict_attention(false, decode(100, 0), "vllm_flash_attn_fa3")->us);
}

// Prefill under a window: one 512-token prompt, 128-key window, 32 query / 8 KV heads at
// head dim 128 (FA3: tiles of 128 query rows and 128 keys; packed GQA g = 4). By hand:
//   exact pairs: rows at x = 1..128 attend x keys, the other 384 rows 128: 8,256 + 49,152 =
//   57,408 (attended_span); extra per clipped row = (128 / 4 + 128) / 2 = 80 keys, at most
//   the d keys the window cut from it, d = 1..384: 80 x 81 / 2 + (384 - 80) x 80 = 27,560;
//   keys 128 + one tile = 256. So it is priced as the full-attention query with
//   sum_q_kv 84,968, sum_kv and max_kv 256.
TEST(WindowTiles, Fa3PrefillRowsPastTheWindowReadHalfTheirQueryAndKeyTiles) {
  EXPECT_EQ(local_query_tile("vllm_flash_attn_fa3", 64), 192);
  EXPECT_EQ(local_query_tile("vllm_flash_attn_fa3", 128), 128);
  EXPECT_EQ(local_query_tile("flash_varlen", 128), 0);
  EXPECT_DOUBLE_EQ(attended_span(512, 0, 128).pairs, 57408);
  const FittedProfile p = FittedProfile::load(std::string(SERVESIM_DATA_DIR) + "/calibration/profiles/h100_sxm.json");
  const AttentionQuery windowed = AttentionQuery::uniform(32, 8, 128, "bf16", true, 1, 512, 0, 128);
  AttentionQuery same = AttentionQuery::uniform(32, 8, 128, "bf16", true, 1, 512, 0, 0);
  same.sum_q_kv = 84968;
  same.sum_kv = 256;
  same.max_kv = 256;
  const auto a = p.predict_attention(true, windowed, "vllm_flash_attn_fa3");
  const auto b = p.predict_attention(true, same, "vllm_flash_attn_fa3");
  ASSERT_TRUE(a && b);
  EXPECT_DOUBLE_EQ(a->us, b->us);
}

}  // namespace
}  // namespace servesim
