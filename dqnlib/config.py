"""Training configuration: one typed, validated dataclass and its presets."""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass
from typing import Any

from dqnlib.protocols import PROTOCOLS
from dqnlib.validation import check_field_types, require

logger = logging.getLogger(__name__)

OPTIMIZERS = ("adam", "rmsprop")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")
DISTRIBUTIONAL = ("none", "c51", "iqn")
WEIGHT_INITS = ("torch", "glorot")
# ale-py's vector environment takes 32-bit seeds, and a run reseeds its games with seed + step
# on a restart: 2**30 leaves room for 2**30 more steps.
MAX_SEED = 2**30
MAX_THREADS = 1_024


@dataclass(frozen=True)
class TrainConfig:
    """Everything a DQN run depends on. Step counts are environment steps (agent steps
    summed over the vector environments); one agent step is ``frame_skip`` = 4 ALE frames.

    ``checkpoint_every`` is in environment steps; the replay memory goes into every
    ``replay_checkpoint_every``-th checkpoint (it is most of a checkpoint's size).

    The defaults are the ``default`` preset: Double DQN with Adam and a 100,000-transition
    memory, tuned to learn Breakout within a few million steps (in the spirit of
    CleanRL's and Dopamine's settings). ``nature`` is the table of Mnih et al. (2015).
    """

    game: str = "Breakout"
    seed: int = 0
    num_envs: int = 4
    replay_capacity: int = 100_000
    batch_size: int = 32
    learning_starts: int = 20_000
    train_frequency: int = 4
    gradient_steps: int = 1
    gamma: float = 0.99
    n_step: int = 1
    optimizer: str = "adam"
    learning_rate: float = 1e-4
    # PyTorch's default. Dopamine's 1.5e-4 stalls this network: with PyTorch's default
    # initialization its weight gradients are 1e-7 to 1e-5 on Breakout, so an epsilon of
    # 1.5e-4 shrinks every Adam step a hundredfold (measured: a 200,000-step run whose
    # weights barely left their initial values and whose Q-values ignored the screen).
    adam_epsilon: float = 1e-8
    # RMSProp (the nature preset), centered, decay 0.95. PyTorch adds epsilon outside the square
    # root; Dopamine's TensorFlow RMSProp adds 1e-5 inside it, and DeepMind's 0.01 inside (on a
    # loss summed over the batch, 32x a mean loss's gradient). Where the gradients' variance is
    # far below 1e-5, as for this network (gradients 1e-7 to 1e-5), sqrt(1e-5) = 3.16e-3 outside
    # takes Dopamine's step, and DeepMind's within 1% (0.025 / 0.1 * 32 = 8 x lr vs 7.9 x lr).
    rmsprop_epsilon: float = 3.16e-3
    # The initial weights of the convolutions and linear layers: "torch", PyTorch's default
    # (weights and biases uniform in +-1/sqrt(fan_in), as DeepMind's Lua DQN), or "glorot",
    # Glorot-uniform weights and zero biases (Keras' and TF-slim's default, so Dopamine's). On
    # Breakout's first batch "glorot" gives gradients 6 to 31 times larger, which speeds the first
    # updates of an optimizer whose epsilon dominates its divisor (RMSProp here); after 200 updates
    # the nature preset's convolutions had moved 1.7-2.8 times as far, its linear layers no
    # further (BENCHMARKS.md, "The nature preset's initial weights"). Over a Breakout run the
    # difference decides: with PyTorch's weights that RMSProp moved the first convolution 4.8% in
    # 400,000 steps and the network never told the screens apart; with Glorot's, 46%, and it did
    # (BENCHMARKS.md, "The nature learner's initial weights over a run"). The nature preset
    # therefore takes "glorot"; Adam's steps hardly depend on the scale, so the others keep "torch".
    weight_init: str = "torch"
    max_grad_norm: float = 10.0
    target_update_interval: int = 2_000
    tau: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.01
    epsilon_decay_steps: int = 250_000
    double_dqn: bool = True
    dueling: bool = False
    prioritized: bool = False
    priority_alpha: float = 0.5
    priority_beta_start: float = 0.4
    # What the network learns of the return (dqnlib.networks, dqnlib.distributional): "none" its
    # expected value (DQN); "c51" a categorical distribution on num_atoms atoms spread evenly over
    # [v_min, v_max] (Bellemare et al. 2017); "iqn" its quantiles (Dabney et al. 2018).
    distributional: str = "none"
    num_atoms: int = 51
    v_min: float = -10.0
    v_max: float = 10.0
    # IQN: cosines in the quantile embedding; fractions sampled per state for the online (N) and
    # target (N') quantiles when learning and for the Q-values when acting (K); the quantile
    # Huber loss's kappa. Dopamine's names and values.
    quantile_embedding_dim: int = 64
    num_tau_samples: int = 64
    num_tau_prime_samples: int = 64
    num_quantile_samples: int = 32
    kappa: float = 1.0
    # Noisy nets (Fortunato et al. 2018): the head's layers are factorized NoisyLinear layers
    # starting at sigma_0 = noisy_sigma0. The noise explores, so training's epsilon is 0
    # (epsilon_start and epsilon_end are not used); evaluation protocols keep their epsilon.
    noisy: bool = False
    noisy_sigma0: float = 0.5
    hidden_size: int = 512
    # The emulator's settings in training, as in evaluation (dqnlib.protocols): "machado" is
    # sticky actions 0.25, no noop starts, no FIRE at game start, games up to 108,000 frames.
    protocol: str = "machado"
    # A lost life is a learning terminal (DeepMind's choice); the game and its frames go on. On by
    # default: without it a Breakout run learned more slowly over 500,000 steps (BENCHMARKS.md).
    terminal_on_life_loss: bool = True
    # "auto": bf16 autocast for the Atari network on CUDA or a CPU with native bf16, else fp32.
    precision: str = "auto"
    device: str = "auto"
    # The learner's torch threads: "auto" (on a CPU) times updates at counts up to torch's own
    # and keeps the fastest, again every few minutes (dqnlib.threads); a number pins it. It says
    # where a run trains, not what it learns: a resumed run takes the caller's value.
    torch_threads: int | str = "auto"
    checkpoint_every: int = 100_000
    replay_checkpoint_every: int = 1
    keep_checkpoints: int = 2
    log_every: int = 10_000

    def __post_init__(self) -> None:
        check_field_types(self)
        positive = (
            "num_envs replay_capacity batch_size train_frequency gradient_steps n_step "
            "target_update_interval epsilon_decay_steps hidden_size checkpoint_every replay_checkpoint_every "
            "keep_checkpoints log_every quantile_embedding_dim num_tau_samples num_tau_prime_samples "
            "num_quantile_samples"
        )
        for name in positive.split():
            require(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        require(0 <= self.seed < MAX_SEED, "seed", self.seed, f"must be in [0, {MAX_SEED:,})")
        require(self.learning_starts >= 0, "learning_starts", self.learning_starts, "must be >= 0")
        require(
            self.batch_size <= self.replay_capacity,
            "batch_size",
            self.batch_size,
            f"must be <= replay_capacity={self.replay_capacity}",
        )
        for name in ("gamma", "tau", "epsilon_start", "epsilon_end"):
            require(0.0 <= getattr(self, name) <= 1.0, name, getattr(self, name), "must be in [0, 1]")
        require(self.tau > 0.0, "tau", self.tau, "must be in (0, 1]")
        for name in (
            "learning_rate",
            "adam_epsilon",
            "rmsprop_epsilon",
            "max_grad_norm",
            "kappa",
            "noisy_sigma0",
        ):
            require(getattr(self, name) > 0.0, name, getattr(self, name), "must be > 0")
        require(self.priority_alpha >= 0.0, "priority_alpha", self.priority_alpha, "must be >= 0")
        require(
            0.0 <= self.priority_beta_start <= 1.0,
            "priority_beta_start",
            self.priority_beta_start,
            "must be in [0, 1]",
        )
        require(
            self.optimizer in OPTIMIZERS,
            "optimizer",
            self.optimizer,
            f"must be one of {', '.join(OPTIMIZERS)}",
        )
        require(
            self.precision in PRECISIONS,
            "precision",
            self.precision,
            f"must be one of {', '.join(PRECISIONS)}",
        )
        require(
            self.protocol in PROTOCOLS, "protocol", self.protocol, f"must be one of {', '.join(PROTOCOLS)}"
        )
        require(
            self.distributional in DISTRIBUTIONAL,
            "distributional",
            self.distributional,
            f"must be one of {', '.join(DISTRIBUTIONAL)}",
        )
        require(2 <= self.num_atoms <= 10_000, "num_atoms", self.num_atoms, "must be in [2, 10,000]")
        for name in ("v_min", "v_max"):
            require(math.isfinite(getattr(self, name)), name, getattr(self, name), "must be finite")
        require(self.v_min < self.v_max, "v_max", self.v_max, f"must be > v_min={self.v_min!r}")
        require(self.device in DEVICES, "device", self.device, f"must be one of {', '.join(DEVICES)}")
        require(
            self.weight_init in WEIGHT_INITS,
            "weight_init",
            self.weight_init,
            f"must be one of {', '.join(WEIGHT_INITS)}",
        )
        require(bool(self.game.strip()), "game", self.game, "must be a game name")
        threads = self.torch_threads
        require(
            threads == "auto"
            or (isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= MAX_THREADS),
            "torch_threads",
            threads,
            f"must be 'auto' or an integer in [1, {MAX_THREADS:,}]",
        )

    def epsilon(self, step: int) -> float:
        """Exploration rate after ``step`` environment steps: linear decay, then constant
        (0 with noisy nets, whose noise explores)."""
        if self.noisy:
            return 0.0
        fraction = min(1.0, step / self.epsilon_decay_steps)
        return self.epsilon_start + fraction * (self.epsilon_end - self.epsilon_start)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a mapping of field values; an unknown key is an error naming it."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if "sticky_action_probability" in unknown:
            choices = [
                f"{name} ({p.env_options['sticky_action_probability']})" for name, p in PROTOCOLS.items()
            ]
            raise ValueError(
                f"config field 'sticky_action_probability' is set by protocol: {', '.join(choices)}"
            )
        if unknown:
            raise ValueError(f"unknown config field {unknown[0]!r}; known fields: {', '.join(sorted(known))}")
        return cls(**values)

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a checkpoint's saved config, reading those of older dqnlib versions too.

        A config saved before ``protocol`` existed names ``sticky_action_probability``
        instead; it reads as ``nature`` for 0 and ``machado`` otherwise, and RMSProp keeps the
        epsilon of that time (0.01). Its run's environments differed from both protocols
        (30 noop starts, FIRE pressed for the agent after every lost life): a warning says so.
        """
        values = dict(values)
        if "sticky_action_probability" in values:
            sticky = values.pop("sticky_action_probability")
            values.setdefault("protocol", "nature" if sticky == 0 else "machado")
            values.setdefault("rmsprop_epsilon", 0.01)
            logger.warning(
                "this config comes from an older dqnlib whose training environments pressed FIRE for the "
                "agent after every lost life and played 30 noop starts (sticky actions %s); it is read "
                "as protocol %r, which does neither",
                sticky,
                values["protocol"],
            )
        return cls.from_dict(values)


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Mnih et al. (2015), Extended Data Table 1; frames converted to agent steps.
    "nature": {
        "replay_capacity": 1_000_000,
        "learning_starts": 50_000,
        "target_update_interval": 10_000,
        "optimizer": "rmsprop",
        "learning_rate": 2.5e-4,
        "epsilon_end": 0.1,
        "epsilon_decay_steps": 1_000_000,
        "double_dqn": False,
        "protocol": "nature",
        "num_envs": 1,
        # Not in the table: Dopamine's initial weights; DeepMind's (PyTorch's bounds) left this
        # RMSProp's network blind on Breakout (see weight_init above).
        "weight_init": "glorot",
    },
    # The Rainbow family with Dopamine's published settings where they apply (its gin files
    # c51.gin, rainbow.gin and implicit_quantile.gin, Castro et al. 2018): a target network
    # synced every 8,000 agent steps, Adam at Dopamine's learning rates. As for DQN, the replay
    # memory stays at dqnlib's 100,000 transitions (Dopamine: 1,000,000), and Adam's epsilon at
    # PyTorch's 1e-8: Dopamine's (1.5e-4 for Rainbow, 3.125e-4 for C51 and IQN) would leave 2% to
    # 37% of Adam's step to the median weight of this network, whose gradients' root mean square
    # is 8e-6 to 9e-5 early in training (BENCHMARKS.md, "Adam's epsilon and the gradients of each loss").
    # C51 (Bellemare et al. 2017): 51 atoms on [-10, 10], one-step returns, uniform replay.
    "c51": {
        "distributional": "c51",
        "double_dqn": False,
        "target_update_interval": 8_000,
        "learning_rate": 2.5e-4,
    },
    # Rainbow (Hessel et al. 2018): C51 with noisy nets, dueling heads, 3-step returns,
    # prioritized replay (alpha 0.5) and Double DQN.
    "rainbow": {
        "distributional": "c51",
        "noisy": True,
        "dueling": True,
        "n_step": 3,
        "prioritized": True,
        "double_dqn": True,
        "target_update_interval": 8_000,
        "learning_rate": 6.25e-5,
    },
    # IQN (Dabney et al. 2018): 64 cosines, N = N' = 64 fractions to learn, K = 32 to act,
    # kappa 1, 3-step returns, uniform replay, no Double DQN.
    "iqn": {
        "distributional": "iqn",
        "double_dqn": False,
        "n_step": 3,
        "target_update_interval": 8_000,
        "learning_rate": 5e-5,
    },
    # Seconds-long runs for tests and FAST notebooks.
    "tiny": {
        "num_envs": 2,
        "replay_capacity": 2_000,
        "batch_size": 8,
        "learning_starts": 200,
        "target_update_interval": 200,
        "epsilon_decay_steps": 1_000,
        "hidden_size": 64,
        "checkpoint_every": 1_000,
        "log_every": 200,
    },
    # CartPole-v1 with the MLP: learns in well under a minute on a CPU.
    "cartpole": {
        "game": "CartPole-v1",
        "num_envs": 1,
        "replay_capacity": 10_000,
        "batch_size": 64,
        "learning_starts": 1_000,
        "train_frequency": 1,
        "target_update_interval": 1,
        "tau": 0.005,
        "learning_rate": 1e-3,
        "adam_epsilon": 1e-8,
        "epsilon_end": 0.05,
        "epsilon_decay_steps": 5_000,
        "hidden_size": 128,
        "precision": "fp32",
        "log_every": 1_000,
    },
}
# C51 and IQN on CartPole, small enough to watch learn in a minute or two: C51's support spans
# CartPole's discounted returns (1 per step: at most 1 / (1 - 0.99) = 100); IQN takes 8
# fractions where Atari's preset takes 64 and 32 (the IQN paper's N = 8 already learned well).
PRESETS["cartpole-c51"] = {**PRESETS["cartpole"], "distributional": "c51", "v_min": 0.0, "v_max": 100.0}
PRESETS["cartpole-iqn"] = {
    **PRESETS["cartpole"],
    "distributional": "iqn",
    "num_tau_samples": 8,
    "num_tau_prime_samples": 8,
    "num_quantile_samples": 8,
}


def make_config(preset: str = "default", **overrides: Any) -> TrainConfig:
    """A preset's config with single fields replaced; unknown presets and fields are one-line errors."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    return TrainConfig.from_dict({**PRESETS[preset], **overrides})
