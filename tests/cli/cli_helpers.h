#pragma once
// Runs the servesim CLI in a child process and captures its exit code and stderr.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace servesim::testing {

// True in the asan preset (the CLI under test is built the same way): a few heavy cases
// shrink or skip there, since the sanitizers make a run ~10x slower.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout + stderr
};

// A shell command line: its exit code and stdout + stderr.
inline CliResult run_shell(std::string command) {
  command.append(" 2>&1");
  CliResult r;
  FILE* p = popen(command.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  while (std::fgets(buf.data(), buf.size(), p)) r.out += buf.data();
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A shell command line run from the folder `cwd`.
inline CliResult run_shell_in(const std::filesystem::path& cwd, const std::string& command) {
  std::string line = "cd '";
  line.append(cwd.string()).append("' && ").append(command);
  return run_shell(std::move(line));
}

inline CliResult run_cli(const std::string& args) {
  std::string line = SERVESIM_BIN;
  line.append(" ").append(args);
  return run_shell(std::move(line));
}

// Same, run from the folder `cwd`.
inline CliResult run_cli_in(const std::filesystem::path& cwd, const std::string& args) {
  std::string line = SERVESIM_BIN;
  line.append(" ").append(args);
  return run_shell_in(cwd, line);
}

// Starts the CLI as a child process (no shell between: a signal sent to the returned pid
// reaches servesim itself), in `cwd`, with stdout and stderr going to `log`.
inline pid_t spawn_cli(const std::filesystem::path& cwd, const std::vector<std::string>& args,
                       const std::filesystem::path& log) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  if (::chdir(cwd.c_str()) != 0) ::_exit(126);
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) ::_exit(126);
  ::dup2(fd, 1);
  ::dup2(fd, 2);
  std::vector<char*> argv;
  std::string bin = SERVESIM_BIN;
  argv.push_back(bin.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  ::execv(bin.c_str(), argv.data());
  ::_exit(127);
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A device profile no fitted profile belongs to: b200's figures under the name `unprofiled_gpu`
// (every committed device has a profile, measured or derived), to write beside a scenario and
// name by path (`--set hardware=unprofiled_gpu.json`).
inline std::string unprofiled_device_json() {
  std::string text = slurp(std::filesystem::path(SERVESIM_DATA_DIR) / "hardware_profiles" / "devices" / "b200.json");
  const std::string from = "\"name\": \"b200\"";
  const auto at = text.find(from);
  if (at != std::string::npos) text.replace(at, from.size(), "\"name\": \"unprofiled_gpu\"");
  return text;
}

inline std::filesystem::path temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("servesim_test_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p) << text;
}

inline int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

}  // namespace servesim::testing
