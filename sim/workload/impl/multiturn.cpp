// Synthetic multi-turn chat: sessions arrive as a Poisson process; each has a number of
// turns; turn k's prompt is the whole conversation so far (every earlier prompt and
// output) plus a new user message, so its KV can be reused from the previous turn.
// Content is described by prefix ids in units of `prefix_unit` tokens that cover the
// prompt AND the output (BlockHasher: ids beyond those the prompt needs continue over the
// output): a unit lying wholly inside the earlier conversation keeps its id in the next
// turn; a unit inside the optional system prompt has the same id in every session.
// Open loop (default): the next turn arrives `think_time` (exponential mean, counted from
// the previous turn's arrival, so it includes the response time) after the previous one,
// whether or not the simulated response has finished. Closed loop (`closed_loop`): the user
// waits for the reply; the next turn arrives `think_time` (exponential mean) after the
// previous turn finished (a rejected turn ends its session); turns carry their index
// (RequestSpec::call), so sessions are reported as programs (job completion time).
#include <map>
#include <queue>

#include "sim/core/error.h"
#include "sim/workload/conversation.h"
#include "sim/workload/i_workload.h"
#include "sim/workload/length_dist.h"

namespace servesim {
namespace {

constexpr std::uint64_t kSystemPromptSalt = 0x5973'7465'6d50'726fULL;  // same ids in every session

class MultiTurnWorkload final : public IWorkload {
 public:
  struct Config {
    double rate = 0;
    SimTime duration = 0;
    std::int64_t num_sessions = 0;
    LengthDist turns, first_user, user, output;
    std::int32_t system_prompt_tokens = 0;
    SimTime think_time = 0;
    std::int64_t max_context = 0;
    std::int32_t prefix_unit = 16;
    bool closed_loop = false;

    static Config parse(Params& p) {
      Config c;
      c.rate = p.real("rate", 0.5, "session arrival rate, sessions per second", 1e-9);
      c.duration = p.duration("duration", "5min", "stop starting sessions after this time (0: no limit)");
      c.num_sessions = p.integer("num_sessions", 0, "stop after this many sessions (0: no limit)", 0);
      auto dist = [&](const char* key, const char* help, nlohmann::json def) {
        const nlohmann::json j = p.object(key, help);
        const nlohmann::json& use = j.empty() ? def : j;
        p.set_resolved(key, use);
        return LengthDist::parse(use, p.where(key));
      };
      // Defaults: an assumption of chat shaped like ShareGPT conversations (a first message
      // longer than follow-ups), not a fit to a trace.
      c.turns = dist("turns", "turns per session", {{"dist", "uniform"}, {"min", 2}, {"max", 6}});
      c.first_user = dist("first_user", "tokens of a session's first user message",
                          {{"dist", "lognormal"}, {"median", 400}, {"mean", 600}, {"min", 4}, {"max", 8000}});
      c.user = dist("user", "tokens of each later user message",
                    {{"dist", "lognormal"}, {"median", 80}, {"mean", 150}, {"min", 2}, {"max", 4000}});
      c.output = dist("output", "output tokens of each turn",
                      {{"dist", "lognormal"}, {"median", 200}, {"mean", 280}, {"min", 1}, {"max", 2000}});
      c.system_prompt_tokens = static_cast<std::int32_t>(
          p.integer("system_prompt_tokens", 0, "tokens of a system prompt shared by every session", 0, 1 << 24));
      c.think_time = p.duration("think_time", "30s", "mean time from one turn's arrival to the next (exponential)", 1);
      c.max_context = p.integer("max_context", 32768, "a session ends before a turn whose prompt + output would exceed this", 2);
      c.prefix_unit = static_cast<std::int32_t>(p.integer("prefix_unit", 16, "tokens per prefix id", 1, 4096));
      // Read only when given (or documented), so open-loop scenarios resolve as before.
      if (p.has("closed_loop") || p.doc_mode()) {
        c.closed_loop = p.boolean("closed_loop", false,
                                  "the next turn is sent think_time after the previous reply finished (else after its arrival)");
      }
      if (!p.doc_mode() && c.num_sessions == 0 && c.duration == 0) {
        bad_value(p.where("duration"), "0", "a positive duration or a positive num_sessions (the workload must end)");
      }
      return c;
    }
  };

