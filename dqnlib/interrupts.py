"""Turn Ctrl-C (SIGINT: a terminal, or JupyterLab's interrupt) and SIGTERM (a scheduler's
stop) into a request that the training loop honours between two steps, so that it can
write a checkpoint and return with the agent in a consistent state."""

from __future__ import annotations

import signal
import threading
from types import FrameType


class StopRequest:
    """Context manager: while active, SIGINT and SIGTERM set ``requested`` instead of
    raising. Outside the main thread (where Python cannot install handlers) it does nothing."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self.requested = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:  # noqa: PYI034 - Self needs Python 3.11
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *_exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
