#include "sim/search/sweep_output.h"

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include "sim/core/error.h"
#include "sim/search/sweep_tables.h"

namespace servesim::search {
namespace fs = std::filesystem;

namespace {

constexpr const char* kJournal = "journal.jsonl";

void write_all(int fd, const std::string& text, const std::string& where) {
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) input_error(where, fmt::format("cannot write ({})", std::strerror(errno)));
    off += static_cast<std::size_t>(n);
  }
}

// `text` into dir/name through a temporary beside it and one rename.
void write_file_atomically(const fs::path& dir, const std::string& name, const std::string& text) {
  const fs::path tmp = dir / fmt::format(".{}.partial-{}", name, ::getpid());
  const fs::path final_path = dir / name;
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) input_error(tmp.string(), fmt::format("cannot create ({})", std::strerror(errno)));
  try {
    write_all(fd, text, tmp.string());
    if (::fsync(fd) != 0) input_error(tmp.string(), fmt::format("cannot write ({})", std::strerror(errno)));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), final_path.c_str()) != 0) {
    const std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    input_error(final_path.string(), "cannot write (" + why + ")");
  }
}

// True when another process holds the journal's lock (a sweep running on this folder).
bool journal_in_use(const fs::path& journal) {
  const int fd = ::open(journal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool busy = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return busy;
}

}  // namespace

std::string journal_header(const Sweep& sweep) {
  return nlohmann::json{{"servesim_sweep", 1}, {"name", sweep.name}, {"hash", sweep.hash}, {"points", sweep.points.size()}}.dump();
}

SweepFolder::SweepFolder(const std::string& dir, const Sweep& sweep, bool resume, const OutputOptions& options)
    : sweep_(sweep), options_(options), entries_(sweep.points.size()) {
  dir_ = check_output_dir(dir, options_);
  std::error_code ec;
  const bool fresh = !fs::exists(dir_, ec) || fs::is_empty(dir_, ec);
  if (fs::exists(fs::path(dir_) / kJournal, ec) && journal_in_use(fs::path(dir_) / kJournal)) {
    bad_value(options_.flag, dir, "a folder no other sweep is writing (a servesim sweep is running on this one)");
  }
  if (resume && !fresh) {
    this->resume();
  } else {
    start_new(options_);
  }
  // Leftovers of a table write that was killed.
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.rfind(".points.", 0) == 0 && name.find(".partial-") != std::string::npos) fs::remove(it->path(), ec);
  }
}

SweepFolder::~SweepFolder() {
  if (fd_ >= 0) ::close(fd_);  // releases the lock
}

void SweepFolder::lock_journal() {
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    bad_value(options_.flag, dir_, "a folder no other sweep is writing (a servesim sweep is running on this one)");
  }
}

void SweepFolder::start_new(const OutputOptions& options) {
  write_dir_atomically(dir_, {{kJournal, journal_header(sweep_) + "\n"}}, options);
  const fs::path journal = fs::path(dir_) / kJournal;
  fd_ = ::open(journal.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) input_error(journal.string(), fmt::format("cannot open ({})", std::strerror(errno)));
  lock_journal();
}

