#pragma once
// The Melange integer program (Griggs et al., "Melange: Cost Efficient Large Language Model
// Serving by Exploiting GPU Heterogeneity", 2024): the cheapest mix of device plans that
// serves every request-size bucket's load, solved with GLPK (libglpk-dev).
// Contract:
// - Variables: x_u >= 0 integer, the replicas of unit u (a device plan: device, TP, PP,
//   scheduler knobs); y_ub in [0, 1], the share of bucket b's load served by unit u.
// - Minimise sum_u usd_per_hour_u * x_u subject to: sum_u y_ub = 1 for each bucket with load;
//   sum_b y_ub * load_b / capacity_ub <= x_u for each unit (a replica's time is shared among
//   the buckets it serves, each at the fraction of its single-bucket capacity it uses);
//   y_ub = 0 where capacity_ub = 0; sum_u gpus_u * x_u <= max_gpus when max_gpus > 0.
// - A pure function of its inputs (no state, deterministic); GLPK prints nothing.
#include <cstdint>
#include <string>
#include <vector>

namespace servesim::search {

struct MixProblem {
  std::vector<double> usd_per_hour;             // per unit: $ per hour of one replica
  std::vector<std::int64_t> gpus;               // per unit: GPUs of one replica
  std::vector<double> load;                     // per bucket: req/s to serve
  std::vector<std::vector<double>> capacity;    // [unit][bucket]: req/s one replica sustains (0: none)
  std::int64_t max_gpus = 0;                    // 0: no limit
};

struct MixSolution {
  bool feasible = false;
  std::vector<std::int64_t> replicas;       // per unit
  std::vector<std::vector<double>> share;   // [unit][bucket]: y_ub
  double usd_per_hour = 0;
  std::int64_t gpus = 0;
};

// Solves the program to optimality (branch and bound); feasible = false when no integer
// solution exists (a bucket no unit can serve, or the GPU limit).
MixSolution solve_mix(const MixProblem& problem);

// The same program restricted to unit `u` alone (the best single-type plan of that unit).
MixSolution solve_single(const MixProblem& problem, std::size_t u);

}  // namespace servesim::search
