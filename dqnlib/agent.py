"""The DQN agent (Mnih et al. 2015) with Double DQN (van Hasselt et al. 2016), dueling
heads, n-step returns and prioritized replay as options, and its training loop."""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dqnlib import checkpoint
from dqnlib.config import TrainConfig, make_config
from dqnlib.envs import DeferredStep, make_vector_env
from dqnlib.evaluation import EvaluationResult, evaluate_agent
from dqnlib.games import is_atari, resolve_game
from dqnlib.interrupts import StopRequest
from dqnlib.metrics import MetricsLogger
from dqnlib.networks import MLPQNetwork, NatureQNetwork
from dqnlib.preprocessing import preprocess_observation
from dqnlib.protocols import get_protocol
from dqnlib.replay import ReplayBatch, ReplayMemory

logger = logging.getLogger(__name__)


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


def usable_cpus() -> int:
    """CPUs this process may run on (affinity and taskset respected where the OS tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def same_game(a: str, b: str) -> bool:
    """Whether two names mean the same game (any spelling of an Atari name)."""
    return resolve_game(a) == resolve_game(b) if is_atari(a) and is_atari(b) else a == b


def select_device(config: TrainConfig) -> torch.device:
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but no CUDA device is available; use device='auto' or 'cpu'")
    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def use_bf16(config: TrainConfig, device: torch.device) -> bool:
    """bf16 autocast where it is fast: CUDA, or a CPU with native bf16 (AVX-512 BF16 / AMX).

    ``"auto"`` chooses it for the Atari network only. The MLP gains no speed from it, and on
    CartPole it learned worse: over 10 paired seeds its mean greedy return across a 30,000-step
    run was 41.5 lower (standard error 17.6) than fp32's (benchmarks/bench_precision.py).
    """
    if config.precision == "fp32":
        return False
    supported = device.type == "cuda" or bool(torch.backends.mkldnn.is_available() and _cpu_has_bf16())
    if config.precision == "bf16" and not supported:
        raise ValueError("precision='bf16' but this CPU has no native bf16; use precision='auto' or 'fp32'")
    return supported and (config.precision == "bf16" or is_atari(config.game))


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def require_memory(config: TrainConfig, observation_space: gymnasium.spaces.Box) -> None:
    """Refuse, before allocating, a replay memory or network that cannot fit in this machine's
    memory: one ValueError naming the field and the bytes it would need."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    frame_bytes = int(
        np.prod(observation_space.shape[-2:] if is_atari(config.game) else observation_space.shape)
    )
    frame_bytes *= observation_space.dtype.itemsize
    slot_bytes = (
        frame_bytes + 10 + (16 if config.prioritized else 0)
    )  # action, reward, flags, steps; sum tree
    features = 3136 if is_atari(config.game) else int(np.prod(observation_space.shape))
    # fc1's weights five times over: online, target, gradient and Adam's two moments.
    needs = {
        "replay_capacity": config.replay_capacity * slot_bytes,
        "hidden_size": 5 * 4 * features * config.hidden_size * (2 if config.dueling else 1),
    }
    for field, size in needs.items():
        if size > total:
            raise ValueError(
                f"{field}={getattr(config, field):,} needs {size / 2**30:,.1f} GiB of memory; "
                f"this machine has {total / 2**30:,.1f} GiB"
            )


POSTFIX_SECONDS = 2.0  # the progress bar's score and epsilon refresh this often


class TrainingDiverged(RuntimeError):
    """The loss or the Q-values became NaN or infinite."""


@dataclass
class TrainingState:
    """Counters and statistics that a resumed run continues from."""

    env_steps: int = 0
    updates: int = 0
    games: int = 0
    last_target_sync: int = 0