void SweepFolder::resume() {
  const fs::path journal = fs::path(dir_) / kJournal;
  const std::string jw = journal.string();
  std::error_code ec;
  if (!fs::is_regular_file(journal, ec)) {
    bad_value("--resume", dir_, "a sweep folder with a journal.jsonl (this one has none; run without --resume to replace it)");
  }
  fd_ = ::open(journal.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (fd_ < 0) input_error(jw, fmt::format("cannot open ({})", std::strerror(errno)));
  lock_journal();
  std::string text;
  char buf[1 << 16];
  for (ssize_t n; (n = ::pread(fd_, buf, sizeof buf, static_cast<off_t>(text.size()))) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) input_error(jw, fmt::format("cannot read ({})", std::strerror(errno)));
    text.append(buf, static_cast<std::size_t>(n));
  }
  std::size_t pos = 0, line_no = 0;
  for (std::size_t nl; (nl = text.find('\n', pos)) != std::string::npos; pos = nl + 1) {
    ++line_no;
    const std::string line = text.substr(pos, nl - pos);
    const std::string where = fmt::format("{}:{}", jw, line_no);
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (line_no == 1) {
      if (!j.is_object() || !j.contains("servesim_sweep") || !j.contains("hash") || !j["hash"].is_string()) {
        bad_value(where, line, "a servesim sweep journal header");
      }
      if (j["hash"] != sweep_.hash) {
        input_error(jw, fmt::format("written by a different sweep ('{}', hash {}) than {} (hash {}): the sweep file, its base "
                                    "scenario or --requests-csv changed; run without --resume to start over (replaces {}) "
                                    "or choose another --out",
                                    quoted_value(j.value("name", std::string("?")), 40), j["hash"].get<std::string>().substr(0, 12),
                                    sweep_.source, sweep_.hash.substr(0, 12), dir_));
      }
      continue;
    }
    if (!j.is_object() || !j.contains("index") || !j["index"].is_number_unsigned() || !j.contains("id") || !j["id"].is_string() ||
        !j.contains("status")) {
      bad_value(where, line, "a journal line {\"index\", \"id\", \"status\", ...}");
    }
    JournalEntry e;
    e.index = j["index"].get<std::size_t>();
    e.id = j["id"].get<std::string>();
    e.ok = j["status"] == "ok";
    if (e.ok && (!j.contains("summary") || !j["summary"].is_object())) bad_value(where, line, "an \"ok\" line with its summary");
    if (e.ok) e.summary = j["summary"];
    if (!e.ok) e.error = j.value("error", std::string());
    add(std::move(e), where);
  }
  if (line_no == 0) bad_value(jw, text, "a servesim sweep journal (it has no complete header line)");
  if (pos < text.size()) {
    // A line cut short by a kill: never counted, removed so the next line starts clean.
    if (::ftruncate(fd_, static_cast<off_t>(pos)) != 0) input_error(jw, fmt::format("cannot truncate ({})", std::strerror(errno)));
  }
  resumed_ = true;
}

void SweepFolder::add(JournalEntry e, const std::string& where) {
  if (e.index >= entries_.size() || sweep_.points[e.index].id != e.id) {
    bad_value(where, fmt::format("point {} id {}", e.index, e.id), "a point of this sweep");
  }
  if (entries_[e.index]) bad_value(where, fmt::format("point {}", e.index), "each point once in the journal");
  ++done_;
  if (!e.ok) ++failed_;
  entries_[e.index] = std::move(e);
}

void SweepFolder::record(const PointOutcome& o) {
  SERVESIM_ASSERT(o.status != PointStatus::kCancelled && o.index < entries_.size() && !entries_[o.index]);
  const SweepPoint& p = sweep_.points[o.index];
  JournalEntry e{o.index, p.id, o.status == PointStatus::kOk, o.error, o.summary};
  if (e.ok) {
    OutputOptions po;
    po.flag = options_.flag;
    write_dir_atomically((fs::path(dir_) / "points" / p.id).string(), o.files, po);
  }
  nlohmann::json line = {{"index", e.index}, {"id", e.id}, {"status", e.ok ? "ok" : "failed"}};
  if (e.ok) {
    line["summary"] = e.summary;
  } else {
    line["error"] = e.error;
  }
  const std::string jw = (fs::path(dir_) / kJournal).string();
  write_all(fd_, line.dump() + "\n", jw);
  if (::fsync(fd_) != 0) input_error(jw, fmt::format("cannot write ({})", std::strerror(errno)));
  add(std::move(e), jw);
}

void SweepFolder::write_tables() const {
  std::vector<JournalEntry> all;
  all.reserve(entries_.size());
  for (const auto& e : entries_) {
    SERVESIM_ASSERT(e.has_value());
    all.push_back(*e);
  }
  write_file_atomically(dir_, "points.jsonl", points_jsonl(sweep_, all));
  write_file_atomically(dir_, "points.csv", points_csv(sweep_, all));
}

}  // namespace servesim::search
