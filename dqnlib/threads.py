"""The learner's thread count, chosen from measured update times while training runs.

Torch's intra-op threads share the CPU with the games' threads and with whatever else runs on
the machine. On a quiet 2-core machine two threads update fastest; beside one busy process the
two threads wait for each other at every barrier, and one thread was about twice as fast
(BENCHMARKS.md, "One learner update on a busy machine"). No fixed count is right everywhere,
so with ``torch_threads="auto"`` the training loop hands every update's duration to a
:class:`ThreadChooser`, which tries each count in turn for a few updates, keeps the fastest,
and tries again every few minutes, or at once when updates slow down.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable


class ThreadChooser:
    """Chooses a thread count in ``1..most`` for the updates to come.

    Args:
        most: the largest count tried (the threads torch had when training started); the
            others are the powers of two below it.
        trial_updates: updates timed per count in a trial (after one warm-up update).
        hold_seconds: how long a choice holds before the next trial.
        slowdown: a median update this many times slower than the chosen count's trial
            starts the next trial at once (another process took the CPU).
        clock: seconds, monotonic (tests pass their own).
    """

    def __init__(
        self,
        most: int,
        trial_updates: int = 12,
        hold_seconds: float = 180.0,
        slowdown: float = 1.5,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if most < 1 or trial_updates < 1:
            raise ValueError(f"most={most} and trial_updates={trial_updates} must be >= 1")
        # The most, then powers of two below it: [2, 1], [6, 4, 2, 1], [64, 32, ..., 1].
        self.candidates = sorted(
            {most} | {2**k for k in range(most.bit_length()) if 2**k < most}, reverse=True
        )
        self.trial_updates = trial_updates
        self.hold_seconds = hold_seconds
        self.slowdown = slowdown
        self.clock = clock
        self.chosen = most  # the count that holds between trials
        self.threads = most  # the count for the next update
        self.medians: dict[int, float] = {}  # seconds per update at each count, from the last trial
        self._queue: list[int] = []  # counts still to try in this trial
        self._samples: list[float] = []
        self._recent: deque[float] = deque(maxlen=trial_updates)
        self._hold_until = 0.0
        if len(self.candidates) > 1:
            self._start_trial()

    def _start_trial(self) -> None:
        # The chosen count goes last, so that a trial that confirms it ends without a switch.
        self._queue = [c for c in self.candidates if c != self.chosen] + [self.chosen]
        self.threads = self._queue[0]
        self._samples = []

    def record(self, seconds: float) -> str | None:
        """One update at :attr:`threads` took ``seconds``. Returns a sentence when the chosen
        count changes (and why), else None; :attr:`threads` is the count for the next update."""
        if len(self.candidates) == 1:
            return None
        if self._queue:
            return self._trial(seconds)
        self._recent.append(seconds)
        slowed = (
            len(self._recent) == self._recent.maxlen
            and statistics.median(self._recent) > self.slowdown * self.medians[self.chosen]
        )
        if slowed or self.clock() >= self._hold_until:
            self._start_trial()
        return None

    def _trial(self, seconds: float) -> str | None:
        self._samples.append(seconds)
        if len(self._samples) <= self.trial_updates:  # the first one warms up the new count
            return None
        self.medians[self._queue.pop(0)] = statistics.median(self._samples[1:])
        self._samples = []
        if self._queue:
            self.threads = self._queue[0]
            return None
        best = min(self.candidates, key=lambda count: self.medians[count])
        previous, self.chosen, self.threads = self.chosen, best, best
        self._recent.clear()
        self._hold_until = self.clock() + self.hold_seconds
        if best == previous:
            return None
        timings = ", ".join(f"{1000 * self.medians[c]:.1f} ms with {c}" for c in self.candidates)
        return f"learner threads {previous} -> {best}: an update took {timings}"
