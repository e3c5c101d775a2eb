// Reading and writing fitted profiles (schema servesim.fitted_profile/1).
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/core/json_file.h"
#include "sim/core/json_view.h"
#include "sim/cost/sha256.h"
#include "sim/cost/fitted_profile.h"
#include "sim/cost/profile_derive.h"

namespace servesim {
namespace {

using nlohmann::json;
constexpr const char* kSchema = "servesim.fitted_profile/1";

// The readers below are templates over J: nlohmann::json, or JsonView on a document simdjson
// parsed (FittedProfile::from_text's fast path; json_view.h).
template <class J>
double num(const J& j, const std::string& key, const std::string& where, bool positive = true) {
  const auto& v = require_field(j, key, where);
  if (!v.is_number() || !std::isfinite(v.template get<double>()) || (positive && !(v.template get<double>() > 0))) {
    bad_value(where + ": " + key, v.dump(), positive ? "a positive number" : "a number");
  }
  return v.template get<double>();
}

template <class J>
std::string str(const J& j, const std::string& key, const std::string& where) {
  const auto& v = require_field(j, key, where);
  if (!v.is_string()) bad_value(where + ": " + key, v.dump(), "a string");
  return v.template get<std::string>();
}

template <class J>
std::vector<double> numbers(const J& j, const std::string& key, const std::string& where, bool positive) {
  const auto& v = require_field(j, key, where);
  if (!v.is_array()) bad_value(where + ": " + key, v.dump().substr(0, 40), "an array of numbers");
  std::vector<double> out;
  out.reserve(v.size());
  for (const auto& e : v) {
    const double x = e.is_number() ? e.template get<double>() : 0.0;
    if (!e.is_number() || !std::isfinite(x) || (positive && !(x > 0)) || (!positive && x < 0)) {
      bad_value(fmt::format("{}: {}[{}]", where, key, out.size()), e.dump(), positive ? "a positive number" : "a non-negative number");
    }
    out.push_back(x);
  }
  return out;
}

template <class J>
std::vector<double> coefs(const J& j, const std::string& key, std::size_t n, const std::string& where) {
  auto c = numbers(j, key, where, false);
  if (c.size() != n) bad_value(where + ": " + key, std::to_string(c.size()) + " coefficients", std::to_string(n) + " (one per term)");
  return c;
}

template <class J>
KnotCurve knots(const J& j, const std::string& xkey, const std::string& ykey, const std::string& where) {
  KnotCurve k;
  k.x = numbers(j, xkey, where, true);
  k.y = numbers(j, ykey, where, true);
  if (k.x.empty() || k.x.size() != k.y.size()) {
    bad_value(where + ": " + ykey, std::to_string(k.y.size()) + " values", "as many as " + xkey + " (" + std::to_string(k.x.size()) + "), at least one");
  }
  for (std::size_t i = 1; i < k.x.size(); ++i) {
    if (!(k.x[i] > k.x[i - 1])) bad_value(fmt::format("{}: {}[{}]", where, xkey, i), fmt::format("{}", k.x[i]), "strictly increasing values");
  }
  return k;
}

json rounded(const std::vector<double>& v, int sig) {
  json a = json::array();
  for (double x : v) a.push_back(round_sig(x, sig));
  return a;
}

template <class J>
void read_attention(const J& j, FittedProfile::AttentionFit& f, bool prefill, const std::string& where) {
  const std::size_t nterms = attention_term_names(prefill).size();
  if (j.contains("global")) f.global = coefs(j, "global", nterms, where);
  if (j.contains("kernels")) {
    for (const auto& k : j["kernels"]) {
      if (!k.is_string()) bad_value(where + ": kernels", k.dump(), "kernel names");
      f.kernels.push_back(k.template get<std::string>());
    }
  }
  const auto& cfgs = require_field(j, "configs", where);
  if (!cfgs.is_array()) bad_value(where + ": configs", cfgs.dump().substr(0, 40), "an array");
  std::size_t i = 0;
  for (const auto& c : cfgs) {
    const std::string w = fmt::format("{}: configs[{}]", where, i++);
    FittedProfile::AttentionConfig a;
    a.heads = static_cast<int>(num(c, "heads", w));
    a.kv_heads = static_cast<int>(num(c, "kv_heads", w));
    a.head_dim = static_cast<int>(num(c, "head_dim", w));
    a.kv_dtype = str(c, "kv_dtype", w);
    a.layout = str(c, "layout", w);
    a.kernel = str(c, "kernel", w);
    if (a.layout != "paged" && a.layout != "contiguous") bad_value(w + ": layout", a.layout, "paged or contiguous");
    a.coef = coefs(c, "coef", nterms, w);
    const auto b = numbers(c, "batch", w, true), q = numbers(c, "q", w, true), ctx = numbers(c, "ctx", w, false),
               us = numbers(c, "us", w, true);
    if (q.size() != b.size() || ctx.size() != b.size() || us.size() != b.size()) {
      bad_value(w + ": us", std::to_string(us.size()) + " values", "as many as batch, q and ctx");
    }
    a.points.reserve(b.size());
    for (std::size_t k = 0; k < b.size(); ++k) a.points.push_back({b[k], q[k], ctx[k], us[k]});
    f.configs.push_back(std::move(a));
  }
}

json write_attention(const FittedProfile::AttentionFit& f, bool prefill) {
  json j;
  j["terms"] = attention_term_names(prefill);
  if (!f.global.empty()) j["global"] = rounded(f.global, 8);
  j["kernels"] = f.kernels;
  j["configs"] = json::array();
  for (const auto& c : f.configs) {
    json cj = {{"heads", c.heads}, {"kv_heads", c.kv_heads}, {"head_dim", c.head_dim}, {"kv_dtype", c.kv_dtype},
               {"layout", c.layout}, {"kernel", c.kernel}, {"coef", rounded(c.coef, 8)}};
    std::vector<double> b, q, ctx, us;
    for (const auto& p : c.points) {
      b.push_back(p.batch);
      q.push_back(p.q);
      ctx.push_back(p.ctx);
      us.push_back(p.us);
    }
    cj["batch"] = b;
    cj["q"] = q;
    cj["ctx"] = ctx;
    cj["us"] = rounded(us, 5);
    j["configs"].push_back(std::move(cj));
  }
  return j;
}

}  // namespace

namespace {

// The profile another one names by reference ({profile, sha256}: beside `path` by file name,
// else at the recorded path), loaded; its SHA-256 must match the recorded one.
// `stale` says what to do when it changed since.
FittedProfile referenced_profile(const json& ref, const std::string& path, const std::string& w, const std::string& stale) {
  if (!ref.is_object()) bad_value(w, ref.dump().substr(0, 40), "an object naming a profile and its sha256");
  const std::string rel = str(ref, "profile", w), sha = str(ref, "sha256", w);
  const std::filesystem::path beside = std::filesystem::path(path).parent_path() / std::filesystem::path(rel).filename();
  const std::string src_path = std::filesystem::exists(beside) ? beside.string() : rel;
  if (!std::filesystem::exists(src_path)) bad_value(w + ": profile", rel, "a fitted profile beside " + path + " or at that path");
  if (sha256_file_hex(src_path) != sha) {
    bad_value(w + ": sha256", sha.substr(0, 16), "the SHA-256 of " + src_path + " (" + stale + ")");
  }
  return FittedProfile::load(src_path);
}

// The family names an entry lists (`key`: an array of profile family names).
std::vector<std::string> family_list(const json& entry, const std::string& key, const std::string& w) {
  const json& v = require_field(entry, key, w);
  if (!v.is_array() || v.empty()) bad_value(w + ": " + key, v.dump().substr(0, 40), "a non-empty array of family names");
  std::vector<std::string> out;
  for (const auto& f : v) {
    const auto& names = profile_family_names();
    if (!f.is_string() || std::find(names.begin(), names.end(), f.get<std::string>()) == names.end()) {
      bad_value(w + ": " + key, f.dump().substr(0, 40), "gemm, attention_prefill, attention_decode, collective, copy, page_map or moe");
    }
    out.push_back(f.get<std::string>());
  }
  return out;
}

}  // namespace

FittedProfile FittedProfile::load(const std::string& path) {
  FittedProfile p = from_text(read_json_text(path), path);
  bool rebuilt = false;
  // Derived by reference (calibrate derive --by-reference): the families named, derived here
  // from the source by the rule's stored numbers.
  const auto by_ref = p.derived_from.is_object() ? p.derived_from.find("by_reference") : p.derived_from.end();
  if (p.derived_from.is_object() && by_ref != p.derived_from.end()) {
    const std::string w = path + ": derived_from";
    if (!by_ref->is_boolean()) bad_value(w + ": by_reference", by_ref->dump().substr(0, 40), "true or false");
    if (by_ref->get<bool>()) {
      const FittedProfile src = referenced_profile(p.derived_from, path, w, "it changed since the derivation: derive " + p.device + " again");
      FittedProfile all;
      all.rates = p.rates;
      derive_families(src, DeriveRule::from_json(p.derived_from, w), all);
      for (const std::string& f : family_list(p.derived_from, "families", w)) copy_family(all, f, p, w + ": families");
      rebuilt = true;
    }
  }
  // Families measured on this device itself, kept by reference (provenance.families_from).
  if (p.provenance.is_object() && p.provenance.contains("families_from")) {
    const json& list = p.provenance["families_from"];
    const std::string w = path + ": provenance: families_from";
    if (!list.is_array()) bad_value(w, list.dump().substr(0, 40), "an array of {profile, sha256, families}");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string wi = fmt::format("{}[{}]", w, i);
      const FittedProfile src = referenced_profile(list[i], path, wi, "it changed since " + path + " was written: write it again");
      for (const std::string& f : family_list(list[i], "families", wi)) copy_family(src, f, p, wi + ": families");
    }
    rebuilt = true;
  }
  if (rebuilt) p.finalize();
  if (!p.moe.empty() || !p.provenance.is_object() || !p.provenance.contains("moe_from")) return p;
  // The MoE family of another device's profile, moved here at load (calibrate fit --moe-from):
  // kept by reference, the points derivable from the source.
  const json& m = p.provenance["moe_from"];
  const std::string w = path + ": provenance: moe_from";
  const FittedProfile src = referenced_profile(m, path, w, "it changed since the fit: refit " + p.device);
  if (src.moe.empty()) bad_value(w + ": profile", str(m, "profile", w), "a profile with a MoE family");
  const auto same = m.find("same_chip_layout");
  if (same == m.end() || !same->is_boolean()) bad_value(w + ": same_chip_layout", same == m.end() ? "missing" : same->dump(), "true or false");
  p.moe = derive_moe(src.moe, src.rates, p.rates, same->get<bool>());
  p.finalize_moe();
  return p;
}

