"""Evaluation under named protocols (:mod:`dqnlib.protocols`), so that every score says how
it was measured: whole games, raw score, the protocol's emulator settings and epsilon."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium
import numpy as np

from dqnlib.config import MAX_SEED
from dqnlib.envs import GameTracker, make_vector_env
from dqnlib.games import is_atari, minimal_action_set
from dqnlib.protocols import PROTOCOLS, Protocol, get_protocol

__all__ = [
    "PROTOCOLS",
    "EvaluationResult",
    "Protocol",
    "evaluate_policy",
    "evaluate_random",
    "get_protocol",
]  # PROTOCOLS, Protocol and get_protocol live in dqnlib.protocols


@dataclass
class EvaluationResult:
    """Raw whole-game scores under one protocol.

    Attributes:
        scores: raw score of each game, in the order the games ended.
        capped: whether each game was cut by the protocol's frame cap (not a game over).
    """

    game: str
    protocol: str
    epsilon: float
    scores: list[float] = field(default_factory=list)
    capped: list[bool] = field(default_factory=list)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores))

    @property
    def std(self) -> float:
        return float(np.std(self.scores))

    def __str__(self) -> str:
        return (
            f"{self.game} [{self.protocol} protocol, epsilon {self.epsilon}]: "
            f"{self.mean:.1f} ± {self.std:.1f} over {len(self.scores)} games"
            + (f", {sum(self.capped)} cut by the frame cap" if any(self.capped) else "")
        )


def evaluate_policy(
    game: str,
    policy: Callable[[np.ndarray, float, np.random.Generator], np.ndarray],
    episodes: int = 10,
    protocol: str = "machado",
    epsilon: float | None = None,
    seed: int = 0,
    max_envs: int = 8,
) -> EvaluationResult:
    """Play ``episodes`` whole games with ``policy(states, epsilon, rng) -> actions``.

    Atari games are played under ``protocol``; any other gymnasium id (e.g. CartPole-v1)
    as registered, scoring the undiscounted return, with epsilon 0 unless given. Each
    parallel environment plays a fixed share of the games, so short games are not
    over-represented.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be an integer >= 1")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < MAX_SEED:
        raise ValueError(f"seed={seed!r} must be an integer in [0, {MAX_SEED:,})")
    chosen = get_protocol(protocol)
    num_envs = min(episodes, max_envs)
    if is_atari(game):
        env = make_vector_env(
            game, num_envs, terminal_on_life_loss=False, clip_rewards=False, **chosen.env_options
        )
        default_epsilon, protocol_name = chosen.epsilon, chosen.name
    else:
        env = gymnasium.make_vec(game, num_envs=num_envs, vectorization_mode="sync")
        default_epsilon, protocol_name = 0.0, "gymnasium"
    epsilon = default_epsilon if epsilon is None else float(epsilon)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon={epsilon!r} must be in [0, 1]")
    quotas = np.full(num_envs, episodes // num_envs) + (np.arange(num_envs) < episodes % num_envs)
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    played = np.zeros(num_envs, dtype=np.int64)
    games = GameTracker(num_envs)
    scores: list[float] = []
    capped: list[bool] = []
    while (played < quotas).any():
        actions = policy(observations, epsilon, rng)
        observations, rewards, terminated, truncated, info = env.step(actions)
        ended, game_scores, cut = games.step(rewards, terminated, truncated, info)
        for i in np.flatnonzero(ended & (played < quotas)):
            scores.append(float(game_scores[i]))
            capped.append(bool(cut[i]))
            played[i] += 1
    env.close()
    return EvaluationResult(game, protocol_name, epsilon, scores, capped)


def evaluate_random(
    game: str, episodes: int = 10, protocol: str = "machado", seed: int = 0
) -> EvaluationResult:
    """Uniformly random play under a protocol, the usual floor for normalized scores."""
    return evaluate_policy(
        game,
        lambda states, eps, rng: rng.integers(len(minimal_action_set(game)), size=len(states)),
        episodes=episodes,
        protocol=protocol,
        epsilon=1.0,
        seed=seed,
    )
