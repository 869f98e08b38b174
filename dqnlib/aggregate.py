"""Aggregate scores over games and seeds, after Agarwal et al. (2021), "Deep Reinforcement
Learning at the Edge of the Statistical Precipice": human-normalized scores, the
interquartile mean (IQM) and the mean, with 95% stratified bootstrap confidence intervals.
Pure numpy; the ``rliable`` package computes the same quantities.

Scores come as ``dict[game, (runs,) float array]``: one score per run (seed) of a game,
where a game may have fewer runs than another (a failed run is left out).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import numpy as np

#: Random and human raw scores (random, human) on Atari-57, keyed by ale-py ROM id. These are
#: the references of Badia et al. (2020), "Agent57: Outperforming the Atari Human Benchmark",
#: Appendix H (random and human columns), used as well by DQN Zoo and rliable; the random
#: scores are those of Mnih et al. (2015), whose human scores are older for a few games
#: (e.g. Breakout 31.8, Pong 9.3). Episodes of up to 108,000 frames with 1-30 noop starts.
ATARI_REFERENCES: dict[str, tuple[float, float]] = {
    "alien": (227.8, 7127.7),
    "amidar": (5.8, 1719.5),
    "assault": (222.4, 742.0),
    "asterix": (210.0, 8503.3),
    "asteroids": (719.1, 47388.7),
    "atlantis": (12850.0, 29028.1),
    "bank_heist": (14.2, 753.1),
    "battle_zone": (2360.0, 37187.5),
    "beam_rider": (363.9, 16926.5),
    "berzerk": (123.7, 2630.4),
    "bowling": (23.1, 160.7),
    "boxing": (0.1, 12.1),
    "breakout": (1.7, 30.5),
    "centipede": (2090.9, 12017.0),
    "chopper_command": (811.0, 7387.8),
    "crazy_climber": (10780.5, 35829.4),
    "defender": (2874.5, 18688.9),
    "demon_attack": (152.1, 1971.0),
    "double_dunk": (-18.6, -16.4),
    "enduro": (0.0, 860.5),
    "fishing_derby": (-91.7, -38.7),
    "freeway": (0.0, 29.6),
    "frostbite": (65.2, 4334.7),
    "gopher": (257.6, 2412.5),
    "gravitar": (173.0, 3351.4),
    "hero": (1027.0, 30826.4),
    "ice_hockey": (-11.2, 0.9),
    "jamesbond": (29.0, 302.8),
    "kangaroo": (52.0, 3035.0),
    "krull": (1598.0, 2665.5),
    "kung_fu_master": (258.5, 22736.3),
    "montezuma_revenge": (0.0, 4753.3),
    "ms_pacman": (307.3, 6951.6),
    "name_this_game": (2292.3, 8049.0),
    "phoenix": (761.4, 7242.6),
    "pitfall": (-229.4, 6463.7),
    "pong": (-20.7, 14.6),
    "private_eye": (24.9, 69571.3),
    "qbert": (163.9, 13455.0),
    "riverraid": (1338.5, 17118.0),
    "road_runner": (11.5, 7845.0),
    "robotank": (2.2, 11.9),
    "seaquest": (68.4, 42054.7),
    "skiing": (-17098.1, -4336.9),
    "solaris": (1236.3, 12326.7),
    "space_invaders": (148.0, 1668.7),
    "star_gunner": (664.0, 10250.0),
    "surround": (-10.0, 6.5),
    "tennis": (-23.8, -8.3),
    "time_pilot": (3568.0, 5229.2),
    "tutankham": (11.4, 167.6),
    "up_n_down": (533.4, 11693.2),
    "venture": (0.0, 1187.5),
    "video_pinball": (16256.9, 17667.9),
    "wizard_of_wor": (563.5, 4756.5),
    "yars_revenge": (3092.9, 54576.9),
    "zaxxon": (32.5, 9173.3),
}

_SUFFIX = re.compile(r"(NoFrameskip|Deterministic)?-v\d+$")


def _key(game: str) -> str:
    """``"ALE/MsPacman-v5"``, ``"MsPacmanNoFrameskip-v4"``, ``"ms_pacman"`` -> ``"mspacman"``."""
    return re.sub(r"[^a-z0-9]", "", _SUFFIX.sub("", game.strip().removeprefix("ALE/")).lower())


_BY_KEY = {_key(rom_id): scores for rom_id, scores in ATARI_REFERENCES.items()}


def reference_scores(game: str) -> tuple[float, float] | None:
    """(random, human) raw scores of an Atari game in any common spelling; None for others."""
    return _BY_KEY.get(_key(game))


def human_normalized(game: str, scores: np.ndarray) -> np.ndarray:
    """(score - random) / (human - random): 0 is random play, 1 is the human reference.

    Raises:
        ValueError: one line, for a game without references (e.g. CartPole-v1).
    """
    references = reference_scores(game)
    if references is None:
        raise ValueError(f"no human and random reference scores for {game!r}; known: Atari-57 games")
    random, human = references
    return (np.asarray(scores, dtype=np.float64) - random) / (human - random)


def iqm(scores: Mapping[str, np.ndarray]) -> float:
    """Interquartile mean of all runs of all games pooled: the mean of what is left after the
    lowest and highest ``floor(n / 4)`` of the ``n`` scores are dropped (``scipy.stats.trim_mean``
    with 0.25, as rliable computes it)."""
    pooled = np.sort(np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in scores.values()]))
    cut = len(pooled) // 4
    return float(pooled[cut : len(pooled) - cut].mean())


def mean(scores: Mapping[str, np.ndarray]) -> float:
    """Mean over games of each game's mean over runs (each game weighs the same)."""
    return float(np.mean([np.mean(s) for s in scores.values()]))


def stratified_bootstrap_ci(
    scores: Mapping[str, np.ndarray],
    statistic: Callable[[Mapping[str, np.ndarray]], float],
    rng: np.random.Generator,
    reps: int = 2_000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """A statistic and its percentile bootstrap confidence interval.

    Each replicate resamples, with replacement, the runs of every game independently and keeps
    each game's number of runs (stratified by game, as in Agarwal et al. 2021 and rliable).

    Args:
        scores: game -> (runs,) float scores, at least one run per game.
        statistic: e.g. :func:`iqm` or :func:`mean`.
        rng: draws the resampled run indices.
        reps: bootstrap replicates.
        confidence: coverage of the interval, in (0, 1).
    Returns:
        (statistic on the data, lower bound, upper bound).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1)")
    if reps < 1:
        raise ValueError(f"reps={reps!r} must be >= 1")
    arrays = {game: np.asarray(s, dtype=np.float64).ravel() for game, s in scores.items()}
    if not arrays or any(len(s) == 0 for s in arrays.values()):
        raise ValueError("scores must hold at least one run for every game")
    draws = {game: s[rng.integers(len(s), size=(reps, len(s)))] for game, s in arrays.items()}  # (reps, runs)
    replicates = np.array([statistic({game: d[i] for game, d in draws.items()}) for i in range(reps)])
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return statistic(arrays), float(low), float(high)
