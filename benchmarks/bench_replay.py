"""Replay memory cost of dqnlib at Atari scale: bytes per transition, peak RSS and sampling rate.

Everything runs on synthetic data, no environment: a handful of random
``(num_envs, 4, 84, 84) uint8`` observation arrays made up front and cycled through,
random actions and rewards, ``terminated`` with probability 0.01, never ``truncated``.
A memory is "full" once every one of its ``capacity // num_envs`` rows has been written.

1. Bytes per transition: ``ReplayMemory.nbytes / capacity``, uniform and prioritized;
   goal <= 7,200 (one 84x84 frame is 7,056 bytes).
2. Peak RSS: a child process (this script with a hidden flag) imports dqnlib, notes its
   RSS, fills a memory and exits; the parent reads ``getrusage(RUSAGE_CHILDREN).ru_maxrss``
   (KiB on Linux). Uniform runs first, then prioritized (which allocates a superset), so
   each reading is that child's own peak. No goal; it shows the memory's real share.
3. Sampling: another child fills a memory completely, then samples batches of 32 for a
   warm-up and a timed window (``--seconds``, ``time.perf_counter``). Uniform: goal >=
   5,000 batches/s. Prioritized: each ``sample`` is followed by ``update_priorities``
   with random TD errors, as in training; the rate is reported including the update
   (goal >= 2,000 batches/s) and excluding it (time spent inside ``sample`` only).

   Each child measures two ways of calling it, in this order: ``sample(32)``, which
   returns new arrays every call, and ``sample(32, out=batch)`` into one batch from
   ``empty_batch(32)``, as ``DQNAgent`` does. A batch's two state arrays are 0.9 MB each,
   above glibc's initial 128 KiB mmap threshold, so a fresh process maps, page-faults and
   unmaps them on every allocating call (glibc raises the threshold only once the process
   frees a larger mapped block, which depends on whatever else it does). Minor page
   faults per batch are reported with each rate to show which case a number is.

Usage::

    .venv/bin/python benchmarks/bench_replay.py                         # print only
    .venv/bin/python benchmarks/bench_replay.py --write BENCHMARKS.md   # also record
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    current_rss_kib,
    peak_rss_kib,
    provenance,
    report_to_parent,
    run_child,
    software,
    source_state,
    verdict,
    write_section,
)

from dqnlib.replay import ReplayMemory

FRAME_SHAPE = (84, 84)
STACK_SIZE = 4
BATCH_SIZE = 32
NUM_ACTIONS = 18  # the full Atari action set
OBSERVATION_POOL = 4  # random observation arrays cycled through while filling
TERMINATE_PROBABILITY = 0.01
FILL_BLOCK = 4096  # env steps of random actions/rewards/flags drawn per call to the generator
TD_BLOCK = 1024  # batches of random TD errors drawn up front (256 KiB: too small to move glibc's threshold)
BYTES_GOAL = 7_200  # bytes per transition, at most
UNIFORM_GOAL = 5_000  # uniform batches of 32 per second, at least
PRIORITIZED_GOAL = 2_000  # prioritized batches of 32 per second (with update_priorities), at least
LOAD_WARNING = 1.5  # 1-minute load average above which something else was busy on the 2 cores
MIB = 1024 * 1024
MODES = ("uniform", "prioritized")
CALLS = ("`sample(32)`, new arrays per call", "`sample(32, out=batch)`, reused batch")
SECTION_TITLE = "## Replay memory"


# ---------------------------------------------------------------------- children
def make_memory(capacity: int, num_envs: int, prioritized: bool, seed: int) -> ReplayMemory:
    return ReplayMemory(
        capacity,
        num_envs=num_envs,
        frame_shape=FRAME_SHAPE,
        stack_size=STACK_SIZE,
        n_step=1,
        prioritized=prioritized,
        rng=seed,
    )


def fill(memory: ReplayMemory, seed: int) -> tuple[int, float]:
    """Write every row of ``memory`` from synthetic steps; returns (env steps added, seconds)."""
    num_envs = memory.spec.num_envs
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 256, size=(OBSERVATION_POOL, num_envs, STACK_SIZE, *FRAME_SHAPE), dtype=np.uint8)
    truncated = np.zeros(num_envs, dtype=bool)
    start = time.perf_counter()
    memory.start(pool[0])
    steps = 0
    while memory.rows_written < memory.rows:
        block = min(FILL_BLOCK, memory.rows - memory.rows_written)
        actions = rng.integers(0, NUM_ACTIONS, size=(block, num_envs), dtype=np.int64)
        rewards = rng.choice(np.array([-1.0, 0.0, 1.0], dtype=np.float32), size=(block, num_envs))
        terminated = rng.random((block, num_envs)) < TERMINATE_PROBABILITY
        for i in range(block):
            steps += 1
            memory.add(actions[i], rewards[i], terminated[i], truncated, pool[steps % OBSERVATION_POOL])
    return steps, time.perf_counter() - start


def _minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def fill_child(args: argparse.Namespace) -> dict[str, Any]:
    """Hidden ``--fill-child MODE``: note RSS after imports, fill a memory, report, exit."""
    baseline = current_rss_kib()
    memory = make_memory(args.capacity, args.num_envs, args.fill_child == "prioritized", args.seed)
    steps, seconds = fill(memory, args.seed)
    return {
        "baseline_rss_kib": baseline,
        "self_maxrss_kib": peak_rss_kib(),
        "nbytes": memory.nbytes,
        "steps": steps,
        "fill_seconds": seconds,
    }


def timed_sampling(
    memory: ReplayMemory, reuse: bool, seconds: float, warmup: float, seed: int
) -> dict[str, float]:
    """Sample (and for prioritized, update) for ``warmup`` s, then count batches over ``seconds``."""
    prioritized = memory.tree is not None
    out = memory.empty_batch(BATCH_SIZE) if reuse else None
    td_errors = np.random.default_rng(seed).standard_normal((TD_BLOCK, BATCH_SIZE))
    perf_counter = time.perf_counter
    batches = 0
    sample_seconds = 0.0

    def step() -> None:
        nonlocal batches, sample_seconds
        before = perf_counter()
        batch = memory.sample(BATCH_SIZE, out=out)
        sample_seconds += perf_counter() - before
        if prioritized:
            memory.update_priorities(batch.indices, td_errors[batches % TD_BLOCK])
        batches += 1

    end = perf_counter() + warmup
    while perf_counter() < end:
        step()
    batches, sample_seconds = 0, 0.0
    faults = _minor_faults()
    start = perf_counter()
    end = start + seconds
    while True:
        step()
        now = perf_counter()
        if now >= end:
            break
    return {
        "batches": batches,
        "elapsed": now - start,
        "sample_seconds": sample_seconds,
        "faults": _minor_faults() - faults,
    }


def sample_child(args: argparse.Namespace) -> dict[str, Any]:
    """Hidden ``--sample-child MODE``: fill a memory, then time ``sample`` without, then with, ``out=``."""
    memory = make_memory(args.capacity, args.num_envs, args.sample_child == "prioritized", args.seed)
    steps, seconds = fill(memory, args.seed)
    report: dict[str, Any] = {"steps": steps, "fill_seconds": seconds}
    for i, call in enumerate(CALLS):  # allocating first, while glibc's mmap threshold is still low
        report[call] = timed_sampling(memory, call != CALLS[0], args.seconds, args.warmup, args.seed + 1 + i)
    return report


# ---------------------------------------------------------------------- parent
def run_self(flag: str, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run this script with a hidden child flag and return the report it sends back."""
    command = [sys.executable, str(Path(__file__).resolve()), flag, mode]
    for name in ("capacity", "num_envs", "seed", "seconds", "warmup"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    return run_child(command, f"{flag} {mode}")


@dataclass(frozen=True)
class RssResult:
    mode: str
    peak_kib: int  # getrusage(RUSAGE_CHILDREN).ru_maxrss just after the child was waited for
    self_peak_kib: int  # the child's own ru_maxrss, a cross-check
    baseline_kib: int  # the child's VmRSS just after imports
    nbytes: int
    fill_rate: float  # env steps (rows) per second while filling

    @property
    def share_mib(self) -> float:
        return (self.peak_kib - self.baseline_kib) / 1024


def measure_rss(mode: str, args: argparse.Namespace) -> RssResult:
    report = run_self("--fill-child", mode, args)
    peak = peak_rss_kib(resource.RUSAGE_CHILDREN)
    if abs(peak - report["self_maxrss_kib"]) > 16 * 1024:
        print(
            f"warning: RUSAGE_CHILDREN says {peak} KiB, the {mode} child itself {report['self_maxrss_kib']} KiB",
            file=sys.stderr,
        )
    return RssResult(
        mode,
        peak,
        report["self_maxrss_kib"],
        report["baseline_rss_kib"],
        report["nbytes"],
        report["steps"] / report["fill_seconds"],
    )


@dataclass(frozen=True)
class SampleResult:
    mode: str
    call: str
    batches: int
    elapsed: float  # the whole timed window, update_priorities included
    sample_seconds: float  # time inside sample() only
    faults: int  # minor page faults during the window

    @property
    def rate(self) -> float:
        return self.batches / self.elapsed

    @property
    def sample_rate(self) -> float:
        return self.batches / self.sample_seconds

    @property
    def faults_per_batch(self) -> float:
        return self.faults / self.batches


def measure_sampling(mode: str, args: argparse.Namespace) -> list[SampleResult]:
    report = run_self("--sample-child", mode, args)
    print(f"{mode}: filled {report['steps']:,} steps in {report['fill_seconds']:.1f} s", file=sys.stderr)
    return [
        SampleResult(
            mode,
            call,
            report[call]["batches"],
            report[call]["elapsed"],
            report[call]["sample_seconds"],
            report[call]["faults"],
        )
        for call in CALLS
    ]


@dataclass(frozen=True)
class Results:
    capacity: int
    bytes_per_transition: dict[str, float]
    rss: list[RssResult]
    sampling: list[SampleResult]
    loads: list[tuple[float, float, float]]  # os.getloadavg() before, between phases and after
    sources: tuple[str, str]  # source_state() before and after the run


def _rate_row(label: str, rate: float, goal: int, faults: float) -> str:
    return (
        f"| {label} | {rate:,.0f}/s ({faults:,.1f} page faults/batch) "
        f"| >= {goal:,}/s | {verdict(rate >= goal)} |"
    )


def table(r: Results) -> str:
    rows = [
        "| Measurement | Value | Goal | Result |",
        "|---|---:|---:|---|",
    ]
    for mode in MODES:
        value = r.bytes_per_transition[mode]
        rows.append(
            f"| Bytes per transition, {mode} (`nbytes / capacity`) | {value:,.1f} B "
            f"| <= {BYTES_GOAL:,} B | {verdict(value <= BYTES_GOAL)} |"
        )
    for rss in r.rss:
        rows.append(
            f"| Peak RSS of a child that fills a {r.capacity:,} {rss.mode} memory (`RUSAGE_CHILDREN`) "
            f"| {rss.peak_kib / 1024:,.0f} MiB | - | info |"
        )
        rows.append(
            f"| - that child's RSS just after imports, before the memory "
            f"| {rss.baseline_kib / 1024:,.0f} MiB | - | info |"
        )
        rows.append(
            f"| - the memory's share, peak - after imports (`nbytes` = {rss.nbytes / MIB:,.0f} MiB) "
            f"| {rss.share_mib:,.0f} MiB ({rss.share_mib * MIB / rss.nbytes:.3f}x `nbytes`) | - | info |"
        )
    for s in r.sampling:
        if s.mode == "uniform":
            label = f"Batches of {BATCH_SIZE}/s, uniform, {s.call}"
            rows.append(_rate_row(label, s.rate, UNIFORM_GOAL, s.faults_per_batch))
        else:
            label = f"Batches of {BATCH_SIZE}/s, prioritized, {s.call}, + `update_priorities`"
            rows.append(_rate_row(label, s.rate, PRIORITIZED_GOAL, s.faults_per_batch))
            label = f"Batches of {BATCH_SIZE}/s, prioritized, {s.call}, `sample` only (update excluded)"
            rows.append(_rate_row(label, s.sample_rate, PRIORITIZED_GOAL, s.faults_per_batch))
    return "\n".join(rows)


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.2f}" for x in load)


