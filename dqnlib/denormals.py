"""Optimizer moments that decay into denormal floats, set to zero.

Adam's and RMSProp's moments of a weight whose gradient stays zero (a unit that no longer
fires) shrink by a constant factor every update, into the denormal range below 1.2e-38, where
a CPU computes many times slower; and there they stay: rounding holds a denormal of at most 500
units of its last place where Adam multiplies it by 0.999 (10 units for RMSProp's 0.95). Late
in a Breakout run of the default preset, 41% of Adam's second moments were denormal and its
fused step took 32 ms instead of 1.5 (BENCHMARKS.md, "Denormal floats in the optimizer's
moments"). Zeroing them changes no step: a moment that small leaves the step's divisor to
epsilon alone, and adds less than a weight's last bit.

The CPU's flush-to-zero mode would do it for every operation, but it belongs to the whole
process (it breaks, for one, hypothesis's float strategies) and to each thread apart; so the
agent sweeps its optimizer's state every :data:`SWEEP_UPDATES` updates instead, at update
counts that a resumed run shares.
"""

from __future__ import annotations

import torch

SWEEP_UPDATES = 1_000  # a moment takes about 10,000 of Adam's updates to sink from 1.2e-38 to its floor


def zero_denormal_state(optimizer: torch.optim.Optimizer) -> None:
    """Set every entry of ``optimizer``'s floating-point state tensors whose magnitude is below
    the smallest normal float of its dtype to zero, in place."""
    for state in optimizer.state.values():
        for value in state.values():
            if isinstance(value, torch.Tensor) and value.is_floating_point() and value.dim() > 0:
                value.masked_fill_(value.abs() < torch.finfo(value.dtype).tiny, 0.0)
