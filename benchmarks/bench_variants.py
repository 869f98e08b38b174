"""Each variant's cost beside DQN's on Breakout: the time of one update and training steps/s.

Every preset of the Rainbow family (c51, rainbow, iqn) and the default (Double DQN) trains past
random play; then, in interleaved rounds, each times ``--updates`` calls of ``agent.learn`` on
batches from its own memory, and trains ``--steps`` environment steps of its learning phase
(acting, stepping, storing, sampling and updating). Medians over the rounds, with their range.
Run it on an otherwise idle machine.

Usage: .venv/bin/python benchmarks/bench_variants.py [--rounds 3] [--updates 20] [--steps 400] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from common import median_range, publish, section

from dqnlib import DQNAgent, make_config

SECTION = "## The Rainbow family: update time and training speed"
PRESETS = ("default", "c51", "rainbow", "iqn")
LEARNING_STARTS = 2_000


def time_updates(agent: DQNAgent, updates: int) -> float:
    """Median milliseconds of one ``learn`` on a sampled batch (sampling not timed)."""
    durations = []
    for _ in range(updates):
        batch = agent.replay_memory.sample(agent.config.batch_size)
        started = time.perf_counter()
        agent.learn(batch)
        durations.append(time.perf_counter() - started)
    durations.sort()
    return 1_000 * durations[len(durations) // 2]


def time_training(agent: DQNAgent, steps: int) -> float:
    """Environment steps per second of ``agent.train(steps)`` in its learning phase."""
    started = time.perf_counter()
    agent.train(steps, progress_bar=False)
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--write", type=Path, default=None)
    args = parser.parse_args()
    agents = {}
    for preset in PRESETS:
        config = make_config(preset, learning_starts=LEARNING_STARTS, seed=0, torch_threads=args.threads)
        agents[preset] = DQNAgent(config)
        agents[preset].train(LEARNING_STARTS + 4 * config.train_frequency, progress_bar=False)
    update_ms: dict[str, list[float]] = {preset: [] for preset in PRESETS}
    steps_per_s: dict[str, list[float]] = {preset: [] for preset in PRESETS}
    for round_ in range(args.rounds):
        for preset, agent in agents.items():
            update_ms[preset].append(time_updates(agent, args.updates))
            steps_per_s[preset].append(time_training(agent, args.steps))
            print(
                f"round {round_ + 1} {preset}: {update_ms[preset][-1]:.1f} ms/update, "
                f"{steps_per_s[preset][-1]:.1f} steps/s",
                flush=True,
            )
    precision = "bf16" if agents["default"].bf16 else "fp32"
    dqn_ms = sorted(update_ms["default"])[len(update_ms["default"]) // 2]
    rows = [
        "| preset | what it learns | update (ms) | x default's | training (env steps/s) |",
        "|---|---|---:|---:|---:|",
    ]
    for preset, agent in agents.items():
        config = agent.config
        middle = sorted(update_ms[preset])[len(update_ms[preset]) // 2]
        rows.append(
            f"| {preset} | {config.distributional if config.distributional != 'none' else 'expected value'}"
            f"{', noisy' if config.noisy else ''} | {median_range(update_ms[preset])} | {middle / dqn_ms:.1f} | "
            f"{median_range(steps_per_s[preset])} |"
        )
        agent.close()
    setup = (
        f"Breakout, each preset's settings (batch 32, an update every 4 environment steps), {precision} learner, "
        f"{args.threads} torch thread(s); {LEARNING_STARTS:,} steps of random play, then {args.rounds} interleaved "
        f"rounds of {args.updates} timed updates and {args.steps:,} training steps per preset; median (range) "
        "over the rounds. `default` is Double DQN. Where the time goes: IQN's head runs the "
        "3,136-to-512 layer once per sampled fraction, on 32 x (64 + 64 + 32) = 5,120 rows per "
        "update (N online fractions, N' target fractions, K to choose the next action) against "
        "32 x 3 = 96 rows for Double DQN, as in Dopamine's network; Rainbow adds the noisy layers' "
        "draws, a dueling head of 51 atoms per stream and prioritized sampling. Every variant also "
        "runs under bf16 autocast (tests/test_variants.py), the fast path on GPUs and CPUs with "
        "native bf16; a machine without native bf16 (as here) times fp32."
    )
    redo = (
        f".venv/bin/python benchmarks/bench_variants.py --rounds {args.rounds} --updates {args.updates} "
        f"--steps {args.steps} --threads {args.threads} --write BENCHMARKS.md"
    )
    publish(section(SECTION, setup, redo, rows), SECTION, args.write)


if __name__ == "__main__":
    main()
