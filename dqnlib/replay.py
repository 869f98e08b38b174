"""Replay memory that stores every frame once (Mnih et al. 2015), with n-step returns
and proportional prioritized replay (Schaul et al. 2016) as options.

Layout. The memory keeps one ring of ``capacity // num_envs`` *slots* per environment,
interleaved so that slot ``(row, env)`` lives at flat index ``row * num_envs + env``.
Every environment step writes one row: for each environment, the newest frame of the
observation it returned. A slot holds one frame, ``(84, 84) uint8`` for Atari, plus the
action taken from that observation, the (clipped) reward, and flags; a state is rebuilt
at sample time from the slot and the ``stack_size - 1`` slots before it, with zero frames
before the first frame of an episode, the environments' own padding convention.

Episodes. :meth:`ReplayMemory.start` takes the observations of ``env.reset()``;
:meth:`ReplayMemory.add` takes exactly what a vector environment's ``step`` returned.
Under gymnasium's next-step autoreset, an environment that ended an episode returns the
first observation of the next one on the following step and ignores that step's action;
the memory knows this (``resets``) and starts a new episode there. The last observation of
an episode (the "final" slot) has no action of its own: it is only ever a next state, which
a time-limit truncation bootstraps from and a terminal does not. A terminal that resets
nothing (dqnlib's Atari environments at a lost life) cuts bootstrapping and n-step sums
there, while the frames and the next transition go on from the same stack.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from dqnlib.atomic import write_directory
from dqnlib.sum_tree import SumTree
from dqnlib.validation import first_line, is_count, require

FORMAT = "dqnlib.replay"
FORMAT_VERSION = 1

_TERMINATED = np.uint8(1)  # the action from this slot ended the episode: no bootstrap
_TRUNCATED = np.uint8(2)  # the action from this slot hit the time limit: bootstrap
_FINAL = np.uint8(4)  # this slot ends an episode (or a cut one): it has no action


class Transition(NamedTuple):
    """One stored transition; ``e[0]``, ``e[1]``, ``e[2]``, ``e[4]`` read as in DQN code of old.

    ``state`` and ``next_state`` are (stack_size, *frame_shape), e.g. (4, 84, 84) uint8,
    channels first: the oldest frame of a state is ``e.state[0]``. ``reward`` is the
    n-step discounted sum of clipped rewards, ``done`` whether the episode terminated.
    """

    state: np.ndarray
    action: int
    reward: float
    next_state: np.ndarray
    done: bool


@dataclass
class ReplayBatch:
    """A batch ready for the learner.

    Attributes:
        states, next_states: (B, stack_size, *frame_shape), e.g. (B, 4, 84, 84) uint8.
        actions: (B,) int64.
        rewards: (B,) float32, n-step discounted sums of the stored rewards.
        dones: (B,) bool, True where the episode terminated within the n steps.
        discounts: (B,) float32, gamma ** (steps to next_state), to multiply the bootstrap.
        weights: (B,) float32 importance weights (all ones without prioritized replay).
        indices: (B,) int64 slots, to pass back to :meth:`ReplayMemory.update_priorities`.
        pairs: (2B, stack_size, *frame_shape): states then next states in one array, of
            which ``states`` and ``next_states`` are the two halves, filled by one gather of
            frames (None for a hand-made batch).
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_states: np.ndarray
    dones: np.ndarray
    discounts: np.ndarray
    weights: np.ndarray
    indices: np.ndarray
    pairs: np.ndarray | None = None


