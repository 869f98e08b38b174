"""The report of a sweep: ``report.md`` with per-game and aggregate tables, ``curves.png``
(learning curves per game, mean and range over seeds, beside Dopamine's published training
curves; see :mod:`dqnlib.published`) and ``aggregate.png`` (IQM and mean per variant with 95%
stratified bootstrap confidence intervals; see :mod:`dqnlib.aggregate`).

It reads what the runs wrote, ``SWEEP_DIR/<game>/<variant>/seed<k>/{metrics.csv,final.json}``,
and the sweep's ``summary.json`` for the error lines of runs that did not finish.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from dqnlib import aggregate
from dqnlib.config import TrainConfig
from dqnlib.metrics import read_metrics
from dqnlib.published import AGENTS, dopamine_curves, dopamine_source, training_return_per_iteration
from dqnlib.sweep import DOPAMINE_AGENT, VARIANTS, read_final

CURVE_WINDOW = 20  # training games averaged into one point of a learning curve
CURVE_POINTS = 100
REFERENCE_STYLES = {"DQN": "--", "C51": ":", "Rainbow": "-.", "IQN": (0, (5, 1, 1, 1, 1, 1))}


@dataclass
class SweepRun:
    """What one run directory holds: training metrics and the final evaluation, where present."""

    game: str
    variant: str
    seed: int
    run_dir: Path
    metrics: dict[str, np.ndarray] | None
    final: dict | None
    protocol: str | None = None  # the protocol it trained under, from its config.json

    @property
    def reached(self) -> int:
        """Environment steps the run is known to have trained: its final evaluation's, else
        the step of its last finished training game."""
        if self.final and isinstance(self.final.get("env_steps"), int):
            return self.final["env_steps"]
        return int(self.metrics["env_step"][-1]) if self.metrics is not None else 0

    def per_iteration(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean training return per 250,000 environment steps (Dopamine's iteration)."""
        if self.metrics is None:
            return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
        return training_return_per_iteration(self.metrics["env_step"], self.metrics["score"], self.reached)


def collect_runs(sweep_dir: str | os.PathLike) -> list[SweepRun]:
    """The run directories ``<game>/<variant>/seed<k>`` of a sweep, sorted."""
    runs = []
    for run_dir in sorted(Path(sweep_dir).glob("*/*/seed*")):
        if not run_dir.is_dir() or not run_dir.name[4:].isdigit():
            continue
        try:
            metrics = read_metrics(run_dir / "metrics.csv")
        except (OSError, ValueError):
            metrics = None
        game, variant = run_dir.parent.parent.name, run_dir.parent.name
        run = SweepRun(game, variant, int(run_dir.name[4:]), run_dir, metrics, read_final(run_dir))
        run.protocol = _training_protocol(run_dir)
        runs.append(run)
    return runs


def _training_protocol(run_dir: Path) -> str | None:
    """The protocol a run trained under, from its ``config.json`` (None when unreadable)."""
    try:
        values = json.loads((run_dir / "config.json").read_text())
        return TrainConfig.from_saved(values).protocol if isinstance(values, dict) else None
    except (OSError, ValueError, TypeError, RecursionError):
        return None


