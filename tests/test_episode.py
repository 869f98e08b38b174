"""Shipping and watching a trained agent: weights-only export, recorded episodes, ``play``."""

import io
import json

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from dqnlib import AtariDQNAgent, DQNAgent
from dqnlib.checkpoint import export_checkpoint, run_checkpoints
from dqnlib.cli import main as cli_main
from dqnlib.episode import longest_stretch, record_episode


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny Breakout run with one full run checkpoint at step 800 and games in its
    metrics.csv after that step."""
    run_dir = tmp_path_factory.mktemp("run")
    AtariDQNAgent(preset="tiny", seed=3, run_dir=run_dir, checkpoint_every=800).train(1_400)
    return run_dir


def test_export_keeps_the_online_weights_only_and_loads_to_the_same_policy(run_dir, tmp_path):
    source = run_checkpoints(run_dir)[-1]
    exported = export_checkpoint(source, tmp_path / "shipped")
    assert sorted(p.name for p in exported.iterdir()) == [
        "learning_curve.png", "metrics.csv", "model.pt", "state.json",
    ]  # fmt: skip
    assert (exported / "model.pt").stat().st_size < (source / "model.pt").stat().st_size / 2
    assert set(torch.load(exported / "model.pt", weights_only=True)) == {"online"}
    source_rows = (run_dir / "metrics.csv").read_text().splitlines()
    steps = json.loads((source / "state.json").read_text())["counters"]["env_steps"]
    kept = [source_rows[0]] + [row for row in source_rows[1:] if int(row.split(",")[0]) <= steps]
    assert (exported / "metrics.csv").read_text().splitlines() == kept  # the run up to this checkpoint
    assert 1 < len(kept) < len(source_rows)
    full, shipped = DQNAgent.load(source), DQNAgent.load(exported)
    for ours, theirs in zip(full.online.parameters(), shipped.online.parameters(), strict=True):
        assert torch.equal(ours, theirs)
    for online, target in zip(shipped.online.parameters(), shipped.target.parameters(), strict=True):
        assert torch.equal(online.to(target.dtype), target)  # the target network may be held in bf16
    assert shipped.counters == full.counters
    states = full.replay_memory.sample(16).states
    np.testing.assert_array_equal(full.q_values(states), shipped.q_values(states))
    assert json.loads((exported / "state.json").read_text())["config"] == full.config.to_dict()


def test_export_never_overwrites(run_dir, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match="already exists"):
        export_checkpoint(run_checkpoints(run_dir)[-1], out)
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_recorded_episode_is_consistent_and_repeatable(run_dir):
    agent = DQNAgent.load(run_checkpoints(run_dir)[-1])
    first = record_episode(agent, "machado", seed=5, max_steps=400)
    again = record_episode(agent, "machado", seed=5, max_steps=400)
    steps = len(first)
    assert 0 < steps <= 400
    assert first.frames.shape == (steps + 1, 210, 160, 3) and first.frames.dtype == np.uint8
    assert first.q_values.shape == (steps, 4) and first.q_values.dtype == np.float32
    assert first.action_names == ("NOOP", "FIRE", "RIGHT", "LEFT")
    assert first.score == first.rewards.sum()
    assert first.ram.shape == (steps, 128) and first.ram.dtype == np.uint8
    np.testing.assert_array_equal(first.ram[:, 57], first.lives)  # ALE reads Breakout's lives at 0x39
    assert first.game_over == (first.lives[-1] == 0) and not (first.game_over and first.truncated)
    assert first.protocol == "machado" and first.epsilon == 0.001
    # Greedy steps take the arg-max of the recorded Q-values; at epsilon 0.001 nearly all are greedy.
    assert np.mean(first.actions == first.q_values.argmax(axis=1)) > 0.95
    np.testing.assert_array_equal(first.frames, again.frames)
    np.testing.assert_array_equal(first.q_values, again.q_values)
    gif = Image.open(io.BytesIO(first.gif_bytes(every=2, frame_ms=40)))
    duration_ms = 0  # PIL merges identical consecutive screens into one longer GIF frame
    for index in range(gif.n_frames):
        gif.seek(index)
        duration_ms += gif.info["duration"]
    assert gif.size == (160, 210) and duration_ms == 40 * len(first.frames[::2])


def test_record_episode_rejects_bad_arguments(run_dir):
    agent = DQNAgent.load(run_checkpoints(run_dir)[-1])
    for kwargs, message in [
        ({"max_steps": 0}, "max_steps"),
        ({"protocol": "atari100k"}, "unknown protocol"),
        ({"epsilon": 2.0}, "epsilon"),
    ]:
        with pytest.raises(ValueError, match=message):
            record_episode(agent, **kwargs)


def test_cli_export_then_play_writes_a_gif(run_dir, tmp_path, capsys):
    assert (
        cli_main(["export", "--checkpoint", str(run_checkpoints(run_dir)[-1]), "--out", str(tmp_path / "s")])
        == 0
    )
    gif = tmp_path / "episode.gif"
    assert (
        cli_main(["play", "--checkpoint", str(tmp_path / "s"), "--out", str(gif), "--max-steps", "50"]) == 0
    )
    out = capsys.readouterr().out
    assert "model.pt" in out and f"wrote {gif}" in out
    assert Image.open(gif).n_frames >= 2


@given(st.lists(st.booleans(), max_size=60))
def test_longest_stretch_matches_a_step_by_step_count(flags):
    length, end, run = 0, -1, 0
    for i, flag in enumerate(flags):
        run = run + 1 if flag else 0
        if run > length:
            length, end = run, i
    assert longest_stretch(np.array(flags, dtype=bool)) == (length, end)


def test_longest_stretch_rejects_what_is_not_one_row_of_flags():
    for bad in (np.zeros((2, 3), dtype=bool), np.array([0, 1, 1])):
        with pytest.raises(ValueError, match="1-D boolean array"):
            longest_stretch(bad)