  MultiTurnWorkload(const Config& c, const WorkloadDeps& deps)
      : c_(c), rng_(Rng::for_component(deps.seed, "workload.multiturn")) {
    next_session_s_ = rng_.exponential(c_.rate);
  }

  std::optional<RequestSpec> next() override {
    for (;;) {
      const bool can_start = sessions_started_ < c_.num_sessions || c_.num_sessions == 0;
      const bool start_open = can_start && (c_.duration == 0 || from_seconds(next_session_s_) <= c_.duration);
      if (!start_open && pending_.empty()) return std::nullopt;
      if (start_open && (pending_.empty() || from_seconds(next_session_s_) < pending_.top().time)) {
        start_session();
        continue;
      }
      const Pending top = pending_.top();
      pending_.pop();
      std::optional<RequestSpec> r = turn(top);
      if (r) return r;
    }
  }

  void on_request_done(const RequestSpec& spec, bool completed, SimTime now, std::vector<RequestSpec>& out) override {
    if (!c_.closed_loop) return;
    auto it = sessions_.find(spec.session);
    if (it == sessions_.end()) return;  // its last turn
    if (!completed) {
      sessions_.erase(it);
      return;
    }
    std::optional<RequestSpec> r = turn(Pending{now + think(), spec.session});
    if (r) out.push_back(std::move(*r));
  }

 private:
  struct Session {
    std::int32_t turn = 0, turns = 0;
    Conversation conv;
  };
  struct Pending {
    SimTime time;
    std::int64_t session;
    bool operator<(const Pending& o) const {  // priority_queue pops the largest: invert
      return time != o.time ? time > o.time : session > o.session;
    }
  };

  void start_session() {
    const std::int64_t id = sessions_started_++;
    Session s;
    s.turns = c_.turns.sample(rng_);
    s.conv.salt = mix64(0x6d75'6c74'6974'7572ULL, static_cast<std::uint64_t>(id));
    sessions_.emplace(id, std::move(s));
    pending_.push(Pending{from_seconds(next_session_s_), id});
    next_session_s_ += rng_.exponential(c_.rate);
  }

  std::optional<RequestSpec> turn(const Pending& at) {
    auto it = sessions_.find(at.session);
    SERVESIM_ASSERT(it != sessions_.end());
    Session& s = it->second;
    const bool first = s.turn == 0;
    const std::int64_t user = first ? static_cast<std::int64_t>(c_.system_prompt_tokens) + c_.first_user.sample(rng_)
                                    : c_.user.sample(rng_);
    const std::int64_t prompt = s.conv.history + user;
    const std::int64_t output = c_.output.sample(rng_);
    if (prompt + output > c_.max_context) {
      sessions_.erase(it);
      return std::nullopt;
    }
    s.conv.extend(prompt + output, c_.prefix_unit, c_.system_prompt_tokens, kSystemPromptSalt);
    RequestSpec r;
    r.id = next_id_++;
    r.arrival = at.time;
    r.prompt_tokens = static_cast<std::int32_t>(prompt);
    r.output_tokens = static_cast<std::int32_t>(output);
    r.prefix_ids = s.conv.ids;
    r.prefix_unit = c_.prefix_unit;
    r.session = at.session;
    if (c_.closed_loop) r.call = s.turn;
    if (++s.turn < s.turns) {
      if (!c_.closed_loop) pending_.push(Pending{at.time + think(), at.session});  // closed loop: on_request_done
    } else {
      sessions_.erase(it);
    }
    return r;
  }

  SimTime think() {
    const double mean_s = to_seconds(c_.think_time);
    return std::max<SimTime>(1, from_seconds(rng_.exponential(1.0 / mean_s)));
  }

  Config c_;
  Rng rng_;
  double next_session_s_ = 0;
  std::int64_t sessions_started_ = 0;
  std::map<std::int64_t, Session> sessions_;
  std::priority_queue<Pending> pending_;
  RequestId next_id_ = 0;
};

}  // namespace

SERVESIM_REGISTER(WorkloadRegistry, MultiTurnWorkload, "multiturn",
                  "multi-turn chat sessions: each turn's prompt is the conversation so far (KV reusable), Poisson sessions")

}  // namespace servesim
