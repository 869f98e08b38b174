"""Denormal floats are flushed to zero in every torch thread once dqnlib is imported (an
optimizer step over denormal moments is many times slower: benchmarks/bench_denormals.py)."""

import subprocess
import sys

import pytest

from dqnlib.denormals import flush_denormals

pytestmark = pytest.mark.skipif(not flush_denormals(), reason="this CPU cannot flush denormals")

STARTS_WORKER_THREADS = "torch.ones(1 << 22).add_(1)"


def run_python(code: str) -> str:
    """The stdout and stderr of ``code`` run by a fresh interpreter with two torch threads."""
    result = subprocess.run(
        [sys.executable, "-c", "import torch\ntorch.set_num_threads(2)\n" + code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


PROBE = "from dqnlib.denormals import denormals_flushed\nprint('flushed:', denormals_flushed())\n"


def test_importing_dqnlib_flushes_denormals_in_torchs_worker_threads_too():
    assert "flushed: True" in run_python("import dqnlib\n" + PROBE)


def test_the_probe_sees_a_thread_that_keeps_denormals():
    """Flushing turned off in the main thread before the workers start: they all keep them."""
    code = "import dqnlib\ntorch.set_flush_denormal(False)\n" + PROBE
    assert "flushed: False" in run_python(code)


def test_training_warns_where_worker_threads_started_before_the_import():
    """torch's worker threads take the flags when they start, so dqnlib sets them on import;
    threads started earlier keep denormals, and the probe and the training loop say so."""
    code = (
        f"{STARTS_WORKER_THREADS}\n"
        "import dqnlib\n"
        + PROBE
        + "dqnlib.AtariDQNAgent(preset='tiny', torch_threads=2).train(50, progress_bar=False)\n"
    )
    output = run_python(code)
    assert "flushed: False" in output
    assert output.count("keep denormal floats") == 1


def test_training_after_the_import_does_not_warn():
    output = run_python(
        "import dqnlib\ndqnlib.AtariDQNAgent(preset='tiny', torch_threads=2).train(50, progress_bar=False)\n"
    )
    assert "denormal" not in output
