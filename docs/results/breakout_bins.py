"""Breakout's runs side by side: mean raw training score per window of environment steps.

Usage: python docs/results/breakout_bins.py [--sweep-dir docs/results/sweep] [--window 50000]

Reads ``<sweep-dir>/Breakout/<variant>/seed0/metrics.csv`` (one row per training game) of every
variant there and prints a Markdown table: for each window, the mean score of the games that
ended in it, the number of such games, and the exploration epsilon at the window's last game.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np


def windows(metrics: Path, width: int) -> list[str]:
    """One cell per window of ``width`` steps: ``mean (games, eps e)``."""
    with metrics.open() as file:
        rows = list(csv.DictReader(file))
    steps = np.array([int(row["env_step"]) for row in rows])
    scores = np.array([float(row["score"]) for row in rows])
    epsilons = np.array([float(row["epsilon"]) for row in rows])
    index = (steps - 1) // width
    cells = []
    for k in range(index.max() + 1):
        inside = index == k
        if not inside.any():
            cells.append("-")
            continue
        cells.append(f"{scores[inside].mean():.1f} ({inside.sum()}, eps {epsilons[inside][-1]:.2f})")
    return cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep-dir", type=Path, default=Path("docs/results/sweep"))
    parser.add_argument("--window", type=int, default=50_000)
    args = parser.parse_args()
    runs = sorted((args.sweep_dir / "Breakout").glob("*/seed0/metrics.csv"))
    columns = {path.parent.parent.name: windows(path, args.window) for path in runs}
    print("| environment steps | " + " | ".join(columns) + " |")
    print("|---|" + "---:|" * len(columns))
    for k in range(max(len(cells) for cells in columns.values())):
        cells = [column[k] if k < len(column) else "-" for column in columns.values()]
        print(f"| {k * args.window:,}-{(k + 1) * args.window:,} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
