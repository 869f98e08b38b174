"""Denormal floats flushed to zero on the CPU, in torch's worker threads too.

Adam's and RMSProp's second moments of a weight whose gradient stays zero (a unit that no
longer fires) decay by a constant factor every update, into the denormal range below 1.2e-38,
where a CPU computes many times slower. Late in a Breakout run of the default preset, 41% of
Adam's moments were denormal and its fused step took 34 ms instead of 2 (BENCHMARKS.md, "Denormal
floats in the optimizer's moments"). Flushed to zero, as TensorFlow does by default, they cost
nothing: a moment that small divides a step by epsilon alone either way.

The flags are per thread, and torch's worker threads copy them from the thread that starts
them, so ``dqnlib`` sets them on import, before torch runs anything in parallel.
"""

from __future__ import annotations

import torch

# Enough elements that every worker thread gets a share of the probe's multiplication.
_PROBE_SIZE = 1 << 22


def flush_denormals() -> bool:
    """Flush denormals to zero in this thread and in the worker threads it starts from now on;
    False on a CPU that cannot."""
    return torch.set_flush_denormal(True)


def denormals_flushed() -> bool:
    """Whether every thread of a parallel torch operation on the CPU flushes denormals now.

    Multiplies the smallest denormal float (bit pattern 1) by one: a thread that flushes
    returns zero for its share, one that does not returns the denormal unchanged.
    """
    smallest = torch.ones(_PROBE_SIZE, dtype=torch.int32).view(torch.float32)
    # Read as bits: a flushing thread would read a denormal left by another thread as zero.
    return not smallest.mul(1.0).view(torch.int32).any().item()
