"""A live preview of training for notebooks: ``agent.train(steps, callback=LivePreview())``.

For Atari agents. Each call renders one PNG with the newest frame of environment 0 beside
the learning curve so far, and shows it in one display that updates in place; the notebook
stores it as a plain ``image/png`` output, the last image drawn. The figure is drawn on
matplotlib's Agg canvas without pyplot, so there is no figure to close and the inline
backend does not show it a second time. Outside IPython, ``display`` prints a text repr
once and later calls only render.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

if TYPE_CHECKING:
    from IPython.display import DisplayHandle

    from dqnlib.agent import DQNAgent


class LivePreview:
    """Callback for :meth:`DQNAgent.train` that redraws one frame-and-curve image in place.

    Args:
        window: games in the moving average drawn over the raw scores.
        dpi: resolution of the rendered PNG (the figure is 9.6 x 3.6 inches).

    Attributes:
        scores: (env_steps, raw game score) of every game finished while the preview watched,
            in order; a game is stamped with the step of the call that first saw it, so the
            step resolution is ``config.log_every``.
        png: the PNG bytes of the last rendered image (None before the first call).
    """

    def __init__(self, window: int = 20, dpi: int = 72) -> None:
        self.window = window
        self.dpi = dpi
        self.scores: list[tuple[int, float]] = []
        self.png: bytes | None = None
        self._games_seen = 0
        self._handle: DisplayHandle | None = None

    def __call__(self, agent: DQNAgent) -> None:
        """Record the games finished since the last call, render, and update the display."""
        new_games = agent.counters.games - self._games_seen
        if new_games > 0:  # agent.recent_scores keeps only the last 100 raw game scores
            fresh = list(agent.recent_scores)[-min(new_games, len(agent.recent_scores)) :]
            self.scores.extend((agent.counters.env_steps, score) for score in fresh)
            self._games_seen = agent.counters.games
        try:
            from IPython.display import Image, display
        except ImportError:
            raise ImportError("LivePreview needs IPython: pip install 'dqnlib[notebooks]'") from None
        self.png = self.render(agent)
        image = Image(data=self.png, format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)  # None outside IPython
        else:
            self._handle.update(image)

    def render(self, agent: DQNAgent) -> bytes:
        """The preview as PNG bytes: ``agent.observations[0][-1]``, the newest (84, 84) uint8
        frame of environment 0, beside ``self.scores`` against environment steps."""
        steps = agent.counters.env_steps
        fig = Figure(figsize=(9.6, 3.6), dpi=self.dpi, layout="constrained")
        FigureCanvasAgg(fig)
        frame_ax, curve_ax = fig.subplots(1, 2, width_ratios=[1, 2.2])
        frame = agent.observations[0][-1]  # (84, 84) uint8
        frame_ax.imshow(frame, cmap="gray", vmin=0, vmax=255)
        frame_ax.set_title(f"env 0, newest frame {frame.shape}")
        frame_ax.set_xlabel("x (pixels)")
        frame_ax.set_ylabel("y (pixels)")
        if self.scores:
            x, y = np.array(self.scores).T  # (games,), (games,)
            curve_ax.plot(x, y, ".", alpha=0.4, label="game score")
            if len(y) >= self.window:
                mean = np.convolve(y, np.ones(self.window) / self.window, mode="valid")
                curve_ax.plot(x[self.window - 1 :], mean, label=f"mean of {self.window} games")
            curve_ax.legend(loc="upper left")
        curve_ax.set_xlim(0, max(steps, 1) * 1.03)
        curve_ax.set_xlabel("environment steps (agent steps, 4 frames each)")
        curve_ax.set_ylabel("raw game score")
        curve_ax.set_title(f"learning curve: {len(self.scores)} games")
        fig.suptitle(
            f"{agent.config.game}, step {steps:,}, epsilon {agent.config.epsilon(steps):.3f}, "
            f"{agent.counters.updates:,} updates"
        )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        return buffer.getvalue()
