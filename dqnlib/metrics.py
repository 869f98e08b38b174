"""Per-game metrics: rows of ``metrics.csv`` in the run directory, and TensorBoard
scalars under ``<run_dir>/tensorboard`` when the ``tensorboard`` package is installed
(``pip install dqnlib[tensorboard]``).

Columns, one row per finished game:

- ``env_step``: environment steps so far, summed over the vector environments (4 frames each);
- ``game``: games finished so far;
- ``score``: the game's raw score (unclipped, summed across lives);
- ``loss``: the mean loss of the last 100 updates (NaN before learning starts): Huber for DQN,
  cross-entropy for C51, quantile Huber for IQN (TensorBoard's tag names it);
- ``epsilon``: the exploration rate at that step;
- ``env_steps_per_s``: environment steps per second since this training call started.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import os
from pathlib import Path

import numpy as np

from dqnlib.atomic import write_file

FIELDS = ("env_step", "game", "score", "loss", "epsilon", "env_steps_per_s")
#: Names of dqnlib 0.1's columns; files that have them are read (and appended to) under the new ones.
RENAMED = {"agent_step": "env_step", "episode": "game", "return": "score", "fps": "env_steps_per_s"}
REQUIRED_COLUMNS = ("env_step", "score")

logger = logging.getLogger(__name__)


def _is_before(value: str, env_steps: int) -> bool:
    try:
        return float(value) < env_steps
    except ValueError:
        return False


class MetricsError(RuntimeError):
    """metrics.csv could not be written (full disk, no permission)."""


def _columns(header: list[str]) -> list[str]:
    return [RENAMED.get(name, name) for name in header]


def read_metrics(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Columns of a run's metrics.csv as float arrays, keyed by :data:`FIELDS`' names; a file
    without the step and score columns, or with a value that is not a number, is a one-line
    ValueError."""
    with open(path, newline="") as file:
        rows = list(csv.reader(file))
    columns = _columns(rows[0]) if rows else []
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise ValueError(f"{path} has no column {missing[0]!r}; is it a dqnlib metrics.csv?")
    if len(rows) < 2:
        raise ValueError(f"{path} holds no games yet")
    if any(len(row) != len(columns) for row in rows[1:]):
        raise ValueError(f"{path} has a row whose length differs from its header")
    try:
        values = np.array(rows[1:], dtype=np.float64)  # (games, columns)
    except ValueError:
        raise ValueError(f"{path} holds a value that is not a number") from None
    return {name: values[:, i] for i, name in enumerate(columns)}


class MetricsLogger:
    """Appends one row per finished game to ``run_dir/metrics.csv``."""

    def __init__(self, run_dir: Path, env_steps: int = 0, loss_name: str = "huber") -> None:
        """Continue ``run_dir/metrics.csv`` for a run at ``env_steps`` (0: a new run). Rows of
        games played at or after that step, by a process killed before its next checkpoint,
        belong to steps the run plays again: they move to ``metrics_dropped.csv``, with a
        warning. ``loss_name`` names the loss in TensorBoard's tag ``loss/<loss_name>``."""
        self.path = run_dir / "metrics.csv"
        self.loss_tag = f"loss/{loss_name}"
        self._rename_old_header()
        self._move_rows_from(env_steps, run_dir / "metrics_dropped.csv")
        self._writer = None
        if importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def _rename_old_header(self) -> None:
        """A run begun by dqnlib 0.1 goes on under the new column names (same values)."""
        if not self.path.is_file():
            return
        content = self.path.read_bytes()
        first = content[: content.find(b"\n") + 1] or content  # the header line, with its ending
        header = next(csv.reader([first.decode()]), [])
        if _columns(header) != header:
            ending = b"\r\n" if first.endswith(b"\r\n") else b"\n"  # csv.writer's is \r\n
            write_file(self.path, ",".join(_columns(header)).encode() + ending + content[len(first) :])

    def _move_rows_from(self, env_steps: int, dropped: Path) -> None:
        if not self.path.is_file():
            return
        with open(self.path, newline="") as file:
            rows = list(csv.reader(file))
        if not rows or "env_step" not in rows[0]:
            return
        column = rows[0].index("env_step")
        kept, moved = [], []
        for row in rows[1:]:
            (kept if len(row) > column and _is_before(row[column], env_steps) else moved).append(row)
        if not moved:
            return
        new_file = not dropped.exists()
        with open(dropped, "a", newline="") as file:
            csv.writer(file).writerows([rows[0], *moved] if new_file else moved)
        with io.StringIO(newline="") as text:
            csv.writer(text).writerows([rows[0], *kept])
            write_file(self.path, text.getvalue().encode())
        logger.warning(
            "%s: %d game(s) played at or after step %s (after the run's newest checkpoint) moved to %s",
            self.path,
            len(moved),
            f"{env_steps:,}",
            dropped.name,
        )

    def log_game(
        self, env_step: int, game: int, score: float, loss: float, epsilon: float, env_steps_per_s: float
    ) -> None:
        new = not self.path.exists()
        try:
            with open(self.path, "a", newline="") as file:
                writer = csv.writer(file)
                if new:
                    writer.writerow(FIELDS)
                writer.writerow([env_step, game, score, loss, epsilon, env_steps_per_s])
        except OSError as error:
            raise MetricsError(f"cannot write {self.path}: {error.strerror or error}") from None
        if self._writer is not None:
            self._writer.add_scalar("game/raw_score", score, env_step)
            self._writer.add_scalar(self.loss_tag, loss, env_step)
            self._writer.add_scalar("schedule/epsilon", epsilon, env_step)
            self._writer.add_scalar("speed/env_steps_per_s", env_steps_per_s, env_step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
