"""Aggregate scores over games and seeds, after Agarwal et al. (2021), "Deep Reinforcement
Learning at the Edge of the Statistical Precipice": human-normalized scores, the
interquartile mean (IQM) and the mean, with 95% stratified bootstrap confidence intervals,
computed by that paper's library, rliable (the ``sweep`` extra: pip install 'dqnlib[sweep]').
The reference table and :func:`human_normalized` need numpy only; rliable is imported on the
first IQM, mean or interval.

Scores come as ``dict[game, (runs,) float array]``: one score per run (seed) of a game,
where a game may have fewer runs than another (a failed run is left out). rliable's matrix
form, ``(runs, games)``, needs the same number of runs in every game, so each game goes to
rliable as an array of its own instead and no run is dropped (see :func:`stratified_bootstrap_ci`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import ModuleType

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


def _rliable() -> tuple[ModuleType, ModuleType]:
    """rliable's ``library`` and ``metrics`` modules, or a one-line MissingExtra naming the pip command."""
    try:
        from rliable import library, metrics
    except ImportError:
        from dqnlib.sweep import MissingExtra  # the CLI prints it as one line and exits with 2

        raise MissingExtra("rliable is not installed; pip install 'dqnlib[sweep]'") from None
    return library, metrics


def _columns(scores: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """Each game's scores as a (runs, 1) float64 array: rliable's (runs, tasks) form for one game."""
    return [np.asarray(s, dtype=np.float64).reshape(-1, 1) for s in scores.values()]


def iqm(scores: Mapping[str, np.ndarray]) -> float:
    """Interquartile mean of all runs of all games pooled: the mean of what is left after the
    lowest and highest ``floor(n / 4)`` of the ``n`` scores are dropped (rliable's
    ``aggregate_iqm``, ``scipy.stats.trim_mean`` with 0.25 over all scores)."""
    _, metrics = _rliable()
    return float(metrics.aggregate_iqm(np.concatenate(_columns(scores))))  # (all runs, 1)


def mean(scores: Mapping[str, np.ndarray]) -> float:
    """Mean over games of each game's mean over runs (each game weighs the same): rliable's
    ``aggregate_mean`` of each game's runs, averaged over games, which for equal numbers of
    runs is ``aggregate_mean`` of the (runs, games) matrix."""
    _, metrics = _rliable()
    return float(np.mean([metrics.aggregate_mean(runs) for runs in _columns(scores)]))


def stratified_bootstrap_ci(
    scores: Mapping[str, np.ndarray],
    statistic: Callable[[Mapping[str, np.ndarray]], float],
    rng: np.random.Generator,
    reps: int = 2_000,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """A statistic and its percentile bootstrap confidence interval, by rliable's
    ``get_interval_estimates``.

    Each replicate resamples, with replacement, the runs of every game independently and keeps
    each game's number of runs (stratified by game, as in Agarwal et al. 2021). Every game goes
    to rliable as a (runs, 1) array of its own (its ``StratifiedIndependentBootstrap``) rather
    than as one (runs, games) matrix, which would need the same number of runs in every game:
    a game with a failed run left out keeps its other runs, and the other games keep all of
    theirs. With equal numbers of runs both forms have the same bootstrap distribution.

    rliable 1.2.0 draws the resampled runs from numpy's global random state
    (``np.random.choice``), whatever ``random_state`` it is given. This function therefore
    seeds that state from one draw of ``rng`` for the call and restores the caller's state
    afterwards: the result follows from ``rng``, and the caller's ``np.random`` draws are
    unchanged. (Not thread-safe: another thread drawing from ``np.random`` meanwhile would
    shift both.)

    Args:
        scores: game -> (runs,) float scores, at least one run per game.
        statistic: e.g. :func:`iqm` or :func:`mean`.
        rng: seeds the resampling; advances by one draw.
        reps: bootstrap replicates.
        confidence: coverage of the interval, in (0, 1).
    Returns:
        (statistic on the data, lower bound, upper bound).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence={confidence!r} must be in (0, 1)")
    if reps < 1:
        raise ValueError(f"reps={reps!r} must be >= 1")
    games, columns = list(scores), _columns(scores)
    if not columns or any(len(runs) == 0 for runs in columns):
        raise ValueError("scores must hold at least one run for every game")
    library, _ = _rliable()

    def on_resample(*resampled: np.ndarray) -> np.ndarray:  # one (runs, 1) array per game
        return np.array([statistic(dict(zip(games, (runs.ravel() for runs in resampled), strict=True)))])

    caller_state = np.random.get_state()
    np.random.seed(int(rng.integers(2**32)))
    try:
        points, intervals = library.get_interval_estimates(
            {"scores": columns}, on_resample, reps=reps, confidence_interval_size=confidence
        )
    finally:
        np.random.set_state(caller_state)
    low, high = intervals["scores"][:, 0]  # (2, 1): lower and upper bound
    return float(points["scores"][0]), float(low), float(high)