bool valid_kernel_set_name(const std::string& name) {
  return !name.empty() && name.find_first_of("/@ ") == std::string::npos;
}

std::string FittedProfile::kernel_set_name() const {
  return kernel_set.is_object() && kernel_set.contains("name") ? kernel_set["name"].get<std::string>() : "";
}

namespace {

template <class J>
FittedProfile read_profile(const J& j, const std::string& where) {
  using GemmFit = FittedProfile::GemmFit;
  using Curve = FittedProfile::Curve;
  using MoeFit = FittedProfile::MoeFit;
  using MoeGroup = FittedProfile::MoeGroup;
  FittedProfile p;
  if (!j.is_object()) bad_value(where, j.dump().substr(0, 40), "a JSON object (a fitted profile)");
  const std::string schema = str(j, "schema", where);
  if (schema != kSchema) bad_value(where + ": schema", schema, kSchema);
  p.device = str(j, "device", where);
  p.status = str(j, "status", where);
  if (p.status != "measured" && p.status != "derived") bad_value(where + ": status", p.status, "measured or derived");
  if (j.contains("derived_from")) p.derived_from = to_nlohmann(j["derived_from"]);
  if (j.contains("provenance")) p.provenance = to_nlohmann(j["provenance"]);
  if (j.contains("kernel_set")) {
    p.kernel_set = to_nlohmann(j["kernel_set"]);
    if (!p.kernel_set.is_object()) bad_value(where + ": kernel_set", p.kernel_set.dump().substr(0, 80), "an object with a name");
    const std::string name = str(p.kernel_set, "name", where + ": kernel_set");
    if (!valid_kernel_set_name(name)) {
      bad_value(where + ": kernel_set: name", name, "a non-empty name without '/', '@' or spaces");
    }
  }
  const std::string rw = where + ": rates";
  const auto& r = require_field(j, "rates", where);
  const auto& pf = require_field(r, "peak_flops", rw);
  if (!pf.is_object() || !pf.contains("bf16")) bad_value(rw + ": peak_flops", pf.dump(), "an object with at least bf16");
  for (const auto& [k, v] : pf.items()) p.rates.peak_flops[k] = num(pf, k, rw + ": peak_flops");
  p.rates.hbm_bandwidth = num(r, "hbm_bandwidth", rw);
  p.rates.sm_count = num(r, "sm_count", rw);
  p.rates.intra_node_bandwidth = num(r, "intra_node_bandwidth", rw);
  p.rates.host_link_bandwidth = num(r, "host_link_bandwidth", rw);
  if (r.contains("collective_busbw")) p.rates.collective_busbw = num(r, "collective_busbw", rw);
  if (r.contains("nvls_allreduce_busbw")) p.rates.nvls_allreduce_busbw = num(r, "nvls_allreduce_busbw", rw);
  if (r.contains("pageable_h2d_bandwidth")) p.rates.pageable_h2d_bandwidth = num(r, "pageable_h2d_bandwidth", rw);
  if (r.contains("pageable_d2h_bandwidth")) p.rates.pageable_d2h_bandwidth = num(r, "pageable_d2h_bandwidth", rw);

  const auto& fam = require_field(j, "families", where);
  const std::string fw = where + ": families";
  if (fam.contains("gemm")) {
    for (const auto& [dt, g] : fam["gemm"].items()) {
      const std::string w = fw + ": gemm: " + dt;
      if (dt != "bf16" && dt != "fp8" && dt != "fp8_block") bad_value(fw + ": gemm", dt, "dtype keys bf16, fp8 or fp8_block");
      GemmFit gf;
      if (g.contains("regression")) gf.coef = coefs(g["regression"], "coef", gemm_term_names().size(), w + ": regression");
      const auto& lines = require_field(g, "lines", w);
      if (!lines.is_array()) bad_value(w + ": lines", lines.dump().substr(0, 40), "an array of measured lines");
      std::size_t i = 0;
      for (const auto& line : lines) {
        const std::string lw = fmt::format("{}: lines[{}]", w, i++);
        const double n = num(line, "n", lw), k = num(line, "k", lw);
        const KnotCurve c = knots(line, "m", "us", lw);
        for (std::size_t q = 0; q < c.x.size(); ++q) gf.grid.add({n, k}, c.x[q], c.y[q]);
      }
      p.gemm.emplace(dt, std::move(gf));
    }
  }
  if (fam.contains("attention_prefill")) read_attention(fam["attention_prefill"], p.prefill, true, fw + ": attention_prefill");
  if (fam.contains("attention_decode")) read_attention(fam["attention_decode"], p.decode, false, fw + ": attention_decode");
  if (fam.contains("collective")) {
    const auto& curves = require_field(fam["collective"], "curves", fw + ": collective");
    if (!curves.is_array()) bad_value(fw + ": collective: curves", curves.dump().substr(0, 40), "an array of curves");
    std::size_t i = 0;
    for (const auto& curve : curves) {
      const std::string w = fmt::format("{}: collective: curves[{}]", fw, i++);
      Curve c;
      c.op = str(curve, "op", w);
      static const std::vector<std::string> ops = {"all_reduce", "all_gather", "reduce_scatter", "all_to_all", "send_recv"};
      if (std::find(ops.begin(), ops.end(), c.op) == ops.end()) {
        bad_value(w + ": op", c.op, "all_reduce, all_gather, reduce_scatter, all_to_all or send_recv");
      }
      c.ranks = static_cast<int>(num(curve, "ranks", w));
      c.backend = str(curve, "backend", w);
      c.curve = knots(curve, "bytes", "us", w);
      p.collectives.push_back(std::move(c));
    }
  }
  if (fam.contains("copy")) {
    const auto& curves = require_field(fam["copy"], "curves", fw + ": copy");
    if (!curves.is_array()) bad_value(fw + ": copy: curves", curves.dump().substr(0, 40), "an array of curves");
    std::size_t i = 0;
    for (const auto& curve : curves) {
      const std::string w = fmt::format("{}: copy: curves[{}]", fw, i++);
      Curve c;
      c.op = str(curve, "direction", w);
      if (c.op != "h2d" && c.op != "d2h" && c.op != "d2d") bad_value(w + ": direction", c.op, "h2d, d2h or d2d");
      c.backend = str(curve, "host_mem", w);
      c.curve = knots(curve, "chunk_bytes", "us", w);
      if (curve.contains("issue_floor_us")) c.issue_floor_us = num(curve, "issue_floor_us", w, false);
      if (curve.contains("gap_us")) c.gap_us = num(curve, "gap_us", w, false);
      p.copies.push_back(std::move(c));
    }
  }
  if (fam.contains("page_map")) p.page_map = knots(fam["page_map"], "page_bytes", "us_per_call", fw + ": page_map");
  if (fam.contains("moe")) {
    for (const auto& [dt, m] : fam["moe"].items()) {
      const std::string w = fw + ": moe: " + dt;
      if (dt != "bf16" && dt != "fp8" && dt != "fp8_block" && dt != "mxfp4") {
        bad_value(fw + ": moe", dt, "dtype keys bf16, fp8, fp8_block or mxfp4");
      }
      MoeFit f;
      f.kernel = str(m, "kernel", w);
      f.coef = coefs(require_field(m, "regression", w), "coef", moe_term_names().size(), w + ": regression");
      const auto& groups = require_field(m, "groups", w);
      if (!groups.is_array()) bad_value(w + ": groups", groups.dump().substr(0, 40), "an array of measured shapes");
      std::size_t i = 0;
      for (const auto& group : groups) {
        const std::string gw = fmt::format("{}: groups[{}]", w, i++);
        MoeGroup g;
        g.hidden = num(group, "hidden", gw);
        g.inter = num(group, "inter", gw);
        g.topk = num(group, "topk", gw);
        g.local_experts = num(group, "local_experts", gw);
        g.ep = num(group, "ep", gw);
        const KnotCurve c = knots(group, "tokens", "us", gw);
        g.tokens = c.x;
        g.us = c.y;
        f.groups.push_back(std::move(g));
      }
      p.moe.emplace(dt, std::move(f));
    }
  }
  if (fam.contains("launch")) p.launch = to_nlohmann(fam["launch"]);
  p.finalize();
  return p;
}

}  // namespace

