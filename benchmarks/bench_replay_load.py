"""Peak memory of resuming a replay memory: what ``ReplayMemory.load`` holds in RAM at once.

A child process fills a memory of ``--capacity`` transitions from synthetic steps (as
``bench_replay.py`` does: one environment, every row written) and saves it to a temporary
directory; a second child loads it with ``ReplayMemory.load`` and reports its own peak RSS
(``ru_maxrss``) and its RSS just after imports. The loading child's share (peak minus
baseline) is compared with the memory's arrays (``nbytes``): a load that reads each saved
array into RAM before copying it into the new memory peaks near twice the arrays; one that
copies from the mapped file stays near one. Goal: share <= 1.1 x the arrays.

Usage::

    .venv/bin/python benchmarks/bench_replay_load.py --capacity 250000            # print only
    .venv/bin/python benchmarks/bench_replay_load.py --write BENCHMARKS.md         # 1,000,000, recorded

It needs about the arrays' size in free disk and twice it in free RAM.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_replay import fill, make_memory
from common import (
    current_rss_kib,
    peak_rss_kib,
    provenance,
    report_to_parent,
    run_child,
    verdict,
    write_section,
)

from dqnlib.replay import ReplayMemory

SHARE_GOAL = 1.1  # the loading child's RSS share over the arrays' bytes, at most
MIB = 1024 * 1024
SECTION_TITLE = "## Replay memory: peak RAM of loading a saved one"


def fill_and_save(capacity: int, seed: int, directory: Path) -> dict[str, Any]:
    memory = make_memory(capacity, 1, False, seed)
    fill(memory, seed)
    memory.save(directory)
    return {"nbytes": memory.nbytes}


def load(directory: Path) -> dict[str, Any]:
    baseline = current_rss_kib()
    start = time.perf_counter()
    memory = ReplayMemory.load(directory)
    return {
        "baseline_kib": baseline,
        "peak_kib": peak_rss_kib(),
        "seconds": time.perf_counter() - start,
        "nbytes": memory.nbytes,
    }


def section(result: dict[str, Any], capacity: int, command: str) -> str:
    share = (result["peak_kib"] - result["baseline_kib"]) * 1024 / result["nbytes"]
    lines = [
        SECTION_TITLE,
        "",
        "Resuming a run reads its replay memory back (`ReplayMemory.load`, from the checkpoint's",
        "`.npy` files). A child process loads a full memory of synthetic Breakout-sized frames",
        "saved by another; its peak RSS above its RSS after imports, against the arrays' bytes.",
        "",
        *provenance(),
        f"- Redo: `{command}`",
        "",
        "| capacity | arrays | peak RSS of the load, above baseline | share | load time |",
        "|---:|---:|---:|---:|---:|",
        (
            f"| {capacity:,} | {result['nbytes'] / MIB:,.0f} MiB "
            f"| {(result['peak_kib'] - result['baseline_kib']) / 1024:,.0f} MiB | {share:.2f} "
            f"| {result['seconds']:.1f} s |"
        ),
        "",
        f"- Share <= {SHARE_GOAL}: {verdict(share <= SHARE_GOAL)}",
        "- Before `_read_npy_into` (dqnlib of commit `8f3ffc1`, which read each array with `np.load`",
        "  and then copied it), the same script gave a share of 2.00 at `--capacity 250000`",
        "  (3,366 MiB for 1,685 MiB of arrays); a `nature` run of 1,000,000 transitions then",
        "  peaked near 14 GB while resuming, and was killed by the kernel beside another run.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--capacity", type=int, default=1_000_000, help="memory capacity (transitions)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--write", type=Path, help="replace this section of a Markdown file (BENCHMARKS.md)")
    parser.add_argument("--fill-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--load-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.capacity < 1_000:
        parser.error(f"--capacity must be at least 1000, got {args.capacity}")
    if args.fill_child:
        report_to_parent(fill_and_save(args.capacity, args.seed, args.fill_child))
        return
    if args.load_child:
        report_to_parent(load(args.load_child))
        return
    script = str(Path(__file__).resolve())
    with tempfile.TemporaryDirectory(prefix="bench_replay_load_") as scratch:
        saved = Path(scratch) / "replay"
        common = ["--capacity", str(args.capacity), "--seed", str(args.seed)]
        run_child([sys.executable, script, *common, "--fill-child", str(saved)], "fill and save")
        result = run_child([sys.executable, script, *common, "--load-child", str(saved)], "load")
    command = shlex.join(
        ["python", "benchmarks/bench_replay_load.py", *(argv if argv is not None else sys.argv[1:])]
    )
    text = section(result, args.capacity, command)
    print(text)
    if args.write:
        write_section(args.write, SECTION_TITLE, text)


if __name__ == "__main__":
    main()
