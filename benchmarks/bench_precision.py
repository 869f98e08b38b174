"""Do dqnlib's speed settings cost learning? bf16 autocast against fp32, same seeds.

- CartPole: the ``cartpole`` preset with ``precision="fp32"`` and ``precision="bf16"`` for
  seeds 0..N-1, one torch thread; the greedy policy is evaluated on 10 games every 2,500
  steps up to 30,000. The curves are saved to ``benchmarks/results/precision_cartpole.json``
  so that ``--reuse-cartpole`` can redraw without retraining.
- Breakout: two runs of the default preset with seed 0, one in bf16 (the default on a CPU
  with bf16) and one with ``--set precision=fp32``, compared by their ``metrics.csv``: the
  mean training game score (raw, whole games) per 50,000-step bin.

Writes ``benchmarks/results/precision.png`` (both panels) and a section of BENCHMARKS.md.

The bf16 Breakout run is the shipped agent's (``checkpoints/breakout/metrics.csv``, the
``make train`` command); the fp32 one repeats it with ``--set precision=fp32``. Both ran the
training loop of commit e609648 (the environment stepped between updates, not during them),
so they differ in precision only.

Usage::

    .venv/bin/python -m dqnlib train --game Breakout --run-dir runs/precision_fp32 --steps 300000 \\
        --set precision=fp32
    .venv/bin/python benchmarks/bench_precision.py --seeds 10 \\
        --breakout-bf16 checkpoints/breakout/metrics.csv --breakout-fp32 runs/precision_fp32/metrics.csv \\
        --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch
from common import provenance, publish

from dqnlib import DQNAgent, make_config
from dqnlib.plotting import read_metrics

SECTION = "## Speed settings and learning: bf16 against fp32"
RESULTS = Path(__file__).resolve().parent / "results"
CARTPOLE_JSON = RESULTS / "precision_cartpole.json"
FIGURE = RESULTS / "precision.png"
PRECISIONS = ("fp32", "bf16")
EVAL_EVERY, CARTPOLE_STEPS, BIN = 2_500, 30_000, 50_000


def cartpole_curves(seeds: int) -> dict:
    """{precision: {seed: [mean greedy return at each evaluation]}} and the evaluation steps."""
    steps = list(range(EVAL_EVERY, CARTPOLE_STEPS + 1, EVAL_EVERY))
    curves: dict[str, dict[str, list[float]]] = {precision: {} for precision in PRECISIONS}
    for seed in range(seeds):
        for precision in PRECISIONS:
            agent = DQNAgent(make_config("cartpole", seed=seed, precision=precision))
            returns = []
            for step in steps:
                agent.train(step - agent.state.env_steps, progress_bar=False)
                returns.append(agent.evaluate(10, seed=step).mean)
            curves[precision][str(seed)] = returns
            print(f"CartPole seed {seed} {precision}: {[round(r) for r in returns]}", flush=True)
    return {"steps": steps, "curves": curves}


def breakout_bins(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin ends, mean game score and games per 50,000-step bin of a run's metrics.csv."""
    metrics = read_metrics(path)
    steps, scores = metrics["agent_step"], metrics["return"]
    ends = np.arange(BIN, int(steps.max()) + BIN, BIN)  # the last bin may be partial
    bins = np.digitize(steps, ends, right=True)
    means = np.array([scores[bins == i].mean() for i in range(len(ends))])
    counts = np.array([(bins == i).sum() for i in range(len(ends))])
    return ends, means, counts


def draw(cartpole: dict, breakout: dict[str, tuple]) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4))
    for precision in PRECISIONS:
        runs = np.array(list(cartpole["curves"][precision].values()))
        mean, low, high = runs.mean(0), runs.min(0), runs.max(0)
        left.plot(cartpole["steps"], mean, marker="o", label=f"{precision} (mean of {len(runs)} seeds)")
        left.fill_between(cartpole["steps"], low, high, alpha=0.15)
    left.set(
        xlabel="environment steps", ylabel="greedy return, 10 games", title="CartPole-v1, preset cartpole"
    )
    left.legend()
    for precision, (ends, means, _) in breakout.items():
        right.plot(ends, means, marker="o", label=f"{precision}, seed 0")
    right.set(
        xlabel="environment steps (end of 50k bin)",
        ylabel="mean training game score",
        title="Breakout, default preset",
    )
    right.legend()
    fig.tight_layout()
    RESULTS.mkdir(exist_ok=True)
    fig.savefig(FIGURE, dpi=90)


