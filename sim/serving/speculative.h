#pragma once
// Speculative decoding (engine.speculative). Contract:
// - Each decode step of a request: a drafter proposes k tokens, then the target model
//   verifies them in ONE forward over k + 1 query tokens of that sequence (the pending
//   token and the k proposals, attending to the context: a prefill-like chunk). The
//   scheduler asks for 1 + k new tokens of a decoding request (k capped so no proposal lies
//   beyond the request's output length, and by the step's token budget).
// - Acceptance: proposal i (1-based) is accepted with probability acceptance[i-1] given
//   that proposals 1..i-1 were; the first rejection ends the run (a truncated geometric
//   draw with a constant alpha). A verify step emits accepted + 1 tokens (the accepted
//   proposals and the target's own next token), all at the step's end; the expected
//   number is 1 + sum_i prod_{j<=i} alpha_j, (1 - alpha^(k+1)) / (1 - alpha) for a
//   constant alpha. Each request-step draws from the replica's own seeded stream.
// - KV: the verify step needs slots for the k + 1 tokens; the pending token and the
//   accepted proposals stay (num_computed grows by accepted + 1); the rejected slots are
//   reused by the next step's proposals (as vLLM's lookahead slots), so a request never
//   holds more than its tokens plus k + 1.
// - Draft cost (priced by the same cost model under the same parallel plan, before the
//   verify): draft_model runs k sequential decode forwards of the draft model over the
//   speculating sequences (the j-th at context + j); eagle and mtp run k sequential
//   forwards of one extra decoder layer of the target's shape plus the LM head (EAGLE's
//   draft head, DeepSeek-V3's MTP module: one transformer block sharing the embedding and
//   head), i.e. the target's spec with one layer.
// - Memory: the draft's weights (draft_model: all of them; eagle/mtp: one layer, the
//   embedding and head being shared) come out of the KV memory, and every token's KV also
//   holds the draft's KV (draft_model: its layers; eagle/mtp: one layer).
#include <cstdint>
#include <string>
#include <vector>

#include "sim/core/params.h"
#include "sim/core/rng.h"
#include "sim/model/model_spec.h"

namespace servesim {

enum class SpecMethod : std::uint8_t { kNone, kDraftModel, kEagle, kMtp };
const char* spec_method_name(SpecMethod m);

struct SpeculativeConfig {
  SpecMethod method = SpecMethod::kNone;
  std::int32_t k = 0;                // proposed tokens per step
  std::vector<double> acceptance;    // per position, k values (a constant is repeated)
  std::string draft_model;           // draft_model: model name in models/ or a config.json path
  bool enabled() const { return method != SpecMethod::kNone; }
  // Parses the engine.speculative section (keys: method, k, acceptance, draft_model).
  static SpeculativeConfig parse(Params& p);
};

// Expected tokens one verify step emits with `k` proposals: 1 + sum_i prod_{j<=i} alpha_j.
double expected_tokens_per_step(const std::vector<double>& acceptance, std::int32_t k);

// Accepted proposals of one verify step of `k` proposals (0..k), by the contract's rule.
std::int32_t draw_accepted(const std::vector<double>& acceptance, std::int32_t k, Rng& rng);

// The drafter of eagle/mtp: the target's spec with one decoder layer (embedding and LM head
// as the target's).
ModelSpec draft_head_spec(const ModelSpec& target);

}  // namespace servesim