class DQNAgent:
    """A DQN agent for any gymnasium environment with discrete actions.

    Args:
        config: a :class:`TrainConfig`; ``config.game`` names an Atari game or a gymnasium id.
        run_dir: where metrics and checkpoints go (None: nothing is written unless asked).
    """

    def __init__(
        self, config: TrainConfig, run_dir: str | os.PathLike | None = None, resume: bool = True
    ) -> None:
        self.run_dir = Path(run_dir) if run_dir is not None else None
        newest = None
        if resume and self.run_dir is not None:
            checkpoint.recover_checkpoints(self.run_dir / "checkpoints")  # after a kill mid-write
            newest = checkpoint.newest_run_checkpoint(self.run_dir)
        if newest is not None:
            config = self._saved_config(config, newest)
        self.config = config
        self.env = make_training_env(config)
        self.atari = is_atari(config.game)
        self.device = select_device(config)
        self.bf16 = use_bf16(config, self.device)
        seeds = np.random.SeedSequence(config.seed).spawn(3)
        self.rng = np.random.default_rng(seeds[0])
        torch_generator_seed = int(seeds[1].generate_state(1)[0])
        observation_space = self.env.single_observation_space
        self.num_actions = int(self.env.single_action_space.n)
        require_memory(config, observation_space)
        torch.manual_seed(torch_generator_seed)
        if self.atari:
            self.online = NatureQNetwork(
                self.num_actions, observation_space.shape[0], config.hidden_size, config.dueling
            )
            frame_shape, stack_size, frame_dtype = (
                observation_space.shape[1:],
                observation_space.shape[0],
                "uint8",
            )
        else:
            size = int(np.prod(observation_space.shape))
            self.online = MLPQNetwork(size, self.num_actions, config.hidden_size, config.dueling)
            frame_shape, stack_size, frame_dtype = observation_space.shape, 1, observation_space.dtype
        self.online.to(self.device)
        # Channels-last is cuDNN's preferred layout for bf16 convolutions; on a CPU, oneDNN ran
        # the bf16 update as fast or faster in the default layout, without the per-batch
        # transpose (benchmarks/bench_learner_variants.py).
        self.channels_last = self.atari and self.bf16 and self.device.type == "cuda"
        if self.channels_last:
            self.online.to(memory_format=torch.channels_last)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        if self.bf16 and config.tau == 1.0:
            # The target network is only run under autocast, which rounds each fp32 weight to
            # bf16 on every call; holding it in bf16 gives the same bits without those casts.
            # (Soft updates, tau < 1, need fp32: a small step would round away in bf16.)
            self.target.to(torch.bfloat16)
        self.optimizer = self._make_optimizer()
        self.replay_memory = ReplayMemory(
            config.replay_capacity,
            num_envs=config.num_envs,
            frame_shape=tuple(frame_shape),
            frame_dtype=frame_dtype,
            stack_size=stack_size,
            n_step=config.n_step,
            gamma=config.gamma,
            prioritized=config.prioritized,
            alpha=config.priority_alpha,
            beta_start=config.priority_beta_start,
            rng=np.random.default_rng(seeds[2]),
        )
        self._batch = self.replay_memory.empty_batch(config.batch_size)  # reused by every update
        self.state = TrainingState()
        self.recent_scores: deque[float] = deque(maxlen=100)
        self.recent_losses: deque[float] = deque(maxlen=100)
        self._observations: np.ndarray | None = None
        self._episode_returns = np.zeros(config.num_envs)
        self._resetting = np.zeros(config.num_envs, dtype=bool)
        self._env_seed = config.seed
        self.stopped_by: str | None = None  # the signal that ended the last train() early
        self.resumed: str | None = None  # what a resume restored, when the run directory had a checkpoint
        self.metrics = (
            MetricsLogger(checkpoint.writable_run_dir(self.run_dir)) if self.run_dir is not None else None
        )
        if newest is not None:
            self.resumed = checkpoint.restore(self, newest)
            logger.warning(self.resumed)

    @staticmethod
    def _saved_config(config: TrainConfig, newest: Path) -> TrainConfig:
        """A run directory's own config; a different game is an error, other differences are logged."""
        saved = TrainConfig.from_saved(checkpoint.read_state(newest)["config"])
        if not same_game(saved.game, config.game):
            raise ValueError(
                f"{newest.parent.parent} holds a {saved.game} run, not {config.game}; use another run_dir"
            )
        differing = [name for name, value in config.to_dict().items() if getattr(saved, name) != value]
        if differing:
            logger.warning("resuming with the run's saved config; it differs in %s", ", ".join(differing))
        return saved

    @property
    def observations(self) -> np.ndarray | None:
        """The current observations of the training environments, (num_envs, 4, 84, 84) uint8,
        or None before the first :meth:`train`."""
        return self._observations

    @property
    def _replay_memory(self) -> ReplayMemory:
        """The replay memory under the name the original exploration used."""
        return self.replay_memory

    def _make_optimizer(self) -> torch.optim.Optimizer:
        config = self.config
        if config.optimizer == "rmsprop":
            # Mnih et al. (2015) and Dopamine: centered RMSProp, decay 0.95; see rmsprop_epsilon.
            return torch.optim.RMSprop(
                self.online.parameters(),
                lr=config.learning_rate,
                alpha=0.95,
                eps=config.rmsprop_epsilon,
                centered=True,
            )
        # The fused step is one kernel for all tensors; the per-tensor default costs about a
        # quarter of an fp32 update on a 2-core CPU.
        return torch.optim.Adam(
            self.online.parameters(), lr=config.learning_rate, eps=config.adam_epsilon, fused=True
        )

    # ------------------------------------------------------------------ acting
    def _tensor(self, observations: np.ndarray) -> torch.Tensor:
        tensor = torch.as_tensor(observations, device=self.device)
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @torch.no_grad()
    def q_values(self, states: np.ndarray) -> np.ndarray:
        """Q-values of states (B, 4, 84, 84) uint8 (or one state), as (B, num_actions) float32."""
        states = np.asarray(states)
        single = states.ndim == len(self.env.single_observation_space.shape)
        batch = states[None] if single else states
        with self._autocast():
            q = self.online(self._tensor(batch)).float().cpu().numpy()
        return q[0] if single else q

    def act(
        self, states: np.ndarray, epsilon: float = 0.0, rng: np.random.Generator | None = None
    ) -> np.ndarray | int:
        """Epsilon-greedy actions for a state or a batch of states (one forward pass for all).

        Draws a uniform number and a random action per state from ``rng`` (default: the
        agent's own training generator).
        """
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon!r} must be in [0, 1]")
        states = np.asarray(states)
        single = states.ndim == len(self.env.single_observation_space.shape)
        batch = states[None] if single else states
        rng = self.rng if rng is None else rng
        explore = rng.random(len(batch)) < epsilon
        random_actions = rng.integers(self.num_actions, size=len(batch))  # int64
        if explore.all():  # no greedy action needed: skip the forward pass
            actions = random_actions
        else:
            actions = np.where(explore, random_actions, self.q_values(batch).argmax(axis=1))
        return int(actions[0]) if single else actions

    def preprocess_observation(self, observation: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """(210, 160, 3) uint8 screen + previous (4, 84, 84) state -> next state; see
        :func:`dqnlib.preprocess_observation`."""
        return preprocess_observation(observation, state)

    # ------------------------------------------------------------------ learning
    def learn(self, batch: ReplayBatch) -> float:
        """One gradient step on a batch; returns the Huber loss (float)."""
        config = self.config
        states = self._tensor(batch.states)
        next_states = self._tensor(batch.next_states)
        actions = torch.as_tensor(batch.actions, device=self.device)
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        not_done = torch.as_tensor(~batch.dones, device=self.device, dtype=torch.float32)
        discounts = torch.as_tensor(batch.discounts, device=self.device)
        weights = torch.as_tensor(batch.weights, device=self.device)
        with self._autocast():
            # The bootstrap needs no gradient: the next states go through both networks
            # without a graph, so that the backward pass covers the B states only (a single
            # online pass over states and next states together would double its cost).
            with torch.no_grad():
                next_target_q = self.target(next_states).float()  # (B, A)
                if config.double_dqn:  # the online network chooses, the target network values
                    next_actions = self.online(next_states).argmax(dim=1, keepdim=True)  # (B, 1)
                else:
                    next_actions = next_target_q.argmax(dim=1, keepdim=True)
                next_q = next_target_q.gather(1, next_actions).squeeze(1)  # (B,)
                targets = rewards + discounts * not_done * next_q
            q = self.online(states).float().gather(1, actions[:, None]).squeeze(1)  # (B,)
        td_errors = targets - q
        loss = (weights * nn.functional.smooth_l1_loss(q, targets, reduction="none")).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._clip_gradients()
        self.optimizer.step()
        if config.prioritized:
            self.replay_memory.update_priorities(batch.indices, td_errors.detach().float().cpu().numpy())
        return float(loss.detach())

    def _clip_gradients(self) -> None:
        """``clip_grad_norm_`` to ``config.max_grad_norm``, skipping the rescale on a CPU when
        its factor, clamped at 1 by PyTorch, would be 1: the same gradients, without a pass over
        them (the fc1 gradient alone is 6 MB)."""
        parameters = list(self.online.parameters())
        max_norm = self.config.max_grad_norm
        total_norm = nn.utils.get_total_norm([p.grad for p in parameters if p.grad is not None])
        # On CUDA the comparison would wait for the GPU; there the rescale always runs.
        if self.device.type == "cuda" or not float(max_norm / (total_norm + 1e-6)) >= 1.0:
            nn.utils.clip_grads_with_norm_(parameters, max_norm, total_norm)

    def sync_target(self) -> None:
        """Copy the online weights into the target network (or move them by tau)."""
        with torch.no_grad():
            for target, online in zip(self.target.parameters(), self.online.parameters(), strict=True):
                if self.config.tau == 1.0:
                    target.copy_(online)  # rounds to bf16 where the target network is held in bf16
                else:
                    target.lerp_(online, self.config.tau)

    # ------------------------------------------------------------------ training
    def train(
        self,
        steps: int,
        save_path: str | os.PathLike | None = None,
        callback: Callable[[DQNAgent], None] | None = None,
        progress_bar: bool = True,
    ) -> TrainingState:
        """Train ``steps`` more environment steps, continuing where the last call stopped.

        Args:
            steps: environment steps (summed over the vector environments), >= 1.
            save_path: write a checkpoint there when done (as :meth:`save`).
            callback: called with the agent every ``config.log_every`` steps (e.g. a live
                preview in a notebook); it must not draw from the agent's generators.
            progress_bar: show tqdm's bar (a widget in Jupyter).
        Returns:
            A copy of the counters after training.
        """
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps={steps!r} must be an integer >= 1")
        config = self.config
        if self._observations is None:
            self._observations, _ = self.env.reset(seed=self._env_seed)
            self.replay_memory.start(self._observations)
        target_step = self.state.env_steps + int(steps)
        bar = tqdm(  # the run's position: a resumed run's bar starts where the run stands
            total=target_step,
            initial=self.state.env_steps,
            unit="step",
            dynamic_ncols=True,
            desc=f"DQN {config.game}",
            disable=not progress_bar,
        )
        self.stopped_by = None
        with StopRequest() as stop:
            try:
                self._run(target_step, bar, stop, callback)
            except BaseException:
                # An error may strike mid-step (e.g. a diverged update while the games play):
                # the next call restarts the games, as a resume does.
                self._restart_games()
                raise
            finally:
                bar.close()
        if self.stopped_by is not None:
            logger.warning("training stopped by %s at step %d", self.stopped_by, self.state.env_steps)
        if save_path is not None:
            self.save(save_path)
        return dataclasses.replace(self.state)

    def _restart_games(self) -> None:
        """Make the next :meth:`train` reset the games with a seed that depends on the step;
        the replay memory then cuts its open episodes (as on resume)."""
        self._observations = None
        self._env_seed = self.config.seed + self.state.env_steps
        self._episode_returns[:] = 0.0
        self._resetting[:] = False

    def _run(
        self, target_step: int, bar: tqdm, stop: StopRequest, callback: Callable[[DQNAgent], None] | None
    ) -> None:
        """The loop of :meth:`train`: act, start the step, learn while the games play, collect
        the step, store it, log, checkpoint."""
        config = self.config
        n = config.num_envs
        started, started_steps = time.perf_counter(), self.state.env_steps
        next_log = (self.state.env_steps // config.log_every + 1) * config.log_every
        next_postfix = started + POSTFIX_SECONDS
        next_checkpoint = (self.state.env_steps // config.checkpoint_every + 1) * config.checkpoint_every
        while self.state.env_steps < target_step:
            epsilon = config.epsilon(self.state.env_steps)
            actions = self.act(self._observations, epsilon)
            # Atari games play this step in native threads while the learner updates (on
            # the transitions stored so far, so learning starts one iteration after the
            # memory holds learning_starts); other environments step in step_wait.
            self.env.step_async(actions)
            if self.replay_memory.transitions_added >= max(config.learning_starts, config.batch_size):
                self._learn_due(self.state.env_steps + n, n)
            next_observations, rewards, terminated, truncated, info = self.env.step_wait()
            resets = info.get("game_end", terminated | truncated)  # Atari: a lost life resets nothing
            self.replay_memory.add(actions, rewards, terminated, truncated, next_observations, resets)
            self._track_games(rewards, resets, info, epsilon, started, started_steps)
            self._observations = next_observations
            self.state.env_steps += n
            bar.update(n)
            if not bar.disable and time.perf_counter() >= next_postfix:
                next_postfix = time.perf_counter() + POSTFIX_SECONDS
                bar.set_postfix(self._postfix(epsilon), refresh=False)  # tqdm's own rate is the speed
            if self.state.env_steps >= next_log:
                next_log += config.log_every
                if callback is not None:
                    callback(self)
            if self.run_dir is not None and self.state.env_steps >= next_checkpoint:
                next_checkpoint += config.checkpoint_every
                checkpoint.save_run_checkpoint(self, self.run_dir)
            if stop.requested is not None:
                self.stopped_by = stop.requested
                if self.run_dir is not None:
                    checkpoint.save_run_checkpoint(self, self.run_dir, with_replay=True)
                return

    def train_until(
        self, score: float, max_steps: int, eval_every: int, episodes: int = 10, protocol: str = "machado"
    ) -> int | None:
        """Train in chunks of ``eval_every`` steps until the mean evaluation score reaches
        ``score``; returns the environment steps that took, or None within ``max_steps``."""
        while self.state.env_steps < max_steps:
            self.train(min(eval_every, max_steps - self.state.env_steps))
            if self.evaluate(episodes, protocol=protocol, seed=self.state.env_steps).mean >= score:
                return self.state.env_steps
        return None

    def _learn_due(self, env_steps: int, n: int) -> None:
        """The updates (and target sync) due when the run reaches ``env_steps`` by ``n`` more steps."""
        config = self.config
        updates_due = env_steps // config.train_frequency - (env_steps - n) // config.train_frequency
        for _ in range(updates_due * config.gradient_steps):
            loss = self.learn(self.replay_memory.sample(config.batch_size, out=self._batch))
            if not math.isfinite(loss):
                raise TrainingDiverged(
                    f"the loss became {loss} at step {self.state.env_steps:,}; "
                    "training stopped and the last checkpoint was kept"
                )
            self.recent_losses.append(loss)
            self.state.updates += 1
        if env_steps - self.state.last_target_sync >= config.target_update_interval:
            self.sync_target()
            self.state.last_target_sync = env_steps

    def _track_games(self, rewards, resets, info, epsilon, started, started_steps) -> None:
        """Record whole-game raw scores (Atari: across lives) in recent_scores and metrics.csv.

        ``resets`` (num_envs,) bool marks the games that ended on this step; the step after
        one is its environment's reset, which plays nothing and ends nothing.
        """
        if "game_end" in info:
            scores = info["game_score"]
        else:
            self._episode_returns = np.where(self._resetting, 0.0, self._episode_returns + rewards)
            scores = self._episode_returns
        ended = resets
        self._resetting = resets
        for i in np.flatnonzero(ended):
            self.state.games += 1
            self.recent_scores.append(float(scores[i]))
            if self.metrics is not None:
                fps = (self.state.env_steps - started_steps) / max(time.perf_counter() - started, 1e-9)
                loss = float(np.mean(self.recent_losses)) if self.recent_losses else math.nan
                self.metrics.log_game(
                    self.state.env_steps, self.state.games, float(scores[i]), loss, epsilon, fps
                )

    def _postfix(self, epsilon: float) -> dict[str, str]:
        """The bar's fields beside tqdm's own rate: recent score (mean of the last 20 games), epsilon."""
        score = f"{np.mean(list(self.recent_scores)[-20:]):.1f}" if self.recent_scores else "-"
        return {"score": score, "eps": f"{epsilon:.3f}"}

    # ------------------------------------------------------------------ evaluation and files
    def evaluate(
        self, episodes: int = 10, protocol: str = "machado", epsilon: float | None = None, seed: int = 0
    ) -> EvaluationResult:
        """Play ``episodes`` whole games under a named protocol; see :mod:`dqnlib.evaluation`."""
        return evaluate_agent(self, episodes=episodes, protocol=protocol, epsilon=epsilon, seed=seed)

    def save(self, path: str | os.PathLike, weights_only: bool = False) -> Path:
        """Write weights, optimizer, counters and config to a checkpoint directory (atomically);
        ``weights_only`` leaves out the target network and the optimizer (a quarter of the size)."""
        return checkpoint.save_agent(self, path, weights_only=weights_only)

    @classmethod
    def load(cls, path: str | os.PathLike, run_dir: str | os.PathLike | None = None) -> DQNAgent:
        """Rebuild an agent from a checkpoint directory written by :meth:`save`."""
        return checkpoint.load_agent(cls, path, run_dir=run_dir)


class AtariDQNAgent(DQNAgent):
    """A DQN agent for one Atari game: ``AtariDQNAgent()`` is Breakout with the default preset.

    Args:
        game: any common spelling of an Atari game name.
        preset: ``"default"``, ``"nature"`` or ``"tiny"``.
        seed: fixes environments, exploration, sampling and initial weights.
        run_dir: where metrics and checkpoints go.
        **overrides: single config fields, e.g. ``replay_capacity=50_000``.
    """

    def __init__(
        self,
        game: str = "Breakout",
        preset: str = "default",
        seed: int = 0,
        run_dir: str | os.PathLike | None = None,
        **overrides: Any,
    ) -> None:
        resolve_game(game)
        super().__init__(make_config(preset, game=game, seed=seed, **overrides), run_dir=run_dir)
