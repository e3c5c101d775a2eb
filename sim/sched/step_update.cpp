#include "sim/sched/step_update.h"

namespace servesim {

bool apply_step(SimTime now, const StepPlan& plan, IKvManager& kv, StepEvents& events) {
  events.clear();
  bool any_finished = false;
  for (const ScheduledSeq& s : plan.seqs) {
    Request* r = s.req;
    bool sampled = true;
    if (s.draft > 0) {
      r->advance_speculative(s.accepted, now);  // a verify step always samples
    } else {
      sampled = r->advance(s.new_tokens, now);
    }
    if (sampled) {
      events.sampled.push_back(r);
      if (r->done()) {
        r->finish(now);
        // A request with a KV time-to-live keeps its KV slot: its replica pins it (Replica).
        if (r->spec.kv_ttl == 0) kv.free(*r);
        events.finished.push_back(r);
        any_finished = true;
        continue;
      }
    }
    kv.commit(*r);
  }
  return any_finished;
}

}  // namespace servesim
