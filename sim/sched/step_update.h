#pragma once
// The end of a step, as every token-budget scheduler applies it: each scheduled request
// advances its computed tokens; one that has caught up with its known tokens samples a
// token (the first one sets first_token; a speculative verify step samples its accepted
// proposals plus one); one that reaches its output length finishes and frees its KV (unless
// it has a KV time-to-live: then it keeps its slot and the replica pins the KV); the others
// commit their full blocks to the KV manager.
#include "sim/sched/i_scheduler.h"

namespace servesim {

// Fills `events` (cleared first). Returns true when a request finished, so the caller can
// drop finished requests (state kFinished) from its running list.
bool apply_step(SimTime now, const StepPlan& plan, IKvManager& kv, StepEvents& events);

}  // namespace servesim
