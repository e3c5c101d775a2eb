#pragma once
// timeline.json: a run as Chrome trace-event JSON ({"traceEvents": [...]}), which
// ui.perfetto.dev and chrome://tracing open.
//
// Contract:
// - TraceRecorder is the ITraceSink a run is given (RunControl::trace); it keeps what falls
//   in its window and nothing else. chrome_trace_json() then adds what the results hold
//   (request lifecycles from the per-request records, KV use and queue counters from the
//   time series) and writes the document.
// - Layout: a process per pool ("pool <name> (<role>)"), a thread per replica in it, whose
//   complete events ("X") are the steps: name "prefill+decode", "prefill" or "decode",
//   args: seqs, tokens, prefill_seqs, prefill_tokens, merged (a repeated decode step of the
//   multi-step advance, reported as its own slice), and the step's operator time per class
//   in µs (`<class>_us`). Each replica has a second thread "replica N KV transfers" with a
//   slice per KV copy leaving or entering it, joined by a flow (s/f) from source to
//   destination. Counters ("C") per replica: "replica N queue" (waiting, running) and
//   "replica N KV use" (kv_used_tokens, kv_utilization) at every time-series sample.
//   A process "requests" (the pid after the pools') holds one async track per request (b/e with id = request id):
//   "request <id>" from arrival to last token, nested "queued" (arrival to first
//   scheduled), "prefill" (to the first token, or to the hand-off when disaggregated),
//   "transferred" (hand-off to first token at the decode replica), "decode" (first to last
//   token) and "preempted" (preemption to the next step that schedules it again).
// - Timestamps in µs with ns precision (three decimals). The window [from, to) keeps events
//   that overlap it (slices are not cut). Deterministic: same run, same bytes.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sim/serving/i_trace_sink.h"
#include "sim/serving/simulation.h"

namespace servesim::report {

struct TraceWindow {
  SimTime from = 0;
  SimTime to = -1;  // -1: no end
  bool overlaps(SimTime a, SimTime b) const { return b >= from && (to < 0 || a < to); }
};

// "60s:120s", "1.5m:", ":30s" (units as elsewhere); InputError naming `flag` otherwise.
TraceWindow parse_trace_window(const std::string& text, const std::string& flag);

class TraceRecorder final : public ITraceSink {
 public:
  explicit TraceRecorder(TraceWindow window = {}) : window_(window) {}
  void on_step(const StepTrace& s) override;
  void on_preempted(std::int32_t replica, RequestId id, SimTime at) override;
  void on_kv_transfer(const KvTransferTrace& t) override;

  struct Step {
    std::int32_t replica;
    SimTime start, end;
    std::int64_t seqs, tokens, prefill_seqs, prefill_tokens;
    std::array<SimTime, 8> ns_by_class;
    bool merged;
  };
  struct Preemption {
    RequestId id;
    std::int32_t replica;
    SimTime at, resumed;  // resumed -1: not scheduled again
  };
  const std::vector<Step>& steps() const { return steps_; }
  const std::vector<Preemption>& preemptions() const { return preemptions_; }
  const std::vector<KvTransferTrace>& transfers() const { return transfers_; }
  const TraceWindow& window() const { return window_; }

 private:
  TraceWindow window_;
  std::vector<Step> steps_;
  std::vector<Preemption> preemptions_;
  std::map<RequestId, std::size_t> open_preemptions_;  // id -> index in preemptions_
  std::vector<KvTransferTrace> transfers_;
};

// The trace document of a run recorded by `rec`; `pools`: the resolved config's pools[]
// (names and roles, in pool order) and result.replica_pool say which replica is where.
std::string chrome_trace_json(const TraceRecorder& rec, const SimResult& result);

}  // namespace servesim::report
