#include "sim/search/sweep_mpi.h"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <thread>

#include <fmt/format.h>

#include "sim/core/error.h"
#include "sim/search/mpi_c.h"

namespace servesim::search {

namespace {

// Message tags. Worker -> rank 0: a request (int: how many indices), a finished point
// (MessagePack bytes), goodbye (empty). Rank 0 -> worker: indices (uint64[], empty: no more).
constexpr int kTagRequest = 1;
constexpr int kTagAssign = 2;
constexpr int kTagResult = 3;
constexpr int kTagBye = 4;

std::vector<std::uint8_t> encode(const PointOutcome& o) {
  nlohmann::json files = nlohmann::json::array();
  for (const auto& [name, text] : o.files) files.push_back({name, text});
  return nlohmann::json::to_msgpack(
      {{"index", o.index}, {"status", static_cast<int>(o.status)}, {"error", o.error}, {"summary", o.summary}, {"files", files}});
}

PointOutcome decode(const std::vector<std::uint8_t>& bytes) {
  const nlohmann::json j = nlohmann::json::from_msgpack(bytes);
  PointOutcome o;
  o.index = j.at("index").get<std::size_t>();
  o.status = static_cast<PointStatus>(j.at("status").get<int>());
  o.error = j.at("error").get<std::string>();
  o.summary = j.at("summary");
  for (const auto& f : j.at("files")) o.files.emplace_back(f.at(0).get<std::string>(), f.at(1).get<std::string>());
  return o;
}

std::vector<std::uint8_t> receive_bytes(const MPI_Status& probed) {
  int n = 0;
  MPI_Get_count(&probed, MPI_BYTE, &n);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(n));
  MPI_Recv(bytes.data(), n, MPI_BYTE, probed.MPI_SOURCE, probed.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  return bytes;
}

}  // namespace

bool mpi_launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"}) {
    const char* e = std::getenv(v);
    if (e && *e) return true;
  }
  return false;
}

MpiSession::MpiSession() {
  int provided = 0;
  MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  MPI_Comm local;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
  MPI_Comm_size(local, &local_size_);
  MPI_Comm_free(&local);
}

MpiSession::~MpiSession() { MPI_Finalize(); }

int MpiSession::max_over_ranks(int value) const {
  int out = 0;
  MPI_Allreduce(&value, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return out;
}

int MpiSession::broadcast(int value) const {
  MPI_Bcast(&value, 1, MPI_INT, 0, MPI_COMM_WORLD);
  return value;
}

void MpiSession::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

void MpiWorkers::poll(const std::function<std::vector<std::size_t>(int wanted)>& hand_out,
                      const std::function<void(PointOutcome&&)>& on_result) {
  for (;;) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, &st);
    if (!flag) return;
    if (st.MPI_TAG == kTagRequest) {
      int wanted = 0;
      MPI_Recv(&wanted, 1, MPI_INT, st.MPI_SOURCE, kTagRequest, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      std::vector<std::uint64_t> indices;
      for (std::size_t i : hand_out(wanted)) indices.push_back(i);
      MPI_Send(indices.data(), static_cast<int>(indices.size()), MPI_UINT64_T, st.MPI_SOURCE, kTagAssign, MPI_COMM_WORLD);
    } else if (st.MPI_TAG == kTagResult) {
      on_result(decode(receive_bytes(st)));
    } else {
      SERVESIM_ASSERT(st.MPI_TAG == kTagBye);
      MPI_Recv(nullptr, 0, MPI_BYTE, st.MPI_SOURCE, kTagBye, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      ++left_;
    }
  }
}

void serve_sweep(const Sweep& sweep, const std::shared_ptr<Catalog>& catalog, const SweepRunOptions& options) {
  const auto stopping = [&] { return options.point.cancelled && options.point.cancelled(); };
  PointPool pool(sweep, catalog, options.point, options.threads);
  bool asked = false, no_more = false;
  for (;;) {
    if (!asked && !no_more && !stopping() && pool.in_flight() < pool.threads()) {
      int wanted = pool.threads() - pool.in_flight();
      MPI_Send(&wanted, 1, MPI_INT, 0, kTagRequest, MPI_COMM_WORLD);
      asked = true;
    }
    if (asked) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(0, kTagAssign, MPI_COMM_WORLD, &flag, &st);
      if (flag) {
        int n = 0;
        MPI_Get_count(&st, MPI_UINT64_T, &n);
        std::vector<std::uint64_t> indices(static_cast<std::size_t>(n));
        MPI_Recv(indices.data(), n, MPI_UINT64_T, 0, kTagAssign, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        asked = false;
        if (indices.empty()) no_more = true;
        for (std::uint64_t i : indices) {
          SERVESIM_ASSERT(i < sweep.points.size());
          pool.submit(static_cast<std::size_t>(i));  // when stopping, the point cancels at once
        }
      }
    }
    if (pool.in_flight() > 0) {
      if (auto o = pool.next(std::chrono::milliseconds(asked ? 1 : 50))) {
        // A cancelled point goes back too: rank 0 puts it back in line.
        std::vector<std::uint8_t> bytes = encode(*o);
        if (bytes.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {  // one MPI message holds < 2 GiB
          PointOutcome failed;
          failed.index = o->index;
          failed.status = PointStatus::kFailed;
          failed.error = fmt::format("{}: the point's files ({} bytes) are too large to send to rank 0 in one MPI message; "
                                     "run it without --requests-csv or without MPI",
                                     sweep.source, bytes.size());
          bytes = encode(failed);
        }
        MPI_Send(bytes.data(), static_cast<int>(bytes.size()), MPI_BYTE, 0, kTagResult, MPI_COMM_WORLD);
      }
    } else if (asked) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if ((no_more || stopping()) && !asked && pool.in_flight() == 0) break;
  }
  MPI_Send(nullptr, 0, MPI_BYTE, 0, kTagBye, MPI_COMM_WORLD);
}

}  // namespace servesim::search
