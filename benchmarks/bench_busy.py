"""Training speed on a busy machine: quiet, beside a busy-loop process, two trainings started
together, and beside the test suite; the learner's threads chosen by dqnlib (``auto``) against
torch's own count pinned (what dqnlib did before ``auto``) and one thread.

Each trainer is a child process: Breakout, the default preset with learning starting at 1,000
steps, trained 1,600 steps (random play, then the thread chooser's first trial), then timed
over ``--steps`` more: environment steps/s of the learning phase. The loads start before the
trainers and stop after them. The settings take turns, ``--rounds`` times, so that the
machine's drift hits all alike; each cell is the median (range) over the rounds.

Usage::

    .venv/bin/python benchmarks/bench_busy.py [--rounds 2] [--steps 2400] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from common import REPOSITORY, RESULT_PREFIX, median_range, publish, report_to_parent, section, verdict

SECTION_TITLE = "## Training speed beside other work"
LEARNING_STARTS = 1_000
WARM_STEPS = 1_600
LOADS = {
    "quiet": None,
    "beside a busy loop": [sys.executable, "-c", "while True: pass"],
    "beside the test suite": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
}
# (load, torch_threads of each trainer started together)
SETTINGS = [
    ("quiet", ("auto",)),
    ("quiet", ("pinned",)),
    ("beside a busy loop", ("auto",)),
    ("beside a busy loop", ("pinned",)),
    ("beside a busy loop", (1,)),
    ("quiet", ("auto", "auto")),
    ("quiet", ("pinned", "pinned")),
    ("beside the test suite", ("auto",)),
    ("beside the test suite", ("pinned",)),
]


def child_main(threads: str, steps: int) -> None:
    import torch

    import dqnlib

    setting = {"auto": "auto", "pinned": torch.get_num_threads()}.get(threads) or int(threads)
    agent = dqnlib.AtariDQNAgent("Breakout", seed=0, learning_starts=LEARNING_STARTS, torch_threads=setting)
    agent.train(WARM_STEPS, progress_bar=False)
    start = time.perf_counter()
    agent.train(steps, progress_bar=False)
    seconds = time.perf_counter() - start
    chooser = agent.loop.threads
    report_to_parent(
        {"steps_per_second": steps / seconds, "chosen": setting if chooser is None else chooser.chosen}
    )


def start_trainer(threads: str | int, steps: int) -> subprocess.Popen:
    command = [sys.executable, __file__, "--child", str(threads), "--steps", str(steps)]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPOSITORY
    )


def collect(process: subprocess.Popen) -> dict:
    out, _ = process.communicate()
    lines = [line for line in out.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not lines:
        raise SystemExit(f"a trainer failed (exit {process.returncode})")
    return json.loads(lines[-1].removeprefix(RESULT_PREFIX))


def run_setting(load: str, trainers: tuple, steps: int) -> list[dict]:
    """The trainers' results, started together beside ``load``."""
    loader = None
    if LOADS[load] is not None:
        loader = subprocess.Popen(
            LOADS[load],
            cwd=REPOSITORY,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        threading.Event().wait(5.0)  # the load gets going
    try:
        processes = [start_trainer(threads, steps) for threads in trainers]
        return [collect(process) for process in processes]
    finally:
        if loader is not None:
            os.killpg(loader.pid, signal.SIGKILL)
            loader.wait()


def label(load: str, trainers: tuple) -> str:
    names = {"auto": "auto", "pinned": "torch's count pinned", 1: "1 thread"}
    who = names[trainers[0]] if len(trainers) == 1 else f"two trainings, each {names[trainers[0]]}"
    return f"{load}: {who}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2_400, help="timed environment steps per trainer")
    parser.add_argument("--write", type=Path, metavar="FILE")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child, args.steps)
        return 0
    rates: dict[str, list[float]] = {}
    chosen: dict[str, set[int]] = {}
    for round_index in range(args.rounds):
        for load, trainers in SETTINGS:
            name = label(load, trainers)
            print(f"round {round_index + 1}: {name} ...", file=sys.stderr, flush=True)
            results = run_setting(load, trainers, args.steps)
            rates.setdefault(name, []).append(sum(r["steps_per_second"] for r in results))
            chosen.setdefault(name, set()).update(r["chosen"] for r in results)
    quiet = statistics.median(rates[label("quiet", ("auto",))])
    rows = ["| Setting | Env steps/s (summed over trainers) | Against quiet `auto` | Threads at the end |"]
    rows.append("|---|---:|---:|---|")
    for name, values in rates.items():
        median = statistics.median(values)
        rows.append(
            f"| {name} | {median_range(values)} | {median / quiet:.2f} | {', '.join(map(str, sorted(chosen[name])))} |"
        )

    def ratio(load: str, trainers: tuple) -> float:
        return statistics.median(rates[label(load, trainers)]) / quiet

    busy, two = ratio("beside a busy loop", ("auto",)), ratio("quiet", ("auto", "auto"))
    suite, pinned = ratio("beside the test suite", ("auto",)), ratio("quiet", ("pinned",))
    rows += [
        "",
        f"- Beside a busy loop, `auto` at >= 75% of quiet: {busy:.0%} {verdict(busy >= 0.75)}",
        f"- Two trainings together, summed, at >= 90% of one quiet: {two:.0%} {verdict(two >= 0.90)}",
        f"- Beside the test suite: {suite:.0%} of quiet (no hundredfold collapse: {verdict(suite > 0.1)})",
        f"- Quiet, `auto` no slower than torch's count pinned: pinned at {pinned:.0%} {verdict(pinned <= 1.05)}",
    ]
    setup = (
        f"Breakout, default preset, learning from step {LEARNING_STARTS:,}; each trainer a child process, "
        f"{WARM_STEPS:,} steps, then {args.steps:,} timed; the settings take turns over {args.rounds} rounds; "
        "median (range). Loads: `python -c 'while True: pass'`; the test suite is `pytest tests` of this "
        "repository, started 5 s before the trainer and killed after it."
    )
    redo = f".venv/bin/python benchmarks/bench_busy.py --rounds {args.rounds} --steps {args.steps} --write BENCHMARKS.md"
    publish(section(SECTION_TITLE, setup, redo, rows), SECTION_TITLE, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
