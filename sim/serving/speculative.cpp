#include "sim/serving/speculative.h"

#include "sim/core/error.h"

namespace servesim {

const char* spec_method_name(SpecMethod m) {
  switch (m) {
    case SpecMethod::kNone: return "none";
    case SpecMethod::kDraftModel: return "draft_model";
    case SpecMethod::kEagle: return "eagle";
    case SpecMethod::kMtp: return "mtp";
  }
  return "?";
}

SpeculativeConfig SpeculativeConfig::parse(Params& p) {
  SpeculativeConfig c;
  const std::string m = p.choice("method", "none", {"none", "draft_model", "eagle", "mtp"},
                                 "drafter: draft_model (a small model, k sequential forwards), eagle or mtp (one extra "
                                 "decoder layer of the target's shape per proposed token); none: off");
  c.method = m == "draft_model" ? SpecMethod::kDraftModel
             : m == "eagle"     ? SpecMethod::kEagle
             : m == "mtp"       ? SpecMethod::kMtp
                                : SpecMethod::kNone;
  c.k = static_cast<std::int32_t>(p.integer("k", 3, "tokens the drafter proposes per decode step", 1, 64));
  const nlohmann::json a = p.value("acceptance", 0.7,
                                   "acceptance rate: a constant alpha, or a list of k values (position i: the "
                                   "probability that proposal i is accepted given proposals 1..i-1 were)");
  c.draft_model = p.string("draft_model", "", "draft_model: the draft model's name in models/ or a path to its config.json");
  if (p.doc_mode()) return c;
  auto rate = [&](const nlohmann::json& v) {
    if (!v.is_number() || v.get<double>() < 0 || v.get<double>() > 1) {
      bad_value(p.where("acceptance"), v.dump().substr(0, 80), "a probability in [0, 1]");
    }
    return v.get<double>();
  };
  if (a.is_array()) {
    if (static_cast<std::int64_t>(a.size()) != c.k) {
      bad_value(p.where("acceptance"), a.dump().substr(0, 80), "a number or a list of k = " + std::to_string(c.k) + " numbers");
    }
    for (const auto& v : a) c.acceptance.push_back(rate(v));
  } else {
    c.acceptance.assign(static_cast<std::size_t>(c.k), rate(a));
  }
  if (c.method == SpecMethod::kDraftModel && c.draft_model.empty()) {
    bad_value(p.where("draft_model"), "\"\"", "a model name (method draft_model needs a draft model)");
  }
  if (c.method != SpecMethod::kDraftModel && !c.draft_model.empty()) {
    bad_value(p.where("draft_model"), c.draft_model.substr(0, 80), "no draft_model unless method is draft_model");
  }
  return c;
}

double expected_tokens_per_step(const std::vector<double>& acceptance, std::int32_t k) {
  double run = 1, sum = 1;
  for (std::int32_t i = 0; i < k; ++i) sum += run *= acceptance[static_cast<std::size_t>(i)];
  return sum;
}

std::int32_t draw_accepted(const std::vector<double>& acceptance, std::int32_t k, Rng& rng) {
  std::int32_t a = 0;
  while (a < k && rng.uniform01() < acceptance[static_cast<std::size_t>(a)]) ++a;
  return a;
}

ModelSpec draft_head_spec(const ModelSpec& target) {
  ModelSpec m = target;
  m.name = target.name + "/draft_head";
  m.layers = 1;
  if (!m.layer_is_sliding.empty()) m.layer_is_sliding.resize(1);
  m.moe.first_dense_layers = 0;  // DeepSeek-V3's MTP block is an MoE layer
  m.moe.layer_freq = 1;
  m.moe.dense_layers.clear();
  return m;
}

}  // namespace servesim
