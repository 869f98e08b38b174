"""The DQN agent (Mnih et al. 2015) with the Rainbow family as options: Double DQN (van
Hasselt et al. 2016), dueling heads, n-step returns, prioritized replay, noisy nets, and a
categorical (C51) or implicit quantile (IQN) value distribution; its networks, its replay
memory, acting and learning. The loop that trains it is :mod:`dqnlib.training`; its files,
:mod:`dqnlib.checkpoint`."""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import torch
from torch import nn

from dqnlib import checkpoint
from dqnlib.config import TrainConfig, make_config
from dqnlib.denormals import SWEEP_UPDATES, zero_denormal_state
from dqnlib.distributional import categorical_support, project_categorical, quantile_huber_loss
from dqnlib.evaluation import EvaluationResult, evaluate_policy
from dqnlib.games import is_atari, resolve_game
from dqnlib.networks import MLPQNetwork, NatureQNetwork, glorot_init, reset_noise
from dqnlib.preprocessing import preprocess_observation
from dqnlib.replay import ReplayBatch, ReplayMemory
from dqnlib.training import TrainingLoop, training_spaces
from dqnlib.validation import first_line

logger = logging.getLogger(__name__)


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
    run was 41.5 lower (standard error 17.6) than fp32's (BENCHMARKS.md, "Speed settings and
    learning: bf16 against fp32").
    """
    if config.precision == "fp32":
        return False
    supported = device.type == "cuda" or bool(torch.backends.mkldnn.is_available() and _cpu_has_bf16())
    if config.precision == "bf16" and not supported:
        raise ValueError("precision='bf16' but this CPU has no native bf16; use precision='auto' or 'fp32'")
    return supported and (config.precision == "bf16" or is_atari(config.game))


def make_optimizer(config: TrainConfig, parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
    """The optimizer ``config.optimizer`` names, over ``parameters``, as the agent uses it."""
    if config.optimizer == "rmsprop":
        # Mnih et al. (2015) and Dopamine: centered RMSProp, decay 0.95; see rmsprop_epsilon.
        return torch.optim.RMSprop(
            parameters, lr=config.learning_rate, alpha=0.95, eps=config.rmsprop_epsilon, centered=True
        )
    # The fused step is one kernel for all tensors; the per-tensor default costs about a
    # quarter of an fp32 update on a 2-core CPU.
    return torch.optim.Adam(parameters, lr=config.learning_rate, eps=config.adam_epsilon, fused=True)


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
    # fc1's weights five times over: online, target, gradient and Adam's two moments (noisy
    # layers hold a mean and a sigma per weight).
    streams = (2 if config.dueling else 1) * (2 if config.noisy else 1)
    needs = {
        "replay_capacity": config.replay_capacity * slot_bytes,
        "hidden_size": 5 * 4 * features * config.hidden_size * streams,
    }
    for field, size in needs.items():
        if size > total:
            raise ValueError(
                f"{field}={getattr(config, field):,} needs {size / 2**30:,.1f} GiB of memory; "
                f"this machine has {total / 2**30:,.1f} GiB"
            )


@dataclass
class Counters:
    """What a run has done so far; a resumed run goes on from them.

    Attributes:
        env_steps: environment steps, summed over the vector environments (4 frames each).
        updates: gradient steps of the online network.
        games: whole games finished during training.
        last_target_sync: ``env_steps`` at the last target-network sync.
    """

    env_steps: int = 0
    updates: int = 0
    games: int = 0
    last_target_sync: int = 0


class DQNAgent:
    """A DQN agent for any gymnasium environment with discrete actions.

    Args:
        config: a :class:`TrainConfig`; ``config.game`` names an Atari game or a gymnasium id.
        run_dir: where :meth:`train` writes metrics and checkpoints (None: nothing is written
            unless asked). A directory that already holds a run is refused: continue it with
            :meth:`start_or_resume`.
    """

    def __init__(self, config: TrainConfig, run_dir: str | os.PathLike | None = None) -> None:
        # Held while this agent may write to run_dir: one line if another process trains there.
        self._run_dir_lock = checkpoint.claim_run_dir(Path(run_dir)) if run_dir is not None else None
        if run_dir is not None:
            newest = checkpoint.newest_run_checkpoint(run_dir)
            if newest is not None:
                raise ValueError(
                    f"{run_dir} already holds a run ({newest.name}); continue it with "
                    "DQNAgent.start_or_resume(config, run_dir), or choose another run_dir"
                )
        self.config = config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.device = select_device(config)
        self.bf16 = use_bf16(config, self.device)
        observation_space, self.num_actions = training_spaces(config)
        self.observation_shape: tuple[int, ...] = observation_space.shape
        require_memory(config, observation_space)
        seeds = np.random.SeedSequence(config.seed).spawn(4)
        self.rng = np.random.default_rng(seeds[0])  # acting: exploration, and noise and fractions
        self.learn_rng = np.random.default_rng(seeds[3])  # learning's noise and quantile fractions
        self.online = self._make_network(observation_space, int(seeds[1].generate_state(1)[0]))
        # Channels-last is cuDNN's preferred layout for bf16 convolutions; on a CPU, oneDNN ran
        # the bf16 update as fast or faster in the default layout, without the per-batch
        # transpose (BENCHMARKS.md, "What each learner change buys").
        atari = is_atari(config.game)
        self.channels_last = atari and self.bf16 and self.device.type == "cuda"
        if self.channels_last:
            self.online.to(memory_format=torch.channels_last)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        if self.bf16 and config.tau == 1.0:
            # The target network is only run under autocast, which rounds each fp32 weight to
            # bf16 on every call; holding it in bf16 gives the same bits without those casts.
            # (Soft updates, tau < 1, need fp32: a small step would round away in bf16.)
            self.target.to(torch.bfloat16)
        self.optimizer = make_optimizer(config, self.online.parameters())
        self.support = (
            categorical_support(config.v_min, config.v_max, config.num_atoms, self.device)
            if config.distributional == "c51"
            else None
        )  # (num_atoms,) float32, C51's atoms
        self.replay_memory = ReplayMemory(
            config.replay_capacity,
            num_envs=config.num_envs,
            frame_shape=observation_space.shape[1:] if atari else observation_space.shape,
            frame_dtype="uint8" if atari else observation_space.dtype,
            stack_size=observation_space.shape[0] if atari else 1,
            n_step=config.n_step,
            gamma=config.gamma,
            prioritized=config.prioritized,
            alpha=config.priority_alpha,
            beta_start=config.priority_beta_start,
            rng=np.random.default_rng(seeds[2]),
        )
        self.counters = Counters()
        self.recent_scores: deque[float] = deque(maxlen=100)  # raw whole-game scores
        self.recent_losses: deque[float] = deque(maxlen=100)
        self.loop: TrainingLoop | None = None  # the games being played, from the first train()
        self.stopped_by: str | None = None  # the signal that ended the last train() early
        self.resumed: str | None = None  # what start_or_resume restored from the run directory

    def _make_network(self, observation_space: gymnasium.spaces.Box, seed: int) -> nn.Module:
        """The online network, initialised from ``seed`` by a forked torch generator (the
        caller's global torch random state is left as it was)."""
        config = self.config
        head = {
            "num_atoms": config.num_atoms if config.distributional == "c51" else 1,
            "noisy_sigma0": config.noisy_sigma0 if config.noisy else 0.0,
            "quantile_embedding_dim": config.quantile_embedding_dim if config.distributional == "iqn" else 0,
        }
        with torch.random.fork_rng(devices=[]):  # saves and restores the CPU generator
            torch.default_generator.manual_seed(seed)  # (torch.manual_seed would reseed CUDA's too)
            if is_atari(config.game):
                shape = observation_space.shape
                network = NatureQNetwork(
                    self.num_actions, shape[0], config.hidden_size, config.dueling, **head
                )
            else:
                size = int(np.prod(observation_space.shape))
                network = MLPQNetwork(size, self.num_actions, config.hidden_size, config.dueling, **head)
            if config.weight_init == "glorot":
                glorot_init(network)
        return network.to(self.device)

    @classmethod
    def start_or_resume(cls, config: TrainConfig, run_dir: str | os.PathLike) -> DQNAgent:
        """The agent of the run in ``run_dir``: resumed from its newest checkpoint if it has
        one, with the run's own config (a different game is an error; other differences from
        ``config`` are logged), else a new agent for ``config``. What a resume restored is
        logged and kept in :attr:`resumed`."""
        run_dir = Path(run_dir)
        run_dir_lock = checkpoint.claim_run_dir(run_dir)  # one line if not; tidies a killed write
        newest = checkpoint.newest_run_checkpoint(run_dir)
        if newest is None:
            return cls._build(config, run_dir)
        saved = TrainConfig.from_saved(checkpoint.read_state(newest)["config"])
        if not same_game(saved.game, config.game):
            raise ValueError(f"{run_dir} holds a {saved.game} run, not {config.game}; use another run_dir")
        saved = dataclasses.replace(saved, torch_threads=config.torch_threads)  # where, not what
        differing = [name for name, value in config.to_dict().items() if getattr(saved, name) != value]
        if differing:
            logger.warning("resuming with the run's saved config; it differs in %s", ", ".join(differing))
        agent = cls.load(newest, torch_threads=config.torch_threads)
        agent.run_dir, agent._run_dir_lock = run_dir, run_dir_lock
        agent.resumed = f"resumed from {newest}: {agent.resumed}"
        logger.warning(agent.resumed)
        return agent

    @classmethod
    def _build(cls, config: TrainConfig, run_dir: Path | None) -> DQNAgent:
        """An agent of this class from a config (subclasses' constructors take other arguments)."""
        agent = cls.__new__(cls)
        DQNAgent.__init__(agent, config, run_dir)
        return agent

    @property
    def observations(self) -> np.ndarray | None:
        """The current observations of the training environments, (num_envs, 4, 84, 84) uint8,
        or None before the first :meth:`train`."""
        return self.loop.observations if self.loop is not None else None

    @property
    def _replay_memory(self) -> ReplayMemory:
        """The replay memory under the name the original exploration used."""
        return self.replay_memory

    # ------------------------------------------------------------------ acting
    def _tensor(self, observations: np.ndarray) -> torch.Tensor:
        tensor = torch.as_tensor(observations, device=self.device)
        if self.channels_last:
            tensor = tensor.contiguous(memory_format=torch.channels_last)
        return tensor

    def _autocast(self) -> torch.autocast:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    @contextlib.contextmanager
    def noise_free(self) -> Iterator[None]:
        """Within it, noisy layers use their mean weights (``eval()`` mode): deterministic."""
        training = self.online.training
        self.online.eval()
        try:
            yield
        finally:
            self.online.train(training)

    def _fractions(self, batch: int, samples: int, rng: np.random.Generator | None) -> torch.Tensor:
        """IQN's quantile fractions, (batch, samples) float32: uniform draws from ``rng``, or
        the evenly spaced (k + 0.5) / samples without one."""
        if rng is None:
            taus = (np.arange(samples, dtype=np.float32) + 0.5) / samples
            return torch.as_tensor(np.broadcast_to(taus, (batch, samples)).copy(), device=self.device)
        return torch.as_tensor(rng.random((batch, samples), dtype=np.float32), device=self.device)

    def _expected_q(
        self, network: nn.Module, inputs: torch.Tensor, rng: np.random.Generator | None
    ) -> torch.Tensor:
        """(B, A) float32 Q-values: the network's own, the mean of its categorical distribution
        (C51), or the mean of its quantiles at K fractions (IQN)."""
        config = self.config
        if config.distributional == "c51":
            return (torch.softmax(network(inputs), dim=2) * self.support).sum(dim=2)
        if config.distributional == "iqn":
            taus = self._fractions(len(inputs), config.num_quantile_samples, rng)  # (B, K)
            return network(inputs, taus).mean(dim=1)
        return network(inputs).float()

    @torch.no_grad()
    def q_values(self, states: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Q-values of states (B, 4, 84, 84) uint8 (or one state), as (B, num_actions) float32.

        With ``rng``, as acting computes them: noisy layers draw new noise from it (in training
        mode) and IQN averages K fractions drawn from it. Without, a deterministic estimate: the
        noisy layers' mean weights and K evenly spaced fractions.
        """
        states = np.asarray(states)
        single = states.ndim == len(self.observation_shape)
        batch = states[None] if single else states
        scope = self.noise_free() if rng is None else contextlib.nullcontext()
        with scope, self._autocast():
            if rng is not None and self.config.noisy and self.online.training:
                reset_noise(self.online, rng)
            q = self._expected_q(self.online, self._tensor(batch), rng).cpu().numpy()
        return q[0] if single else q

    def act(
        self, states: np.ndarray, epsilon: float = 0.0, rng: np.random.Generator | None = None
    ) -> np.ndarray | int:
        """Epsilon-greedy actions for a state or a batch of states (one forward pass for all).

        Draws a uniform number and a random action per state from ``rng`` (default: the
        agent's own training generator), then, for the greedy ones, the noise of noisy layers
        (in training mode) and IQN's K fractions.
        """
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon={epsilon!r} must be in [0, 1]")
        states = np.asarray(states)
        single = states.ndim == len(self.observation_shape)
        batch = states[None] if single else states
        rng = self.rng if rng is None else rng
        explore = rng.random(len(batch)) < epsilon
        random_actions = rng.integers(self.num_actions, size=len(batch))  # int64
        if explore.all():  # no greedy action needed: skip the forward pass
            actions = random_actions
        else:
            actions = np.where(explore, random_actions, self.q_values(batch, rng).argmax(axis=1))
        return int(actions[0]) if single else actions

    def preprocess_observation(self, observation: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
        """(210, 160, 3) uint8 screen + previous (4, 84, 84) state -> next state; see
        :func:`dqnlib.preprocess_observation`."""
        return preprocess_observation(observation, state)

    # ------------------------------------------------------------------ learning
    def learn(self, batch: ReplayBatch) -> float:
        """One gradient step on a batch; returns its loss (float): Huber for DQN, cross-entropy
        for C51, quantile Huber for IQN, each weighted by the batch's importance weights.

        Noisy layers draw new noise for the step, the online network's then the target's.
        Prioritized replay takes the TD errors (DQN) or the per-transition losses (C51 and IQN,
        as Rainbow does) as new priorities. The step counts in ``counters.updates``; every
        ``denormals.SWEEP_UPDATES`` updates on a CPU, the optimizer's denormal moments are zeroed.
        """
        states = self._tensor(batch.states)
        next_states = self._tensor(batch.next_states)
        actions = torch.as_tensor(batch.actions, device=self.device)
        rewards = torch.as_tensor(batch.rewards, device=self.device)
        not_done = torch.as_tensor(~batch.dones, device=self.device, dtype=torch.float32)
        # gamma**n where the bootstrap counts, 0 after a terminal: (B,) float32
        bootstraps = torch.as_tensor(batch.discounts, device=self.device) * not_done
        weights = torch.as_tensor(batch.weights, device=self.device)
        if self.config.noisy:
            reset_noise(self.online, self.learn_rng)
            reset_noise(self.target, self.learn_rng)
        losses, priorities = {
            "none": self._expected_value_losses,
            "c51": self._categorical_losses,
            "iqn": self._quantile_losses,
        }[self.config.distributional](states, actions, rewards, bootstraps, next_states)
        loss = (weights * losses).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._clip_gradients()
        self.optimizer.step()
        if self.config.prioritized:
            self.replay_memory.update_priorities(batch.indices, priorities.float().cpu().numpy())
        self.counters.updates += 1
        if self.device.type == "cpu" and self.counters.updates % SWEEP_UPDATES == 0:
            zero_denormal_state(self.optimizer)  # slow on a CPU, and held there by rounding
        return float(loss.detach())

    def _next_actions(self, next_states: torch.Tensor, target_q: torch.Tensor) -> torch.Tensor:
        """The bootstrap's actions (B,) int64: the online network's choice under Double DQN
        (the target network then values it), else the target network's own (its ``target_q``)."""
        if self.config.double_dqn:
            return self._expected_q(self.online, next_states, self.learn_rng).argmax(dim=1)
        return target_q.argmax(dim=1)

    def _expected_value_losses(self, states, actions, rewards, bootstraps, next_states):
        """DQN: Huber losses (B,) of Q(s, a) against r + gamma**n Q'(s', a'), and the TD errors (B,)."""
        with self._autocast():
            # The bootstrap needs no gradient: the next states go through both networks
            # without a graph, so that the backward pass covers the B states only (a single
            # online pass over states and next states together would double its cost).
            with torch.no_grad():
                next_target_q = self.target(next_states).float()  # (B, A)
                next_actions = self._next_actions(next_states, next_target_q)  # (B,)
                next_q = next_target_q.gather(1, next_actions[:, None]).squeeze(1)  # (B,)
                targets = rewards + bootstraps * next_q
            q = self.online(states).float().gather(1, actions[:, None]).squeeze(1)  # (B,)
        losses = nn.functional.smooth_l1_loss(q, targets, reduction="none")
        return losses, (targets - q).detach()

    def _categorical_losses(self, states, actions, rewards, bootstraps, next_states):
        """C51: cross-entropies (B,) between the projected target distribution and the online
        network's distribution for the taken actions; they are also the priorities."""
        rows = torch.arange(len(actions), device=self.device)
        with self._autocast():
            with torch.no_grad():
                next_probabilities = torch.softmax(self.target(next_states), dim=2)  # (B, A, N)
                target_q = (next_probabilities * self.support).sum(dim=2)  # (B, A)
                next_actions = self._next_actions(next_states, target_q)  # (B,)
                targets = project_categorical(
                    next_probabilities[rows, next_actions], rewards, bootstraps, self.support
                )  # (B, N)
            logits = self.online(states)[rows, actions]  # (B, N)
        losses = -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1)
        return losses, losses.detach()

    def _quantile_losses(self, states, actions, rewards, bootstraps, next_states):
        """IQN: quantile Huber losses (B,) of the online quantiles at N fractions against N'
        target samples r + gamma**n Z'(s', a'); they are also the priorities."""
        config = self.config
        batch = len(actions)
        with self._autocast():
            with torch.no_grad():
                chooser = self.online if config.double_dqn else self.target
                next_actions = self._expected_q(chooser, next_states, self.learn_rng).argmax(dim=1)  # (B,)
                next_taus = self._fractions(batch, config.num_tau_prime_samples, self.learn_rng)  # (B, N')
                next_quantiles = self.target(next_states, next_taus)  # (B, N', A)
                index = next_actions[:, None, None].expand(-1, config.num_tau_prime_samples, 1)
                next_quantiles = next_quantiles.gather(2, index).squeeze(2)  # (B, N')
                targets = rewards[:, None] + bootstraps[:, None] * next_quantiles  # (B, N')
            taus = self._fractions(batch, config.num_tau_samples, self.learn_rng)  # (B, N)
            index = actions[:, None, None].expand(-1, config.num_tau_samples, 1)
            quantiles = self.online(states, taus).gather(2, index).squeeze(2)  # (B, N)
        losses = quantile_huber_loss(quantiles, targets, taus, config.kappa)
        return losses, losses.detach()

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
    ) -> Counters:
        """Train ``steps`` more environment steps, continuing where the last call stopped
        (the loop is :class:`dqnlib.training.TrainingLoop`).

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
        if self.loop is None:
            self._hold_run_dir()
            self.loop = TrainingLoop(self)
        self.stopped_by = self.loop.run(int(steps), callback, progress_bar)
        if save_path is not None:
            self.save(save_path)
        return dataclasses.replace(self.counters)

    def train_until(
        self, score: float, max_steps: int, eval_every: int, episodes: int = 10, protocol: str = "machado"
    ) -> int | None:
        """Train in chunks of ``eval_every`` steps until the mean evaluation score reaches
        ``score``; returns the environment steps that took, or None within ``max_steps``."""
        while self.counters.env_steps < max_steps:
            self.train(min(eval_every, max_steps - self.counters.env_steps))
            if self.evaluate(episodes, protocol=protocol, seed=self.counters.env_steps).mean >= score:
                return self.counters.env_steps
        return None

    def close(self) -> None:
        """Stop the training games (native threads), close metrics.csv's writers and release
        :attr:`run_dir` to other processes (training again takes it back)."""
        if self.loop is not None:
            self.loop.close()
            self.loop = None
        if self._run_dir_lock is not None:
            self._run_dir_lock.release(force=True)
            self._run_dir_lock = None

    def _hold_run_dir(self) -> None:
        """Take :attr:`run_dir`'s lock back after :meth:`close` (one line if another process
        holds it now)."""
        if self.run_dir is not None and (self._run_dir_lock is None or not self._run_dir_lock.is_locked):
            self._run_dir_lock = checkpoint.claim_run_dir(self.run_dir)

    # ------------------------------------------------------------------ evaluation and files
    def evaluate(
        self, episodes: int = 10, protocol: str = "machado", epsilon: float | None = None, seed: int = 0
    ) -> EvaluationResult:
        """Play ``episodes`` whole games of the epsilon-greedy policy under a named protocol
        (see :mod:`dqnlib.evaluation`); the agent's training generator is not touched. Noisy
        layers play with their mean weights; IQN draws its fractions from the evaluation's
        generator."""
        with self.noise_free():
            return evaluate_policy(
                self.config.game,
                lambda states, eps, rng: self.act(states, eps, rng=rng),
                episodes=episodes,
                protocol=protocol,
                epsilon=epsilon,
                seed=seed,
            )

    def state_dict(self, weights_only: bool = False) -> dict[str, Any]:
        """Everything a checkpoint holds but the replay memory: ``online``, ``target`` and
        ``optimizer`` (torch state dicts), ``config``, ``counters``, ``rng_state``,
        ``learn_rng_state`` and ``recent_scores`` (JSON values). ``weights_only`` keeps the online weights alone of the
        three torch parts (for sharing a trained agent)."""
        state: dict[str, Any] = {
            "config": self.config.to_dict(),
            "counters": dataclasses.asdict(self.counters),
            "rng_state": self.rng.bit_generator.state,
            "learn_rng_state": self.learn_rng.bit_generator.state,
            "recent_scores": list(self.recent_scores),
            "online": self.online.state_dict(),
        }
        if not weights_only:
            state["target"] = self.target.state_dict()
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> str:
        """Load what :meth:`state_dict` gave (from an agent of the same config); a weights-only
        state copies the online weights into the target network and keeps a fresh optimizer.
        Returns what was restored, in words; the training games restart with a seed that
        depends on the step."""
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state.get("target", state["online"]))
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
            match_parameter_layouts(self.optimizer)
        self.counters = Counters(**state["counters"])
        self.rng.bit_generator.state = state["rng_state"]
        if "learn_rng_state" in state:  # absent from older checkpoints, whose learning drew nothing
            self.learn_rng.bit_generator.state = state["learn_rng_state"]
        self.recent_scores.clear()
        self.recent_scores.extend(state["recent_scores"])
        if self.loop is not None:
            self.loop.restart_games()
        optimizer = "optimizer" if "optimizer" in state else "a fresh optimizer (weights-only checkpoint)"
        return f"step {self.counters.env_steps:,}, {self.counters.updates:,} updates, weights, {optimizer}"

    def save(self, path: str | os.PathLike, weights_only: bool = False) -> Path:
        """Write weights, optimizer, counters and config to a checkpoint directory (atomically);
        ``weights_only`` leaves out the target network and the optimizer (a quarter of the size)."""
        return checkpoint.save_checkpoint(path, self.state_dict(weights_only))

    def save_run_checkpoint(self) -> Path:
        """Checkpoint the run in :attr:`run_dir` with its replay memory, as ``step_N`` (training
        does this by itself every ``checkpoint_every`` steps and when stopped)."""
        if self.run_dir is None:
            raise ValueError("this agent has no run_dir; use save(path)")
        self._hold_run_dir()
        return checkpoint.save_run_checkpoint(
            self.run_dir, self.state_dict(), self.replay_memory, with_replay=True
        )

    @classmethod
    def load(
        cls, path: str | os.PathLike, torch_threads: int | str | None = None, replay_memory: bool = True
    ) -> DQNAgent:
        """Rebuild an agent from a checkpoint directory written by :meth:`save` or by training.

        The replay memory comes from this checkpoint, or else from the newest older checkpoint
        of the same run that holds one, or else starts empty (learning then waits until it
        holds ``learning_starts`` transitions again); ``replay_memory=False`` leaves it empty
        (to evaluate or watch: a run's memory can be gigabytes). :attr:`resumed` says what was
        restored.
        The agent writes nowhere unless asked; :meth:`start_or_resume` continues a run in its
        run directory. ``torch_threads`` replaces the saved config's (it says where the agent
        trains, not what it learns).
        """
        path = Path(path)
        state = checkpoint.load_checkpoint(path)
        config = TrainConfig.from_saved(state["config"])
        if torch_threads is not None:
            config = dataclasses.replace(config, torch_threads=torch_threads)
        agent = cls._build(config, None)
        try:
            restored = agent.load_state_dict(state)
        except Exception as error:  # noqa: BLE001 - torch raises many kinds for damaged or hostile files
            raise ValueError(f"cannot load weights from {path / 'model.pt'}: {first_line(error)}") from None
        replay = checkpoint.replay_memory_path(path) if replay_memory else None
        if replay is not None:
            agent.replay_memory = ReplayMemory.load(replay, expect=agent.replay_memory.spec)
            held = agent.replay_memory
            memory = (
                f"replay memory of {len(held):,} transitions ({held.transitions_added:,} added in all) "
                f"from {replay.parent.name}"
            )
        elif not replay_memory:
            memory = "replay memory not loaded (replay_memory=False)"
        else:
            memory = "no replay memory (it refills before learning goes on)"
        agent.resumed = (
            f"{restored}, counters and generator states, {memory}; environments restart their episodes"
        )
        return agent


def match_parameter_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each saved optimizer state tensor its parameter's memory layout.

    A checkpoint may hold Adam's moments channels-last (dqnlib used channels-last for bf16 on
    CPUs, and still does on CUDA) while the parameters now have another layout. The fused step
    pairs moments with weights by memory order, so a mismatch would update the wrong weights
    without any error.
    """
    for parameter, values in optimizer.state.items():
        for name, value in values.items():
            if (
                torch.is_tensor(value)
                and value.shape == parameter.shape
                and value.stride() != parameter.stride()
            ):
                values[name] = torch.empty_like(parameter, dtype=value.dtype).copy_(value)


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
