"""Per-game metrics: rows of ``metrics.csv`` in the run directory, and TensorBoard
scalars under ``<run_dir>/tensorboard`` when the ``tensorboard`` package is installed
(``pip install dqnlib[tensorboard]``)."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

FIELDS = ("agent_step", "episode", "return", "loss", "epsilon", "fps")


class MetricsError(RuntimeError):
    """metrics.csv could not be written (full disk, no permission)."""


class MetricsLogger:
    """Appends one row per finished game; ``return`` is the raw game score."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / "metrics.csv"
        self._writer = None
        if importlib.util.find_spec("tensorboard") is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log_game(
        self, agent_step: int, episode: int, score: float, loss: float, epsilon: float, fps: float
    ) -> None:
        new = not self.path.exists()
        try:
            with open(self.path, "a", newline="") as file:
                writer = csv.writer(file)
                if new:
                    writer.writerow(FIELDS)
                writer.writerow([agent_step, episode, score, loss, epsilon, fps])
        except OSError as error:
            raise MetricsError(f"cannot write {self.path}: {error.strerror or error}") from None
        if self._writer is not None:
            self._writer.add_scalar("game/raw_score", score, agent_step)
            self._writer.add_scalar("loss/huber", loss, agent_step)
            self._writer.add_scalar("schedule/epsilon", epsilon, agent_step)
            self._writer.add_scalar("speed/env_steps_per_s", fps, agent_step)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
