"""What the benchmark scripts share: where and when they ran, their sections of BENCHMARKS.md,
child processes that report back, and memory readings."""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
RESULT_PREFIX = "RESULT "  # marks the line a child process reports its result on

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
    print(f"wrote '{title}' to {path}", file=sys.stderr)


def source_state() -> str:
    """The short HEAD commit in backticks, marked when dqnlib/ has uncommitted changes (the code measured)."""
    commit = command_output(["git", "-C", str(REPOSITORY), "rev-parse", "--short", "HEAD"]) or "unknown"
    dirty = command_output(["git", "-C", str(REPOSITORY), "status", "--porcelain", "--", "dqnlib"])
    return f"`{commit}`" + (" + uncommitted changes to dqnlib/" if dirty else "")


def provenance(source: str | None = None) -> list[str]:
    """The lines that say where and when a section was measured: machine, date and commit
    (``source``, e.g. a change during the run; ``source_state()`` now when not given)."""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = source_state() if source is None else source
    return [f"- Machine: {cpu_model()}, {num_cpus()} CPUs (`nproc`)", f"- Date: {date}, commit {source}"]


def software(versions: dict[str, str]) -> str:
    """The section line naming Python's version and ``versions`` (package name: version)."""
    packages = "".join(f", {name} {version}" for name, version in versions.items())
    return f"- Software: Python {platform.python_version()}{packages}"


def report_to_parent(result: dict) -> None:
    """In a child process: print ``result`` on the one line that ``run_child`` reads."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_child(command: list[str], label: str, env: dict[str, str] | None = None) -> dict:
    """Run ``command`` and return what it sent with ``report_to_parent``; when it fails, stop the
    benchmark with ``label`` and the last lines of its stderr."""
    process = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in process.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if process.returncode != 0 or not lines:
        tail = "\n".join(process.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"{label} failed (exit {process.returncode}):\n{tail}")
    return json.loads(lines[-1].removeprefix(RESULT_PREFIX))


def peak_rss_kib(who: int = resource.RUSAGE_SELF) -> int:
    """Peak resident memory in KiB (``ru_maxrss`` on Linux) of this process, or with
    ``resource.RUSAGE_CHILDREN`` of the largest child waited for so far."""
    return resource.getrusage(who).ru_maxrss


def current_rss_kib() -> int:
    """VmRSS of this process in KiB (Linux); falls back to the peak so far."""
    try:
        match = re.search(r"^VmRSS:\s+(\d+)\s+kB", Path("/proc/self/status").read_text(), re.MULTILINE)
    except OSError:
        match = None
    return int(match.group(1)) if match else peak_rss_kib()


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
