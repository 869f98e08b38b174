"""Q-networks: the Nature DQN convolutional network (Mnih et al. 2015) and a small MLP for
vector observations such as CartPole's, with the heads of the Rainbow family as options:
dueling (Wang et al. 2016), noisy layers (Fortunato et al. 2018), a categorical value
distribution (C51, Bellemare et al. 2017) and implicit quantiles (IQN, Dabney et al. 2018).

What :meth:`QNetwork.forward` returns depends on the head:

- expected value (the default): ``(B, A)`` Q-values;
- categorical (``num_atoms`` > 1): ``(B, A, num_atoms)`` logits over the support;
- implicit quantiles (``quantile_embedding_dim`` > 0): ``(B, T, A)`` quantile values at the
  fractions ``taus`` (B, T) given to it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional


class NoisyLinear(nn.Module):
    """A linear layer with factorized Gaussian noise (Fortunato et al. 2018, section 3.2).

    ``y = (mu_w + sigma_w * eps_w) x + mu_b + sigma_b * eps_b`` with ``eps_w = f(eps_out) f(eps_in)^T``,
    ``eps_b = f(eps_out)``, ``f(x) = sign(x) sqrt(|x|)`` and ``eps_in``, ``eps_out`` standard normal.
    ``mu`` starts uniform in ``±1/sqrt(in_features)`` and ``sigma`` at ``sigma0/sqrt(in_features)``.

    The noise is drawn by :meth:`reset_noise` (from a numpy generator, so that it is saved with
    the agent's generators) and held until the next draw. In ``eval()`` mode the layer uses the
    mean weights ``mu`` alone: deterministic.
    """

    def __init__(self, in_features: int, out_features: int, sigma0: float = 0.5) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features)
        self.weight_mu = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.weight_sigma = nn.Parameter(torch.full((out_features, in_features), sigma0 * bound))
        self.bias_mu = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))
        self.bias_sigma = nn.Parameter(torch.full((out_features,), sigma0 * bound))
        # f(eps_in), f(eps_out); not saved: every forward pass in training follows a new draw.
        self.register_buffer("noise_in", torch.zeros(in_features), persistent=False)
        self.register_buffer("noise_out", torch.zeros(out_features), persistent=False)

    def reset_noise(self, rng: np.random.Generator) -> None:
        """Draw new ``f(eps_in)`` (in_features,) and ``f(eps_out)`` (out_features,)."""
        noise = rng.standard_normal(self.in_features + self.out_features, dtype=np.float32)
        noise = np.sign(noise) * np.sqrt(np.abs(noise))
        self.noise_in.copy_(torch.from_numpy(noise[: self.in_features]))
        self.noise_out.copy_(torch.from_numpy(noise[self.in_features :]))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """(M, in_features) -> (M, out_features)."""
        outputs = functional.linear(inputs, self.weight_mu, self.bias_mu)
        if not self.training:
            return outputs
        # (sigma_w * f_out f_in^T) x = f_out * (sigma_w (f_in * x)): no (out, in) noise matrix is built.
        noise = functional.linear(inputs * self.noise_in, self.weight_sigma, self.bias_sigma)
        return outputs + noise * self.noise_out


def glorot_init(network: nn.Module) -> None:
    """Glorot-uniform weights and zero biases for every convolution and linear layer of
    ``network`` (Keras' and TF-slim's default); :class:`NoisyLinear` layers keep their own."""
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            nn.init.zeros_(module.bias)


def reset_noise(network: nn.Module, rng: np.random.Generator) -> None:
    """Draw new noise for every :class:`NoisyLinear` of ``network`` (in module order)."""
    for module in network.modules():
        if isinstance(module, NoisyLinear):
            module.reset_noise(rng)


def _stream(in_features: int, hidden_size: int, outputs: int, noisy_sigma0: float) -> nn.Sequential:
    """Linear, ReLU, Linear (noisy ones when ``noisy_sigma0`` > 0): (M, in) -> (M, outputs)."""
    if noisy_sigma0 > 0.0:
        return nn.Sequential(
            NoisyLinear(in_features, hidden_size, noisy_sigma0),
            nn.ReLU(),
            NoisyLinear(hidden_size, outputs, noisy_sigma0),
        )
    return nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, outputs))


class DuelingHead(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a), per atom for a distribution (as in Rainbow):
    (M, in_features) -> (M, num_actions, num_atoms)."""

    def __init__(
        self,
        in_features: int,
        hidden_size: int,
        num_actions: int,
        num_atoms: int = 1,
        noisy_sigma0: float = 0.0,
    ) -> None:
        super().__init__()
        self.num_actions, self.num_atoms = num_actions, num_atoms
        self.value = _stream(in_features, hidden_size, num_atoms, noisy_sigma0)
        self.advantage = _stream(in_features, hidden_size, num_actions * num_atoms, noisy_sigma0)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        value = self.value(features).unsqueeze(1)  # (M, 1, N)
        advantage = self.advantage(features).view(-1, self.num_actions, self.num_atoms)  # (M, A, N)
        return value + advantage - advantage.mean(dim=1, keepdim=True)


class QuantileEmbedding(nn.Module):
    """IQN's embedding of quantile fractions (Dabney et al. 2018, eq. 4):
    ``phi(tau) = ReLU(W [cos(pi i tau)]_{i=1..n} + b)``, taus (B, T) -> (B, T, out_features).

    The cosines are computed in float32 even under bf16 autocast (pi * 64 * tau in bf16 would be
    off by whole radians); only the linear layer runs in the autocast dtype.
    """

    def __init__(self, embedding_dim: int, out_features: int) -> None:
        super().__init__()
        self.embedding_dim = embedding_dim
        self.linear = nn.Linear(embedding_dim, out_features)

    def forward(self, taus: torch.Tensor) -> torch.Tensor:
        # Made here, not held: a network moved to bf16 (a target network) would round a buffer.
        frequencies = (
            torch.arange(1, self.embedding_dim + 1, device=taus.device, dtype=torch.float32) * math.pi
        )
        cosines = torch.cos(taus.float().unsqueeze(-1) * frequencies)  # (B, T, n)
        return functional.relu(self.linear(cosines))


class QNetwork(nn.Module):
    """A feature trunk (set by the subclass) and a head chosen by its options.

    Args:
        features: the trunk, (B, ...) -> (B, feature_size); built before the head, so that a
            seed initialises the same weights as in earlier versions.
        feature_size: width of the trunk's output.
        num_actions: A.
        hidden_size: width of the head's hidden layer.
        dueling: separate value and advantage streams.
        num_atoms: N > 1 makes the head categorical (C51): logits over N atoms per action.
        noisy_sigma0: > 0 makes the head's layers :class:`NoisyLinear` with this sigma_0.
        quantile_embedding_dim: > 0 makes the head IQN's, with this many cosines.
    """

    def __init__(
        self,
        features: nn.Module,
        feature_size: int,
        num_actions: int,
        hidden_size: int,
        dueling: bool = False,
        num_atoms: int = 1,
        noisy_sigma0: float = 0.0,
        quantile_embedding_dim: int = 0,
    ) -> None:
        super().__init__()
        if num_atoms > 1 and quantile_embedding_dim > 0:
            raise ValueError("a head is categorical (num_atoms > 1) or implicit quantile, not both")
        self.num_actions, self.num_atoms = num_actions, num_atoms
        self.features = features
        if dueling:
            self.head = DuelingHead(feature_size, hidden_size, num_actions, num_atoms, noisy_sigma0)
        else:
            self.head = _stream(feature_size, hidden_size, num_actions * num_atoms, noisy_sigma0)
        self.quantile_embedding = (
            QuantileEmbedding(quantile_embedding_dim, feature_size) if quantile_embedding_dim > 0 else None
        )

    def _trunk(self, inputs: torch.Tensor) -> torch.Tensor:
        """(B, ...) -> (B, feature_size)."""
        raise NotImplementedError

    def forward(self, inputs: torch.Tensor, taus: torch.Tensor | None = None) -> torch.Tensor:
        """Float32 outputs: (B, A) Q-values, (B, A, N) logits (categorical) or (B, T, A)
        quantile values at ``taus`` (B, T) (implicit quantiles); see the module's docstring."""
        features = self._trunk(inputs)  # (B, F)
        if self.quantile_embedding is not None:
            if taus is None:
                raise ValueError("an implicit quantile network needs the fractions taus (B, T)")
            batch, samples = taus.shape
            mixed = features.unsqueeze(1) * self.quantile_embedding(taus)  # (B, T, F)
            outputs = self.head(mixed.flatten(0, 1))  # (B * T, A)
            return outputs.view(batch, samples, self.num_actions).float()
        outputs = self.head(features).view(-1, self.num_actions, self.num_atoms)  # (B, A, N)
        return (outputs.squeeze(2) if self.num_atoms == 1 else outputs).float()


class NatureQNetwork(QNetwork):
    """Three convolutions and a 512-unit layer; takes uint8 frames and scales them inside.

    Input (B, 4, 84, 84) uint8; outputs as :meth:`QNetwork.forward` (for the default head,
    (B, num_actions) float32 Q-values). Keyword options as :class:`QNetwork`.
    """

    def __init__(
        self,
        num_actions: int,
        in_channels: int = 4,
        hidden_size: int = 512,
        dueling: bool = False,
        **head_options,
    ) -> None:
        features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=8, stride=4),  # (B, 32, 20, 20)
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),  # (B, 64, 9, 9)
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),  # (B, 64, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, 3136)
        )
        super().__init__(features, 64 * 7 * 7, num_actions, hidden_size, dueling, **head_options)

    def _trunk(self, frames: torch.Tensor) -> torch.Tensor:
        # Under autocast the frames go straight to its dtype: x / 255 rounded once, as a
        # float32 division and a cast would give, with one copy of the batch instead of three.
        dtype = (
            torch.get_autocast_dtype(frames.device.type)
            if torch.is_autocast_enabled(frames.device.type)
            else torch.float32
        )
        return self.features(frames.to(dtype, copy=True).div_(255.0))


class MLPQNetwork(QNetwork):
    """Two hidden layers for vector observations: (B, obs_dim) float32 -> outputs as
    :meth:`QNetwork.forward`. Keyword options as :class:`QNetwork`."""

    def __init__(
        self,
        observation_size: int,
        num_actions: int,
        hidden_size: int = 128,
        dueling: bool = False,
        **head_options,
    ) -> None:
        features = nn.Sequential(nn.Linear(observation_size, hidden_size), nn.ReLU())
        super().__init__(features, hidden_size, num_actions, hidden_size, dueling, **head_options)

    def _trunk(self, observations: torch.Tensor) -> torch.Tensor:
        return self.features(observations.float())
