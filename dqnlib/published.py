"""Published training curves to stand beside dqnlib's: Dopamine's Atari baselines.

Dopamine (Castro et al. 2018) publishes, for 60 games, the *training* return of each of its
agents per iteration: the mean raw score of the whole games played during 250,000 agent steps
(1,000,000 frames) with sticky actions 0.25 (Machado et al. 2018), over 5 runs.
``dqnlib/data/dopamine_atari.json`` keeps the mean, minimum and maximum over those runs for the
games dqnlib's results use (rebuilt by ``docs/results/make_dopamine_reference.py``; Apache-2.0,
source and commit in the file).

dqnlib's figure at the same steps is :func:`training_return_per_iteration`: the mean raw score
of the training games that ended in each window of 250,000 environment steps. Compare it like
for like: the ``machado`` protocol (sticky actions, whole games, raw score), as dqnlib trains by
default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from dqnlib.games import display_name, is_atari

AGENT_STEPS_PER_ITERATION = 250_000
AGENTS = ("DQN", "C51", "Rainbow", "IQN")


@dataclass(frozen=True)
class ReferenceCurve:
    """One Dopamine agent's training returns on one game, per iteration.

    Attributes:
        agent: ``"DQN"``, ``"C51"``, ``"Rainbow"`` or ``"IQN"``.
        end_steps: (I,) int64, agent steps at the end of each iteration (250,000, 500,000, ...).
        mean, low, high: (I,) float64, mean, minimum and maximum over the runs.
        runs: number of runs behind each point.
    """

    agent: str
    end_steps: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int


@cache
def _dopamine() -> dict:
    text = resources.files("dqnlib").joinpath("data/dopamine_atari.json").read_text()
    return json.loads(text)


def dopamine_source() -> str:
    """Where the reference figures come from (repository, commit and licence)."""
    data = _dopamine()
    return f"{data['source']} ({data['licence']})"


def dopamine_curves(game: str) -> dict[str, ReferenceCurve]:
    """Dopamine's training curves for ``game`` (any common spelling), by agent; {} when the
    data file holds no such game."""
    if not is_atari(game):
        return {}
    per_agent = _dopamine()["games"].get(display_name(game), {})
    curves = {}
    for agent, series in per_agent.items():
        iterations = len(series["mean"])
        curves[agent] = ReferenceCurve(
            agent=agent,
            end_steps=np.arange(1, iterations + 1, dtype=np.int64) * AGENT_STEPS_PER_ITERATION,
            mean=np.array(series["mean"], dtype=np.float64),
            low=np.array(series["min"], dtype=np.float64),
            high=np.array(series["max"], dtype=np.float64),
            runs=int(series["runs"]),
        )
    return curves


def training_return_per_iteration(
    steps: np.ndarray, returns: np.ndarray, reached: int, window: int = AGENT_STEPS_PER_ITERATION
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A run's mean training return per window of environment steps, as Dopamine reports it.

    Args:
        steps: (G,) environment steps at which each training game ended (metrics.csv's
            ``env_step``).
        returns: (G,) raw game scores.
        reached: environment steps the run has trained; only windows it completed count.
        window: environment steps per window (Dopamine's iteration: 250,000 agent steps).
    Returns:
        end_steps (W,) int64, mean (W,) float64 (NaN where no game ended) and games (W,) int64.
    """
    steps, returns = np.asarray(steps, dtype=np.float64), np.asarray(returns, dtype=np.float64)
    windows = int(reached) // window
    which = (steps - 1) // window  # a game that ends on step 250,000 belongs to the first window
    games = np.bincount(which[which < windows].astype(np.int64), minlength=windows)[:windows]
    totals = np.bincount(
        which[which < windows].astype(np.int64), weights=returns[which < windows], minlength=windows
    )[:windows]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(games > 0, totals / np.maximum(games, 1), np.nan)
    return (np.arange(1, windows + 1) * window).astype(np.int64), mean, games
