"""What each change to the bf16 learner buys, measured in one process and interleaved.

One agent (Breakout, the peers' hyperparameters) runs ``learn`` on one fixed batch of 32 under
four settings, each adding one change to the one before:

1. ``before``: channels-last weights and inputs, an fp32 target network (autocast casts its
   weights on every call), the gradient rescale of ``clip_grad_norm_`` on every update;
2. ``+ rescale only when clipping``: the same gradients (a test checks it), one pass fewer;
3. ``+ bf16 target network``: the same Q-values (a test checks it), no weight casts;
4. ``+ default layout``: no channels-last, which is what dqnlib does on a CPU now.

Each round times ``--updates`` calls of every setting in turn, for DQN and Double DQN; rounds
are short (a fraction of a second per setting) so that the machine's drift, which reaches a
third within minutes, hits all settings alike. Ratios are per round against ``before``.

Usage: .venv/bin/python benchmarks/bench_learner_variants.py [--rounds 30] [--updates 10] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import torch
from common import learning_agent, median_range, publish, section

import dqnlib
from dqnlib.agent import match_parameter_layouts

SECTION = "## What each learner change buys (bf16, CPU)"
SETTINGS = ("before", "+ rescale only when clipping", "+ bf16 target network", "+ default layout")


def configure(agent: dqnlib.DQNAgent, setting: int, targets: dict[torch.dtype, torch.nn.Module]) -> None:
    """Put the agent in ``SETTINGS[setting]``: the changes up to that index are on."""
    layout = torch.channels_last if setting < 3 else torch.contiguous_format
    agent.channels_last = layout is torch.channels_last
    for network in (agent.online, *targets.values()):
        network.to(memory_format=layout)
    match_parameter_layouts(agent.optimizer)  # Adam's moments follow their weights' layout
    agent.target = targets[torch.bfloat16 if setting >= 2 else torch.float32]
    if setting >= 1:
        agent.__dict__.pop("_clip_gradients", None)
    else:
        agent._clip_gradients = lambda: torch.nn.utils.clip_grad_norm_(
            agent.online.parameters(), agent.config.max_grad_norm
        )


def updates_per_second(learn: Callable[[], float], updates: int) -> float:
    for _ in range(2):
        learn()
    start = time.perf_counter()
    for _ in range(updates):
        learn()
    return updates / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--write", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.rounds < 1 or args.updates < 1:
        parser.error("--rounds and --updates must be >= 1")
    agent = learning_agent()
    if not agent.bf16 or agent.device.type != "cpu":
        raise SystemExit("this benchmark compares bf16 learners on a CPU; this machine trains otherwise")
    batch = agent.replay_memory.sample(32)
    targets = {dtype: copy.deepcopy(agent.target).to(dtype) for dtype in (torch.float32, torch.bfloat16)}
    rates: dict[str, list[list[float]]] = {}
    for _ in range(args.rounds):
        for algorithm, double_dqn in (("Double DQN (default)", True), ("DQN", False)):
            agent.config = dataclasses.replace(agent.config, double_dqn=double_dqn)
            round_rates = []
            for setting in range(len(SETTINGS)):
                configure(agent, setting, targets)
                round_rates.append(updates_per_second(lambda: agent.learn(batch), args.updates))
            rates.setdefault(algorithm, []).append(round_rates)

    rows = ["| Algorithm | Setting | Updates/s | Ratio to `before` |", "|---|---|---:|---:|"]
    for algorithm, rounds in rates.items():
        for setting, name in enumerate(SETTINGS):
            values = [r[setting] for r in rounds]
            ratios = [r[setting] / r[0] for r in rounds]
            rows.append(f"| {algorithm} | {name} | {median_range(values)} | **{median_range(ratios, 3)}** |")
    setup = (
        "One agent, Breakout, batch 32, target update 1,000, torch's default threads, `learn` on one "
        f"fixed batch. Each round times {args.updates} updates of every setting in turn; each setting "
        "adds one change to the row above it. Median (range) over the rounds."
    )
    redo = (
        ".venv/bin/python benchmarks/bench_learner_variants.py "
        f"--rounds {args.rounds} --updates {args.updates} --write BENCHMARKS.md"
    )
    text = section(SECTION, setup, redo, rows)
    publish(text, SECTION, args.write)


if __name__ == "__main__":
    main()
