"""Sweeps: one training run per (game, variant, seed), scheduled as Ray tasks.

Each run lives in its own directory ``SWEEP_DIR/<game>/<variant>/seed<k>`` and resumes from
its newest checkpoint, so a sweep that was stopped continues its unfinished runs when started
again and skips the finished ones (those whose ``final.json`` records the requested steps).
A run that fails (an exception, a NaN loss, a killed worker) is reported with its error line
in ``SWEEP_DIR/summary.json``; the others go on.

Ray is an optional extra: ``pip install 'dqnlib[sweep]'``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium
import torch

from dqnlib.agent import DQNAgent
from dqnlib.checkpoint import newest_run_checkpoint, read_state
from dqnlib.config import PRESETS, TrainConfig, make_config
from dqnlib.games import display_name, is_atari, resolve_game
from dqnlib.validation import first_line

#: Config fields each variant sets: DQN (Mnih et al. 2015), Double DQN (van Hasselt et al.
#: 2016), Double DQN with the dueling head (Wang et al. 2016), and the presets of the Rainbow
#: family (C51, Rainbow, IQN; dqnlib.config.PRESETS).
VARIANTS: dict[str, dict[str, Any]] = {
    "dqn": {"double_dqn": False},
    "double": {"double_dqn": True},
    "dueling": {"double_dqn": True, "dueling": True},
    "c51": PRESETS["c51"],
    "rainbow": PRESETS["rainbow"],
    "iqn": PRESETS["iqn"],
}

#: The Dopamine agent (dqnlib.published) each variant is drawn beside.
DOPAMINE_AGENT = {
    "dqn": "DQN",
    "double": "DQN",
    "dueling": "DQN",
    "c51": "C51",
    "rainbow": "Rainbow",
    "iqn": "IQN",
}

logger = logging.getLogger(__name__)

FINISHED, SKIPPED, FAILED, STOPPED = "finished", "skipped (finished)", "failed", "stopped"


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names its pip command."""


@dataclass(frozen=True)
class RunSpec:
    """One run of a sweep: its config, directory, length in environment steps, and evaluation."""

    game: str
    variant: str
    seed: int
    run_dir: Path
    config: TrainConfig
    steps: int
    eval_episodes: int = 10
    protocol: str = "machado"


@dataclass
class RunResult:
    """What became of a run: ``status`` is finished, skipped (finished), failed or stopped."""

    game: str
    variant: str
    seed: int
    run_dir: str
    status: str
    env_steps: int = 0
    score: float | None = None  # mean raw evaluation score, from final.json
    error: str | None = None  # one line, for a failed or stopped run


def plan_sweep(
    games: Sequence[str],
    seeds: int | Sequence[int],
    variants: Sequence[str],
    steps: int,
    sweep_dir: str | os.PathLike = "runs/sweep",
    preset: str = "default",
    overrides: dict[str, Any] | None = None,
    eval_episodes: int = 10,
) -> list[RunSpec]:
    """The runs of a sweep, one per (game, variant, seed), with their configs checked.

    Args:
        games: Atari games in any spelling (directories use the display name, e.g.
            ``Breakout``) or gymnasium ids such as ``CartPole-v1``.
        seeds: a count ``n`` (seeds 0..n-1) or the seeds themselves.
        variants: names in :data:`VARIANTS`.
        steps: environment steps per run, in total (a resumed run trains the rest).
        preset, overrides: as :func:`dqnlib.make_config`; ``game``, ``seed`` and the fields
            each variant sets belong to the sweep and may not be overridden.
        eval_episodes: whole games played by the final evaluation of each run.
    Raises:
        ValueError: one line naming the bad input.
    """
    overrides = dict(overrides or {})
    taken = sorted(set(overrides) & {"game", "seed"})
    if taken:
        raise ValueError(f"{taken[0]} is set by the sweep (--games, --seeds); do not override it")
    for variant in variants:
        taken = sorted(set(overrides) & set(VARIANTS.get(variant, {})))
        if taken:
            raise ValueError(f"{taken[0]} is set by variant {variant} (--variants); do not override it")
    for name, allowed in (("steps", steps), ("eval_episodes", eval_episodes)):
        if isinstance(allowed, bool) or not isinstance(allowed, int) or allowed < 1:
            raise ValueError(f"{name}={allowed!r} must be an integer >= 1")
    seed_list = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else list(seeds)
    if not games or not variants or not seed_list:
        raise ValueError("a sweep needs at least one game, one variant and one seed")
    for variant in variants:
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
    specs = []
    for game in games:
        if is_atari(game):
            directory = display_name(game)
        elif game in gymnasium.registry:
            directory = game
        else:
            resolve_game(game)  # raises the one-line error with close names
        for variant in variants:
            for seed in seed_list:
                config = make_config(preset, **{**overrides, **VARIANTS[variant], "game": game, "seed": seed})
                run_dir = Path(sweep_dir).absolute() / directory / variant / f"seed{seed}"
                specs.append(RunSpec(directory, variant, seed, run_dir, config, steps, eval_episodes))
    if len({spec.run_dir for spec in specs}) < len(specs):
        raise ValueError("games, variants and seeds must not repeat")
    return specs


