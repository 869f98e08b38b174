"""Denormal floats flushed to zero on the CPU, in torch's worker threads too.

Adam's and RMSProp's second moments of a weight whose gradient stays zero (a unit that no
longer fires) shrink by a constant factor every update, into the denormal range below 1.2e-38,
where a CPU computes many times slower; and there they stay: rounding holds a denormal of at
most 500 units of its last place where Adam multiplies it by 0.999 (10 units for RMSProp's
0.95). Late in a Breakout run of the default preset, 41% of Adam's second moments were denormal
and its fused step took 30 ms instead of 2 (BENCHMARKS.md, "Denormal floats in the optimizer's
moments"). Flushed to zero they cost nothing, and change no step: a second moment that small
leaves the step's divisor to epsilon alone either way.

The flags belong to each thread, and on Linux a thread starts with those of the thread that
starts it; so ``dqnlib`` sets them first thing on import, before torch starts its worker threads.
"""

from __future__ import annotations

import torch

# Enough elements that every worker thread gets a share of the probe's multiplication.
_PROBE_SIZE = 1 << 22


def flush_denormals() -> bool:
    """Flush denormals to zero in this thread and in the threads it starts from now on.

    Returns:
        False where the CPU cannot (torch's ``set_flush_denormal``), else True.
    """
    return torch.set_flush_denormal(True)


def denormals_flushed() -> bool:
    """Whether every thread of a parallel torch operation on the CPU flushes denormals now.

    Multiplies the smallest denormal float (bit pattern 1) by one: a thread that flushes
    returns zero for its share, one that does not returns the denormal unchanged.

    Returns:
        True when no share came back denormal.
    """
    smallest = torch.ones(_PROBE_SIZE, dtype=torch.int32).view(torch.float32)
    # Read as bits: a flushing thread would read a denormal left by another thread as zero.
    return not smallest.mul(1.0).view(torch.int32).any().item()
