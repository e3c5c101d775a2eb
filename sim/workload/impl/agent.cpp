// Closed-loop agent programs (ReAct-style tool use; the workload of Continuum, 2025). A
// program is a sequence of LLM calls separated by tool calls: call i+1 is issued only when
// call i has finished plus the tool's latency. Call i+1's prompt is the program's context so
// far (every earlier prompt and output) plus new tokens (the tool's result), so its KV can
// be reused from call i (prefix ids as multi-turn chat: Conversation). Programs start as an
// open-loop Poisson/gamma process (ArrivalProcess), or at the `arrival` of each line of a
// JSONL agent trace.
// Generated programs: calls ~ `calls`; the first prompt is `system_prompt_tokens` (shared
// by every program) + `first_input`; later calls add `input` tokens; outputs ~ `output`;
// tool latency ~ `tool_latency` {dist: constant|exponential|lognormal}.
// Trace (`path`): one program a line, {"arrival": s (optional, on every line or none),
// "calls": [{"input": n, "output": m, "tool_s": x}, ...]}: input is the call's new tokens
// (the first call's whole prompt), tool_s the tool latency after the call (ignored after
// the last call, required before).
// Each program draws its calls from its own random stream, so a program's calls are the
// same whatever order the simulation finishes calls in (policies compare on equal work).
// KV time-to-live (Continuum): each call followed by a tool call carries kv_ttl, the time
// its replica keeps the program's KV pinned: `kv_ttl` (fixed), `kv_ttl_tool_multiple` x
// the tool's expected latency (the distribution's mean; in a trace, the call's recorded
// latency, an oracle), or `kv_ttl_tool_percentile` of the latency distribution. It lives here because only the workload knows the tool (Continuum's
// server learns it from the agent framework's tool-call annotation).
#include <cmath>
#include <map>

#include <nlohmann/json.hpp>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/workload/arrival_process.h"
#include "sim/workload/conversation.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/impl/line_reader.h"
#include "sim/workload/length_dist.h"

namespace servesim {
namespace {

constexpr std::uint64_t kAgentSystemSalt = 0x4167'656e'7453'7973ULL;  // same ids in every program
constexpr double kMaxToolSeconds = 86400;

// Tool-call latency, seconds: {"dist": "constant", "value": s} | {"dist": "exponential",
// "mean": s} | {"dist": "lognormal", "mean": s, "sigma": sigma of the log}.
struct ToolLatency {
  enum class Kind : std::uint8_t { kConstant, kExponential, kLognormal } kind = Kind::kConstant;
  double mean = 1, sigma = 0;
  static ToolLatency parse(const nlohmann::json& j, const std::string& where) {
    if (!j.is_object()) bad_value(where, j.dump(), "a tool latency object {\"dist\": ...}");
    Params p(j, where);
    ToolLatency t;
    const std::string dist = p.choice("dist", "constant", {"constant", "exponential", "lognormal"}, "latency distribution");
    t.kind = dist == "constant" ? Kind::kConstant : dist == "exponential" ? Kind::kExponential : Kind::kLognormal;
    t.mean = t.kind == Kind::kConstant ? p.real("value", std::nullopt, "latency, seconds", 0, kMaxToolSeconds)
                                       : p.real("mean", std::nullopt, "mean latency, seconds", 1e-9, kMaxToolSeconds);
    if (t.kind == Kind::kLognormal) t.sigma = p.real("sigma", 1.0, "standard deviation of the latency's log", 0, 5);
    p.finish();
    return t;
  }
  // The latency below which a fraction q of tool calls end (0 < q < 1).
  double quantile(double q) const {
    if (kind == Kind::kConstant) return mean;
    if (kind == Kind::kExponential) return -mean * std::log1p(-q);
    // Lognormal: exp(mu + sigma z_q), z_q the standard normal quantile (by bisection on erfc).
    double lo = -10, hi = 10;
    for (int i = 0; i < 100; ++i) {
      const double mid = (lo + hi) / 2;
      (0.5 * std::erfc(-mid / std::sqrt(2.0)) < q ? lo : hi) = mid;
    }
    return std::exp(std::log(mean) - sigma * sigma / 2 + sigma * lo);
  }
  SimTime sample(Rng& rng) const {
    double s = mean;
    if (kind == Kind::kExponential) s = rng.exponential(1.0 / mean);
    if (kind == Kind::kLognormal) s = rng.lognormal(std::log(mean) - sigma * sigma / 2, sigma);
    return from_seconds(std::min(s, kMaxToolSeconds));
  }
};

class AgentWorkload final : public IWorkload {
 public:
  struct Config {
    std::string path;
    ArrivalProcess::Config arrivals;
    LengthDist calls, first_input, input, output;
    ToolLatency tool;
    std::int32_t system_prompt_tokens = 0;
    std::int64_t max_context = 0;
    std::int32_t prefix_unit = 16;
    SimTime kv_ttl = 0;
    double kv_ttl_multiple = 0;
    double kv_ttl_percentile = 0;