_FINAL_FIELDS = {
    "env_steps": int,
    "protocol": str,
    "epsilon": (int, float),
    "scores": list,
    "mean": (int, float),
}


def read_final(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """A run's ``final.json`` (its evaluation when training ended), or None when there is none;
    a damaged one counts as none, with a warning naming the file and the field."""
    path = Path(run_dir) / "final.json"
    try:
        final = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        logger.warning("ignoring %s: not readable JSON (%s)", path, first_line(error))
        return None
    if not isinstance(final, dict):
        logger.warning("ignoring %s: not a JSON object", path)
        return None
    for field, kind in _FINAL_FIELDS.items():
        if field not in final:
            logger.warning("ignoring %s: field %r is missing", path, field)
            return None
        if isinstance(final[field], bool) or not isinstance(final[field], kind):
            logger.warning("ignoring %s: field %r has the wrong type", path, field)
            return None
    return final


def is_finished(spec: RunSpec) -> bool:
    """Whether the run's final evaluation was written after at least ``spec.steps`` steps."""
    final = read_final(spec.run_dir)
    return final is not None and final.get("env_steps", 0) >= spec.steps


def run_one(spec: RunSpec, threads: int = 1) -> RunResult:
    """Train a run to ``spec.steps`` (resuming its directory), checkpoint it with its replay
    memory, evaluate it and write ``final.json``. The Ray task of a sweep, usable alone.

    Args:
        threads: torch's intra-op threads (the CPUs the run is given).
    Returns:
        The result; an exception becomes a failed result with its first line.
    """
    torch.set_num_threads(threads)
    result = _result(spec, FAILED)
    agent = None
    try:
        agent = DQNAgent.start_or_resume(spec.config, spec.run_dir)
        remaining = spec.steps - agent.counters.env_steps
        if remaining > 0:
            agent.train(remaining)
            if agent.stopped_by is not None:
                result.status, result.env_steps = STOPPED, agent.counters.env_steps
                result.error = (
                    f"stopped by {agent.stopped_by} at step {agent.counters.env_steps:,}; checkpoint written"
                )
                return result
            agent.save_run_checkpoint()
        evaluation = agent.evaluate(spec.eval_episodes, protocol=spec.protocol, seed=spec.seed)
        final = {
            "game": spec.game,
            "variant": spec.variant,
            "seed": spec.seed,
            "env_steps": agent.counters.env_steps,
            "protocol": evaluation.protocol,
            "epsilon": evaluation.epsilon,
            "scores": evaluation.scores,
            "mean": evaluation.mean,
        }
        _write_json(spec.run_dir / "final.json", final)
        result.status, result.env_steps, result.score = FINISHED, agent.counters.env_steps, evaluation.mean
    except Exception as error:  # noqa: BLE001 - a failed run is reported and the sweep goes on
        result.error = f"{type(error).__name__}: {first_line(error)}"
        result.env_steps = agent.counters.env_steps if agent is not None else 0
    finally:
        if agent is not None:
            agent.close()
    return result


def run_sweep(
    specs: Sequence[RunSpec],
    sweep_dir: str | os.PathLike,
    address: str | None = None,
    num_cpus: int | None = None,
    cpus_per_run: int = 1,
    on_result: Callable[[RunResult], None] | None = None,
    stop_timeout: float = 300.0,
) -> list[RunResult]:
    """Run the unfinished runs of a sweep as Ray tasks and write ``summary.json``.

    Uses the Ray instance already started in this process if there is one; otherwise starts
    a local one with ``num_cpus`` (default: this machine's cores), or connects to the cluster
    at ``address``, and shuts it down at the end. Each run gets ``cpus_per_run`` CPUs and as
    many torch threads. A worker that dies is not retried: its run is reported as failed and
    resumes from its newest checkpoint when the sweep is started again.

    Args:
        on_result: called with each result as it comes (skipped runs first).
        stop_timeout: seconds that running tasks get to write a checkpoint after Ctrl-C.
    Returns:
        One result per spec, in the order of ``specs``.
    Raises:
        MissingExtra: Ray is not installed.
    """
    ray = require_ray()
    if address is None and cpus_per_run > (num_cpus or os.cpu_count() or 1):
        raise ValueError(
            f"cpus_per_run={cpus_per_run} is more than the {num_cpus or os.cpu_count()} CPUs of the local "
            "Ray instance; no run could start"
        )
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    results: dict[Path, RunResult] = {}
    for spec in specs:
        if is_finished(spec):
            final = read_final(spec.run_dir)
            results[spec.run_dir] = _result(spec, SKIPPED, env_steps=final["env_steps"], score=final["mean"])
            if on_result is not None:
                on_result(results[spec.run_dir])
    pending_specs = [spec for spec in specs if spec.run_dir not in results]
    started = not ray.is_initialized()
    if started and pending_specs:
        ray.init(
            address=address,
            num_cpus=None if address else (num_cpus or os.cpu_count()),
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
    try:
        task = ray.remote(run_one).options(num_cpus=cpus_per_run, max_retries=0)
        pending = {task.remote(spec, cpus_per_run): spec for spec in pending_specs}
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                spec = pending.pop(done[0])
                try:
                    result = ray.get(done[0])
                except Exception as error:  # noqa: BLE001 - a killed worker or a lost node
                    error_line = f"{type(error).__name__}: {first_line(error)}"
                    result = _result(
                        spec, FAILED, env_steps=_checkpoint_steps(spec.run_dir), error=error_line
                    )
                results[spec.run_dir] = result
                if on_result is not None:
                    on_result(result)
        except KeyboardInterrupt:
            # Ray raises KeyboardInterrupt in each running task; its training loop takes it as a
            # stop request and writes a checkpoint, so the next sweep resumes from there.
            for ref in pending:
                ray.cancel(ref)
            ray.wait(list(pending), num_returns=len(pending), timeout=stop_timeout)
            for spec in pending.values():
                steps = _checkpoint_steps(spec.run_dir)
                results[spec.run_dir] = _result(spec, STOPPED, env_steps=steps, error="stopped by Ctrl-C")
            raise
    finally:
        if started and ray.is_initialized():
            ray.shutdown()
        ordered = [results[spec.run_dir] for spec in specs if spec.run_dir in results]
        _update_summary(Path(sweep_dir) / "summary.json", ordered)
    return ordered


def require_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`MissingExtra` naming the pip command."""
    # A local Ray instance listens and talks on loopback only (Ray's own switch for a
    # single-machine setup); a user who runs a cluster sets this variable to 1.
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray
    except ImportError:
        raise MissingExtra("ray is not installed; pip install 'dqnlib[sweep]'") from None
    return ray


def format_summary(results: Sequence[RunResult]) -> str:
    """A plain-text table: one line per run with its status, steps, score or error line."""
    lines = [f"{'game':16s} {'variant':8s} {'seed':>4s} {'status':19s} {'env steps':>11s}  score / error"]
    for r in results:
        detail = f"{r.score:.2f}" if r.score is not None else (r.error or "")
        lines.append(f"{r.game:16s} {r.variant:8s} {r.seed:4d} {r.status:19s} {r.env_steps:11,d}  {detail}")
    counts = {
        status: sum(r.status == status for r in results) for status in (FINISHED, SKIPPED, STOPPED, FAILED)
    }
    lines.append(", ".join(f"{n} {status}" for status, n in counts.items() if n))
    return "\n".join(lines)


def _checkpoint_steps(run_dir: Path) -> int:
    """Environment steps of a run's newest checkpoint (0 without a readable one)."""
    newest = newest_run_checkpoint(run_dir)
    try:
        return int(read_state(newest)["counters"]["env_steps"]) if newest is not None else 0
    except (ValueError, KeyError, TypeError):
        return 0


def _update_summary(path: Path, results: Sequence[RunResult]) -> None:
    """Write the newest result of each run into ``summary.json``, keeping the entries of runs
    that were not part of this call (an earlier sweep into the same directory)."""
    try:
        entries = {entry["run_dir"]: entry for entry in json.loads(path.read_text())["runs"]}
    except (OSError, ValueError, KeyError, TypeError):
        entries = {}
    entries.update({result.run_dir: asdict(result) for result in results})
    _write_json(path, {"runs": list(entries.values())})


def _result(spec: RunSpec, status: str, **fields: Any) -> RunResult:
    return RunResult(spec.game, spec.variant, spec.seed, str(spec.run_dir), status, **fields)


def _write_json(path: Path, value: Any) -> None:
    """Write JSON beside ``path`` and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    staging.write_text(json.dumps(value, indent=1))
    os.replace(staging, path)
