// servesim: the command-line entry point.
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <new>
#include <string>
#include <vector>

#include <boost/program_options/errors.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.h"
#include "sim/cli/signals.h"
#include "sim/core/error.h"

namespace {

const std::map<std::string, servesim::cli::CommandInfo>& commands() { return servesim::cli::command_table(); }

void usage(std::FILE* out) {
  std::fprintf(out, "usage: servesim <command> [options]\n\ncommands:\n");
  for (const auto& [name, c] : commands()) std::fprintf(out, "  %-12s %s\n", name.c_str(), c.help.c_str());
  std::fprintf(out, "\n`servesim <command> --help` (or `servesim help <command>`) describes a command's options;\n"
                   "`servesim --version` prints the version.\n");
}

}  // namespace

namespace servesim::cli {
std::map<std::string, CommandInfo>& command_table() {
  static std::map<std::string, CommandInfo> table;
  return table;
}
}  // namespace servesim::cli

int main(int argc, char** argv) {
  servesim::cli::install_stop_handlers();
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      (std::strcmp(argv[1], "help") == 0 && argc == 2)) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (std::strcmp(argv[1], "--version") == 0 || std::strcmp(argv[1], "version") == 0) {
    std::printf("servesim %s\n", SERVESIM_VERSION);
    return 0;
  }
  std::vector<std::string> rest(argv + 2, argv + argc);
  std::string name = argv[1];
  if (name == "help") {  // `servesim help run` = `servesim run --help`
    name = rest.front();
    rest = {"--help"};
  }
  auto it = commands().find(name);
  if (it == commands().end()) {
    std::fprintf(stderr, "error: unknown command '%s', expected one of: help", servesim::quoted_value(name).c_str());
    for (const auto& [n, c] : commands()) std::fprintf(stderr, " %s", n.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  const auto stopped = [&](const char* what) {
    const int sig = servesim::cli::stop_signal();
    std::fprintf(stderr, "servesim %s: %s by %s; %s\n", name.c_str(), what, sig == SIGINT ? "SIGINT" : "SIGTERM",
                 "results written before the signal are kept, nothing partial is left");
    return 128 + sig;
  };
  try {
    const int rc = it->second.run(rest);
    if (servesim::cli::stop_requested()) return stopped("stopped");
    return rc;
  } catch (const servesim::Cancelled& e) {
    return stopped("interrupted");
  } catch (const servesim::InputError& e) {
    if (servesim::cli::stop_requested()) return stopped("interrupted");
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const boost::program_options::error& e) {
    std::fprintf(stderr, "error: servesim %s: %s (see --help)\n", name.c_str(), servesim::quoted_value(e.what()).c_str());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "error: servesim %s: out of memory (an input asks for more than this machine has)\n", name.c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "servesim internal error: %s\n", servesim::quoted_value(e.what(), 400).c_str());
    return 1;
  }
}
