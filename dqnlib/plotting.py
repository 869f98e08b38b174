"""Learning curves and frame previews; needs only numpy and matplotlib."""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from dqnlib.metrics import read_metrics


def plot_learning_curve(path: str | os.PathLike, window: int = 20, ax: plt.Axes | None = None) -> plt.Axes:
    """Raw game score per game against environment steps, with a moving average."""
    metrics = read_metrics(path)
    ax = ax or plt.subplots(figsize=(7, 4))[1]
    steps, scores = metrics["env_step"], metrics["score"]
    ax.plot(steps, scores, ".", alpha=0.3, label="game score")
    if len(scores) >= window:
        smooth = np.convolve(scores, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1 :], smooth, label=f"mean of {window} games")
    ax.set_xlabel("environment steps (agent steps, 4 frames each)")
    ax.set_ylabel("raw game score")
    ax.set_title("Learning curve")
    ax.legend()
    return ax


def show_frames(state: np.ndarray, title: str = "") -> plt.Figure:
    """The frames of one (4, 84, 84) uint8 state side by side, oldest first."""
    fig, axes = plt.subplots(1, len(state), figsize=(2.2 * len(state), 2.6))
    for i, (ax, frame) in enumerate(zip(np.atleast_1d(axes), state, strict=True)):
        ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
        ax.set_title(f"state[{i}] {frame.shape}")
        ax.axis("off")
    fig.suptitle(title or f"a state {state.shape} {state.dtype}, oldest frame first")
    return fig
