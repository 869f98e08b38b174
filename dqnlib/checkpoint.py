"""Checkpoints: an agent's state dict (:meth:`DQNAgent.state_dict`) and replay memory in a
directory per checkpoint, written beside its target and renamed into place, loadable
without unpickling arbitrary objects (``torch.load(weights_only=True)``). This module
knows no agent: it reads and writes dicts of tensors and JSON values.

Layout of a checkpoint directory::

    state.json   format, version, config, counters, the agent's numpy generator state,
                 recent scores
    model.pt     online and target weights, optimizer state (tensors only); a weights-only
                 checkpoint holds the online weights alone
    replay/      the replay memory (run checkpoints only; see ReplayMemory.save)
"""

from __future__ import annotations

import csv
import importlib.metadata
import json
import logging
import math
import os
import pickle
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import filelock
import numpy as np
import torch

from dqnlib.atomic import require_writable, write_directory
from dqnlib.metrics import RENAMED
from dqnlib.replay import ReplayMemory
from dqnlib.validation import first_line, is_count

logger = logging.getLogger(__name__)

try:
    VERSION = importlib.metadata.version("dqnlib")
except importlib.metadata.PackageNotFoundError:  # a source tree on sys.path, not installed
    VERSION = "unknown"
FORMAT = "dqnlib.checkpoint"
FORMAT_VERSION = 1
_PREFIX = "step_"


TENSOR_FIELDS = ("online", "target", "optimizer")  # model.pt; the other fields go to state.json


def write_checkpoint(
    directory: Path, state: dict[str, Any], replay_memory: ReplayMemory | None = None
) -> None:
    """Write ``state`` (an agent's :meth:`state_dict`) as ``model.pt`` and ``state.json``, and
    ``replay_memory`` as ``replay/``, into an existing, empty ``directory``. Not atomic by
    itself: :func:`save_checkpoint` writes into a staging directory and renames it."""
    tensors = {name: state[name] for name in TENSOR_FIELDS if name in state}
    try:
        torch.save(tensors, directory / "model.pt")
    except RuntimeError as error:  # torch reports a failed write (a full disk) as RuntimeError
        raise OSError(f"writing model.pt failed ({str(error).strip().splitlines()[0]})") from None
    if replay_memory is not None:
        replay_memory.save(directory / "replay")
    document = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "dqnlib_version": VERSION,
    }
    document |= {name: value for name, value in state.items() if name not in TENSOR_FIELDS}
    with open(directory / "state.json", "w") as file:
        json.dump(document, file, indent=1)
        file.flush()
        os.fsync(file.fileno())


def save_checkpoint(
    path: str | os.PathLike, state: dict[str, Any], replay_memory: ReplayMemory | None = None
) -> Path:
    """Write a checkpoint directory at ``path`` atomically (see :func:`write_checkpoint`)."""
    return write_directory(Path(path), lambda directory: write_checkpoint(directory, state, replay_memory))


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's state dict (tensors on the CPU), every field checked; a missing, foreign,
    damaged or crafted checkpoint is a one-line ValueError naming the file."""
    path = Path(path)
    state = read_state(path)
    tensors = load_tensors(path / "model.pt", "cpu")
    state = {
        name: value for name, value in state.items() if name not in ("format", "version", "dqnlib_version")
    }
    return state | {name: tensors[name] for name in TENSOR_FIELDS if name in tensors}


def replay_memory_path(path: str | os.PathLike) -> Path | None:
    """The replay memory that resuming from checkpoint ``path`` reads: its own, or else the
    newest older one of the same run, or None."""
    path = Path(path)
    older = (
        [p for p in run_checkpoints(path.parent.parent) if p.name < path.name]
        if _is_step_name(path.name)
        else []
    )
    with_replay = [p / "replay" for p in [*older, path] if (p / "replay").is_dir()]
    return with_replay[-1] if with_replay else None


def export_checkpoint(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write a small copy of a checkpoint for sharing: ``state.json`` and a weights-only
    ``model.pt`` (the online network), plus, when the checkpoint is a run checkpoint
    (``RUN/checkpoints/step_N``), the run's ``metrics.csv`` up to step N and its learning curve
    as ``learning_curve.png``. ``out`` must not exist. Nothing but these two files is read:
    no environment or replay memory is built."""
    checkpoint, out = Path(checkpoint).resolve(), Path(out)
    if out.exists():
        raise ValueError(f"{out} already exists; choose a new directory (nothing was written)")
    state = read_state(checkpoint)
    online = load_tensors(checkpoint / "model.pt", "cpu")["online"]
    steps = state["counters"]["env_steps"]
    in_run = checkpoint.parent.name == "checkpoints" and checkpoint.name.startswith(_PREFIX)
    metrics = checkpoint.parent.parent / "metrics.csv" if in_run else None

    def write(directory: Path) -> None:
        torch.save({"online": online}, directory / "model.pt")
        shutil.copyfile(checkpoint / "state.json", directory / "state.json")
        if metrics is not None and metrics.is_file():
            import matplotlib.pyplot as plt

            from dqnlib.plotting import plot_learning_curve

            with (
                open(metrics, newline="") as source,
                open(directory / "metrics.csv", "w", newline="") as target,
            ):
                rows = csv.DictReader(source)
                columns = [RENAMED.get(name, name) for name in rows.fieldnames or []]
                if "env_step" not in columns:
                    raise ValueError(f"{metrics} has no column 'env_step'; is it a dqnlib metrics.csv?")
                step_column = (rows.fieldnames or [])[columns.index("env_step")]
                writer = csv.writer(target)
                writer.writerow(columns)
                writer.writerows(row.values() for row in rows if int(row[step_column]) <= steps)
            ax = plot_learning_curve(directory / "metrics.csv")
            ax.set_title(f"{state['config']['game']}: learning curve of the run up to step {steps:,}")
            ax.figure.savefig(directory / "learning_curve.png", dpi=100, bbox_inches="tight")
            plt.close(ax.figure)

    return write_directory(out, write)


