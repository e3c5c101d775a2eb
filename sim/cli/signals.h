#pragma once
// Clean stops on SIGINT / SIGTERM. Contract: install_stop_handlers() makes both signals only
// record that a stop was asked (nothing is interrupted mid-write); long operations poll
// stop_requested() and unwind with Cancelled, removing what they created; main() then exits
// with 128 + the signal (130 for SIGINT, 143 for SIGTERM). The only process-wide state of
// servesim, and it lives in the CLI, not the library.
namespace servesim::cli {

void install_stop_handlers();
bool stop_requested();
int stop_signal();  // the signal received first, 0 when none

}  // namespace servesim::cli
