#pragma once
// `servesim` subcommands. Each registers itself from its own .cpp with
// SERVESIM_CLI_COMMAND(name, help, function); main() dispatches by name. A command takes
// its arguments (after its name) and returns the exit code; an InputError escapes to
// main(), which prints it on one line and exits with 2.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

namespace servesim::cli {

using Args = std::vector<std::string>;
using CommandFn = std::function<int(const Args&)>;

struct CommandInfo {
  CommandFn run;
  std::string help;
};

std::map<std::string, CommandInfo>& command_table();

struct CommandRegistrar {
  CommandRegistrar(const char* name, const char* help, CommandFn fn) { command_table()[name] = CommandInfo{std::move(fn), help}; }
};

// Help text layout of every subcommand's options: 100 columns with at least 64 for the
// descriptions, so that Boost (which chops a word longer than half the description column)
// keeps paths like hardware_profiles/devices/ whole, however long --data-dir's default (the
// checkout's path) makes the option column.
inline constexpr unsigned kHelpLineLength = 100;
inline constexpr unsigned kHelpMinDescription = 64;

// Parses `args` with `opts` plus any number of positional arguments, collected under the
// hidden option `name` (help prints `opts` only); notifies (required options checked).
boost::program_options::variables_map parse_with_positionals(const Args& args, const boost::program_options::options_description& opts,
                                                             const char* name);

// $SERVESIM_DATA_DIR, else the build's source tree (models/, hardware_profiles/, calibration/).
std::string default_data_dir();

}  // namespace servesim::cli

#define SERVESIM_CLI_CONCAT_INNER(a, b) a##b
#define SERVESIM_CLI_CONCAT(a, b) SERVESIM_CLI_CONCAT_INNER(a, b)
#define SERVESIM_CLI_COMMAND(name, help, fn) \
  static const ::servesim::cli::CommandRegistrar SERVESIM_CLI_CONCAT(servesim_cli_command_, __LINE__)(name, help, fn)
