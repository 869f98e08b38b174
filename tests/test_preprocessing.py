import numpy as np
import pytest
from ale_py.env import AtariEnv

import dqnlib
from dqnlib import preprocessing


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The ALE manual's luminance, computed here independently of the library."""
    return rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def area_weights(source: int, target: int) -> np.ndarray:
    """(target, source) matrix: row i averages source pixels over [i, i + 1) * source / target."""
    scale = source / target
    edges = np.arange(source + 1)
    lower, upper = np.arange(target)[:, None] * scale, (np.arange(target)[:, None] + 1) * scale
    overlap = np.clip(np.minimum(edges[1:], upper) - np.maximum(edges[:-1], lower), 0, None)
    return overlap / scale


def area_resize(gray: np.ndarray, size: int = 84) -> np.ndarray:
    """Area-averaging resize written out as two weight matrices, independent of OpenCV."""
    return area_weights(gray.shape[0], size) @ gray @ area_weights(gray.shape[1], size).T


def test_grayscale_is_luminance():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, size=(210, 160, 3), dtype=np.uint8)
    gray = preprocessing.to_grayscale(frame)
    assert gray.dtype == np.uint8 and gray.shape == (210, 160)
    assert np.abs(gray - luminance(frame)).max() <= 1


def test_max_pool_of_two_known_frames():
    a = np.array([[0, 200], [50, 7]], dtype=np.uint8)
    b = np.array([[10, 100], [60, 7]], dtype=np.uint8)
    np.testing.assert_array_equal(preprocessing.max_pool(a, b), [[10, 200], [60, 7]])
    with pytest.raises(ValueError):
        preprocessing.max_pool(a, b[:1])


def test_preprocess_observation_stacks_oldest_first():
    frames = [np.full((210, 160, 3), value, dtype=np.uint8) for value in (10, 20, 30, 40, 50)]
    state = dqnlib.preprocess_observation(frames[0], None)
    assert state.shape == (4, 84, 84) and state.dtype == np.uint8
    assert [int(f.max()) for f in state] == [0, 0, 0, 10]
    for frame in frames[1:]:
        state = dqnlib.preprocess_observation(frame, state)
    assert [int(f.mean()) for f in state] == [20, 30, 40, 50]


def test_preprocess_observation_rejects_bad_input():
    with pytest.raises(ValueError, match="RGB"):
        dqnlib.preprocess_observation(np.zeros((210, 160), dtype=np.uint8), None)
    with pytest.raises(ValueError, match="state"):
        dqnlib.preprocess_observation(
            np.zeros((210, 160, 3), dtype=np.uint8), np.zeros((84, 84, 4), dtype=np.uint8)
        )


@pytest.mark.parametrize("game", ["Breakout", "SpaceInvaders"])
def test_environment_frames_equal_a_reference_from_raw_ale_frames(game):
    """Drive a raw ALE environment frame by frame beside dqnlib's, and rebuild each frame."""
    options = {
        "noop_max": 0,
        "sticky_action_probability": 0.0,
        "fire_reset": False,
        "terminal_on_life_loss": False,
    }
    env = dqnlib.make_env(game, **options)
    raw = AtariEnv(game=dqnlib.resolve_game(game), frameskip=1, repeat_action_probability=0.0)
    state, _ = env.reset(seed=0)
    screen, _ = raw.reset(seed=0)
    reference = [np.zeros((84, 84))] * 3 + [area_resize(luminance(screen))]
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(150):
        action = int(rng.integers(env.action_space.n))
        state, _, terminated, truncated, _ = env.step(action)
        screens = [raw.step(action)[0] for _ in range(4)]
        pooled = np.maximum(luminance(screens[-2]), luminance(screens[-1]))
        reference = reference[1:] + [area_resize(pooled)]
        worst = max(worst, float(np.abs(state.astype(np.float64) - np.stack(reference)).max()))
        assert not (terminated or truncated)
    assert state.shape == (4, 84, 84) and state.dtype == np.uint8
    assert worst <= 1.0
