#include "sim/search/mix_solver.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <glpk.h>

namespace servesim::search {
namespace {

struct ProbDeleter {
  void operator()(glp_prob* p) const { glp_delete_prob(p); }
};

// Solves the program over the units flagged in `use`.
MixSolution solve(const MixProblem& pr, const std::vector<bool>& use) {
  const std::size_t nu = pr.usd_per_hour.size(), nb = pr.load.size();
  MixSolution out;
  out.replicas.assign(nu, 0);
  out.share.assign(nu, std::vector<double>(nb, 0.0));
  std::unique_ptr<glp_prob, ProbDeleter> lp(glp_create_prob());
  glp_prob* p = lp.get();
  glp_set_obj_dir(p, GLP_MIN);
  // Rows: one per bucket with load (its shares sum to 1), one per used unit (its time), the GPU limit.
  std::vector<int> bucket_row(nb, 0), unit_row(nu, 0);
  for (std::size_t b = 0; b < nb; ++b) {
    if (pr.load[b] <= 0) continue;
    bucket_row[b] = glp_add_rows(p, 1);
    glp_set_row_bnds(p, bucket_row[b], GLP_FX, 1.0, 1.0);
  }
  for (std::size_t u = 0; u < nu; ++u) {
    if (!use[u]) continue;
    unit_row[u] = glp_add_rows(p, 1);
    glp_set_row_bnds(p, unit_row[u], GLP_UP, 0.0, 0.0);
  }
  const int gpu_row = pr.max_gpus > 0 ? glp_add_rows(p, 1) : 0;
  if (gpu_row > 0) glp_set_row_bnds(p, gpu_row, GLP_UP, 0.0, static_cast<double>(pr.max_gpus));
  // Columns and the constraint matrix (GLPK arrays are 1-based; element 0 unused).
  std::vector<int> ia{0}, ja{0};
  std::vector<double> ar{0.0};
  auto put = [&](int row, int col, double v) {
    ia.push_back(row);
    ja.push_back(col);
    ar.push_back(v);
  };
  std::vector<int> x_col(nu, 0);
  std::vector<std::vector<int>> y_col(nu, std::vector<int>(nb, 0));
  std::vector<bool> served(nb, false);
  for (std::size_t u = 0; u < nu; ++u) {
    if (!use[u]) continue;
    x_col[u] = glp_add_cols(p, 1);
    glp_set_col_kind(p, x_col[u], GLP_IV);
    glp_set_col_bnds(p, x_col[u], GLP_LO, 0.0, 0.0);
    glp_set_obj_coef(p, x_col[u], pr.usd_per_hour[u]);
    put(unit_row[u], x_col[u], -1.0);
    if (gpu_row > 0) put(gpu_row, x_col[u], static_cast<double>(pr.gpus[u]));
    for (std::size_t b = 0; b < nb; ++b) {
      if (pr.load[b] <= 0 || pr.capacity[u][b] <= 0) continue;
      served[b] = true;
      y_col[u][b] = glp_add_cols(p, 1);
      glp_set_col_bnds(p, y_col[u][b], GLP_DB, 0.0, 1.0);
      put(bucket_row[b], y_col[u][b], 1.0);
      put(unit_row[u], y_col[u][b], pr.load[b] / pr.capacity[u][b]);
    }
  }
  for (std::size_t b = 0; b < nb; ++b) {
    if (pr.load[b] > 0 && !served[b]) return out;  // no unit serves this bucket at all
  }
  glp_load_matrix(p, static_cast<int>(ia.size() - 1), ia.data(), ja.data(), ar.data());
  glp_iocp parm;
  glp_init_iocp(&parm);
  parm.presolve = GLP_ON;
  parm.msg_lev = GLP_MSG_OFF;
  const int rc = glp_intopt(p, &parm);
  if (rc != 0 || glp_mip_status(p) != GLP_OPT) return out;
  out.feasible = true;
  for (std::size_t u = 0; u < nu; ++u) {
    if (!use[u]) continue;
    out.replicas[u] = std::llround(glp_mip_col_val(p, x_col[u]));
    out.usd_per_hour += pr.usd_per_hour[u] * static_cast<double>(out.replicas[u]);
    out.gpus += pr.gpus[u] * out.replicas[u];
    for (std::size_t b = 0; b < nb; ++b) {
      if (y_col[u][b] > 0) out.share[u][b] = std::clamp(glp_mip_col_val(p, y_col[u][b]), 0.0, 1.0);
    }
  }
  return out;
}

}  // namespace

MixSolution solve_mix(const MixProblem& problem) { return solve(problem, std::vector<bool>(problem.usd_per_hour.size(), true)); }

MixSolution solve_single(const MixProblem& problem, std::size_t u) {
  std::vector<bool> use(problem.usd_per_hour.size(), false);
  use.at(u) = true;
  return solve(problem, use);
}

}  // namespace servesim::search
