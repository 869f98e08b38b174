"""How many seeds of a CartPole preset reach a mean greedy return of 195 within the
test's budget (30,000 steps, evaluated every 5,000 over 10 games), so that the test in
tests/test_agent.py is not tuned to one lucky seed.

Usage: .venv/bin/python benchmarks/bench_cartpole.py --seeds 10 [--preset cartpole-c51] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import publish, section

from dqnlib import DQNAgent, make_config

TITLES = {
    "cartpole": "## CartPole: seeds that learn within the test's budget",
    "cartpole-c51": "## CartPole with C51: seeds that learn within the test's budget",
    "cartpole-iqn": "## CartPole with IQN: seeds that learn within the test's budget",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--preset", choices=sorted(TITLES), default="cartpole")
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for seed in range(args.seeds):
        started = time.perf_counter()
        agent = DQNAgent(make_config(args.preset, seed=seed))
        steps = agent.train_until(195.0, max_steps=30_000, eval_every=5_000)
        results.append((seed, steps, time.perf_counter() - started))
        print(f"seed {seed}: {'not reached' if steps is None else f'reached at {steps:,} steps'}", flush=True)
    solved = sum(steps is not None for _, steps, _ in results)
    setup = (
        f"Preset `{args.preset}` (MLP, Adam, soft target updates), one torch thread; a seed succeeds when the\n"
        "mean greedy return over 10 games reaches 195 at one of the evaluations every 5,000 steps up to 30,000."
    )
    redo = (
        f".venv/bin/python benchmarks/bench_cartpole.py --seeds {args.seeds} --preset {args.preset} "
        "--write BENCHMARKS.md"
    )
    rows = [
        "| seed | steps to 195 | wall time (s) |",
        "|---:|---:|---:|",
        *[
            f"| {seed} | {'-' if steps is None else f'{steps:,}'} | {wall:.0f} |"
            for seed, steps, wall in results
        ],
        "",
        f"**{solved} of {len(results)} seeds** reach 195 (goal: at least 9 of 10).",
    ]
    publish(section(TITLES[args.preset], setup, redo, rows), TITLES[args.preset], args.write)


if __name__ == "__main__":
    main()
