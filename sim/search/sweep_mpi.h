#pragma once
// Sweeps over MPI ranks (Open MPI, or any MPI-3 library). Contract:
// - mpi_launched() is true only when an MPI launcher started the process (mpirun / mpiexec,
//   or a PMI/PMIx launcher such as Slurm's srun); otherwise nothing here touches MPI, so a
//   plain `servesim sweep` never needs an MPI runtime.
// - MpiSession initialises MPI for its lifetime with MPI_THREAD_FUNNELED: only the thread that
//   made it calls MPI (the points run on oneTBB threads that never do).
// - The protocol (dynamic load balancing: points may differ 100x in cost): rank 0 runs
//   run_sweep() with an MpiWorkers as its IRemoteWorkers and runs points on its own threads
//   too; every other rank runs serve_sweep(): it asks rank 0 for as many point indices as it
//   has idle threads, runs them, sends each finished point back (summary and files), asks
//   again, and after an empty answer sends its last results and a goodbye. Only rank 0 writes
//   the output folder, so the ranks need no shared file system.
#include <memory>

#include "sim/search/sweep_runner.h"

namespace servesim::search {

bool mpi_launched();

class MpiSession {
 public:
  MpiSession();   // MPI_Init_thread
  ~MpiSession();  // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int local_size() const { return local_size_; }  // ranks on this node
  int max_over_ranks(int value) const;            // the largest value any rank gives
  int broadcast(int value) const;                 // rank 0's value, on every rank
  [[noreturn]] void abort(int code) const;        // ends every rank (a failure after the start)

 private:
  int rank_ = 0, size_ = 1, local_size_ = 1;
};

class MpiWorkers final : public IRemoteWorkers {
 public:
  explicit MpiWorkers(const MpiSession& session) : workers_(session.size() - 1) {}
  void poll(const std::function<std::vector<std::size_t>(int wanted)>& hand_out,
            const std::function<void(PointOutcome&&)>& on_result) override;
  bool finished() const override { return left_ >= workers_; }

 private:
  int workers_ = 0;
  int left_ = 0;
};

// A worker rank's loop (ranks 1..N-1); returns when rank 0 has no more work for it or
// `options.point.cancelled` says stop (points in flight are then cancelled, not sent).
void serve_sweep(const Sweep& sweep, const std::shared_ptr<Catalog>& catalog, const SweepRunOptions& options);

}  // namespace servesim::search
