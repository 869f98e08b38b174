"""Denormal floats are flushed to zero in every torch thread once dqnlib is imported (an
optimizer step over denormal moments is many times slower: benchmarks/bench_denormals.py)."""

import subprocess
import sys

import pytest


def flushed_in_a_new_process(before_import: str) -> bool:
    """``denormals_flushed()`` in a fresh interpreter with two torch threads that runs
    ``before_import`` and then imports dqnlib."""
    code = (
        "import torch\n"
        "torch.set_num_threads(2)\n"
        f"{before_import}\n"
        "import dqnlib\n"
        "from dqnlib.denormals import denormals_flushed\n"
        "print(denormals_flushed())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return {"True": True, "False": False}[result.stdout.strip()]


def test_importing_dqnlib_flushes_denormals_in_torchs_worker_threads_too():
    assert flushed_in_a_new_process("")


def test_worker_threads_started_before_the_import_keep_their_setting_and_the_probe_says_so():
    """torch's worker threads copy the flags when they start; so dqnlib sets them on import."""
    assert not flushed_in_a_new_process("torch.ones(1 << 22).add_(1)  # starts the worker threads")


@pytest.mark.parametrize("threads", [1, 2])
def test_the_probe_reads_the_mode_set_in_this_process(threads):
    import torch

    from dqnlib.denormals import denormals_flushed

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.set_flush_denormal(False)
        assert not denormals_flushed()
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(before)