FittedProfile FittedProfile::from_json(const json& j, const std::string& where) { return read_profile(j, where); }

std::optional<FittedProfile> FittedProfile::from_text_fast(std::string_view text, const std::string& where) {
  const auto doc = JsonDocument::parse(text);
  if (!doc) return std::nullopt;
  try {
    return read_profile(doc->root(), where);
  } catch (const JsonView::Mismatch&) {
    return std::nullopt;
  } catch (const InputError&) {
    return std::nullopt;  // from_text reads it again to give nlohmann's message
  }
}

FittedProfile FittedProfile::from_text(std::string_view text, const std::string& where) {
  std::string_view body = text;
  if (body.size() >= 3 && body.substr(0, 3) == "\xEF\xBB\xBF") body.remove_prefix(3);
  if (auto p = from_text_fast(body, where)) return std::move(*p);
  return from_json(parse_json_text(text, where), where);
}

json FittedProfile::to_json() const {
  json j;
  j["schema"] = kSchema;
  j["device"] = device;
  j["status"] = status;
  if (!derived_from.is_null()) j["derived_from"] = derived_from;
  j["provenance"] = provenance;
  if (!kernel_set.is_null()) j["kernel_set"] = kernel_set;
  json pf = json::object();
  for (const auto& [k, v] : rates.peak_flops) pf[k] = v;
  j["rates"] = {{"peak_flops", pf},
                {"hbm_bandwidth", rates.hbm_bandwidth},
                {"sm_count", rates.sm_count},
                {"intra_node_bandwidth", rates.intra_node_bandwidth},
                {"host_link_bandwidth", rates.host_link_bandwidth}};
  if (rates.collective_busbw > 0) j["rates"]["collective_busbw"] = rates.collective_busbw;
  if (rates.nvls_allreduce_busbw > 0) j["rates"]["nvls_allreduce_busbw"] = rates.nvls_allreduce_busbw;
  if (rates.pageable_h2d_bandwidth > 0) j["rates"]["pageable_h2d_bandwidth"] = rates.pageable_h2d_bandwidth;
  if (rates.pageable_d2h_bandwidth > 0) j["rates"]["pageable_d2h_bandwidth"] = rates.pageable_d2h_bandwidth;
  json fam = json::object();
  if (!gemm.empty()) {
    json g = json::object();
    for (const auto& [dt, gf] : gemm) {
      json d;
      if (!gf.coef.empty()) d["regression"] = {{"terms", gemm_term_names()}, {"coef", rounded(gf.coef, 8)}};
      d["lines"] = json::array();
      for (const auto& [key, line] : gf.grid.lines()) {
        d["lines"].push_back({{"n", key[0]}, {"k", key[1]}, {"m", line.x}, {"us", rounded(line.y, 5)}});
      }
      g[dt] = std::move(d);
    }
    fam["gemm"] = std::move(g);
  }
  if (!prefill.configs.empty() || !prefill.global.empty()) fam["attention_prefill"] = write_attention(prefill, true);
  if (!decode.configs.empty() || !decode.global.empty()) fam["attention_decode"] = write_attention(decode, false);
  if (!collectives.empty()) {
    json curves = json::array();
    for (const auto& c : collectives) {
      curves.push_back({{"op", c.op}, {"ranks", c.ranks}, {"backend", c.backend}, {"bytes", c.curve.x}, {"us", rounded(c.curve.y, 5)}});
    }
    fam["collective"] = {{"curves", curves}};
  }
  if (!copies.empty()) {
    json curves = json::array();
    for (const auto& c : copies) {
      curves.push_back({{"direction", c.op}, {"host_mem", c.backend}, {"chunk_bytes", c.curve.x}, {"us", rounded(c.curve.y, 5)},
                        {"issue_floor_us", round_sig(c.issue_floor_us, 5)}, {"gap_us", round_sig(c.gap_us, 5)}});
    }
    fam["copy"] = {{"curves", curves}};
  }
  if (page_map) fam["page_map"] = {{"page_bytes", page_map->x}, {"us_per_call", rounded(page_map->y, 5)}};
  if (!moe.empty()) {
    json m = json::object();
    for (const auto& [dt, f] : moe) {
      json groups = json::array();
      for (const auto& g : f.groups) {
        groups.push_back({{"hidden", g.hidden}, {"inter", g.inter}, {"topk", g.topk}, {"local_experts", g.local_experts},
                          {"ep", g.ep}, {"tokens", g.tokens}, {"us", rounded(g.us, 5)}});
      }
      m[dt] = {{"kernel", f.kernel}, {"regression", {{"terms", moe_term_names()}, {"coef", rounded(f.coef, 8)}}}, {"groups", groups}};
    }
    fam["moe"] = std::move(m);
  }
  if (!launch.is_null()) fam["launch"] = launch;
  j["families"] = std::move(fam);
  return j;
}

}  // namespace servesim
