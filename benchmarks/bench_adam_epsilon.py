"""Adam's epsilon against the gradients of each loss: does Dopamine's epsilon shrink the steps?

Adam's step on a weight is ``lr * m / (sqrt(v) + eps)``, where ``sqrt(v)`` estimates the root
mean square of that weight's gradient. Where ``sqrt(v)`` is far below ``eps`` the step shrinks
by ``sqrt(v) / (sqrt(v) + eps)``; that is how Dopamine's 1.5e-4 stalled dqnlib's DQN (its Huber
gradients are 1e-7 to 1e-5). For each preset this trains Breakout past random play, runs
``--updates`` updates with the preset's settings and Dopamine's epsilon, and reads ``sqrt(v_hat)`` (bias-corrected)
from the optimizer per layer: the fraction of its step that each epsilon would leave.

Usage: .venv/bin/python benchmarks/bench_adam_epsilon.py [--updates 200] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from common import publish, section

from dqnlib import DQNAgent, make_config

SECTION = "## Adam's epsilon and the gradients of each loss"
# Each preset trains with the epsilon of Dopamine's agent of its kind (its JAX DQN for the default).
DOPAMINE_EPSILON = {"default": 1.5e-4, "c51": 3.125e-4, "rainbow": 1.5e-4, "iqn": 3.125e-4}
EPSILONS = (1e-8, 1.5e-4, 3.125e-4)
LEARNING_STARTS = 5_000


def gradient_scales(agent: DQNAgent) -> dict[str, np.ndarray]:
    """Per layer kind, sqrt(v_hat) of every weight (bias-corrected Adam second moment)."""
    optimizer = agent.optimizer
    beta2 = optimizer.param_groups[0]["betas"][1]
    scales: dict[str, list[np.ndarray]] = {"convolutions": [], "fully connected": []}
    for name, parameter in agent.online.named_parameters():
        state = optimizer.state.get(parameter)
        if not state or parameter.dim() < 2:  # weights only: biases are few
            continue
        v_hat = state["exp_avg_sq"] / (1.0 - beta2 ** float(state["step"]))
        kind = "convolutions" if parameter.dim() == 4 else "fully connected"
        scales[kind].append(v_hat.sqrt().flatten().numpy())
    return {kind: np.concatenate(values) for kind, values in scales.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        "| preset | loss | layers | weights without gradient | median sqrt(v) | "
        + " | ".join(f"step left at eps {eps:g}" for eps in EPSILONS)
        + " |",
        "|---|---|---|---:|---:|" + "---:|" * len(EPSILONS),
    ]
    losses = {"none": "Huber", "c51": "cross-entropy", "iqn": "quantile Huber"}
    left_at_dopamine = []  # the Rainbow family's share of Adam's step left at Dopamine's epsilon
    for preset, epsilon in DOPAMINE_EPSILON.items():
        config = make_config(
            preset, learning_starts=LEARNING_STARTS, seed=0, torch_threads=1, adam_epsilon=epsilon
        )
        agent = DQNAgent(config)
        agent.train(LEARNING_STARTS + args.updates * config.train_frequency, progress_bar=False)
        for kind, scale in gradient_scales(agent).items():
            moving = scale[scale > 0]  # a weight whose input was 0 in every batch has no gradient at all
            left = [f"{np.median(moving / (moving + eps)):.0%}" for eps in EPSILONS]
            if preset != "default":
                left_at_dopamine.append(float(np.median(moving / (moving + epsilon))))
            rows.append(
                f"| {preset} | {losses[config.distributional]} | {kind} | {1 - len(moving) / len(scale):.0%} | "
                f"{np.median(moving):.2e} | " + " | ".join(left) + " |"
            )
            print(rows[-1], flush=True)
        agent.close()
    rows += [
        "",
        (
            f"At Dopamine's epsilons the c51, rainbow and iqn presets' median weights would take "
            f"{min(left_at_dopamine):.0%} to {max(left_at_dopamine):.0%} of Adam's step; like the default "
            "preset, they keep PyTorch's 1e-8 (`dqnlib/config.py`)."
        ),
    ]
    setup = (
        "Breakout, each preset's settings with the Adam epsilon of Dopamine's agent of its kind "
        f"({', '.join(f'{p} {e:g}' for p, e in DOPAMINE_EPSILON.items())}), seed 0, one torch thread; {LEARNING_STARTS:,} steps of random play, "
        f"then {args.updates} updates. `sqrt(v)`: Adam's bias-corrected second moment per weight after those "
        "updates, over the weights that had a gradient (those whose input was 0 in every batch had none); 'step left': the median over them of sqrt(v) / (sqrt(v) + eps), the share of Adam's step "
        "that an epsilon leaves (100%: epsilon does not matter)."
    )
    redo = f".venv/bin/python benchmarks/bench_adam_epsilon.py --updates {args.updates} --write BENCHMARKS.md"
    publish(section(SECTION, setup, redo, rows), SECTION, args.write)


if __name__ == "__main__":
    main()