    static Config parse(Params& p) {
      Config c;
      c.path = p.string("path", std::string(), "JSONL agent trace, one program a line (empty: generated programs)");
      c.arrivals = ArrivalProcess::Config::parse(p, 0.5, "5min", "programs", "num_programs");
      auto dist = [&](const char* key, const char* help, nlohmann::json def) {
        const nlohmann::json j = p.object(key, help);
        const nlohmann::json& use = j.empty() ? def : j;
        p.set_resolved(key, use);
        return LengthDist::parse(use, p.where(key));
      };
      // Defaults: an assumption shaped like SWE-bench/ReAct agents (a long task prompt, tool
      // results of a few hundred tokens, short reasoning-and-action outputs), not a fit.
      c.calls = dist("calls", "LLM calls per program", {{"dist", "uniform"}, {"min", 3}, {"max", 10}});
      c.first_input = dist("first_input", "tokens of a program's task prompt (after the system prompt)",
                           {{"dist", "lognormal"}, {"median", 1500}, {"mean", 2000}, {"min", 16}, {"max", 16000}});
      c.input = dist("input", "tokens each later call adds (the tool's result)",
                     {{"dist", "lognormal"}, {"median", 300}, {"mean", 500}, {"min", 1}, {"max", 8000}});
      c.output = dist("output", "output tokens of each call",
                      {{"dist", "lognormal"}, {"median", 150}, {"mean", 200}, {"min", 1}, {"max", 2000}});
      const nlohmann::json tj = p.object("tool_latency", "tool-call latency after each call (see agent.cpp)");
      const nlohmann::json tdef = {{"dist", "exponential"}, {"mean", 2.0}};
      c.tool = ToolLatency::parse(tj.empty() ? tdef : tj, p.where("tool_latency"));
      p.set_resolved("tool_latency", tj.empty() ? tdef : tj);
      c.system_prompt_tokens = static_cast<std::int32_t>(
          p.integer("system_prompt_tokens", 0, "tokens of a system prompt shared by every program", 0, 1 << 24));
      c.max_context = p.integer("max_context", 32768, "a program ends before a call whose prompt + output would exceed this", 2);
      c.prefix_unit = static_cast<std::int32_t>(p.integer("prefix_unit", 16, "tokens per prefix id", 1, 4096));
      c.kv_ttl = p.duration("kv_ttl", "0s", "Continuum: pin a call's KV this long during the tool call after it (0: off)");
      c.kv_ttl_multiple = p.real("kv_ttl_tool_multiple", 0.0,
                                 "Continuum: pin a call's KV for this multiple of the tool's expected latency (0: off)", 0, 1000);
      c.kv_ttl_percentile = p.real("kv_ttl_tool_percentile", 0.0,
                                   "Continuum: pin a call's KV for this percentile of the tool latency distribution "
                                   "(generated programs; 0: off)",
                                   0, 99.999);
      if (!p.doc_mode() && (c.kv_ttl > 0) + (c.kv_ttl_multiple > 0) + (c.kv_ttl_percentile > 0) > 1) {
        bad_value(p.where("kv_ttl"), fmt::format("{} s", to_seconds(c.kv_ttl)),
                  "one TTL rule: kv_ttl, kv_ttl_tool_multiple or kv_ttl_tool_percentile (the others 0)");
      }
      if (!p.doc_mode() && c.kv_ttl_percentile > 0 && !c.path.empty()) {
        bad_value(p.where("kv_ttl_tool_percentile"), fmt::format("{}", c.kv_ttl_percentile),
                  "0 with a trace (a trace gives one latency per call: use kv_ttl_tool_multiple)");
      }
      return c;
    }
  };

  AgentWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "workload.agent")), arrivals_(c.arrivals),
        program_seed_(Rng::for_component(deps.seed, "workload.agent.programs").next_u64()) {
    if (!c.path.empty()) in_.emplace(resolve_trace_path(c.path, deps.data_dir, deps.where + ".path"));
  }

  std::optional<RequestSpec> next() override {
    for (;;) {
      const std::int64_t id = programs_started_;
      Program prog{Rng(mix64(program_seed_, static_cast<std::uint64_t>(id))), 0, 0, Conversation{}, {}, 0, 0};
      prog.conv.salt = mix64(0x6167'656e'7450'726fULL, static_cast<std::uint64_t>(id));
      SimTime start = 0;
      if (in_) {
        if (!read_program(prog, start)) return std::nullopt;
      } else {
        const std::optional<SimTime> t = arrivals_.next(rng_);
        if (!t) return std::nullopt;
        start = *t;
        prog.num_calls = c_.calls.sample(prog.rng);
      }
      prog.start = start;
      ++programs_started_;
      auto [it, inserted] = programs_.emplace(id, std::move(prog));
      std::optional<RequestSpec> r = call(it, start);
      if (r) return r;
    }
  }

  void on_request_done(const RequestSpec& spec, bool completed, SimTime now, std::vector<RequestSpec>& out) override {
    auto it = programs_.find(spec.session);
    if (it == programs_.end()) return;  // its last call
    if (!completed) {                   // a rejected call ends its program
      programs_.erase(it);
      return;
    }
    std::optional<RequestSpec> r = call(it, now + it->second.tool_after);
    if (r) out.push_back(std::move(*r));
  }

 private:
  struct TraceCall {
    std::int32_t input = 0, output = 0;
    SimTime tool = 0;
  };
  struct Program {
    Rng rng;  // its own stream: its calls do not depend on the order other programs' calls end in
    std::int32_t next_call = 0, num_calls = 0;
    Conversation conv;
    std::vector<TraceCall> trace;  // trace programs: their calls
    SimTime tool_after = 0;        // latency of the tool call after the last issued call
    SimTime start = 0;             // its first call's arrival
  };

  // The next call of program `it`, arriving at `at`; nullopt (and the program ends) when
  // it would exceed max_context.
  std::optional<RequestSpec> call(std::map<std::int64_t, Program>::iterator it, SimTime at) {
    Program& p = it->second;
    const std::int32_t i = p.next_call;
    const bool traced = !p.trace.empty();
    std::int64_t input = 0, output = 0;
    SimTime tool = 0, expected = 0;  // this call's tool latency and the TTL rule's base
    const bool last = i + 1 >= p.num_calls;
    if (traced) {
      const TraceCall& tc = p.trace[static_cast<std::size_t>(i)];
      input = tc.input;
      output = tc.output;
      tool = expected = tc.tool;
    } else {
      input = i == 0 ? static_cast<std::int64_t>(c_.system_prompt_tokens) + c_.first_input.sample(p.rng) : c_.input.sample(p.rng);
      output = c_.output.sample(p.rng);
      if (!last) tool = c_.tool.sample(p.rng);
      expected = from_seconds(c_.kv_ttl_percentile > 0 ? c_.tool.quantile(c_.kv_ttl_percentile / 100) : c_.tool.mean);
    }
    const std::int64_t prompt = p.conv.history + input;
    if (prompt + output > c_.max_context) {
      programs_.erase(it);
      return std::nullopt;
    }
    p.conv.extend(prompt + output, c_.prefix_unit, i == 0 ? c_.system_prompt_tokens : 0, kAgentSystemSalt);
    RequestSpec r;
    r.id = next_id_++;
    r.arrival = at;
    r.prompt_tokens = static_cast<std::int32_t>(prompt);
    r.output_tokens = static_cast<std::int32_t>(output);
    r.prefix_ids = p.conv.ids;
    r.prefix_unit = c_.prefix_unit;
    r.session = it->first;
    r.call = i;
    r.program_arrival = p.start;
    if (!last) {
      r.kv_ttl = c_.kv_ttl > 0             ? c_.kv_ttl
                 : c_.kv_ttl_percentile > 0 ? expected
                                            : static_cast<SimTime>(c_.kv_ttl_multiple * static_cast<double>(expected));
      p.tool_after = tool;
      ++p.next_call;
    } else {
      programs_.erase(it);
    }
    return r;
  }

  // Reads the next program of the trace; false at its end.
  bool read_program(Program& prog, SimTime& start) {
    std::string line;
    if (!in_->next(line)) {
      if (programs_started_ == 0) input_error(in_->path(), "no program lines, expected at least one JSON object");
      return false;
    }
    std::optional<nlohmann::json> parsed = try_parse_json_text(line, in_->where());
    if (!parsed || !parsed->is_object()) bad_value(in_->where(), line, "one JSON object a line {\"calls\": [...]}");
    const nlohmann::json& j = *parsed;
    const bool has_arrival = j.contains("arrival");
    if (programs_started_ == 0) trace_arrivals_ = has_arrival;
    if (has_arrival != trace_arrivals_) {
      input_error(in_->where("arrival"), "given on some lines only, expected on every line or on none");
    }
    if (has_arrival) {
      const nlohmann::json& a = j["arrival"];
      const double s = a.is_number() ? a.get<double>() : -1;
      constexpr double kMaxSpanS = static_cast<double>(kMaxTraceSpan / kSec);
      if (!a.is_number() || !std::isfinite(s) || s < 0 || s > kMaxSpanS) {
        bad_value(in_->where("arrival"), a.dump(), "seconds from the trace start, in [0, 366 days]");
      }
      start = from_seconds(s);
      if (start < last_start_) bad_value(in_->where("arrival"), a.dump(), "arrivals in non-decreasing order");
      last_start_ = start;
    } else {
      const std::optional<SimTime> t = arrivals_.next(rng_);
      if (!t) return false;
      start = *t;
    }
    auto calls = j.find("calls");
    if (calls == j.end() || !calls->is_array() || calls->empty()) {
      bad_value(in_->where("calls"), calls == j.end() ? std::string("(missing)") : calls->dump(), "a non-empty array of calls");
    }
    for (std::size_t i = 0; i < calls->size(); ++i) {
      const nlohmann::json& cj = (*calls)[i];
      const std::string where = in_->where(fmt::format("calls[{}]", i));
      if (!cj.is_object()) bad_value(where, cj.dump(), "an object {\"input\": n, \"output\": m, \"tool_s\": x}");
      Params cp(cj, where);
      TraceCall tc;
      tc.input = static_cast<std::int32_t>(cp.integer("input", std::nullopt, "new prompt tokens of the call", 1, INT32_MAX));
      tc.output = static_cast<std::int32_t>(cp.integer("output", std::nullopt, "output tokens of the call", 1, INT32_MAX));
      const bool last = i + 1 == calls->size();
      tc.tool = from_seconds(cp.real("tool_s", last ? std::optional<double>(0.0) : std::nullopt,
                                     "tool latency after the call, seconds", 0, kMaxToolSeconds));
      cp.finish();
      prog.trace.push_back(tc);
    }
    prog.num_calls = static_cast<std::int32_t>(prog.trace.size());
    return true;
  }

  Config c_;
  Rng rng_;
  ArrivalProcess arrivals_;
  std::optional<LineReader> in_;
  bool trace_arrivals_ = false;
  SimTime last_start_ = 0;
  std::uint64_t program_seed_;  // program k draws from Rng(mix64(program_seed_, k))
  std::int64_t programs_started_ = 0;
  std::map<std::int64_t, Program> programs_;  // started and not ended
  RequestId next_id_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, AgentWorkload, "agent",
                  "closed-loop agent programs: LLM calls separated by tool calls (generated or JSONL trace), optional KV TTL")

}  // namespace servesim
