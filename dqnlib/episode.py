"""One game played by an agent, recorded step by step for watching and plotting.

:func:`record_episode` plays a whole Atari game under an evaluation protocol (see
:mod:`dqnlib.evaluation`) and keeps, per agent step, the RGB screen, the Q-values the
network gave, the action taken, the raw reward, the lives left and the console's RAM. ``python -m dqnlib play``
writes the frames as a GIF; notebook 05 shows them inline and plots the Q-values.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from dqnlib.envs import make_env
from dqnlib.games import action_name, minimal_action_set
from dqnlib.protocols import get_protocol

if TYPE_CHECKING:
    from dqnlib.agent import DQNAgent


@dataclass(frozen=True, eq=False)
class RecordedEpisode:
    """A game of ``T`` agent steps (4 frames each).

    Attributes:
        frames: (T + 1, 210, 160, 3) uint8 RGB screens, the first one after reset.
        q_values: (T, num_actions) float32, the network's values of the state before each step.
        actions: (T,) int64 indices into the game's action set, as the agent chose them
            (epsilon-greedy under the protocol).
        rewards: (T,) float64 raw (unclipped) rewards.
        lives: (T,) int64 lives left after each step.
        ram: (T, 128) uint8, the console's RAM after each step (the game's own variables:
            in Breakout, byte 101 is the ball's height, 0 while no ball is in play).
        action_names: the ALE name of each action index, e.g. ``("NOOP", "FIRE", ...)``.
        score: the raw game score at the end.
        game_over: whether the game ended with its last life lost.
        truncated: whether the protocol's frame cap ended it first.
        protocol: the evaluation protocol it was played under.
        epsilon: the exploration rate used.
    """

    frames: np.ndarray
    q_values: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    lives: np.ndarray
    ram: np.ndarray
    action_names: tuple[str, ...]
    score: float
    game_over: bool
    truncated: bool
    protocol: str
    epsilon: float

    def __len__(self) -> int:
        return len(self.actions)

    def gif_bytes(self, every: int = 1, frame_ms: int = 50) -> bytes:
        """The screens as an animated GIF, keeping every ``every``-th one."""
        for name, value in (("every", every), ("frame_ms", frame_ms)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        images = [Image.fromarray(frame) for frame in self.frames[::every]]
        buffer = io.BytesIO()
        images[0].save(
            buffer, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms, loop=0
        )
        return buffer.getvalue()

    def write_gif(self, path: str | os.PathLike, every: int = 1, frame_ms: int = 50) -> Path:
        """Write :meth:`gif_bytes` to ``path`` (a ``.gif`` file) and return the path."""
        path = Path(path)
        if path.suffix.lower() != ".gif":
            raise ValueError(f"{path}: only .gif is supported")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.gif_bytes(every, frame_ms))
        return path


def longest_stretch(flags: np.ndarray) -> tuple[int, int]:
    """The longest run of consecutive ``True`` in ``flags``: its length and the index of its last step.

    ``flags`` is a (T,) boolean array, one entry per agent step (for instance "no ball in play",
    read from :attr:`RecordedEpisode.ram`). The first longest run wins a tie; ``(0, -1)`` when
    no entry is ``True``.
    """
    flags = np.asarray(flags)
    if flags.ndim != 1 or flags.dtype != np.bool_:
        raise ValueError(f"flags must be a 1-D boolean array, got {flags.dtype} of shape {flags.shape}")
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if not len(starts):
        return 0, -1
    longest = int(np.argmax(stops - starts))
    return int(stops[longest] - starts[longest]), int(stops[longest] - 1)


def record_episode(
    agent: DQNAgent,
    protocol: str = "nature",
    seed: int = 0,
    max_steps: int = 27_000,
    epsilon: float | None = None,
) -> RecordedEpisode:
    """Play one whole game of ``agent.config.game`` under ``protocol`` and record it.

    Args:
        agent: an Atari agent (its own training generator is not touched).
        protocol: ``"nature"`` or ``"machado"``: sticky actions, noop starts, FIRE at game
            start, episode cap and the default epsilon.
        seed: seeds the environment and the epsilon-greedy draws.
        max_steps: agent steps at most (27,000 steps = 108,000 frames, the longest game).
        epsilon: overrides the protocol's exploration rate.
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps={max_steps!r} must be an integer >= 1")
    chosen = get_protocol(protocol)
    epsilon = chosen.epsilon if epsilon is None else float(epsilon)
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon={epsilon!r} must be in [0, 1]")
    env = make_env(agent.config.game, terminal_on_life_loss=False, clip_rewards=False, **chosen.env_options)
    rng = np.random.default_rng(seed)
    try:
        state, _ = env.reset(seed=seed)
        first = env.render()  # (210, 160, 3) uint8
        # Pages of an np.empty array are only backed by memory once written, so the frames
        # of a short game cost what they hold, not max_steps screens, and nothing is copied.
        frames = np.empty((max_steps + 1, *first.shape), dtype=np.uint8)
        frames[0] = first
        q_values, actions, rewards, lives, ram = [], [], [], [], []
        for step in range(1, max_steps + 1):
            q = agent.q_values(state)  # (num_actions,) float32
            action = int(rng.integers(len(q))) if rng.random() < epsilon else int(q.argmax())
            state, _, terminated, truncated, info = env.step(action)
            frames[step] = env.render()
            q_values.append(q)
            actions.append(action)
            rewards.append(info["raw_reward"])
            lives.append(info["lives"])
            ram.append(env.unwrapped.ale.getRAM())
            if terminated or truncated:
                break
    finally:
        env.close()
    return RecordedEpisode(
        frames=frames[: len(actions) + 1],
        q_values=np.array(q_values, dtype=np.float32),
        actions=np.array(actions, dtype=np.int64),
        rewards=np.array(rewards, dtype=np.float64),
        lives=np.array(lives, dtype=np.int64),
        ram=np.array(ram, dtype=np.uint8),
        action_names=tuple(action_name(code) for code in minimal_action_set(agent.config.game)),
        score=float(info["game_score"]),
        game_over=bool(info["game_over"]),
        truncated=bool(truncated),
        protocol=chosen.name,
        epsilon=epsilon,
    )