def write_report(sweep_dir: str | os.PathLike, reps: int = 2_000, seed: int = 0) -> Path:
    """Write ``report.md``, ``curves.png`` and ``aggregate.png`` into the sweep directory.

    Args:
        reps: bootstrap replicates per confidence interval.
        seed: seeds the bootstrap's generator.
    Returns:
        The path of ``report.md``.
    Raises:
        ValueError: one line, when the directory holds no runs.
    """
    sweep_dir = Path(sweep_dir)
    runs = collect_runs(sweep_dir)
    if not runs:
        raise ValueError(f"{sweep_dir} holds no sweep runs (<game>/<variant>/seed<k> directories)")
    rng = np.random.default_rng(seed)
    games = sorted({run.game for run in runs})
    known = list(VARIANTS)  # dqnlib's variants in their order, then the sweep's own by name
    variants = sorted(
        {run.variant for run in runs}, key=lambda v: (known.index(v) if v in known else len(known), v)
    )
    scores = {
        variant: {
            game: np.array(
                [r.final["mean"] for r in runs if (r.game, r.variant) == (game, variant) and r.final]
            )
            for game in games
        }
        for variant in variants
    }
    lines = [f"# Sweep report: {sweep_dir.name}", "", *_overview(runs, games, variants), ""]
    lines += _aggregate_section(sweep_dir, scores, games, variants, rng, reps)
    lines += _per_game_section(scores, games, variants, rng, reps)
    lines += _published_section(runs, games, variants)
    _plot_curves(runs, games, variants).savefig(sweep_dir / "curves.png", dpi=100)
    lines += [
        "## Learning curves",
        "",
        f"Training game scores (raw, mean of the last {CURVE_WINDOW} games of a run), averaged over seeds;",
        "the band spans the lowest to the highest seed. Dots: the mean training return per 250,000",
        "environment steps, drawn at the window's end, as Dopamine reports its iterations; Dopamine's",
        "agents are the thin lines (mean of their runs) with their range as a light band.",
        "",
        "![learning curves](curves.png)",
        "",
    ]
    lines += _unfinished_section(sweep_dir, runs)
    path = sweep_dir / "report.md"
    path.write_text("\n".join(lines))
    return path


def _overview(runs: list[SweepRun], games: list[str], variants: list[str]) -> list[str]:
    finals = [r.final for r in runs if r.final]
    seeds = sorted({r.seed for r in runs})
    lines = [
        (
            f"{len(runs)} runs: games {', '.join(games)}; variants {', '.join(variants)}; "
            f"seeds {', '.join(map(str, seeds))}. {len(finals)} finished with a final evaluation."
        ),
    ]
    if finals:
        steps = sorted({f["env_steps"] for f in finals})
        protocols = sorted({f"{f['protocol']} protocol, epsilon {f['epsilon']}" for f in finals})
        episodes = "/".join(map(str, sorted({len(f["scores"]) for f in finals})))
        span = f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,} to {steps[-1]:,}"
        lines += [
            "",
            (
                f"A run's score is its mean raw score over the games of its final evaluation ({episodes} per "
                f"run, {'; '.join(protocols)}) after {span} environment steps (agent steps, 4 frames each on Atari)."
            ),
        ]
    return lines


