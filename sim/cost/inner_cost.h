#pragma once
// The "inner" cost model a wrapping cost model (hf_engine, perturbed) delegates to: parsed
// from its `inner` key, defaulting to `default_impl`, never the wrapper itself.
#include "sim/core/error.h"
#include "sim/core/params.h"
#include "sim/cost/i_cost_model.h"

namespace servesim {

inline ComponentConfig parse_inner_cost(Params& p, const char* help, const char* default_impl, const char* self_impl) {
  nlohmann::json inner = p.object("inner", help);
  if (!inner.contains("impl")) inner["impl"] = default_impl;
  if (inner["impl"] == self_impl) bad_value(p.where("inner") + ".impl", self_impl, "another cost model");
  ComponentConfig c = CostModelRegistry::get().parse(inner, p.where("inner"));
  p.set_resolved("inner", c.resolved);
  return c;
}

}  // namespace servesim