def load_tensors(path: Path, device: str | torch.device) -> dict[str, Any]:
    """``model.pt`` as a dict of tensors, never unpickling anything else (``weights_only``).

    Raises:
        ValueError: one line: the file holds other Python objects (a crafted file), or is
            damaged; torch's own advice to load it unsafely is not passed on.
    """
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols before refusing
            warnings.simplefilter("ignore")
            tensors = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError:  # torch words a crafted file and a damaged one alike
        raise ValueError(
            f"{path} holds Python objects other than tensors (dqnlib never loads those), or is damaged"
        ) from None
    except Exception as error:  # noqa: BLE001 - torch raises many kinds for damaged files
        raise ValueError(f"cannot load weights from {path}: {first_line(error)}") from None
    if not isinstance(tensors, dict) or "online" not in tensors:
        raise ValueError(f"cannot load weights from {path}: it holds no online network")
    return tensors


def read_state(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON part of a checkpoint, checked; a missing or foreign one is a one-line ValueError."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"checkpoint {path} does not exist")
    if not (path / "state.json").is_file():
        raise ValueError(f"{path} is not a dqnlib checkpoint (no state.json)")
    try:
        state = json.loads((path / "state.json").read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}/state.json is damaged ({error})") from None
    except RecursionError:
        raise ValueError(f"{path}/state.json is damaged (nested too deeply)") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a dqnlib checkpoint")
    version = state.get("version", 0)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(f"{path} was written by a newer dqnlib (format {version!r} > {FORMAT_VERSION})")
    _check_state_fields(path / "state.json", state)
    return state


_COUNTERS = ("env_steps", "updates", "games", "last_target_sync")


def _check_state_fields(file: Path, state: dict[str, Any]) -> None:
    """Every JSON field an agent's ``load_state_dict`` reads, of the right type and range; else a one-line ValueError
    naming the file and the field."""

    def bad(field: str, what: str) -> ValueError:
        return ValueError(f"{file}: field {field!r} {what}")

    for field, kind in (("config", dict), ("counters", dict), ("rng_state", dict), ("recent_scores", list)):
        if field not in state:
            raise bad(field, "is missing")
        if not isinstance(state[field], kind):
            raise bad(field, f"must be a JSON {'object' if kind is dict else 'array'}")
    counters = state["counters"]
    if set(counters) != set(_COUNTERS):
        raise bad("counters", f"must hold exactly {', '.join(_COUNTERS)}")
    for name in _COUNTERS:
        value = counters[name]
        if not is_count(value):
            raise bad(f"counters.{name}", f"must be an integer in [0, 2**53], got {value!r}")
    # A sync is stamped with the step its update is due at, one vector step ahead at most.
    ahead = state["config"].get("num_envs", 1)
    ahead = ahead if isinstance(ahead, int) and not isinstance(ahead, bool) else 1
    if counters["last_target_sync"] > counters["env_steps"] + ahead:
        raise bad("counters.last_target_sync", "is later than counters.env_steps")
    # learn_rng_state (the noise and quantile fractions of learning) is absent from older checkpoints.
    for field in ("rng_state", "learn_rng_state") if "learn_rng_state" in state else ("rng_state",):
        try:
            np.random.default_rng().bit_generator.state = state[field]
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise bad(field, f"is not a generator state ({first_line(error)})") from None
    scores = state["recent_scores"]
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in scores):
        raise bad("recent_scores", "must hold finite numbers")


def _is_step_name(name: str) -> bool:
    """``step_`` and ASCII digits: a checkpoint's folder name."""
    return re.fullmatch(f"{_PREFIX}[0-9]+", name) is not None


