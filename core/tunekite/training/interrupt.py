"""Ctrl-C (SIGINT) during training ends the run cleanly: the step in progress finishes, a
complete checkpoint is committed, and the run finishes as if it had reached its last step
(loss plot, links, exit status 0). A second Ctrl-C aborts at once, as Python's default
does. The web UI's Stop button and a terminal's Ctrl-C both send SIGINT."""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any

from transformers import TrainerCallback


class StopOnInterrupt(TrainerCallback):
    """Turns the first SIGINT of a training loop into "save and stop after this step"."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if threading.current_thread() is threading.main_thread():  # signals reach the main thread only
            self._previous = signal.signal(signal.SIGINT, self._interrupt)

    def _interrupt(self, signum: int, frame: Any) -> None:
        self.requested = True
        signal.signal(signal.SIGINT, self._previous or signal.default_int_handler)
        print("interrupted: saving a checkpoint after this step (Ctrl-C again aborts)", file=sys.stderr)

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self.requested:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        if self.requested:
            print(f"stopped at step {state.global_step} of {state.max_steps} on request", file=sys.stderr)
