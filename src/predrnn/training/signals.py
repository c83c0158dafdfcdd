"""The signals that stop a run with its summary, and the exception one raises outside training.

Training finishes its step first (GracefulStop, training/stopping.py); outside the training
loop (the setup, the test, an evaluation or prediction) the entry point's handler raises
`Stopped` (cli/entry.py)."""

from __future__ import annotations

import signal

# Ctrl-C, SIGTERM, a closed terminal (SIGHUP) and SIGUSR1 (a scheduler's warning before the end of a job)
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1)


class Stopped(BaseException):
    """Ctrl-C or SIGTERM outside training (training finishes its step first: GracefulStop).
    A BaseException, so that no `except Exception` on the way swallows it; outputs are written
    atomically (`predrnn.files`), so nothing half-written is left."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        # what the command did not write, for its one line (the task that catches it says)
        self.not_written = "nothing half-written is left"