def run_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    directory = Path(run_dir) / "checkpoints"
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        if not path.name.startswith(_PREFIX) or not (path / "state.json").is_file():
            continue
        if not _is_step_name(path.name):
            logger.warning("ignoring %s: not a checkpoint name (step_<number>)", path)
            continue
        found.append(path)
    return sorted(found, key=lambda p: int(p.name[len(_PREFIX) :]))


class CheckpointError(RuntimeError):
    """A checkpoint could not be written (full disk, no permission); older ones are intact."""


def claim_run_dir(run_dir: Path) -> filelock.BaseFileLock:
    """Create ``run_dir`` if needed, check that files can be written there, take its lock,
    and remove what a killed checkpoint write left behind.

    The lock (``run_dir/.lock``, held by this process) keeps a second process from training
    in the same directory, where the two would interleave metrics.csv's rows and tidy away
    each other's checkpoint writes. Hold the returned object as long as the run writes there;
    the lock goes with it (or with ``release(force=True)``), or with the process, killed or
    not. Agents of one process share it.

    Raises:
        CheckpointError: one line naming the directory and the reason.
    """
    try:
        require_writable(run_dir)
    except OSError as error:
        raise CheckpointError(f"cannot write checkpoints to {run_dir}: {error.strerror or error}") from None
    lock = filelock.FileLock(run_dir / ".lock", is_singleton=True, thread_local=False)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        raise CheckpointError(
            f"{run_dir} is in use: another process holds an agent training there; "
            "wait for it to stop (or close that agent), or choose another run directory"
        ) from None
    recover_checkpoints(run_dir / "checkpoints")
    return lock


def recover_checkpoints(directory: Path) -> None:
    """Tidy what a process killed while writing or pruning checkpoints left behind.

    - ``.step_N.old`` with no ``step_N``: the kill came between moving the old copy of a
      rewritten checkpoint away and moving the new one in; the old copy is complete: it is
      moved back.
    - Staging folders (``.step_N.tmp.*``), other ``.old`` and ``.step_N.pruned`` folders
      (checkpoints being deleted: pruning renames before it deletes) are never read: removed.
    """
    if not directory.is_dir():
        return
    for old in directory.glob(f".{_PREFIX}*.old"):
        target = directory / old.name[1 : -len(".old")]
        if not target.exists() and (old / "state.json").is_file():
            os.replace(old, target)
            logger.warning("recovered %s from %s (a rewrite of it was interrupted)", target, old.name)
    for leftover in directory.glob(f".{_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    for partial in directory.glob(f"{_PREFIX}*"):  # half deleted by an older dqnlib's pruning
        if _is_step_name(partial.name) and partial.is_dir() and not (partial / "state.json").exists():
            logger.warning("removing %s: a checkpoint without state.json (an interrupted deletion)", partial)
            shutil.rmtree(partial, ignore_errors=True)


def save_run_checkpoint(
    run_dir: Path, state: dict[str, Any], replay_memory: ReplayMemory, with_replay: bool = False
) -> Path:
    """Checkpoint a run at ``RUN_DIR/checkpoints/step_N`` and prune all but the newest few (and
    the newest with a replay memory), as ``state["config"]`` says.

    The replay memory goes into every ``replay_checkpoint_every``-th checkpoint, and into
    any checkpoint asked ``with_replay`` (the last one of a run, or one written on a stop).

    Raises:
        CheckpointError: one line, when the run directory cannot be written; the
            checkpoints already there are left as they were.
    """
    config, steps = state["config"], state["counters"]["env_steps"]
    target = run_dir / "checkpoints" / f"{_PREFIX}{steps:010d}"
    with_replay = (
        with_replay or (steps // config["checkpoint_every"]) % config["replay_checkpoint_every"] == 0
    )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.json").write_text(json.dumps(config, indent=1))
        path = save_checkpoint(target, state, replay_memory if with_replay else None)
    except OSError as error:
        raise CheckpointError(
            f"cannot write checkpoint {target}: {error.strerror or error}; training stopped, older checkpoints kept"
        ) from None
    checkpoints = run_checkpoints(run_dir)
    with_memory = [p for p in checkpoints if (p / "replay").is_dir()][-1:]
    for old in checkpoints[: -config["keep_checkpoints"]]:
        if old not in with_memory:
            # Renamed away first: a kill during the deletion leaves a hidden folder that the next
            # start removes, never a step_N folder with part of its files.
            doomed = old.with_name(f".{old.name}.pruned")
            os.replace(old, doomed)
            shutil.rmtree(doomed, ignore_errors=True)
    logger.info("checkpoint written to %s", path)
    return path


def newest_run_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    checkpoints = run_checkpoints(run_dir)
    return checkpoints[-1] if checkpoints else None