def _aggregate_section(
    sweep_dir: Path,
    scores: dict[str, dict[str, np.ndarray]],
    games: list[str],
    variants: list[str],
    rng: np.random.Generator,
    reps: int,
) -> list[str]:
    """Human-normalized IQM and mean per variant over the games that have references (raw
    scores when the sweep is of one game without references)."""
    normalizable = [g for g in games if aggregate.reference_scores(g) is not None]
    if normalizable:
        kind, used = "human-normalized score", normalizable
        left_out = sorted(set(games) - set(normalizable))
    elif len(games) == 1:
        kind, used, left_out = f"raw {games[0]} score (no human reference)", games, []
    else:
        return [
            "## Aggregate",
            "",
            (
                "No game of this sweep has human and random reference scores, and raw scores of different "
                "games do not add up; see the per-game table."
            ),
            "",
        ]

    def normalize(game: str, values: np.ndarray) -> np.ndarray:
        return aggregate.human_normalized(game, values) if normalizable else values

    lines = [
        "## Aggregate",
        "",
        (
            f"Interquartile mean (IQM) and mean of the {kind} over runs and games (Agarwal et al. 2021), "
            f"with 95% stratified bootstrap confidence intervals ({reps:,} replicates, runs resampled within "
            "each game); none where each game has one run, since resampling one run measures no spread."
            + (
                " Human-normalized: 0 is random play, 1 the human reference of Badia et al. (2020)."
                if normalizable
                else ""
            )
        ),
        "",
        "| variant | games | runs | IQM | 95% CI | mean | 95% CI |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    estimates = {}
    for variant in variants:
        per_game = {g: normalize(g, scores[variant][g]) for g in used if len(scores[variant][g])}
        if not per_game:
            lines.append(f"| {variant} | 0 of {len(used)} | 0 | - | - | - | - |")
            continue
        iqm = aggregate.stratified_bootstrap_ci(per_game, aggregate.iqm, rng, reps)
        mean = aggregate.stratified_bootstrap_ci(per_game, aggregate.mean, rng, reps)
        estimates[variant] = (iqm, mean)
        runs = sum(len(s) for s in per_game.values())
        lines.append(
            f"| {variant} | {len(per_game)} of {len(used)} | {runs} | {iqm[0]:.3f} | {_interval(iqm, per_game, 3)} "
            f"| {mean[0]:.3f} | {_interval(mean, per_game, 3)} |"
        )
    if left_out:
        lines += ["", f"Left out of the aggregate (no reference scores): {', '.join(left_out)}."]
    if estimates:
        _plot_aggregate(estimates, kind, len(used)).savefig(sweep_dir / "aggregate.png", dpi=100)
        lines += ["", "![aggregate scores](aggregate.png)"]
    return [*lines, ""]


def _interval(estimate: tuple[float, float, float], per_game: dict[str, np.ndarray], digits: int) -> str:
    """``[low, high]`` of a bootstrap ``(point, low, high)``, or ``-`` where every game has one
    run (its resamples are all the same run: the interval would be the point)."""
    if all(len(values) < 2 for values in per_game.values()):
        return "-"
    return f"[{estimate[1]:.{digits}f}, {estimate[2]:.{digits}f}]"


def _per_game_section(
    scores: dict[str, dict[str, np.ndarray]],
    games: list[str],
    variants: list[str],
    rng: np.random.Generator,
    reps: int,
) -> list[str]:
    lines = [
        "## Per game",
        "",
        "Mean raw score over seeds [95% bootstrap CI, for two or more runs] (runs), and the references.",
        "",
        "| game | random | human | " + " | ".join(variants) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in variants) + " |",
    ]
    for game in games:
        references = aggregate.reference_scores(game)
        cells = [f"{x:g}" for x in references] if references else ["-", "-"]
        for variant in variants:
            values = scores[variant][game]
            if len(values) == 0:
                cells.append("-")
                continue
            estimate = aggregate.stratified_bootstrap_ci({game: values}, aggregate.mean, rng, reps)
            interval = _interval(estimate, {game: values}, 1)
            cells.append(f"{estimate[0]:.1f}{' ' + interval if interval != '-' else ''} ({len(values)})")
        lines.append(f"| {game} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _published_section(runs: list[SweepRun], games: list[str], variants: list[str]) -> list[str]:
    """dqnlib's mean training return per 250,000 steps beside Dopamine's agents at the same steps."""
    rows = []
    comparable = [r for r in runs if r.protocol == "machado"]
    left_out = [f"{r.game}/{r.variant}/seed{r.seed}" for r in runs if r.protocol != "machado"]
    for game in games:
        references = dopamine_curves(game)
        if not references:
            continue
        for variant in variants:
            per_seed = [r.per_iteration() for r in comparable if (r.game, r.variant) == (game, variant)]
            windows = max((len(ends) for ends, _, _ in per_seed), default=0)
            for k in range(windows):
                means = np.array(
                    [mean[k] for _, mean, _ in per_seed if len(mean) > k and np.isfinite(mean[k])]
                )
                if not len(means):
                    continue
                games_played = sum(int(count[k]) for _, _, count in per_seed if len(count) > k)
                spread = f" [{means.min():.1f}, {means.max():.1f}]" if len(means) > 1 else ""
                cells = [f"{means.mean():.1f}{spread} ({len(means)} seeds, {games_played} games)"]
                beats = []
                compared = dict.fromkeys(
                    [DOPAMINE_AGENT.get(variant, "DQN"), "IQN"]
                )  # its own agent, and IQN
                for agent in AGENTS:
                    curve = references.get(agent)
                    if curve is None or k >= len(curve.mean):
                        cells.append("-")
                        continue
                    cells.append(f"{curve.mean[k]:.1f} [{curve.low[k]:.1f}, {curve.high[k]:.1f}]")
                for agent in compared:
                    curve = references.get(agent)
                    if curve is not None and k < len(curve.mean):
                        beats.append(f"{agent} {'yes' if means.mean() >= curve.mean[k] else 'no'}")
                rows.append(
                    f"| {game} | {variant} | {(k + 1) * 250_000:,} | "
                    + " | ".join(cells)
                    + f" | {', '.join(beats)} |"
                )
    if not rows and not left_out:
        return []
    return [
        "## Beside Dopamine's published training curves",
        "",
        "Mean raw score of the training games that ended in each window of 250,000 environment steps",
        "(agent steps), the figure Dopamine publishes per iteration; dqnlib's range over seeds and",
        "Dopamine's over its runs in brackets. Like for like only under the `machado` protocol",
        "(sticky actions 0.25, whole games, raw score), dqnlib's training default; one difference",
        "remains in dqnlib's default preset: a lost life ends a learning episode (`terminal_on_life_loss`),",
        "which Dopamine's agents do not do (the score counts whole games in both).",
        "The last column compares each variant with Dopamine's agent of the same kind (DQN for dqn,",
        "double and dueling) and with IQN, Dopamine's strongest.",
        f"Source: {dopamine_source()}.",
        "",
        "| game | variant | steps | dqnlib | "
        + " | ".join(f"Dopamine {a}" for a in AGENTS)
        + " | at least |",
        "| --- | --- | --- | --- | " + " | ".join("---" for _ in AGENTS) + " | --- |",
        *rows,
        "",
        *([f"Left out (not trained under `machado`): {', '.join(left_out)}.", ""] if left_out else []),
    ]


def _unfinished_section(sweep_dir: Path, runs: list[SweepRun]) -> list[str]:
    """Runs without a final evaluation, with the status and error line of ``summary.json``."""
    try:
        summary = json.loads((sweep_dir / "summary.json").read_text())["runs"]
    except (OSError, ValueError, KeyError, TypeError):
        summary = []
    by_dir = {Path(entry["run_dir"]).resolve(): entry for entry in summary}
    unfinished = [r for r in runs if not r.final]
    if not unfinished:
        return []
    lines = ["## Runs without a final evaluation", "", "| run | status | error |", "| --- | --- | --- |"]
    for run in unfinished:
        entry = by_dir.get(run.run_dir.resolve(), {})
        error = (entry.get("error") or "").replace("|", "\\|")
        lines.append(
            f"| {run.game}/{run.variant}/seed{run.seed} | {entry.get('status', 'unknown')} | {error} |"
        )
    return [*lines, ""]


def _plot_curves(runs: list[SweepRun], games: list[str], variants: list[str]) -> Figure:
    columns = min(3, len(games))
    rows = math.ceil(len(games) / columns)
    fig = Figure(figsize=(max(7.5, 5.5 * columns), 3.8 * rows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, columns, squeeze=False)).ravel()
    for ax, game in zip(axes, games, strict=False):
        with_metrics = [r for r in runs if r.game == game and r.metrics is not None]
        end = max((r.metrics["env_step"][-1] for r in with_metrics), default=1.0)
        grid = np.linspace(0.0, end, CURVE_POINTS)
        colours = {}
        for variant in variants:
            curves = [_smoothed(r.metrics, grid) for r in with_metrics if r.variant == variant]
            if not curves:
                continue
            mean, low, high = _band(np.stack(curves))  # (seeds, points) -> 3 x (points,)
            marker = "o" if np.isfinite(mean).sum() < 2 else None  # a single point shows as a dot
            (line,) = ax.plot(grid, mean, marker=marker, label=f"{variant} ({len(curves)} seeds)")
            colours[variant] = line.get_color()
            ax.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
            per_seed = [r.per_iteration() for r in with_metrics if r.variant == variant]
            windows = min(len(ends) for ends, _, _ in per_seed)
            if windows:
                seeds = np.stack(
                    [mean[:windows] for _, mean, _ in per_seed]
                )  # (seeds, windows), NaN: no game
                counts = np.isfinite(seeds).sum(axis=0)
                means = np.where(counts > 0, np.nansum(seeds, axis=0) / np.maximum(counts, 1), np.nan)
                ax.plot(per_seed[0][0][:windows], means, "o", color=line.get_color(), markersize=6)
        references = dopamine_curves(game)
        for agent, curve in references.items():
            shown = curve.end_steps <= max(end, 1) + 250_000
            kin = [variant for variant in variants if DOPAMINE_AGENT.get(variant) == agent]
            if not shown.any() or not (kin or agent == "IQN"):  # IQN: every variant's second yardstick
                continue
            # In its variant's colour when one variant is of its kind (dqn, double and dueling
            # share DQN's), else gray.
            (line,) = ax.plot(
                curve.end_steps[shown],
                curve.mean[shown],
                linestyle=REFERENCE_STYLES.get(agent, "--"),
                linewidth=1.2,
                color=colours[kin[0]] if len(kin) == 1 and kin[0] in colours else "gray",
                label=f"Dopamine {agent} ({curve.runs} runs)",
            )
            ax.fill_between(
                curve.end_steps[shown],
                curve.low[shown],
                curve.high[shown],
                color=line.get_color(),
                alpha=0.08,
            )
        ax.set_title(game)
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"raw game score (mean of last {CURVE_WINDOW})")
        if ax.has_data():
            ax.legend()
        else:
            ax.text(0.5, 0.5, "no training game has ended yet", ha="center", transform=ax.transAxes)
    for ax in axes[len(games) :]:
        ax.set_visible(False)
    fig.suptitle("Learning curves: mean over seeds, band from lowest to highest seed")
    return fig


