"""The Makefile's targets as a user runs them: `make lab` starts as root, and a `make train`
stopped with Ctrl-C ends without an error from make and says how to continue."""

import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _read_until(process: subprocess.Popen, words: str, seconds: float) -> list[str]:
    """Start collecting the process's output lines; return once a line holds ``words`` (or the
    time is up). The list keeps filling until the output ends."""
    seen: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in process.stdout:
            seen.append(line)
            if words in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    found.wait(seconds)
    return seen


def _make(*arguments: str, env: dict | None = None) -> subprocess.Popen:
    """``make ARGUMENTS`` in the repository, in a process group of its own, output piped."""
    return subprocess.Popen(
        ["make", *arguments],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def test_make_lab_starts_jupyterlab_as_any_user(tmp_path):
    """Containers and CI run as root, where JupyterLab refuses to start without --allow-root."""
    environment = {
        **os.environ,
        "JUPYTER_PORT": str(_free_port()),
        "BROWSER": "true",
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
    }
    process = _make("lab", env=environment)
    try:
        output = "".join(_read_until(process, "is running at", 120))
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    assert "is running at" in output, output[-2000:]


@pytest.mark.parametrize("whom", ["trainer", "terminal"])
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_asked_of_make_train_saves_and_is_no_make_error(tmp_path, stop, whom):
    """SIGINT or a scheduler's SIGTERM, to the training process or, as a terminal's Ctrl-C does,
    to make's whole process group: the trainer writes a checkpoint, says how to continue and
    exits 130, and make prints no error."""
    run_dir = tmp_path / "run"
    process = _make("train", f"RUN_DIR={run_dir}", "STEPS=1000000")
    try:
        # The bar appears when the loop starts, just before it takes over SIGINT and SIGTERM.
        lines = _read_until(process, "DQN Breakout", 180)
        threading.Event().wait(2.0)
        if whom == "terminal":
            os.killpg(process.pid, stop)
        else:
            pattern = "^[^ ]*python[^ ]* -m dqnlib train"  # the trainer, not the recipe's shell
            found = subprocess.run(
                ["pgrep", "-g", str(process.pid), "-f", pattern], check=False, capture_output=True, text=True
            )
            trainer = found.stdout.split()
            assert len(trainer) == 1, trainer
            os.kill(int(trainer[0]), stop)
        process.wait(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    threading.Event().wait(0.5)  # the reader takes the last lines
    output = "".join(lines)
    # Signalled itself, make ends by that signal, unless it was started with the signal ignored
    # (a background job's SIGINT, as in some CI runners): then it exits 0. Neither is an error.
    assert process.returncode in ((0,) if whom == "trainer" else (0, -stop)), output[-2000:]
    assert "make: ***" not in output and "run the same command to continue" in output, output[-2000:]
    assert list((run_dir / "checkpoints").glob("step_*/state.json"))
