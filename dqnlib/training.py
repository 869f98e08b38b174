"""The training loop of DQN (Mnih et al. 2015, Algorithm 1), for any :class:`DQNAgent`.

Every iteration of :meth:`TrainingLoop.run` is one step of the paper's algorithm box, for
``num_envs`` games at once::

    actions = agent.act(observations, epsilon)          # epsilon-greedy
    env.step_async(actions)                             # the games play in native threads...
    learn_due()                                         # ...while the learner updates:
        batch = agent.replay_memory.sample(batch_size)  #   every train_frequency steps
        agent.learn(batch)                              #   one gradient step on the TD error
        agent.sync_target()                             #   every target_update_interval steps
    observations, rewards, ... = env.step_wait()
    agent.replay_memory.add(actions, rewards, ...)      # store the transitions

and around it the bookkeeping: whole-game scores, ``metrics.csv``, the progress bar,
checkpoints every ``checkpoint_every`` steps, and a clean stop on Ctrl-C or SIGTERM.
The loop knows the agent through its public methods and :meth:`DQNAgent.state_dict` only.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import gymnasium
import numpy as np
import torch
from tqdm.auto import tqdm

from dqnlib import checkpoint
from dqnlib.config import TrainConfig
from dqnlib.envs import AtariOptions, DeferredStep, GameTracker, action_set, make_vector_env
from dqnlib.games import is_atari, resolve_game
from dqnlib.interrupts import StopRequest
from dqnlib.metrics import MetricsLogger
from dqnlib.protocols import get_protocol
from dqnlib.threads import ThreadChooser

if TYPE_CHECKING:
    from dqnlib.agent import DQNAgent

logger = logging.getLogger(__name__)
#: The loss each kind of value learning minimises, as TensorBoard's tag names it.
LOSS_NAMES = {"none": "huber", "c51": "cross_entropy", "iqn": "quantile_huber"}

POSTFIX_SECONDS = 2.0  # the progress bar's score and epsilon refresh this often


class TrainingDiverged(RuntimeError):
    """The loss or the Q-values became NaN or infinite."""


def usable_cpus() -> int:
    """CPUs this process may run on (affinity and taskset respected where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def make_training_env(config: TrainConfig) -> gymnasium.vector.VectorEnv:
    """The vector environment a config trains on: Atari with DeepMind preprocessing, or a
    gymnasium environment id (e.g. ``"CartPole-v1"``) in a synchronous vector env."""
    if is_atari(config.game):
        return make_vector_env(
            config.game,
            config.num_envs,
            num_threads=min(config.num_envs, usable_cpus()),
            terminal_on_life_loss=config.terminal_on_life_loss,
            **get_protocol(config.protocol).env_options,
        )
    if config.game in gymnasium.registry:
        return DeferredStep(
            gymnasium.make_vec(config.game, num_envs=config.num_envs, vectorization_mode="sync")
        )
    resolve_game(config.game)  # raises the one-line error with close Atari names
    raise AssertionError("unreachable")


def training_spaces(config: TrainConfig) -> tuple[gymnasium.spaces.Box, int]:
    """The observation space of one training environment and its number of actions, without
    starting the games: ``Box(0, 255, (4, 84, 84), uint8)`` and the minimal action set's size
    for Atari."""
    if is_atari(config.game):
        options = AtariOptions(**get_protocol(config.protocol).env_options)
        shape = (options.stack_size, options.screen_size, options.screen_size)
        actions = action_set(resolve_game(config.game), options)  # as the environments choose it
        return gymnasium.spaces.Box(0, 255, shape, dtype=np.uint8), len(actions)
    if config.game in gymnasium.registry:
        env = gymnasium.make(config.game)
        try:
            return env.observation_space, int(env.action_space.n)
        finally:
            env.close()
    resolve_game(config.game)  # raises the one-line error with close Atari names
    raise AssertionError("unreachable")


class TrainingLoop:
    """The games an agent trains on and the bookkeeping around them; one per agent, kept
    between :meth:`DQNAgent.train` calls so that a run goes on where the last call stopped.

    Args:
        agent: the agent to train.
        env: the vector environment (default: :func:`make_training_env` of the agent's config);
            it needs ``step_async`` and ``step_wait``.
    """

    def __init__(self, agent: DQNAgent, env: gymnasium.vector.VectorEnv | None = None) -> None:
        self.agent = agent
        self.env = env if env is not None else make_training_env(agent.config)
        self.games = GameTracker(self.config.num_envs)
        self.metrics = (
            MetricsLogger(agent.run_dir, agent.counters.env_steps, LOSS_NAMES[agent.config.distributional])
            if agent.run_dir is not None
            else None
        )
        self.observations: np.ndarray | None = None  # (num_envs, 4, 84, 84) uint8 while a run goes on
        self._batch = agent.replay_memory.empty_batch(self.config.batch_size)  # reused by every update
        self.threads: ThreadChooser | None = None  # torch_threads="auto" on a CPU
        self._say: Callable[[str], None] = logger.warning
        self.restart_games()

    @property
    def config(self) -> TrainConfig:
        return self.agent.config

    def restart_games(self) -> None:
        """Make the next :meth:`run` reset the games with a seed that depends on the step (a
        resumed run does the same); the replay memory then cuts its open episodes."""
        self.observations = None
        self._env_seed = self.config.seed + self.agent.counters.env_steps
        self.games.restart()

    def close(self) -> None:
        self.env.close()
        if self.metrics is not None:
            self.metrics.close()

    def run(
        self, steps: int, callback: Callable[[DQNAgent], None] | None = None, progress_bar: bool = True
    ) -> str | None:
        """Train ``steps`` more environment steps; returns the signal that stopped it early, or None."""
        counters = self.agent.counters
        if self.observations is None:
            self.observations, _ = self.env.reset(seed=self._env_seed)
            self.agent.replay_memory.start(self.observations)
        target_step = counters.env_steps + steps
        bar = tqdm(  # the run's position: a resumed run's bar starts where the run stands
            total=target_step,
            initial=counters.env_steps,
            unit="step",
            dynamic_ncols=True,
            desc=f"DQN {self.config.game}",
            disable=not progress_bar,
        )
        self._say = logger.warning if bar.disable else bar.write
        callers_threads = torch.get_num_threads()
        with StopRequest() as stop:
            try:
                self._set_threads(callers_threads)
                self._steps(target_step, bar, stop, callback)
            except BaseException:
                # An error may strike mid-step (e.g. a diverged update while the games play):
                # the next call restarts the games, as a resume does.
                self.restart_games()
                raise
            finally:
                torch.set_num_threads(callers_threads)
                bar.close()
        if stop.requested is not None:
            logger.warning("training stopped by %s at step %d", stop.requested, counters.env_steps)
        return stop.requested

    def _set_threads(self, callers_threads: int) -> None:
        """Torch's threads for this run: ``config.torch_threads`` when pinned; with ``"auto"``
        on a CPU, the :class:`ThreadChooser`'s choice among 1 to the caller's count."""
        pinned = self.config.torch_threads
        if pinned != "auto":
            torch.set_num_threads(pinned)
        elif self.agent.device.type == "cpu":
            if self.threads is None or self.threads.candidates[0] != callers_threads:
                self.threads = ThreadChooser(callers_threads)
            torch.set_num_threads(self.threads.threads)

    def _steps(
        self, target_step: int, bar: tqdm, stop: StopRequest, callback: Callable[[DQNAgent], None] | None
    ) -> None:
        """Act, start the step, learn while the games play, collect the step, store it, log,
        checkpoint; until ``target_step`` or a stop request."""
        agent, config, counters = self.agent, self.config, self.agent.counters
        n = config.num_envs
        started, started_steps = time.perf_counter(), counters.env_steps
        next_log = (counters.env_steps // config.log_every + 1) * config.log_every
        next_postfix = started + POSTFIX_SECONDS
        next_checkpoint = (counters.env_steps // config.checkpoint_every + 1) * config.checkpoint_every
        while counters.env_steps < target_step:
            epsilon = config.epsilon(counters.env_steps)
            actions = agent.act(self.observations, epsilon)
            # Atari games play this step in native threads while the learner updates (on the
            # transitions stored so far, so learning starts one iteration after the memory
            # holds learning_starts); other environments step in step_wait.
            self.env.step_async(actions)
            if agent.replay_memory.transitions_added >= max(config.learning_starts, config.batch_size):
                self._learn_due(counters.env_steps + n, n)
            next_observations, rewards, terminated, truncated, info = self.env.step_wait()
            ended, scores, _ = self.games.step(rewards, terminated, truncated, info)
            # Atari: a lost life is a terminal (no bootstrap) but resets nothing; a game end resets.
            agent.replay_memory.add(actions, rewards, terminated, truncated, next_observations, ended)
            self._record_games(ended, scores, epsilon, time.perf_counter() - started, started_steps)
            self.observations = next_observations
            counters.env_steps += n
            bar.update(n)
            if not bar.disable and time.perf_counter() >= next_postfix:
                next_postfix = time.perf_counter() + POSTFIX_SECONDS
                bar.set_postfix(self._postfix(epsilon), refresh=False)  # tqdm's own rate is the speed
            if counters.env_steps >= next_log:
                next_log += config.log_every
                if callback is not None:
                    callback(agent)
            if agent.run_dir is not None and counters.env_steps >= next_checkpoint:
                next_checkpoint += config.checkpoint_every
                self._checkpoint()
            if stop.requested is not None:
                if agent.run_dir is not None:
                    self._checkpoint(with_replay=True)
                return

    def _learn_due(self, env_steps: int, n: int) -> None:
        """The updates (and target sync) due when the run reaches ``env_steps`` by ``n`` more steps."""
        agent, config, counters = self.agent, self.config, self.agent.counters
        updates_due = env_steps // config.train_frequency - (env_steps - n) // config.train_frequency
        for _ in range(updates_due * config.gradient_steps):
            started = time.perf_counter()
            loss = agent.learn(agent.replay_memory.sample(config.batch_size, out=self._batch))
            if self.threads is not None:
                self._time_update(time.perf_counter() - started)
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"the loss became {loss} at step {counters.env_steps:,}; "
                    "training stopped and the last checkpoint was kept"
                )
            agent.recent_losses.append(loss)
        if env_steps - counters.last_target_sync >= config.target_update_interval:
            agent.sync_target()
            counters.last_target_sync = env_steps

    def _time_update(self, seconds: float) -> None:
        """Tell the thread chooser how long an update took, and follow its choice."""
        current = self.threads.threads
        message = self.threads.record(seconds)
        if self.threads.threads != current:
            torch.set_num_threads(self.threads.threads)
        if message is not None:
            self._say(message)

    def _record_games(
        self, ended: np.ndarray, scores: np.ndarray, epsilon: float, seconds: float, started_steps: int
    ) -> None:
        """Count the games that ended and write their raw scores to ``recent_scores`` and
        metrics.csv, at the step count before this step."""
        agent, counters = self.agent, self.agent.counters
        for i in np.flatnonzero(ended):
            counters.games += 1
            agent.recent_scores.append(float(scores[i]))
            if self.metrics is not None:
                speed = (counters.env_steps - started_steps) / max(seconds, 1e-9)
                loss = float(np.mean(agent.recent_losses)) if agent.recent_losses else math.nan
                self.metrics.log_game(
                    counters.env_steps, counters.games, float(scores[i]), loss, epsilon, speed
                )

    def _postfix(self, epsilon: float) -> dict[str, str]:
        """The bar's fields beside tqdm's own rate: recent score (mean of the last 20 games), epsilon."""
        recent = self.agent.recent_scores
        score = f"{np.mean(list(recent)[-20:]):.1f}" if recent else "-"
        return {"score": score, "eps": f"{epsilon:.3f}"}

    def _checkpoint(self, with_replay: bool = False) -> Path:
        agent = self.agent
        return checkpoint.save_run_checkpoint(
            agent.run_dir, agent.state_dict(), agent.replay_memory, with_replay=with_replay
        )
