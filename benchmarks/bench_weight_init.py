"""How far the first updates move each layer, under PyTorch's and Glorot's initial weights.

For the ``nature`` preset (centered RMSProp, whose epsilon dominates the step's divisor for this
network) and the default preset (Adam): an agent of each ``weight_init`` plays ``--play`` steps
of random Breakout (no learning yet), then makes ``--updates`` updates on batches from its
memory, and the root mean square of each layer's weight change is measured. Also the root mean
square of each layer's gradient on the first batch. Seeds 0 to ``--seeds`` - 1; means over them.
A 100,000-transition memory stands in for the nature preset's million (it changes no update).

Usage: .venv/bin/python benchmarks/bench_weight_init.py [--play 5000] [--updates 200] [--seeds 2] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch
from common import publish, section

from dqnlib import DQNAgent, make_config

SECTION = "## The nature preset's initial weights"
INITS = ("torch", "glorot")


def layer_movement(
    preset: str, weight_init: str, seed: int, play: int, updates: int
) -> dict[str, tuple[float, float]]:
    """For each weight matrix: (gradient RMS on the first batch, weight change RMS after ``updates``)."""
    config = make_config(
        preset,
        weight_init=weight_init,
        seed=seed,
        replay_capacity=100_000,
        learning_starts=play,
        torch_threads=1,
    )
    agent = DQNAgent(config)
    agent.train(play, progress_bar=False)
    weights = {name: w for name, w in agent.online.named_parameters() if name.endswith("weight")}
    start = {name: w.detach().clone() for name, w in weights.items()}
    agent.learn(agent.replay_memory.sample(config.batch_size))
    gradients = {name: w.grad.pow(2).mean().sqrt().item() for name, w in weights.items()}
    for _ in range(updates - 1):
        agent.learn(agent.replay_memory.sample(config.batch_size))
    moved = {name: (w.detach() - start[name]).pow(2).mean().sqrt().item() for name, w in weights.items()}
    agent.close()
    return {name: (gradients[name], moved[name]) for name in weights}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--play", type=int, default=5_000)
    parser.add_argument("--updates", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [
        "| preset | layer | gradient RMS, torch | gradient RMS, glorot | moved, torch | moved, glorot | moved, glorot / torch |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for preset in ("nature", "default"):
        found = {
            init: [layer_movement(preset, init, seed, args.play, args.updates) for seed in range(args.seeds)]
            for init in INITS
        }
        for layer in found["torch"][0]:
            mean = {
                (init, k): statistics.mean(run[layer][k] for run in found[init])
                for init in INITS
                for k in (0, 1)
            }
            rows.append(
                f"| {preset} | `{layer}` | {mean['torch', 0]:.1e} | {mean['glorot', 0]:.1e} | "
                f"{mean['torch', 1]:.1e} | {mean['glorot', 1]:.1e} | {mean['glorot', 1] / mean['torch', 1]:.1f} |"
            )
    setup = (
        f"Breakout; per preset and `weight_init`, {args.play:,} steps of random play, then {args.updates} "
        f"updates (batch 32, one torch thread); gradient RMS on the first batch and the RMS of each weight "
        f"matrix's change after the updates; means over seeds 0-{args.seeds - 1}."
    )
    redo = (
        f".venv/bin/python benchmarks/bench_weight_init.py --play {args.play} --updates {args.updates} "
        f"--seeds {args.seeds} --write BENCHMARKS.md"
    )
    publish(section(SECTION, setup, redo, rows), SECTION, args.write)


if __name__ == "__main__":
    main()
