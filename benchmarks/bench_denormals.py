"""The optimizer's step with denormal moments, and with them zeroed as the agent does.

Late in a run many of the Nature network's weights get no gradient (their units no longer fire),
and their second moments decay into denormal floats. Each timing runs in its own process: the
Nature network's optimizer of a preset (``default``: fused Adam; ``nature``: centered RMSProp)
as ``dqnlib/agent.py`` makes it, one step with gradients to fill its moments, then a share of the
second moments set to a denormal value (1e-40), with first moments and gradients of zero, as a
dead unit's are; then the moments kept, or zeroed by ``zero_denormal_state``; ``--updates``
timed steps. With ``--checkpoint`` (a run checkpoint's ``model.pt``) the moments are that run's
instead, and the weights whose second moment is denormal get zero gradients.
Run it on an otherwise idle machine.

Usage: .venv/bin/python benchmarks/bench_denormals.py [--share S] [--updates 30] [--rounds 3] [--write BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from common import median_range, publish, report_to_parent, run_child, section

SECTION = "## Denormal floats in the optimizer's moments"
DENORMAL = 1e-40
# Shares of denormal second moments counted in two Breakout runs' checkpoints at 500,000 steps
# (the default preset's without life-loss terminals, and the nature preset's).
MEASURED_SHARES = {"default": 0.41, "nature": 0.19}


def child(
    preset: str, threads: int, zeroed: bool, share: float, updates: int, checkpoint: str | None
) -> None:
    import torch

    import dqnlib
    from dqnlib.agent import make_optimizer
    from dqnlib.denormals import zero_denormal_state
    from dqnlib.networks import NatureQNetwork

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = NatureQNetwork(4)
    optimizer = make_optimizer(dqnlib.make_config(preset), network.parameters())  # the agent's
    first, second = ("exp_avg", "exp_avg_sq") if preset != "nature" else ("grad_avg", "square_avg")
    tiny = torch.finfo(torch.float32).tiny
    if checkpoint is None:
        for weight in network.parameters():
            weight.grad = torch.randn_like(weight) * 1e-3
        optimizer.step()
        for weight in network.parameters():
            dead = torch.rand(weight.shape) < share
            optimizer.state[weight][first][dead] = 0.0
            optimizer.state[weight][second][dead] = DENORMAL
            weight.grad = torch.where(dead, 0.0, torch.randn_like(weight) * 1e-3)
    else:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
        network.load_state_dict(saved["online"])
        optimizer.load_state_dict(saved["optimizer"])
        for weight in network.parameters():
            dead = optimizer.state[weight][second] < tiny
            weight.grad = torch.where(dead, 0.0, torch.randn_like(weight) * 1e-3)
    # Counted from the bits: a zero exponent and a nonzero fraction.
    bits = [optimizer.state[weight][second].view(torch.int32) for weight in network.parameters()]
    denormal = sum(int((((b & 0x7F800000) == 0) & ((b & 0x007FFFFF) != 0)).sum()) for b in bits)
    denormal /= sum(b.numel() for b in bits)
    if zeroed:
        zero_denormal_state(optimizer)  # what the agent does every denormals.SWEEP_UPDATES updates
    optimizer.step()  # warm-up
    durations = []
    for _ in range(updates):
        started = time.perf_counter()
        optimizer.step()
        durations.append(time.perf_counter() - started)
    report_to_parent({"ms": 1_000 * statistics.median(durations), "denormal": denormal})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--share", type=float, help="share of second moments made denormal (default: measured)"
    )
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--checkpoint", help="a run checkpoint's model.pt (then --presets names its preset)")
    parser.add_argument("--presets", default="default,nature")
    parser.add_argument("--write", type=Path)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        preset, threads, zeroed = args.child
        child(preset, int(threads), zeroed == "zeroed", args.share, args.updates, args.checkpoint)
        return
    rows = [
        "| preset | optimizer | denormal second moments | threads | step, denormals kept (ms) | step, denormals zeroed (ms) | x faster |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for preset in args.presets.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            times: dict[str, list[float]] = {"kept": [], "zeroed": []}
            for _ in range(args.rounds):  # interleaved
                for mode, durations in times.items():
                    command = [sys.executable, __file__, "--child", preset, str(threads), mode]
                    share = MEASURED_SHARES.get(preset, 0.41) if args.share is None else args.share
                    command += ["--share", str(share), "--updates", str(args.updates)]
                    command += ["--checkpoint", args.checkpoint] if args.checkpoint else []
                    result = run_child(command, f"{preset} with {threads} thread(s), denormals {mode}")
                    durations.append(result["ms"])
            optimizer = "centered RMSProp" if preset == "nature" else "Adam (fused)"
            speedup = statistics.median(times["kept"]) / statistics.median(times["zeroed"])
            rows.append(
                f"| {preset} | {optimizer} | {100 * result['denormal']:.0f}% | {threads} | "
                f"{median_range(times['kept'])} | {median_range(times['zeroed'])} | {speedup:.1f} |"
            )
    if args.checkpoint:
        source = f"those of run checkpoint `{args.checkpoint}`, with zero gradients where they are denormal"
    else:
        source = (
            f"a share set to {DENORMAL} (the preset's share in a 500,000-step Breakout run's checkpoint, "
            "or `--share`), with first moments and gradients of zero there, as a dead unit's"
        )
    setup = (
        f"One optimizer step of the Nature network (1.69 million weights); second moments: {source}; "
        "then kept, or zeroed as the agent does every 1,000 updates (`dqnlib/denormals.py`). "
        f"Median of {args.updates} steps per process, median (range) over {args.rounds} interleaved rounds."
    )
    redo = " ".join([".venv/bin/python benchmarks/bench_denormals.py", *sys.argv[1:]])
    title = SECTION + (": a run's checkpoint" if args.checkpoint else "")
    publish(section(title, setup, redo, rows), title, args.write)


if __name__ == "__main__":
    main()
