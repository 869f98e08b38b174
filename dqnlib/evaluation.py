"""Evaluation under named protocols, so that every score says how it was measured.

- ``machado`` (Machado et al. 2018): sticky actions 0.25, no noop starts, whole games up to
  108,000 frames, raw score, epsilon 0.001.
- ``nature`` (Mnih et al. 2015): no sticky actions, up to 30 noop starts, whole games
  capped at 5 minutes (18,000 frames), raw score, epsilon 0.05.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from dqnlib.envs import make_vector_env

if TYPE_CHECKING:
    from dqnlib.agent import DQNAgent


@dataclass(frozen=True)
class Protocol:
    name: str
    epsilon: float
    env_options: dict[str, Any]


PROTOCOLS = {
    "machado": Protocol(
        "machado",
        0.001,
        {"sticky_action_probability": 0.25, "noop_max": 0, "max_episode_frames": 108_000},
    ),
    "nature": Protocol(
        "nature",
        0.05,
        {"sticky_action_probability": 0.0, "noop_max": 30, "max_episode_frames": 18_000},
    ),
}


@dataclass
class EvaluationResult:
    """Raw whole-game scores under one protocol."""

    game: str
    protocol: str
    epsilon: float
    scores: list[float] = field(default_factory=list)

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
        )


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def evaluate_policy(
    game: str,
    policy: Callable[[np.ndarray, float, np.random.Generator], np.ndarray],
    episodes: int = 10,
    protocol: str = "machado",
    epsilon: float | None = None,
    seed: int = 0,
    max_envs: int = 8,
) -> EvaluationResult:
    """Play ``episodes`` whole Atari games with ``policy(states, epsilon, rng) -> actions``.

    Each of the parallel environments plays a fixed share of the games, so that short
    games are not over-represented.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes={episodes!r} must be an integer >= 1")
    chosen = get_protocol(protocol)
    epsilon = chosen.epsilon if epsilon is None else float(epsilon)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon={epsilon!r} must be in [0, 1]")
    num_envs = min(episodes, max_envs)
    quotas = np.full(num_envs, episodes // num_envs) + (np.arange(num_envs) < episodes % num_envs)
    env = make_vector_env(
        game, num_envs, terminal_on_life_loss=False, clip_rewards=False, **chosen.env_options
    )
    rng = np.random.default_rng(seed)
    observations, _ = env.reset(seed=seed)
    played = np.zeros(num_envs, dtype=np.int64)
    scores: list[float] = []
    resetting = np.zeros(num_envs, dtype=bool)
    while (played < quotas).any():
        actions = policy(observations, epsilon, rng)
        observations, _, terminated, truncated, info = env.step(actions)
        for i in np.flatnonzero(info["game_end"] & ~resetting & (played < quotas)):
            scores.append(float(info["game_score"][i]))
            played[i] += 1
        resetting = terminated | truncated
    env.close()
    return EvaluationResult(game, chosen.name, epsilon, scores)


def evaluate_agent(
    agent: DQNAgent, episodes: int, protocol: str, epsilon: float | None, seed: int
) -> EvaluationResult:
    """Evaluate an agent's epsilon-greedy policy; its training generator is not touched."""
    return evaluate_policy(
        agent.config.game,
        lambda states, eps, rng: agent.act(states, eps, rng=rng),
        episodes=episodes,
        protocol=protocol,
        epsilon=epsilon,
        seed=seed,
    )


def evaluate_random(
    game: str, episodes: int = 10, protocol: str = "machado", seed: int = 0
) -> EvaluationResult:
    """Uniformly random play under a protocol, the usual floor for normalized scores."""
    num_actions = make_vector_env(game, 1).single_action_space.n
    return evaluate_policy(
        game,
        lambda states, eps, rng: rng.integers(num_actions, size=len(states)),
        episodes=episodes,
        protocol=protocol,
        epsilon=1.0,
        seed=seed,
    )