def section(r: Results, args: argparse.Namespace, command: str) -> str:
    """The markdown section recorded in ``--write FILE``: setup, machine, table, notes."""
    commit = (
        r.sources[0]
        if r.sources[0] == r.sources[1]
        else f"{r.sources[0]}, changed during the run to {r.sources[1]}"
    )
    setup = (
        f"`ReplayMemory(capacity={args.capacity:_}, num_envs={args.num_envs}, frame_shape={FRAME_SHAPE}, "
        f"stack_size={STACK_SIZE}, n_step=1)`, fed synthetic data only: {OBSERVATION_POOL} random "
        f"({args.num_envs}, {STACK_SIZE}, 84, 84) uint8 observation arrays cycled through, random actions "
        f"and rewards, terminated with probability {TERMINATE_PROBABILITY}. Peak RSS: a child process "
        "fills the memory and exits; the parent reads `getrusage(RUSAGE_CHILDREN).ru_maxrss` (uniform "
        "child first, then prioritized). Sampling: in another child, the memory is filled completely "
        f"(every row written), then batches of {BATCH_SIZE} are drawn for a {args.warmup:g} s warm-up and "
        f"a {args.seconds:g} s timed window; prioritized calls `update_priorities` with random TD errors "
        "after every `sample`, and its 'sample only' rate counts the time inside `sample` alone."
    )
    malloc = (
        "Each sampling child times `sample(32)` first, then `sample(32, out=batch)` into one batch "
        "from `empty_batch(32)` (what `DQNAgent` does). A batch's two state arrays are 0.9 MB, above "
        "glibc's initial 128 KiB mmap threshold, so in a fresh process every allocating call maps, "
        "page-faults and unmaps them; glibc raises the threshold only after the process frees a "
        "larger mapped block, so that rate depends on what else a process allocates. The page "
        "faults per batch show which case a rate is."
    )
    loads = ", ".join(_load(load) for load in r.loads)
    lines = [
        SECTION_TITLE,
        "",
        setup,
        "",
        malloc,
        "",
        *provenance(commit),
        software({"numpy": np.__version__}),
        f"- Load average (`uptime`, 1/5/15 min) at start, after the RSS children, at end: {loads}",
        f"- Redo: `{command}`",
        "",
        table(r),
        "",
    ]
    if max(load[0] for load in r.loads) > LOAD_WARNING:
        note = (
            f"Note: the 1-minute load average exceeded {LOAD_WARNING} during the run (this benchmark "
            "keeps one of the 2 cores busy by itself), so other work, e.g. the lead's test runs, may "
            "have loaded the other core; rates may be somewhat low."
        )
        lines += [note, ""]
    return "\n".join(lines)


