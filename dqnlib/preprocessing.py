"""Pure functions from raw ALE screens to the network's input (Mnih et al. 2015).

The environments in :mod:`dqnlib.envs` do these steps in ale-py's native code; these
functions do the same in numpy/OpenCV so that notebooks and code that drives the ALE
itself can see and reuse each step. A new stack is padded with zero frames, the same
convention as the environments' first observation of an episode and the replay memory.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME_SIZE = 84
STACK_SIZE = 4


def to_grayscale(frame: np.ndarray) -> np.ndarray:
    """Luminance of an RGB frame, Y = 0.299 R + 0.587 G + 0.114 B (ALE manual, ITU-R BT.601).

    Args:
        frame: (H, W, 3) uint8 RGB.
    Returns:
        (H, W) uint8.
    """
    return cv2.cvtColor(_check_rgb(frame), cv2.COLOR_RGB2GRAY)


def max_pool(frame_a: np.ndarray, frame_b: np.ndarray) -> np.ndarray:
    """Pixel-wise maximum of two consecutive frames, which removes Atari sprite flicker.

    Args:
        frame_a, frame_b: (H, W) or (H, W, 3) uint8 of one shape.
    Returns:
        Array of the same shape and dtype.
    """
    if frame_a.shape != frame_b.shape:
        raise ValueError(f"frames to max-pool differ in shape: {frame_a.shape} vs {frame_b.shape}")
    return np.maximum(frame_a, frame_b)


def resize(frame: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Area-averaging resize of a grayscale frame to ``size x size`` (OpenCV ``INTER_AREA``).

    Args:
        frame: (H, W) uint8.
    Returns:
        (size, size) uint8.
    """
    return cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)


def push_frame(state: np.ndarray | None, frame: np.ndarray, stack_size: int = STACK_SIZE) -> np.ndarray:
    """Append a frame to a stack, dropping the oldest; ``state=None`` starts a new stack.

    Args:
        state: (stack_size, H, W) uint8, oldest frame first, or None.
        frame: (H, W) uint8.
    Returns:
        A new (stack_size, H, W) uint8 array; a new stack is zeros except the last frame.
    """
    if state is None:
        state = np.zeros((stack_size, *frame.shape), dtype=np.uint8)
    elif state.shape[1:] != frame.shape:
        raise ValueError(f"state frames have shape {state.shape[1:]} but the new frame has {frame.shape}")
    return np.concatenate([state[1:], frame[None]], axis=0)  # (stack_size, H, W)


def preprocess_observation(observation: np.ndarray, state: np.ndarray | None = None) -> np.ndarray:
    """One raw RGB screen plus the previous state gives the next state.

    Grayscale by luminance, resize to 84x84, then push onto the stack of four. This is
    the per-frame part of the environments' preprocessing; the max over two frames
    needs two screens (see :func:`max_pool`), and the environments apply it.

    Args:
        observation: (210, 160, 3) uint8 RGB screen.
        state: (4, 84, 84) uint8 previous state, oldest frame first, or None to start.
    Returns:
        (4, 84, 84) uint8.
    """
    if state is not None and np.shape(state) != (STACK_SIZE, FRAME_SIZE, FRAME_SIZE):
        raise ValueError(
            f"state must have shape ({STACK_SIZE}, {FRAME_SIZE}, {FRAME_SIZE}) or be None, got {np.shape(state)}"
        )
    return push_frame(state, resize(to_grayscale(observation)))


def _check_rgb(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(
            f"expected an (H, W, 3) uint8 RGB frame, got shape {frame.shape} dtype {frame.dtype}"
        )
    return frame
