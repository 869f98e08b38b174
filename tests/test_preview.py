"""LivePreview renders a fresh PNG of the frame and the learning curve on every callback."""

import io

from PIL import Image

from dqnlib import AtariDQNAgent
from dqnlib.preview import LivePreview

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_preview_renders_a_new_png_on_each_callback_and_records_every_game() -> None:
    # tiny: the callback runs every 200 steps; learning starts after the run, which keeps it short
    agent = AtariDQNAgent(preset="tiny", learning_starts=1_000)
    preview = LivePreview()
    agent.train(400, callback=preview)
    first = preview.png
    agent.train(400, callback=preview)
    second = preview.png

    for png in (first, second):
        assert png is not None and png.startswith(PNG_SIGNATURE)
        width, height = Image.open(io.BytesIO(png)).size
        assert width > 300 and height > 100
    assert first != second
    assert agent.counters.games >= 2  # random Breakout ends a game within a few hundred steps
    assert [score for _, score in preview.scores] == list(agent.recent_scores)
    steps = [step for step, _ in preview.scores]
    assert steps == sorted(steps) and all(step % 200 == 0 and step <= 800 for step in steps)
