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

}  // namespace
}  // namespace servesim
