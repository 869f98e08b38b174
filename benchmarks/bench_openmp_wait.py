"""How OpenMP's wait policy changes dqnlib's training speed on a CPU.

torch's CPU wheels run each operation's threads with GNU OpenMP (libgomp). After a parallel
region its threads spin for a while before they sleep (``OMP_WAIT_POLICY`` unset: libgomp's
default spin count), forever (``ACTIVE``), or not at all (``PASSIVE``). A learner update is
a few hundred short operations in a row, so threads that sleep after each pay a wake-up on
the next; the games meanwhile run in ale-py's native threads on the same cores, which
threads that spin forever take time from. dqnlib used to set ``PASSIVE`` on import.

Each configuration runs in a fresh child process (the policy is read when torch loads):
Breakout with the peers' hyperparameters and DQN, 5,400 steps to get into the learning phase,
then a timed window of ``--steps`` training steps and ``--updates`` learner updates on one
fixed batch. The configurations take turns over ``--rounds``; median (range) per configuration.

Usage: .venv/bin/python benchmarks/bench_openmp_wait.py [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from common import learning_agent, median_range, publish, section

SECTION = "## OpenMP wait policy and training speed (CPU)"
POLICIES = {  # name: OMP_WAIT_POLICY (None: unset)
    "PASSIVE (dqnlib set it on import before)": "PASSIVE",
    "unset: libgomp's default spin, then sleep (dqnlib now)": None,
    "ACTIVE": "ACTIVE",
}


def child(steps: int, updates: int) -> None:
    agent = learning_agent(double_dqn=False)
    start = time.perf_counter()
    agent.train(steps, progress_bar=False)
    steps_per_second = steps / (time.perf_counter() - start)
    batch = agent.replay_memory.sample(32)
    for _ in range(3):
        agent.learn(batch)
    start = time.perf_counter()
    for _ in range(updates):
        agent.learn(batch)
    print(json.dumps({"steps": steps_per_second, "updates": updates / (time.perf_counter() - start)}))


def run_child(policy: str | None, args: argparse.Namespace) -> dict[str, float]:
    environment = {
        name: value for name, value in os.environ.items() if name not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    }
    if policy is not None:
        environment["OMP_WAIT_POLICY"] = policy
    command = [
        sys.executable,
        __file__,
        "--child",
        "--steps",
        str(args.steps),
        "--updates",
        str(args.updates),
    ]
    result = subprocess.run(command, env=environment, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last_line = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"the child with OMP_WAIT_POLICY={policy} failed: {last_line}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=1_200, help="timed training steps per child")
    parser.add_argument("--updates", type=int, default=40, help="timed learner updates per child")
    parser.add_argument("--write", type=Path, metavar="FILE")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rounds < 1 or args.steps < 1 or args.updates < 1:
        parser.error("--rounds, --steps and --updates must be >= 1")
    if args.child:
        child(args.steps, args.updates)
        return
    figures: dict[str, dict[str, list[float]]] = {name: {"steps": [], "updates": []} for name in POLICIES}
    for _ in range(args.rounds):
        for name, policy in POLICIES.items():
            result = run_child(policy, args)
            print(
                f"{name}: {result['steps']:.1f} steps/s, {result['updates']:.1f} updates/s", file=sys.stderr
            )
            for key in ("steps", "updates"):
                figures[name][key].append(result[key])

    rows = ["| OMP_WAIT_POLICY | Training env steps/s | Learner updates/s alone |", "|---|---:|---:|"]
    rows += [
        f"| {name} | {median_range(row['steps'])} | {median_range(row['updates'])} |"
        for name, row in figures.items()
    ]
    setup = (
        "Breakout, DQN, replay 100,000, batch 32, learning starts 5,000, train frequency 4, target update "
        f"1,000, 4 games, torch's default threads. Each child process: 5,400 steps, then {args.steps:,} "
        f"timed training steps and {args.updates} timed updates on one batch. The policies take turns over "
        f"{args.rounds} rounds; median (range)."
    )
    redo = (
        f".venv/bin/python benchmarks/bench_openmp_wait.py --rounds {args.rounds} --steps {args.steps} "
        f"--updates {args.updates} --write BENCHMARKS.md"
    )
    text = section(SECTION, setup, redo, rows)
    publish(text, SECTION, args.write)


if __name__ == "__main__":
    main()
