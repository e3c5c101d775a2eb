#include "sim/search/plan_mpi.h"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "sim/search/mpi_c.h"

namespace servesim::search {

namespace {

// Worker -> rank 0: a request (no payload), a group's results (8-byte group index, then the
// encoded results). Rank 0 -> worker: a group index (int64; -1: no more).
constexpr int kTagRequest = 11;
constexpr int kTagAssign = 12;
constexpr int kTagResult = 13;

void serve(const std::function<void(std::size_t)>& local, const std::function<std::string(std::size_t)>& encode) {
  for (;;) {
    MPI_Send(nullptr, 0, MPI_BYTE, 0, kTagRequest, MPI_COMM_WORLD);
    std::int64_t g = -1;
    MPI_Recv(&g, 1, MPI_INT64_T, 0, kTagAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (g < 0) return;
    local(static_cast<std::size_t>(g));
    const std::string body = encode(static_cast<std::size_t>(g));
    std::string msg(sizeof g, '\0');
    std::memcpy(msg.data(), &g, sizeof g);
    msg += body;
    MPI_Send(msg.data(), static_cast<int>(msg.size()), MPI_BYTE, 0, kTagResult, MPI_COMM_WORLD);
  }
}

}  // namespace

void MpiGroupSpread::run(std::size_t groups, int threads, const std::function<void(std::size_t)>& local,
                         const std::function<std::string(std::size_t)>& encode,
                         const std::function<void(std::size_t, const std::string&)>& decode) {
  groups_ = groups;
  if (!coordinator()) {
    serve(local, encode);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::atomic<int> running{threads};
  std::mutex error_mu;
  std::exception_ptr error;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      try {
        for (std::size_t g; (g = next++) < groups;) local(g);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
        next = groups;  // hand out nothing more
      }
      --running;
    });
  }
  int workers_left = session_.size() - 1;
  while (workers_left > 0 || running > 0) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    if (st.MPI_TAG == kTagRequest) {
      MPI_Recv(nullptr, 0, MPI_BYTE, st.MPI_SOURCE, kTagRequest, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      const std::size_t g = next++;
      const std::int64_t answer = g < groups ? static_cast<std::int64_t>(g) : -1;
      if (answer < 0) --workers_left;
      MPI_Send(&answer, 1, MPI_INT64_T, st.MPI_SOURCE, kTagAssign, MPI_COMM_WORLD);
    } else {
      SERVESIM_ASSERT(st.MPI_TAG == kTagResult);
      int n = 0;
      MPI_Get_count(&st, MPI_BYTE, &n);
      std::string msg(static_cast<std::size_t>(n), '\0');
      MPI_Recv(msg.data(), n, MPI_BYTE, st.MPI_SOURCE, kTagResult, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      std::int64_t g = -1;
      SERVESIM_ASSERT(msg.size() >= sizeof g);
      std::memcpy(&g, msg.data(), sizeof g);
      SERVESIM_ASSERT(g >= 0 && static_cast<std::size_t>(g) < groups);
      decode(static_cast<std::size_t>(g), msg.substr(sizeof g));
      ++remote_groups_;
    }
  }
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace servesim::search