def _smoothed(metrics: dict[str, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """A run's training scores as a running mean of the last CURVE_WINDOW games, at ``grid``
    environment steps (NaN outside the steps the run covered)."""
    steps, returns = metrics["env_step"], metrics["score"]
    sums = np.concatenate([[0.0], np.cumsum(returns)])
    starts = np.maximum(np.arange(len(returns)) - CURVE_WINDOW + 1, 0)
    running = (sums[1:] - sums[starts]) / (np.arange(len(returns)) + 1 - starts)
    inside = (grid >= steps[0]) & (grid <= steps[-1])
    return np.where(inside, np.interp(grid, steps, running), np.nan)


def _band(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, minimum and maximum over seeds of (seeds, points) curves, ignoring NaN."""
    valid = ~np.isnan(curves)
    count = valid.sum(axis=0)
    mean = np.where(valid, curves, 0.0).sum(axis=0) / np.maximum(count, 1)
    low = np.where(valid, curves, np.inf).min(axis=0)
    high = np.where(valid, curves, -np.inf).max(axis=0)
    empty = count == 0
    return np.where(empty, np.nan, mean), np.where(empty, np.nan, low), np.where(empty, np.nan, high)


def _plot_aggregate(
    estimates: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]], kind: str, games: int
) -> Figure:
    fig = Figure(figsize=(9, 1.2 + 0.5 * len(estimates)), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    names = list(estimates)
    for ax, which, title in zip(axes, (0, 1), ("IQM", "Mean"), strict=True):
        points = np.array([estimates[name][which] for name in names])  # (variants, 3)
        errors = np.clip(
            [points[:, 0] - points[:, 1], points[:, 2] - points[:, 0]], 0.0, None
        )  # (2, variants)
        ax.errorbar(points[:, 0], np.arange(len(names)), xerr=errors, fmt="o", capsize=4, label="95% CI")
        ax.set_yticks(np.arange(len(names)), names)
        ax.set_xlabel(kind)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
        ax.locator_params(axis="x", nbins=6)
    axes[0].invert_yaxis()  # the first variant on top
    axes[0].set_ylabel("variant")
    axes[1].legend()
    fig.suptitle(f"Aggregate over {games} game(s): point estimate and 95% stratified bootstrap CI")
    return fig