@dataclass(frozen=True)
class ReplaySpec:
    """What a memory holds and how it samples; saved in the memory's JSON header."""

    capacity: int
    num_envs: int = 1
    frame_shape: tuple[int, ...] = (84, 84)
    frame_dtype: str = "uint8"
    stack_size: int = 4
    n_step: int = 1
    gamma: float = 0.99
    prioritized: bool = False
    alpha: float = 0.6
    beta_start: float = 0.4
    beta_end: float = 1.0
    beta_steps: int = 1_000_000
    priority_epsilon: float = 1e-6

    def __post_init__(self) -> None:
        object.__setattr__(self, "frame_shape", tuple(int(side) for side in self.frame_shape))
        require(self.num_envs >= 1, "num_envs", self.num_envs, "must be >= 1")
        require(self.stack_size >= 1, "stack_size", self.stack_size, "must be >= 1")
        require(self.n_step >= 1, "n_step", self.n_step, "must be >= 1")
        minimum = self.num_envs * (self.stack_size + self.n_step + 1)
        require(self.capacity >= minimum, "capacity", self.capacity, f"must be >= {minimum} for this memory")
        require(0.0 <= self.gamma <= 1.0, "gamma", self.gamma, "must be in [0, 1]")
        require(self.alpha >= 0.0, "alpha", self.alpha, "must be >= 0")
        require(0.0 <= self.beta_start <= 1.0, "beta_start", self.beta_start, "must be in [0, 1]")
        require(0.0 <= self.beta_end <= 1.0, "beta_end", self.beta_end, "must be in [0, 1]")
        require(self.beta_steps >= 1, "beta_steps", self.beta_steps, "must be >= 1")
        require(self.priority_epsilon > 0.0, "priority_epsilon", self.priority_epsilon, "must be > 0")


