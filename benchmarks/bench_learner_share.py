"""How close training runs to the learner's own speed, measured in one process.

The peers benchmark compares training with a learner ceiling taken in another child process,
minutes apart; on a machine whose speed drifts that ratio is noisy. Here one agent (Breakout,
the peers' hyperparameters) alternates, in rounds: a window of training, timing each
``learn`` call inside it, then ``learn`` on a fixed batch alone (the ceiling), for DQN and for
Double DQN. Its share is training updates/s over ceiling updates/s in the same round.

Usage: .venv/bin/python benchmarks/bench_learner_share.py [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import torch
from common import learning_agent, median_range, publish, section

SECTION = "## Training speed against the learner's own, in one process"
WINDOW_STEPS, CEILING_UPDATES = 1_200, 40


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    agent = learning_agent()  # then the rounds switch between Double DQN and DQN
    batch = agent.replay_memory.sample(32)
    learn = agent.learn
    seconds_in_learn = [0.0]

    def timed_learn(sampled):
        start = time.perf_counter()
        loss = learn(sampled)
        seconds_in_learn[0] += time.perf_counter() - start
        return loss

    agent.learn = timed_learn
    figures: dict[str, dict[str, list[float]]] = {}
    for _ in range(args.rounds):
        for algorithm, double_dqn in (("Double DQN (default)", True), ("DQN", False)):
            # Threads pinned to torch's count, as for `learn` alone below (no "auto" switching).
            agent.config = dataclasses.replace(
                agent.config, double_dqn=double_dqn, torch_threads=torch.get_num_threads()
            )
            row = figures.setdefault(algorithm, {"steps": [], "in_loop": [], "alone": [], "share": []})
            seconds_in_learn[0], updates = 0.0, agent.counters.updates
            start = time.perf_counter()
            agent.train(WINDOW_STEPS, progress_bar=False)
            seconds = time.perf_counter() - start
            row["steps"].append(WINDOW_STEPS / seconds)
            row["in_loop"].append(1000 * seconds_in_learn[0] / (agent.counters.updates - updates))
            start = time.perf_counter()
            for _ in range(CEILING_UPDATES):
                learn(batch)
            row["alone"].append(1000 * (time.perf_counter() - start) / CEILING_UPDATES)
            trained_updates = (agent.counters.updates - updates) / seconds
            row["share"].append(100 * trained_updates * row["alone"][-1] / 1000)

    rows = [
        "| Algorithm | Training env steps/s | `learn` in training (ms) | `learn` alone (ms) | Share of the ceiling |",
        "|---|---:|---:|---:|---:|",
    ]
    for algorithm, row in figures.items():
        rows.append(
            f"| {algorithm} | {median_range(row['steps'])} | {median_range(row['in_loop'])} | "
            f"{median_range(row['alone'])} | **{median_range(row['share'], 0)}%** |"
        )
    setup = (
        "One agent, Breakout, replay 100,000, batch 32, learning starts 5,000, train frequency 4, target "
        f"update 1,000, 4 games, torch's default threads (pinned). Each round: {WINDOW_STEPS:,} training steps "
        f"(each `learn` call timed), then {CEILING_UPDATES} `learn` calls on one fixed batch (the "
        "ceiling), for Double DQN then DQN. Median (range) over the rounds. Goal: a share >= 90%."
    )
    redo = f".venv/bin/python benchmarks/bench_learner_share.py --rounds {args.rounds} --write BENCHMARKS.md"
    text = section(SECTION, setup, redo, rows)
    publish(text, SECTION, args.write)


if __name__ == "__main__":
    main()
