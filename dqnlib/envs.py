"""Atari environments with DeepMind preprocessing (Mnih et al. 2015; Machado et al. 2018).

Two constructors share one :class:`AtariOptions`, so a notebook and a training run see
observations made the same way, ``(4, 84, 84) uint8`` per environment, channels first. The
options that change a score come from a protocol (:mod:`dqnlib.protocols`); to see exactly
what training sees, pass ``**get_protocol(config.protocol).env_options``:

- :func:`make_env`: one environment for exploring, built on ale-py's gymnasium
  environment (``AtariEnv``) with the steps of gymnasium's ``AtariPreprocessing`` and
  ``FrameStackObservation`` done in place on preallocated arrays (measured faster).
- :func:`make_vector_env`: ``num_envs`` environments stepped in ale-py's native threads
  (``ale_py.vector_env.AtariVectorEnv``), for training.

What dqnlib adds to both, identically:

- Every action the emulator receives during a game is the one the agent chose (ALE's
  sticky-action rule may then repeat the previous one). No button is pressed for the agent
  after a lost life; FIRE at the start of a game is the protocol's choice (``fire_reset``).
- Life loss as a learning terminal *without restarting the game or the frame stack*
  (``terminal_on_life_loss``): the step that loses a life returns ``terminated=True``, and
  the game, its lives, its score and its frames go on. The single environment's next
  ``reset()`` returns the same observation without stepping the emulator; the vector
  environment resets only at a game end (``info["game_end"]``). ale-py's own
  ``episodic_life=True`` restarts the whole game instead, so later lives are never
  played; dqnlib does not use it.
- Every new stack, after a game reset, is padded with zero frames (ale-py's vector
  convention; the replay memory uses the same).
- ``reward`` is clipped to its sign when ``clip_rewards`` (for learning), while
  ``info["raw_reward"]`` and ``info["game_score"]`` carry the raw game score.
- ``info["game_end"]`` marks the end of a whole game (game over or the frame cap), the
  moment to report ``info["game_score"]`` and the only time an environment resets.
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Any

import ale_py
import gymnasium
import numpy as np
from ale_py.env import AtariEnv

from dqnlib.games import minimal_action_set, resolve_game
from dqnlib.preprocessing import FRAME_SIZE, resize
from dqnlib.validation import check_field_types, require

_FIRE = 1  # ALE action code


@dataclass(frozen=True)
class AtariOptions:
    """Preprocessing options, with DeepMind defaults and Machado et al.'s sticky actions.

    Attributes:
        noop_max: a reset plays a random number of NOOP frames in ``[0, noop_max)``
            (Mnih et al. 2015 use up to 30; 0 turns it off).
        frame_skip: ALE frames per agent step; the observation is the max over the last two.
        screen_size: side of the square grayscale frame.
        stack_size: frames per observation.
        terminal_on_life_loss: a lost life is a learning terminal (no bootstrap); the game
            and the frame stack go on (DeepMind's choice; Machado et al. 2018 advise against it).
            On by default: a Breakout run without it learned more slowly over 500,000 steps
            (BENCHMARKS.md, "Breakout at 500,000 steps: life-loss terminals, and the nature
            preset").
        fire_reset: press FIRE once at the start of each game, before the noop starts, in
            games that have it (the ``nature`` protocol: yes; ``machado``: no). Never after
            a lost life: launching the ball again is the agent's to learn.
        clip_rewards: return ``sign(reward)``; the raw reward stays in ``info``.
        sticky_action_probability: ALE repeats the previous action with this probability
            (Machado et al. 2018: 0.25; 0 makes the emulator deterministic).
        full_action_space: all 18 actions instead of the game's minimal set.
        max_episode_frames: frame cap of one game (108,000 frames = 30 minutes at 60 Hz).
    """

    noop_max: int = 30
    frame_skip: int = 4
    screen_size: int = FRAME_SIZE
    stack_size: int = 4
    terminal_on_life_loss: bool = True
    fire_reset: bool = False
    clip_rewards: bool = True
    sticky_action_probability: float = 0.25
    full_action_space: bool = False
    max_episode_frames: int = 108_000

    def __post_init__(self) -> None:
        check_field_types(self, error=TypeError)
        require(self.noop_max >= 0, "noop_max", self.noop_max, "must be >= 0")
        require(self.frame_skip >= 1, "frame_skip", self.frame_skip, "must be >= 1")
        require(8 <= self.screen_size <= 210, "screen_size", self.screen_size, "must be in [8, 210]")
        require(self.stack_size >= 1, "stack_size", self.stack_size, "must be >= 1")
        require(
            0.0 <= self.sticky_action_probability <= 1.0,
            "sticky_action_probability",
            self.sticky_action_probability,
            "must be in [0, 1]",
        )
        require(self.max_episode_frames >= 1, "max_episode_frames", self.max_episode_frames, "must be >= 1")


def options_from(options: AtariOptions | None, overrides: dict[str, Any]) -> AtariOptions:
    """Apply keyword overrides to options, naming any unknown key in a one-line error."""
    options = options or AtariOptions()
    known = {field.name for field in dataclasses.fields(AtariOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise TypeError(f"unknown environment option {unknown[0]!r}; allowed: {', '.join(sorted(known))}")
    return dataclasses.replace(options, **overrides)


def action_set(game: str, options: AtariOptions) -> tuple[int, ...]:
    """The ALE action codes an environment of ``game`` (a ROM id) plays with these options."""
    return tuple(range(18)) if options.full_action_space else minimal_action_set(game)


class EpisodeRules:
    """dqnlib's episode rules for ``num_envs`` games, written once for both environments
    (the single environment is ``num_envs = 1``).

    Per agent step, from the emulator's raw reward, lives, game over and frame-cap flags:
    a lost life is a learning terminal under ``terminal_on_life_loss`` (the game goes on);
    a game ends at game over or the frame cap; the score adds raw rewards across lives;
    the reward is clipped to its sign under ``clip_rewards``.
    """

    def __init__(self, num_envs: int, options: AtariOptions) -> None:
        self.options = options
        self.lives = np.zeros(num_envs, dtype=np.int64)
        self.game_score = np.zeros(num_envs, dtype=np.float64)

    def new_games(self, lives: np.ndarray, which: np.ndarray | slice = slice(None)) -> None:
        """Games ``which`` start, with ``lives`` (num_envs,) lives each."""
        self.lives[which] = np.asarray(lives)[which]
        self.game_score[which] = 0.0

    def step(
        self,
        raw_reward: np.ndarray,
        lives: np.ndarray,
        game_over: np.ndarray,
        truncated: np.ndarray,
        new_game: np.ndarray | bool = False,
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Apply the rules to one agent step of every game.

        Args:
            raw_reward, lives, game_over, truncated: (num_envs,) the emulator's outcome.
            new_game: (num_envs,) bool, games whose step was a reset (its values are the new
                game's first): nothing was lost and the score starts from zero.
        Returns:
            rewards (num_envs,) float64 (clipped when ``clip_rewards``), terminated
            (num_envs,) bool, and the info fields ``raw_reward``, ``life_lost``,
            ``game_over``, ``game_end`` and ``game_score``, each (num_envs,).
        """
        raw_reward = np.asarray(raw_reward, dtype=np.float64)
        life_lost = (np.asarray(lives) < self.lives) & ~np.asarray(new_game)
        self.lives = np.array(lives, dtype=np.int64)
        self.game_score = np.where(new_game, 0.0, self.game_score + raw_reward)
        terminated = game_over | (self.options.terminal_on_life_loss & life_lost)
        info = {
            "raw_reward": raw_reward,
            "life_lost": life_lost,
            "game_over": np.asarray(game_over),
            "game_end": game_over | truncated,
            "game_score": self.game_score.copy(),
        }
        rewards = np.sign(raw_reward) if self.options.clip_rewards else raw_reward
        return rewards, terminated, info


class _NoopFireReset(gymnasium.Wrapper):
    """At the start of a game, on raw frames (below frame skipping): FIRE once if the protocol
    says so, then random NOOPs, as ale-py's vector env does."""

    def __init__(self, env: gymnasium.Env, options: AtariOptions, action_set: tuple[int, ...]) -> None:
        super().__init__(env)
        self._noop_max = options.noop_max
        self._fire_index = action_set.index(_FIRE) if options.fire_reset and _FIRE in action_set else None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        observation, info = self.env.reset(seed=seed, options=options)
        noops = int(self.env.unwrapped.np_random.integers(0, self._noop_max)) if self._noop_max > 0 else 0
        if self._fire_index is not None:
            observation, *_ = self.env.step(self._fire_index)
            noops -= 1
        for _ in range(noops):
            observation, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                observation, info = self.env.reset()
        return observation, info


def _action_index(action: object, num_actions: int) -> int:
    """``action`` as an index into the action set, or a one-line ValueError: an integer (a numpy
    one too, not a bool) in [0, num_actions). A negative index would silently pick from the end."""
    try:
        index = None if isinstance(action, (bool, np.bool_)) else operator.index(action)
    except TypeError:
        index = None
    if index is None or not 0 <= index < num_actions:
        raise ValueError(
            f"action={action!r} must be an integer in [0, {num_actions}): an index into this game's action set"
        )
    return index


class _SkipMaxResize(gymnasium.Wrapper):
    """Frame skip with the max over the last two grayscale frames, then an 84x84 resize.

    The same steps as gymnasium's ``AtariPreprocessing`` and ale-py's vector environment,
    driving the emulator directly (``ale.act``) so that no full screen is copied on the
    frames in between: on 2 cores, AtariEnv.step's RGB copy of every frame cost a fifth of
    an agent step.
    """

    def __init__(self, env: gymnasium.Env, options: AtariOptions) -> None:
        super().__init__(env)
        self._ale = env.unwrapped.ale
        self._action_set = env.unwrapped._action_set
        self._frame_skip = options.frame_skip
        self._screen_size = options.screen_size
        height, width = self._ale.getScreenDims()
        self._screens = np.zeros((2, height, width), dtype=np.uint8)  # the last two frames, newest first
        self.observation_space = gymnasium.spaces.Box(
            0, 255, (options.screen_size, options.screen_size), dtype=np.uint8
        )

    def _observation(self) -> np.ndarray:
        """(84, 84) uint8: the max over the last two frames, area-resized."""
        if self._frame_skip > 1:
            np.maximum(self._screens[0], self._screens[1], out=self._screens[0])
        return resize(self._screens[0], self._screen_size)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        ale, code = self._ale, self._action_set[_action_index(action, len(self._action_set))]
        reward = 0.0
        for frame in range(self._frame_skip):
            reward += ale.act(code, 1.0)
            if ale.game_over():  # a game over or the frame cap: the last screens stay as they were
                break
            if frame >= self._frame_skip - 2:
                ale.getScreenGrayscale(self._screens[self._frame_skip - 1 - frame])
        info = {"lives": ale.lives(), "episode_frame_number": ale.getEpisodeFrameNumber()}
        return self._observation(), reward, ale.game_over(with_truncation=False), ale.game_truncated(), info

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        _, info = self.env.reset(seed=seed, options=options)
        self._ale.getScreenGrayscale(self._screens[0])
        self._screens[1] = 0
        return self._observation(), info


class _ZeroPaddedStack(gymnasium.ObservationWrapper):
    """The last ``stack_size`` frames, oldest first; a reset starts from zero frames.

    gymnasium's ``FrameStackObservation(padding_type="zero")`` does the same with a deque,
    a deep copy and an ``np.stack`` per step, a tenth of an agent step on 2 cores; this
    makes one concatenation.
    """

    def __init__(self, env: gymnasium.Env, stack_size: int) -> None:
        super().__init__(env)
        self._stack = np.zeros((stack_size, *env.observation_space.shape), dtype=np.uint8)
        self.observation_space = gymnasium.spaces.Box(0, 255, self._stack.shape, dtype=np.uint8)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._stack = np.zeros_like(self._stack)
        return super().reset(seed=seed, options=options)

    def observation(self, frame: np.ndarray) -> np.ndarray:
        """(stack_size, 84, 84) uint8. Each step builds a new array and never writes to an old
        one, so the caller may keep it."""
        self._stack = np.concatenate((self._stack[1:], frame[None]))
        return self._stack


class _LifeLossAndScore(gymnasium.Wrapper):
    """:class:`EpisodeRules` for one game.

    After a terminal that was only a lost life, ``reset()`` returns the last observation
    again, without stepping the emulator: the game and its frame stack go on, and the next
    action played is the agent's.
    """

    def __init__(self, env: gymnasium.Env, options: AtariOptions) -> None:
        super().__init__(env)
        self._rules = EpisodeRules(1, options)
        self._game_goes_on = False
        self._last: tuple[Any, dict] | None = None  # the last observation and info, for a life-loss reset

    def step(self, action: int) -> tuple[Any, float, bool, bool, dict]:
        observation, raw_reward, game_over, truncated, info = self.env.step(action)
        rewards, terminated, outcome = self._rules.step(
            np.array([raw_reward]), np.array([info["lives"]]), np.array([game_over]), np.array([truncated])
        )
        info.update({name: value[0].item() for name, value in outcome.items()})
        terminated = bool(terminated[0])
        self._game_goes_on = terminated and not info["game_end"]
        self._last = (observation, info)
        return observation, float(rewards[0]), terminated, truncated, info

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if self._game_goes_on and seed is None and options is None and self._last is not None:
            self._game_goes_on = False
            observation, info = self._last
            return observation, dict(info)
        self._game_goes_on = False
        observation, info = self.env.reset(seed=seed, options=options)
        self._rules.new_games(np.array([info["lives"]]))
        return observation, {**info, "game_score": 0.0}


def make_env(
    game: str = "Breakout", *, options: AtariOptions | None = None, **overrides: Any
) -> gymnasium.Env:
    """One Atari environment with DeepMind preprocessing, for exploring.

    Args:
        game: any common spelling, e.g. ``"Breakout"``, ``"ALE/Breakout-v5"``, ``"Breakout-v0"``.
        options: preprocessing options; keyword ``overrides`` replace single fields,
            e.g. ``make_env("Pong", sticky_action_probability=0.0)``.
    Returns:
        A gymnasium environment whose observations are (stack_size, 84, 84) uint8, oldest
        frame first; ``env.render()`` gives the raw (210, 160, 3) uint8 RGB screen.
    """
    options = options_from(options, overrides)
    rom_id = resolve_game(game)
    codes = action_set(rom_id, options)
    env: gymnasium.Env = AtariEnv(
        game=rom_id,
        obs_type="grayscale",  # only reset and noop starts read it; steps read the screen themselves
        frameskip=1,
        repeat_action_probability=options.sticky_action_probability,
        full_action_space=options.full_action_space,
        max_num_frames_per_episode=options.max_episode_frames,
        render_mode="rgb_array",
    )
    env = _NoopFireReset(env, options, codes)
    env = _SkipMaxResize(env, options)
    env = _ZeroPaddedStack(env, options.stack_size)
    return _LifeLossAndScore(env, options)


class AtariVectorEnv(gymnasium.vector.VectorWrapper):
    """``num_envs`` Atari games stepped in ale-py's native threads, with dqnlib's episode rules.

    Autoreset follows gymnasium's next-step mode at the end of a game (``info["game_end"]``:
    game over or the frame cap): the next ``step`` resets environment ``i``, ignoring its
    action, and returns the first observation of a new game. A lost life under
    ``terminal_on_life_loss`` returns ``terminated=True`` but resets nothing: the next step
    plays the agent's action in the same game, from the same frame stack. A generic gymnasium
    vector wrapper that takes ``terminated`` for "resets next step" (e.g. ``RecordEpisodeStatistics``)
    therefore counts lives, not games: use ``info["game_end"]`` and ``info["game_score"]``.
    """

    def __init__(self, game: str, num_envs: int, options: AtariOptions, num_threads: int = 0) -> None:
        rom_id = resolve_game(game)
        self.options = options
        super().__init__(
            ale_py.vector_env.AtariVectorEnv(
                rom_id,
                num_envs,
                num_threads=num_threads,
                max_num_frames_per_episode=options.max_episode_frames,
                repeat_action_probability=options.sticky_action_probability,
                full_action_space=options.full_action_space,
                img_height=options.screen_size,
                img_width=options.screen_size,
                grayscale=True,
                stack_num=options.stack_size,
                frameskip=options.frame_skip,
                maxpool=True,
                noop_max=options.noop_max,
                episodic_life=False,
                life_loss_info=False,
                reward_clipping=False,
                use_fire_reset=options.fire_reset,
            )
        )
        self._rules = EpisodeRules(num_envs, options)
        self._frames_in_stack = np.zeros(num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(num_envs, dtype=bool)
        self._step_in_flight = False

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Reset every game; environment ``i`` is seeded with ``seed + i``.

        Returns:
            observations (num_envs, stack_size, 84, 84) uint8 and an info dict of arrays.
        """
        if self._step_in_flight:
            self.step_wait()
        observations, info = self.env.reset(seed=seed, options=options)
        self._rules.new_games(info["lives"])
        self._frames_in_stack[:] = 1
        self._needs_reset[:] = False
        return observations, {**info, "game_score": self._rules.game_score.copy()}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every game by one agent step.

        Args:
            actions: (num_envs,) integer action indices.
        Returns:
            observations (num_envs, stack_size, 84, 84) uint8, rewards (num_envs,) float32
            (clipped when ``clip_rewards``), terminated and truncated (num_envs,) bool, and
            info with ``raw_reward``, ``life_lost``, ``game_over``, ``game_end``,
            ``game_score`` and ale-py's ``lives`` and frame numbers, each (num_envs,).
        """
        self.step_async(actions)
        return self.step_wait()

    def step_async(self, actions: np.ndarray) -> None:
        """Start a step: the native threads play it while Python goes on (e.g. with a
        learner update); :meth:`step_wait` returns its results, as :meth:`step` would."""
        if self._step_in_flight:
            raise RuntimeError("a step is already under way; call step_wait() first")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(
                f"actions must be ({self.num_envs},) integers, got {actions.shape} {actions.dtype}"
            )
        self.env.send(actions.astype(np.int64))
        self._step_in_flight = True

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Wait for the step that :meth:`step_async` started; returns what :meth:`step` does."""
        if not self._step_in_flight:
            raise RuntimeError("no step is under way; call step_async(actions) first")
        self._step_in_flight = False
        observations, raw_reward, game_over, truncated, info = self.env.recv()
        was_reset = self._needs_reset
        self._frames_in_stack = np.where(was_reset, 1, self._frames_in_stack + 1)
        self._zero_pad_new_stacks(observations)
        rewards, terminated, outcome = self._rules.step(
            raw_reward, info["lives"], game_over, truncated, new_game=was_reset
        )
        self._needs_reset = outcome["game_end"]
        return observations, rewards.astype(np.float32), terminated, truncated, {**info, **outcome}

    def close(self, **kwargs: Any) -> None:
        if self._step_in_flight:
            self.step_wait()
        super().close(**kwargs)

    def _zero_pad_new_stacks(self, observations: np.ndarray) -> None:
        """A stack that began fewer than ``stack_size`` steps ago holds zeros before its first frame."""
        stack_size = self.options.stack_size
        for i in np.flatnonzero(self._frames_in_stack < stack_size):
            observations[i, : stack_size - self._frames_in_stack[i]] = 0


class GameTracker:
    """Which games ended on each step of any vector environment, with their raw scores:
    one bookkeeping for training and evaluation.

    Atari environments report whole games themselves (``info["game_end"]``,
    ``info["game_score"]``, across lives). For another gymnasium environment a game is an
    episode, scored by its undiscounted return; after one ends, the next step is its reset
    (gymnasium's next-step autoreset), which plays nothing and ends nothing.
    """

    def __init__(self, num_envs: int) -> None:
        self._returns = np.zeros(num_envs)
        self._resetting = np.zeros(num_envs, dtype=bool)

    def restart(self) -> None:
        """Every environment was reset: all games start again."""
        self._returns[:] = 0.0
        self._resetting[:] = False

    def step(
        self, rewards: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Record one vector step.

        Returns:
            ended (num_envs,) bool: games that ended on this step (the environment resets
            next step); scores (num_envs,) float64: each game's raw score so far; capped
            (num_envs,) bool: games ended by a time limit, not by the game itself.
        """
        if "game_end" in info:
            ended, scores, over = info["game_end"], info["game_score"], info["game_over"]
        else:
            self._returns = np.where(self._resetting, 0.0, self._returns + rewards)
            ended, scores, over = terminated | truncated, self._returns, terminated
        self._resetting = ended
        return ended, scores, truncated & ~over


class DeferredStep(gymnasium.vector.VectorWrapper):
    """``step_async`` / ``step_wait`` for a vector environment that steps synchronously:
    the step happens in ``step_wait``, so a training loop is the same for every environment."""

    def __init__(self, env: gymnasium.vector.VectorEnv) -> None:
        super().__init__(env)
        self._actions: np.ndarray | None = None

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        self._actions = None  # a step not collected is dropped
        return self.env.reset(seed=seed, options=options)

    def step_async(self, actions: np.ndarray) -> None:
        if self._actions is not None:
            raise RuntimeError("a step is already under way; call step_wait() first")
        self._actions = np.asarray(actions)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        if self._actions is None:
            raise RuntimeError("no step is under way; call step_async(actions) first")
        actions, self._actions = self._actions, None
        return self.env.step(actions)


def make_vector_env(
    game: str = "Breakout",
    num_envs: int = 8,
    *,
    options: AtariOptions | None = None,
    num_threads: int = 0,
    **overrides: Any,
) -> AtariVectorEnv:
    """``num_envs`` Atari environments in ale-py's native threads, for training.

    Args:
        game: any common spelling of a game name.
        num_envs: number of games stepped together, >= 1.
        options: preprocessing options; keyword ``overrides`` replace single fields.
        num_threads: native threads (0: one per core, as ale-py chooses).
    Returns:
        An :class:`AtariVectorEnv`; observations are (num_envs, stack_size, 84, 84) uint8.
    """
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r} must be an integer >= 1")
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 0:
        raise ValueError(f"num_threads={num_threads!r} must be an integer >= 0")
    return AtariVectorEnv(game, num_envs, options_from(options, overrides), num_threads)
