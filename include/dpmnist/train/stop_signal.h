// SIGUSR1 / SIGTERM as a request to stop cleanly: the handler only sets a
// flag; the trainer reads it at the next step boundary, where all ranks agree
// on it, checkpoint, and exit with kExitStopped so the job can be requeued.
#pragma once

namespace dpmnist {

// Exit code of a run stopped by a signal after writing its checkpoint
// (EX_TEMPFAIL: "try again"); slurm/train.sbatch requeues on it.
inline constexpr int kExitStopped = 75;

// Installs the flag-setting handler for SIGUSR1 and SIGTERM.
void install_stop_handlers();
// The signal number received so far on this process, or 0.
int stop_signal_received();
// Clears the flag (tests).
void reset_stop_signal();

}  // namespace dpmnist
