"""Q-networks: the Nature DQN convolutional network (Mnih et al. 2015), an optional dueling
head (Wang et al. 2016), and a small MLP for vector observations such as CartPole's."""

from __future__ import annotations

import torch
from torch import nn


class DuelingHead(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)."""

    def __init__(self, in_features: int, hidden_size: int, num_actions: int) -> None:
        super().__init__()
        self.value = nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, 1))
        self.advantage = nn.Sequential(
            nn.Linear(in_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_actions)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)  # (B, num_actions)
        return self.value(features) + advantage - advantage.mean(dim=1, keepdim=True)


def _head(in_features: int, hidden_size: int, num_actions: int, dueling: bool) -> nn.Module:
    if dueling:
        return DuelingHead(in_features, hidden_size, num_actions)
    return nn.Sequential(nn.Linear(in_features, hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_actions))


class NatureQNetwork(nn.Module):
    """Three convolutions and a 512-unit layer; takes uint8 frames and scales them inside.

    Input (B, 4, 84, 84) uint8; output (B, num_actions) float32 Q-values.
    """

    def __init__(self, num_actions: int, in_channels: int = 4, hidden_size: int = 512, dueling: bool = False):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 32, kernel_size=8, stride=4),  # (B, 32, 20, 20)
            nn.ReLU(),
            nn.Conv2d(32, 64, kernel_size=4, stride=2),  # (B, 64, 9, 9)
            nn.ReLU(),
            nn.Conv2d(64, 64, kernel_size=3, stride=1),  # (B, 64, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, 3136)
        )
        self.head = _head(64 * 7 * 7, hidden_size, num_actions, dueling)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        # Under autocast the frames go straight to its dtype: x / 255 rounded once, as a
        # float32 division and a cast would give, with one copy of the batch instead of three.
        dtype = (
            torch.get_autocast_dtype(frames.device.type)
            if torch.is_autocast_enabled(frames.device.type)
            else torch.float32
        )
        return self.head(self.features(frames.to(dtype, copy=True).div_(255.0))).float()


class MLPQNetwork(nn.Module):
    """Two hidden layers for vector observations: (B, obs_dim) float32 -> (B, num_actions)."""

    def __init__(
        self, observation_size: int, num_actions: int, hidden_size: int = 128, dueling: bool = False
    ):
        super().__init__()
        self.features = nn.Sequential(nn.Linear(observation_size, hidden_size), nn.ReLU())
        self.head = _head(hidden_size, hidden_size, num_actions, dueling)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(observations.float())).float()
