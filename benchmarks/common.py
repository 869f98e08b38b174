"""What every benchmark script records: the machine, the commit, and its section of BENCHMARKS.md."""

from __future__ import annotations

import datetime
import os
import platform
import re
import statistics
import subprocess
from collections.abc import Sequence
from pathlib import Path

FILE_HEADER = (
    "# dqnlib benchmarks\n\n"
    "Numbers measured by the scripts in `benchmarks/`; each section says on what machine and how to redo it.\n"
)


def command_output(args: list[str]) -> str | None:
    """A command's stripped stdout, or None when it cannot run or fails."""
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def num_cpus() -> int:
    """CPUs this process may use; ``nproc`` without OMP_NUM_THREADS, which it would report instead."""
    nproc = command_output(["env", "-u", "OMP_NUM_THREADS", "-u", "OMP_THREAD_LIMIT", "nproc"])
    return int(nproc) if nproc and nproc.isdigit() else len(os.sched_getaffinity(0))


def verdict(ok: bool) -> str:
    return "**PASS**" if ok else "**FAIL**"


def write_section(path: Path, title: str, text: str) -> None:
    """Replace the section headed ``title`` in ``path`` with ``text``, or append it; others stay."""
    content = path.read_text() if path.exists() else FILE_HEADER
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    match = pattern.search(content)
    if match:
        tail = content[match.end() :]
        content = content[: match.start()] + text + ("\n" + tail if tail else "")
    else:
        content = content.rstrip("\n") + "\n\n" + text
    path.write_text(content)


def provenance() -> list[str]:
    """The lines that say where and when a section was measured: machine, date and commit."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    repository = Path(__file__).resolve().parent.parent
    commit = command_output(["git", "-C", str(repository), "rev-parse", "--short", "HEAD"]) or "unknown"
    return [f"- Machine: {cpu_model()}, {num_cpus()} CPUs (`nproc`)", f"- Date: {date}, commit `{commit}`"]


def learning_agent(double_dqn: bool = True):
    """A Breakout agent with the peers' hyperparameters (replay 100,000, batch 32, learning starts
    5,000, train frequency 4, target update 1,000), trained 5,400 steps: past random play and
    100 updates into its learning phase."""
    import dqnlib

    agent = dqnlib.AtariDQNAgent(
        "Breakout",
        seed=0,
        replay_capacity=100_000,
        batch_size=32,
        learning_starts=5_000,
        train_frequency=4,
        target_update_interval=1_000,
        double_dqn=double_dqn,
    )
    agent.train(5_400, progress_bar=False)
    return agent


def median_range(values: Sequence[float], digits: int = 1) -> str:
    """Repeated measurements as ``median (min-max)``, e.g. ``58.1 (51.6-73.1)``; one value alone."""
    middle = f"{statistics.median(values):,.{digits}f}"
    if len(values) == 1:
        return middle
    return f"{middle} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def section(title: str, setup: str, redo: str, rows: list[str]) -> str:
    """A BENCHMARKS.md section: title, what was run, machine/date/commit, the command, a table."""
    return "\n".join([title, "", setup, "", *provenance(), f"- Redo: `{redo}`", "", *rows, ""])


def publish(text: str, title: str, path: Path | None) -> None:
    """Print a section, and write it into ``path`` (BENCHMARKS.md) when one is given."""
    print(text)
    if path is not None:
        write_section(path, title, text)