def section(cartpole: dict, breakout: dict[str, tuple], args: argparse.Namespace) -> str:
    steps = cartpole["steps"]
    seeds = len(cartpole["curves"]["fp32"])
    rows = ["| CartPole, step | " + " | ".join(f"{s / 1000:g}k" for s in steps) + " |"]
    rows.append("|---|" + "---:|" * len(steps))
    for precision in PRECISIONS:
        runs = np.array(list(cartpole["curves"][precision].values()))
        rows.append(
            f"| {precision}, mean of {seeds} seeds | " + " | ".join(f"{v:.0f}" for v in runs.mean(0)) + " |"
        )
    per_seed = {  # each seed's mean greedy return over the run's evaluations
        precision: np.array(list(cartpole["curves"][precision].values())).mean(1) for precision in PRECISIONS
    }
    paired = per_seed["bf16"] - per_seed["fp32"]
    paired_error = paired.std(ddof=1) / np.sqrt(len(paired)) if len(paired) > 1 else float("nan")
    reached = {
        precision: sum(max(curve) >= 195 for curve in cartpole["curves"][precision].values())
        for precision in PRECISIONS
    }
    ends = min((value[0] for value in breakout.values()), key=len)
    breakout_rows = [
        "| Breakout, steps | " + " | ".join(f"{(e - BIN) // 1000}-{e // 1000}k" for e in ends) + " |"
    ]
    breakout_rows.append("|---|" + "---:|" * len(ends))
    for precision, (_, means, counts) in breakout.items():
        cells = [f"{m:.1f} ({c})" for m, c in zip(means[: len(ends)], counts[: len(ends)], strict=True)]
        breakout_rows.append(f"| {precision}: mean score (games) | " + " | ".join(cells) + " |")
    return "\n".join(
        [
            SECTION,
            "",
            (
                "Same seeds and settings, only `precision` differs. CartPole: preset `cartpole`, one torch "
                f"thread, greedy return over 10 games every {EVAL_EVERY:,} steps. Breakout: default preset, "
                "seed 0, `python -m dqnlib train --game Breakout` with and without `--set precision=fp32`, "
                "both with the training loop of commit e609648; mean raw training score of the games that "
                "ended in each 50,000-step bin (epsilon-greedy)."
            ),
            "",
            *provenance(),
            f"- Breakout runs: bf16 `{args.breakout_bf16}`, fp32 `{args.breakout_fp32}`",
            "- Redo: see `benchmarks/bench_precision.py`'s docstring",
            "",
            *rows,
            "",
            (
                f"- Seeds reaching a greedy 195 within {CARTPOLE_STEPS:,} steps: "
                f"fp32 {reached['fp32']} of {seeds}, bf16 {reached['bf16']} of {seeds}"
            ),
            (
                f"- Each seed's mean greedy return over its {len(steps)} evaluations, bf16 minus fp32, "
                f"paired by seed: **{paired.mean():+.1f}** (standard error {paired_error:.1f})"
            ),
            "",
            *breakout_rows,
            "",
            f"![bf16 against fp32](benchmarks/results/{FIGURE.name})",
            "",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--reuse-cartpole", action="store_true", help=f"redraw from {CARTPOLE_JSON.name}")
    parser.add_argument("--breakout-bf16", type=Path, required=True, metavar="METRICS_CSV")
    parser.add_argument("--breakout-fp32", type=Path, required=True, metavar="METRICS_CSV")
    parser.add_argument("--write", type=Path, metavar="FILE")
    args = parser.parse_args()
    for path in (args.breakout_bf16, args.breakout_fp32):
        if not path.is_file():
            parser.error(f"{path} does not exist")
    if args.seeds < 1:
        parser.error("--seeds must be >= 1")
    torch.set_num_threads(1)
    if args.reuse_cartpole:
        cartpole = json.loads(CARTPOLE_JSON.read_text())
    else:
        cartpole = cartpole_curves(args.seeds)
        RESULTS.mkdir(exist_ok=True)
        CARTPOLE_JSON.write_text(json.dumps(cartpole, indent=1))
    breakout = {"bf16": breakout_bins(args.breakout_bf16), "fp32": breakout_bins(args.breakout_fp32)}
    draw(cartpole, breakout)
    text = section(cartpole, breakout, args)
    publish(text, SECTION, args.write)


if __name__ == "__main__":
    main()
