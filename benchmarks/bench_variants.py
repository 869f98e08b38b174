"""Each variant's cost beside DQN's on Breakout: the time of one update and training steps/s.

Every preset of the Rainbow family (c51, rainbow, iqn) and the default (Double DQN) trains past
random play; then, in interleaved rounds, each times ``--updates`` calls of ``agent.learn`` on
batches from its own memory, and trains ``--steps`` environment steps of its learning phase
(acting, stepping, storing, sampling and updating). Medians over the rounds, with their range.
On a CPU with native bf16 each preset is timed with the bf16 learner and with the fp32 one.
Run it on an otherwise idle machine.

Usage: .venv/bin/python benchmarks/bench_variants.py [--rounds 3] [--updates 20] [--steps 400] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from common import median_range, publish, section

from dqnlib import DQNAgent, make_config
from dqnlib.agent import select_device, use_bf16

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
    probe = make_config("default")
    precisions = ("bf16", "fp32") if use_bf16(probe, select_device(probe)) else ("fp32",)
    agents: dict[tuple[str, str], DQNAgent] = {}
    for preset in PRESETS:
        for precision in precisions:
            config = make_config(
                preset,
                learning_starts=LEARNING_STARTS,
                seed=0,
                torch_threads=args.threads,
                precision=precision,
            )
            agents[preset, precision] = DQNAgent(config)
            agents[preset, precision].train(LEARNING_STARTS + 4 * config.train_frequency, progress_bar=False)
    update_ms: dict[tuple[str, str], list[float]] = {key: [] for key in agents}
    steps_per_s: dict[tuple[str, str], list[float]] = {key: [] for key in agents}
    for round_ in range(args.rounds):
        for key, agent in agents.items():
            update_ms[key].append(time_updates(agent, args.updates))
            steps_per_s[key].append(time_training(agent, args.steps))
            print(
                f"round {round_ + 1} {key[0]} {key[1]}: {update_ms[key][-1]:.1f} ms/update, "
                f"{steps_per_s[key][-1]:.1f} steps/s",
                flush=True,
            )
    fastest = precisions[0]
    default_ms = statistics.median(update_ms["default", fastest])
    rows = [
        "| preset | what it learns | "
        + " | ".join(f"update, {p} (ms)" for p in precisions)
        + f" | x default's ({fastest}) | "
        + " | ".join(f"training, {p} (env steps/s)" for p in precisions)
        + " |",
        "|---|---|" + "---:|" * (2 * len(precisions) + 1),
    ]
    for preset in PRESETS:
        config = agents[preset, fastest].config
        learns = config.distributional if config.distributional != "none" else "expected value"
        rows.append(
            f"| {preset} | {learns}{', noisy' if config.noisy else ''} | "
            + " | ".join(median_range(update_ms[preset, p]) for p in precisions)
            + f" | {statistics.median(update_ms[preset, fastest]) / default_ms:.1f} | "
            + " | ".join(median_range(steps_per_s[preset, p]) for p in precisions)
            + " |"
        )
    for agent in agents.values():
        agent.close()
    setup = (
        f"Breakout, each preset's settings (batch 32, an update every 4 environment steps), learner in "
        f"{' and '.join(precisions)}, {args.threads} torch thread(s); {LEARNING_STARTS:,} steps of random play, "
        f"then {args.rounds} interleaved rounds of {args.updates} timed updates and {args.steps:,} training "
        "steps per preset and precision; median (range) over the rounds. `default` is Double DQN. Where the "
        "time goes: IQN's head runs the 3,136-to-512 layer once per sampled fraction, on 32 x (64 + 64 + 32) "
        "= 5,120 rows per update (N online fractions, N' target fractions, K to choose the next action) "
        "against 32 x 3 = 96 rows for Double DQN, as in Dopamine's network; Rainbow adds the noisy layers' "
        "draws, a dueling head of 51 atoms per stream and prioritized sampling. bf16 autocast is timed "
        'only on a CPU with native bf16 (AVX-512 BF16 or AMX) or a GPU; elsewhere `precision="auto"` '
        "picks fp32."
    )
    redo = (
        f".venv/bin/python benchmarks/bench_variants.py --rounds {args.rounds} --updates {args.updates} "
        f"--steps {args.steps} --threads {args.threads} --write BENCHMARKS.md"
    )
    publish(section(SECTION, setup, redo, rows), SECTION, args.write)


if __name__ == "__main__":
    main()
