"""Named protocols: what the emulator does, for training and for evaluation alike.

A protocol fixes every emulator setting that changes a score (Machado et al. 2018, Sec. 5):
sticky actions, noop starts, FIRE at the start of a game, and the frame cap. Training under a
protocol and evaluating under it use the same settings, so a training curve and an evaluation
score measure the same game.

- ``machado`` (Machado et al. 2018; Dopamine's published curves): sticky actions 0.25, no noop
  starts, no FIRE at game start, whole games up to 108,000 frames, epsilon 0.001 for evaluation.
- ``nature`` (Mnih et al. 2015): no sticky actions, up to 30 noop starts, FIRE once at the start
  of each game (in games that have it), games capped at 5 minutes (18,000 frames), epsilon 0.05.

Under no protocol does dqnlib press a button for the agent after a lost life: every action the
emulator receives during a game is the agent's (ALE's sticky-action rule may repeat the previous
one, as the protocol says).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Protocol:
    """A named set of emulator settings and the exploration rate of evaluation.

    Attributes:
        name: ``"machado"`` or ``"nature"``.
        epsilon: probability of a random action when evaluating.
        env_options: :class:`dqnlib.AtariOptions` fields: ``sticky_action_probability``,
            ``noop_max``, ``fire_reset`` and ``max_episode_frames``.
    """

    name: str
    epsilon: float
    env_options: dict[str, Any]


PROTOCOLS: dict[str, Protocol] = {
    "machado": Protocol(
        "machado",
        0.001,
        {
            "sticky_action_probability": 0.25,
            "noop_max": 0,
            "fire_reset": False,
            "max_episode_frames": 108_000,
        },
    ),
    "nature": Protocol(
        "nature",
        0.05,
        {"sticky_action_probability": 0.0, "noop_max": 30, "fire_reset": True, "max_episode_frames": 18_000},
    ),
}


def get_protocol(name: str) -> Protocol:
    """The protocol called ``name``; an unknown name is a one-line ValueError."""
    if name not in PROTOCOLS:
        raise ValueError(f"unknown protocol {name!r}; choose one of {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]