class ReplayMemory:
    """Each frame stored once; exact states at episode edges and across the ring's wrap.

    Args:
        capacity: slots in all, about the number of transitions kept (frames, for Atari).
        num_envs: environments feeding each :meth:`add`.
        frame_shape, frame_dtype: one frame, (84, 84) uint8 for Atari; for vector
            observations use ``stack_size=1`` and the observation's shape, e.g. (4,) float32.
        stack_size: frames per state.
        n_step, gamma: n-step returns, cut at episode ends.
        prioritized, alpha, beta_start, beta_end, beta_steps, priority_epsilon:
            proportional prioritized replay; beta anneals linearly over ``beta_steps`` samples.
        rng: a ``np.random.Generator`` (or an int seed) that all sampling draws from.
    """

    def __init__(
        self,
        capacity: int,
        *,
        num_envs: int = 1,
        frame_shape: tuple[int, ...] = (84, 84),
        frame_dtype: str | np.dtype = "uint8",
        stack_size: int = 4,
        n_step: int = 1,
        gamma: float = 0.99,
        prioritized: bool = False,
        alpha: float = 0.6,
        beta_start: float = 0.4,
        beta_end: float = 1.0,
        beta_steps: int = 1_000_000,
        priority_epsilon: float = 1e-6,
        rng: np.random.Generator | int = 0,
    ) -> None:
        try:
            frame_dtype = np.dtype(frame_dtype).name
        except TypeError:
            raise ValueError(f"frame_dtype={frame_dtype!r} is not a numpy dtype") from None
        self.spec = ReplaySpec(
            capacity=capacity,
            num_envs=num_envs,
            frame_shape=tuple(frame_shape),
            frame_dtype=frame_dtype,
            stack_size=stack_size,
            n_step=n_step,
            gamma=gamma,
            prioritized=prioritized,
            alpha=alpha,
            beta_start=beta_start,
            beta_end=beta_end,
            beta_steps=beta_steps,
            priority_epsilon=priority_epsilon,
        )
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.rows = capacity // num_envs
        slots = self.rows * num_envs
        self.frames = np.zeros((slots, *self.spec.frame_shape), dtype=self.spec.frame_dtype)
        self.actions = np.zeros(slots, dtype=np.int32)
        self.rewards = np.zeros(slots, dtype=np.float32)
        self.flags = np.zeros(slots, dtype=np.uint8)
        self.episode_steps = np.zeros(slots, dtype=np.uint8)  # steps since episode start, saturating
        self.tree = SumTree(slots) if prioritized else None
        self.max_priority = 1.0
        self.rows_written = 0
        self.transitions_added = 0
        self.samples_drawn = 0
        self._env_steps = np.zeros(num_envs, dtype=np.int64)  # steps into each env's current episode
        self._awaiting_start = np.ones(num_envs, dtype=bool)
        self._valid_slots: tuple[int, np.ndarray] = (-1, np.zeros(0, dtype=np.int64))  # (rows_written, slots)
        self._discount_powers = gamma ** np.arange(n_step + 1, dtype=np.float64)
        self._frames_back = np.arange(stack_size - 1, -1, -1)  # a state's frames, oldest first

    # ------------------------------------------------------------------ writing
    def start(self, observations: np.ndarray) -> None:
        """Begin an episode in every environment with the observations of ``env.reset()``.

        An episode still open (e.g. when training resumes) is cut: its last observation
        becomes a final slot that earlier transitions bootstrap from.

        Args:
            observations: (num_envs, stack_size, *frame_shape), or (num_envs, *frame_shape)
                when ``stack_size == 1``.
        """
        frames = self._newest_frames(observations)
        self._cut_open_episodes()
        self._env_steps[:] = 0
        self._write_row(frames)
        self._awaiting_start[:] = False

    def add(
        self,
        actions: np.ndarray,
        rewards: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        next_observations: np.ndarray,
        resets: np.ndarray | None = None,
    ) -> None:
        """Record one vector-environment step, exactly as ``env.step(actions)`` returned it.

        Args:
            actions: (num_envs,) integer actions taken from the previous observations.
            rewards: (num_envs,) rewards for learning (clipped for Atari).
            terminated: (num_envs,) bool, no bootstrapping from ``next_observations``.
            truncated: (num_envs,) bool, the episode was cut (a time limit): bootstrap.
            next_observations: as in :meth:`start`. For an environment whose previous step
                reset it, this is the first observation of a new episode (next-step
                autoreset) and its action, reward and flags are ignored.
            resets: (num_envs,) bool, the environment resets on its next step; by default
                ``terminated | truncated`` (gymnasium's contract). dqnlib's Atari
                environments reset only at a game end: pass ``info["game_end"]``.
        """
        if self.rows_written == 0:
            raise RuntimeError("call start(observations) with the observations of env.reset() before add()")
        n = self.spec.num_envs
        actions, rewards = np.asarray(actions), np.asarray(rewards, dtype=np.float32)
        terminated, truncated = np.asarray(terminated, dtype=bool), np.asarray(truncated, dtype=bool)
        for name, value in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
            if value.shape != (n,):
                raise ValueError(f"{name} must have shape ({n},), got {value.shape}")
        if truncated.shape != (n,):
            raise ValueError(f"truncated must have shape ({n},), got {truncated.shape}")
        resets = terminated | truncated if resets is None else np.array(resets, dtype=bool)  # a copy
        if resets.shape != (n,):
            raise ValueError(f"resets must have shape ({n},), got {resets.shape}")
        frames = self._newest_frames(next_observations)

        stepped = ~self._awaiting_start
        previous = self._flat((self.rows_written - 1) % self.rows)[stepped]
        self.actions[previous] = actions[stepped]
        self.rewards[previous] = rewards[stepped]
        self.flags[previous] = np.where(terminated[stepped], _TERMINATED, 0) | np.where(
            truncated[stepped], _TRUNCATED, 0
        )
        if self.tree is not None:
            self.tree.update(previous, np.full(previous.size, self.max_priority**self.spec.alpha))
        self.transitions_added += int(stepped.sum())
        self._env_steps = np.where(stepped, self._env_steps + 1, 0)
        # Any episode may end on any step, its first included: a new episode's first
        # observation that already ends it is a final slot, and the environment resets again.
        self._awaiting_start = resets
        self._write_row(frames, final=self._awaiting_start)

    def _newest_frames(self, observations: np.ndarray) -> np.ndarray:
        observations = np.asarray(observations)
        spec = self.spec
        shape = (spec.num_envs, *spec.frame_shape) if spec.stack_size == 1 else None
        if shape is None:
            shape = (spec.num_envs, spec.stack_size, *spec.frame_shape)
        if observations.shape != shape:
            raise ValueError(f"observations must have shape {shape}, got {observations.shape}")
        return observations if spec.stack_size == 1 else observations[:, -1]

    def _cut_open_episodes(self) -> None:
        if self.rows_written == 0:
            return
        open_slots = self._flat((self.rows_written - 1) % self.rows)[~self._awaiting_start]
        self.flags[open_slots] = _FINAL

    def _write_row(self, frames: np.ndarray, final: np.ndarray | None = None) -> None:
        row = self.rows_written % self.rows
        slots = self._flat(row)
        self.frames[slots] = frames
        self.actions[slots] = 0
        self.rewards[slots] = 0.0
        self.flags[slots] = 0 if final is None else np.where(final, _FINAL, 0)
        self.episode_steps[slots] = np.minimum(self._env_steps, 255)
        if self.tree is not None:
            self.tree.update(slots, np.zeros(slots.size))
        self.rows_written += 1

    def _flat(self, row: int | np.ndarray) -> np.ndarray:
        return np.asarray(row)[..., None] * self.spec.num_envs + np.arange(self.spec.num_envs)

    # ------------------------------------------------------------------ reading
    def _global_rows(self, slots: np.ndarray) -> np.ndarray:
        """Write counter of each slot's row: 0 for the first row ever written."""
        newest = self.rows_written - 1
        return newest - (newest - slots // self.spec.num_envs) % self.rows

    def _resolve(self, slots: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Validity of each slot as a transition start, and its steps to the next state (1..n)."""
        spec = self.spec
        env = slots % spec.num_envs
        rows = self._global_rows(slots)
        oldest = max(0, self.rows_written - self.rows)
        newest = self.rows_written - 1
        steps_back = np.minimum(self.episode_steps[slots].astype(np.int64), spec.stack_size - 1)
        valid = (rows - steps_back >= oldest) & (self.flags[slots] & _FINAL == 0) & (rows < newest)
        if spec.n_step == 1:
            return valid, np.ones(slots.size, dtype=np.int64)
        # The n-step window ends after the first slot whose action ended the episode (a
        # terminal or a truncation) or before the first final slot (a cut episode), else after
        # n steps: slot k + 1 ahead is the next state.
        ahead = rows[:, None] + np.arange(spec.n_step + 1)  # (B, n + 1): this slot and n ahead
        written = ahead <= newest
        ahead_slots = (ahead % self.rows) * spec.num_envs + env[:, None]
        ahead_flags = self.flags[ahead_slots]
        stops = np.zeros(ahead.shape, dtype=bool)  # stops[:, k]: the window holds k steps at most
        stops[:, 1:] = ((ahead_flags[:, :-1] & (_TERMINATED | _TRUNCATED)) != 0) & written[:, :-1]
        stops[:, 1:] |= (ahead_flags[:, 1:] & _FINAL != 0) & written[:, 1:]
        stops[:, -1] = True
        ends = stops[:, 1:].argmax(axis=1) + 1
        valid &= rows + ends <= newest
        return valid, ends

    def _states(self, slots: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Rebuild states (B, stack_size, *frame_shape) for slots (B,), into ``out`` if given."""
        spec = self.spec
        if spec.stack_size == 1:
            return np.take(self.frames, slots, axis=0, out=out, mode="clip")
        env = slots % spec.num_envs
        rows = slots // spec.num_envs
        back = self._frames_back
        stack_slots = ((rows[:, None] - back) % self.rows) * spec.num_envs + env[:, None]  # (B, stack)
        states = np.take(self.frames, stack_slots, axis=0, out=out, mode="clip")  # (B, stack, *frame_shape)
        before_start = back > self.episode_steps[slots][:, None]
        if before_start.any():
            states[before_start] = 0
        return states

    def _gather(self, slots: np.ndarray, ends: np.ndarray, out: ReplayBatch) -> ReplayBatch:
        spec = self.spec
        env = slots % spec.num_envs
        rows = slots // spec.num_envs
        if spec.n_step == 1:
            out.rewards[:] = self.rewards[slots]
            out.dones[:] = self.flags[slots] & _TERMINATED != 0
        else:
            offsets = np.arange(spec.n_step)
            window = ((rows[:, None] + offsets) % self.rows) * spec.num_envs + env[:, None]  # (B, n)
            inside = offsets[None, :] < ends[:, None]
            out.rewards[:] = (self.rewards[window] * self._discount_powers[: spec.n_step] * inside).sum(
                axis=1
            )
            out.dones[:] = self.flags[window[np.arange(slots.size), ends - 1]] & _TERMINATED != 0
        next_slots = ((rows + ends) % self.rows) * spec.num_envs + env
        self._states(np.concatenate([slots, next_slots]), out=out.pairs)  # (2B, stack, *frame_shape)
        out.actions[:] = self.actions[slots]
        out.discounts[:] = self._discount_powers[ends]
        out.indices[:] = slots
        return out

    def empty_batch(self, batch_size: int) -> ReplayBatch:
        """Arrays for a batch of ``batch_size``, to reuse across :meth:`sample` calls (``out=``)."""
        spec = self.spec
        state_shape = spec.frame_shape if spec.stack_size == 1 else (spec.stack_size, *spec.frame_shape)
        pairs = np.empty((2 * batch_size, *state_shape), dtype=spec.frame_dtype)
        return ReplayBatch(
            states=pairs[:batch_size],
            actions=np.empty(batch_size, dtype=np.int64),
            rewards=np.empty(batch_size, dtype=np.float32),
            next_states=pairs[batch_size:],
            dones=np.empty(batch_size, dtype=bool),
            discounts=np.empty(batch_size, dtype=np.float32),
            weights=np.ones(batch_size, dtype=np.float32),
            indices=np.empty(batch_size, dtype=np.int64),
            pairs=pairs,
        )

    def valid_slots(self) -> np.ndarray:
        """Slots that start a sampleable transition, oldest first, (T,) int64, read-only.

        Listed once per change of the memory (every change writes a row) and kept until the
        next, so that reading ``memory[i]`` in a loop takes constant time per read.
        """
        if self._valid_slots[0] != self.rows_written:
            slots = np.zeros(0, dtype=np.int64)
            if self.rows_written > 0:
                filled = min(self.rows_written, self.rows)
                rows = (self.rows_written - filled + np.arange(filled)) % self.rows
                slots = self._flat(rows).reshape(-1)
                slots = slots[self._resolve(slots)[0]]
            slots.setflags(write=False)
            self._valid_slots = (self.rows_written, slots)
        return self._valid_slots[1]

    def __len__(self) -> int:
        """Number of transitions that can be sampled now."""
        return int(self.valid_slots().size)

    @property
    def index(self) -> int:
        """Flat slot index the next environment step writes to (its row times num_envs)."""
        return (self.rows_written % self.rows) * self.spec.num_envs

    def __getitem__(self, i: int) -> Transition:
        """The ``i``-th transition, oldest first (negative ``i`` counts from the newest); constant
        time until the memory changes (see :meth:`valid_slots`)."""
        slots = self.valid_slots()
        if not isinstance(i, (int, np.integer)) or not -slots.size <= i < slots.size:
            raise IndexError(f"transition index {i!r} out of range for a memory of {slots.size} transitions")
        slot = slots[i : i + 1] if i >= 0 else slots[slots.size + i : slots.size + i + 1]
        _, ends = self._resolve(slot)
        batch = self._gather(slot, ends, self.empty_batch(1))
        return Transition(
            batch.states[0],
            int(batch.actions[0]),
            float(batch.rewards[0]),
            batch.next_states[0],
            bool(batch.dones[0]),
        )

    def beta(self) -> float:
        """Importance-sampling exponent now: linear from beta_start to beta_end over beta_steps samples."""
        spec = self.spec
        fraction = min(1.0, self.samples_drawn / spec.beta_steps)
        return spec.beta_start + fraction * (spec.beta_end - spec.beta_start)

    def sample(self, batch_size: int, out: ReplayBatch | None = None) -> ReplayBatch:
        """Draw a batch, uniformly or by priority, from the memory's generator.

        Args:
            batch_size: transitions to draw.
            out: a batch from :meth:`empty_batch` to fill in place (saves allocating
                two (B, 4, 84, 84) arrays per call on the training loop's hot path);
                by default a new batch is returned.

        Raises:
            ValueError: batch_size < 1 or larger than the capacity, or too few transitions.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} must be an integer >= 1")
        if batch_size > self.spec.capacity:
            raise ValueError(f"batch_size={batch_size} is larger than the capacity {self.spec.capacity}")
        if self.transitions_added < batch_size:
            raise ValueError(
                f"cannot sample {batch_size} transitions from a memory holding {self.transitions_added}"
            )
        slots = self._draw(np.arange(batch_size), stratified=True, batch_size=batch_size)
        valid, ends = self._resolve(slots)
        missing = np.flatnonzero(~valid)
        for _ in range(64):  # redraw the few invalid candidates: near the write head or episode ends
            if missing.size == 0:
                break
            candidates = self._draw(missing, stratified=False, batch_size=batch_size)
            valid, candidate_ends = self._resolve(candidates)
            slots[missing[valid]] = candidates[valid]
            ends[missing[valid]] = candidate_ends[valid]
            missing = missing[~valid]
        else:
            raise ValueError(f"cannot sample {batch_size} transitions: the memory holds {len(self)}")
        if out is None:
            out = self.empty_batch(batch_size)
        elif out.pairs is None or out.states.shape[0] != batch_size:
            raise ValueError(f"out must be a batch from empty_batch({batch_size})")
        if self.tree is not None:
            probabilities = self.tree.get(slots) / self.tree.total
            out.weights[:] = (probabilities / probabilities.min()) ** -self.beta()
        self.samples_drawn += 1
        return self._gather(slots, ends, out)

    def _draw(self, positions: np.ndarray, *, stratified: bool, batch_size: int) -> np.ndarray:
        if self.tree is None:
            filled = min(self.rows_written, self.rows) * self.spec.num_envs
            return self.rng.integers(0, filled, size=positions.size)
        total = self.tree.total
        if stratified:
            targets = (positions + self.rng.random(positions.size)) * (total / batch_size)
        else:
            targets = self.rng.random(positions.size) * total
        return self.tree.find(targets)

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray) -> None:
        """Set priorities ``(|td_error| + epsilon) ** alpha`` for sampled ``indices`` (B,)."""
        if self.tree is None:
            raise ValueError("update_priorities needs a memory made with prioritized=True")
        magnitudes = np.abs(np.asarray(td_errors, dtype=np.float64)) + self.spec.priority_epsilon
        if not np.isfinite(magnitudes).all():
            raise ValueError("td_errors must be finite")
        self.tree.update(np.asarray(indices), magnitudes**self.spec.alpha)
        self.max_priority = max(self.max_priority, float(magnitudes.max()))

    @property
    def nbytes(self) -> int:
        """Bytes of every array the memory allocated."""
        arrays = [self.frames, self.actions, self.rewards, self.flags, self.episode_steps]
        if self.tree is not None:
            arrays.append(self.tree.nodes)
        return sum(array.nbytes for array in arrays)

    # ------------------------------------------------------------------ saving
    _ARRAYS = ("frames", "actions", "rewards", "flags", "episode_steps")

    def save(self, directory: str | os.PathLike) -> None:
        """Write the memory to ``directory``: .npy arrays plus ``header.json``, no pickle.

        The directory is assembled beside the target and renamed into place, so an
        interrupted save leaves the previous copy intact.
        """

        def write(staging: Path) -> None:
            arrays = {name: getattr(self, name) for name in self._ARRAYS}
            if self.tree is not None:
                arrays["tree"] = self.tree.nodes
            for name, array in arrays.items():
                with open(staging / f"{name}.npy", "wb") as file:
                    np.save(file, array, allow_pickle=False)
                    file.flush()
                    os.fsync(file.fileno())
            header = {
                "format": FORMAT,
                "version": FORMAT_VERSION,
                "spec": dataclasses.asdict(self.spec),
                "rows_written": self.rows_written,
                "transitions_added": self.transitions_added,
                "samples_drawn": self.samples_drawn,
                "max_priority": self.max_priority,
                "env_steps": self._env_steps.tolist(),
                "awaiting_start": self._awaiting_start.tolist(),
                "rng_state": self.rng.bit_generator.state,
                "arrays": {name: [list(array.shape), array.dtype.name] for name, array in arrays.items()},
            }
            (staging / "header.json").write_text(json.dumps(header))

        write_directory(Path(directory), write)

    @classmethod
    def load(cls, directory: str | os.PathLike, expect: ReplaySpec | None = None) -> ReplayMemory:
        """Read a memory written by :meth:`save`; a foreign or damaged one is a one-line ValueError.

        Args:
            expect: the spec the caller needs (e.g. from its config); a saved memory that
                differs is refused, naming the first differing field, before any allocation.
        """
        directory = Path(directory)
        try:
            header = json.loads((directory / "header.json").read_text())
        except FileNotFoundError:
            raise ValueError(f"{directory} holds no replay memory (header.json is missing)") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, OSError) as error:
            message = first_line(error) or "nested too deeply"
            raise ValueError(f"{directory}/header.json is not a dqnlib replay header ({message})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise ValueError(f"{directory} is not a dqnlib replay memory")
        version = header.get("version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ValueError(
                f"{directory} was saved by a newer dqnlib (replay format {version!r} > {FORMAT_VERSION})"
            )
        try:
            spec = ReplaySpec(**header["spec"])
            if expect is not None:
                mine, wanted = dataclasses.asdict(spec), dataclasses.asdict(expect)
                for name in (name for name in wanted if mine[name] != wanted[name]):
                    raise ValueError(
                        f"field 'spec.{name}' in header.json is {mine[name]!r}, the config says {wanted[name]!r}"
                    )
            memory = cls(**dataclasses.asdict(spec))
            expected = {name: getattr(memory, name) for name in cls._ARRAYS}
            if memory.tree is not None:
                expected["tree"] = memory.tree.nodes
            listed = header["arrays"]
            if not isinstance(listed, dict) or set(listed) != set(expected):
                raise ValueError(f"field 'arrays' must list exactly {', '.join(sorted(expected))}")
            for name, target in expected.items():  # only known names, only from this directory
                _read_npy_into(directory / f"{name}.npy", target)
            memory.rows_written = _counter(header, "rows_written")
            memory.transitions_added = _counter(header, "transitions_added")
            memory.samples_drawn = _counter(header, "samples_drawn")
            if memory.transitions_added > memory.rows_written * spec.num_envs:
                raise ValueError("field 'transitions_added' exceeds the rows written")
            memory.max_priority = float(header["max_priority"])
            if not (math.isfinite(memory.max_priority) and memory.max_priority > 0):
                raise ValueError(f"field 'max_priority' must be finite and > 0, got {memory.max_priority}")
            env_steps, awaiting = header["env_steps"], header["awaiting_start"]
            for field, values, kind in (("env_steps", env_steps, int), ("awaiting_start", awaiting, bool)):
                if not isinstance(values, list) or len(values) != spec.num_envs:
                    raise ValueError(f"field {field!r} must hold one value per environment ({spec.num_envs})")
                if not all(isinstance(v, bool) if kind is bool else is_count(v) for v in values):
                    raise ValueError(f"field {field!r} must hold {'booleans' if kind is bool else 'counts'}")
            memory._env_steps = np.array(env_steps, dtype=np.int64)
            memory._awaiting_start = np.array(awaiting, dtype=bool)
            memory.rng.bit_generator.state = header["rng_state"]
        except KeyError as error:
            raise ValueError(f"replay memory at {directory} is damaged: field {error} is missing") from None
        except (TypeError, ValueError, OSError, EOFError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"replay memory at {directory} is damaged: {message}") from None
        return memory


def _read_npy_into(path: Path, target: np.ndarray) -> None:
    """Read the ``.npy`` file at ``path`` straight into ``target`` (C-contiguous), which must
    have its shape and dtype: no second copy of the array in RAM (a resumed `nature` run's
    frames are 6.6 GiB), and no unpickling. Anything else is a one-line ValueError."""
    with path.open("rb") as file:
        readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
        reader = readers.get(np.lib.format.read_magic(file))
        if reader is None:
            raise ValueError(f"{path.name} is not a .npy file that dqnlib writes")
        shape, fortran_order, dtype = reader(file)
        if dtype.hasobject:
            raise ValueError(f"{path.name} holds Python objects; dqnlib never loads those")
        if shape != target.shape or dtype != target.dtype:
            raise ValueError(f"{path.name} has shape {shape} {dtype}, expected {target.shape} {target.dtype}")
        if fortran_order:
            raise ValueError(f"{path.name} is in Fortran order; dqnlib writes C order")
        view, read = memoryview(target).cast("B"), 0
        while read < target.nbytes and (chunk := file.readinto(view[read:])):
            read += chunk
        if read != target.nbytes:
            raise ValueError(f"{path.name} is truncated ({read:,} of {target.nbytes:,} bytes)")


def _counter(header: dict, field: str) -> int:
    value = header[field]
    if not is_count(value):
        raise ValueError(f"field {field!r} must be an integer in [0, 2**53], got {value!r}")
    return value
