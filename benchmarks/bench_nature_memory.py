"""Peak RSS of a ``nature``-preset run with the DQN paper's full one-million-transition memory.

Filling the memory by playing takes a million steps, so the benchmark fills it with
synthetic screens instead (every row written, as play would), then trains the agent for
real (Breakout, RMSProp updates every 4 steps) and writes a run checkpoint that includes
the memory, the two moments a run holds the most. The process's peak RSS
(``ru_maxrss``) is read at the end.

Usage: .venv/bin/python benchmarks/bench_nature_memory.py [--train-steps 2000] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from common import provenance, publish, verdict

from dqnlib import AtariDQNAgent, checkpoint

SECTION = "## The `nature` preset's memory: one million transitions"
GOAL_BYTES = 8e9


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=2_000)
    parser.add_argument("--write", type=Path, metavar="FILE")
    args = parser.parse_args()
    if args.train_steps < 4:
        parser.error("--train-steps must be >= 4 (one update per 4 steps)")
    figures = {}
    runs = Path(__file__).resolve().parents[1] / "runs"  # git-ignored, on the same disk as real runs
    runs.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=runs) as run_dir:
        agent = AtariDQNAgent("Breakout", preset="nature", seed=0, run_dir=run_dir)
        figures["after building the agent"] = rss_mib()
        agent.train(1)  # resets the game and starts the memory's stacks
        memory, rng = agent.replay_memory, np.random.default_rng(0)
        screens = rng.integers(0, 256, (4, 1, 4, 84, 84), dtype=np.uint8)
        started = time.perf_counter()
        while memory.transitions_added < memory.spec.capacity:
            i = memory.transitions_added
            memory.add(
                rng.integers(agent.num_actions, size=1),
                np.zeros(1, dtype=np.float32),
                np.array([i % 2_000 == 1_999]),
                np.zeros(1, dtype=bool),
                screens[i % 4],
            )
        figures["after filling the memory"] = rss_mib()
        fill_seconds = time.perf_counter() - started
        agent.train(args.train_steps)
        figures[f"after training {args.train_steps:,} steps ({agent.state.updates:,} updates)"] = rss_mib()
        started = time.perf_counter()
        checkpoint.save_run_checkpoint(agent, Path(run_dir), with_replay=True)
        figures["after writing a run checkpoint with the memory"] = rss_mib()
        save_seconds = time.perf_counter() - started
        nbytes = memory.nbytes
    peak = rss_mib()
    text = "\n".join(
        [
            SECTION,
            "",
            (
                "`AtariDQNAgent('Breakout', preset='nature')`: replay 1,000,000, RMSProp, one game. The memory is "
                "filled with synthetic screens (every row written), then the agent trains on Breakout and writes "
                "a run checkpoint with the memory. Peak RSS is `ru_maxrss` of the one process."
            ),
            "",
            *provenance(),
            (
                f"- Redo: `.venv/bin/python benchmarks/bench_nature_memory.py --train-steps {args.train_steps}"
                " --write BENCHMARKS.md`"
            ),
            "",
            "| Moment | Peak RSS so far |",
            "|---|---:|",
            *[f"| {moment} | {mib:,.0f} MiB |" for moment, mib in figures.items()],
            "",
            (
                f"- Memory arrays (`nbytes`): {nbytes / 2**20:,.0f} MiB; filling took {fill_seconds:.0f} s, "
                f"the checkpoint {save_seconds:.0f} s"
            ),
            f"- Peak RSS {peak * 2**20 / 1e9:.2f} GB (goal < 8 GB): {verdict(peak * 2**20 < GOAL_BYTES)}",
            "",
        ]
    )
    publish(text, SECTION, args.write)


if __name__ == "__main__":
    main()
