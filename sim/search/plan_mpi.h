#pragma once
// A plan search over MPI ranks (`mpirun -n N servesim plan search ...`; sim/search/sweep_mpi.h
// says when MPI is initialised). Contract, with dynamic load balancing (candidate groups
// differ 100x in cost):
// - Rank 0 is the coordinator: its own threads take groups from a shared counter, and its
//   main thread (the only one calling MPI) answers the other ranks' requests from the same
//   counter and stores the results they send back.
// - Every other rank asks for one group at a time, searches it on its main thread, sends the
//   group's results (MessagePack) and asks again, until the answer is "no more": start one rank
//   per core. Only rank 0 writes outputs; its tables are byte-identical to one process's.
// - An error or a stop on any rank ends every rank (MPI_Abort), as in a sweep.
#include "sim/search/plan_search.h"
#include "sim/search/sweep_mpi.h"

namespace servesim::search {

class MpiGroupSpread final : public IGroupSpread {
 public:
  explicit MpiGroupSpread(const MpiSession& session) : session_(session) {}
  bool coordinator() const override { return session_.rank() == 0; }
  void run(std::size_t groups, int threads, const std::function<void(std::size_t)>& local,
           const std::function<std::string(std::size_t)>& encode,
           const std::function<void(std::size_t, const std::string&)>& decode) override;
  std::size_t remote_groups() const { return remote_groups_; }  // coordinator: groups searched by other ranks
  std::size_t groups() const { return groups_; }                // the groups of the last run()

 private:
  const MpiSession& session_;
  std::size_t remote_groups_ = 0;
  std::size_t groups_ = 0;
};

}  // namespace servesim::search