def invoked_command(argv: list[str] | None) -> str:
    """The command line as run, with the interpreter relative to the working directory when inside it."""
    python = os.path.relpath(sys.executable)
    script = os.path.relpath(sys.argv[0]) if sys.argv and sys.argv[0] else "benchmarks/bench_replay.py"
    words = sys.argv[1:] if argv is None else argv
    return shlex.join([sys.executable if python.startswith("..") else python, script, *words])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000, help="memory capacity (transitions)")
    parser.add_argument("--num-envs", type=int, default=8, help="environments feeding each add()")
    parser.add_argument("--seconds", type=float, default=5.0, help="timed sampling window per case (s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="sampling warm-up before each window (s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data and the memories")
    parser.add_argument(
        "--write", type=Path, metavar="FILE", help=f"replace or append the '{SECTION_TITLE}' section of FILE"
    )
    parser.add_argument("--fill-child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--sample-child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be > 0 and --warmup >= 0")
    if args.num_envs < 1 or args.capacity < max(args.num_envs * (STACK_SIZE + 2), BATCH_SIZE):
        parser.error("--num-envs must be >= 1 and --capacity large enough for a few steps of every env")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.fill_child is not None or args.sample_child is not None:
        report = fill_child(args) if args.fill_child is not None else sample_child(args)
        report_to_parent(report)
        return 0

    loads = [os.getloadavg()]
    source_before = source_state()
    # np.zeros leaves pages untouched until written, so these memories cost next to no RSS.
    memories = {
        mode: make_memory(args.capacity, args.num_envs, mode == "prioritized", args.seed) for mode in MODES
    }
    bytes_per_transition = {mode: memory.nbytes / args.capacity for mode, memory in memories.items()}
    del memories
    for mode, value in bytes_per_transition.items():
        print(f"{mode}: {value:,.1f} bytes per transition", file=sys.stderr)
    rss = []
    for mode in MODES:  # uniform first: RUSAGE_CHILDREN is the largest child so far
        rss.append(measure_rss(mode, args))
        print(
            f"{mode}: child peak RSS {rss[-1].peak_kib / 1024:,.0f} MiB, after imports "
            f"{rss[-1].baseline_kib / 1024:,.0f} MiB, filled at {rss[-1].fill_rate:,.0f} steps/s",
            file=sys.stderr,
        )
    loads.append(os.getloadavg())
    sampling = []
    for mode in MODES:
        sampling += measure_sampling(mode, args)
        for s in sampling[-2:]:
            print(
                f"{s.mode}, {s.call}: {s.batches:,} batches in {s.elapsed:.2f} s = {s.rate:,.0f}/s "
                f"(sample only {s.sample_rate:,.0f}/s, {s.faults_per_batch:.1f} faults/batch)",
                file=sys.stderr,
            )
    loads.append(os.getloadavg())
    sources = (source_before, source_state())
    if sources[0] != sources[1]:
        print(f"warning: the code changed during the run: {sources[0]} -> {sources[1]}", file=sys.stderr)
    results = Results(args.capacity, bytes_per_transition, rss, sampling, loads, sources)

    print(table(results))
    if args.write is not None:
        write_section(args.write, SECTION_TITLE, section(results, args, invoked_command(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
