"""Environment throughput of dqnlib on Breakout with uniform random actions.

Three measurements, each after a short warm-up, timed with ``time.perf_counter``:

1. raw ALE: ``ale_py.ALEInterface`` with the Breakout ROM, ``act()`` with random
   minimal-set actions at frame skip 1, ``reset_game()`` on game over: emulator frames/s.
2. single env: ``dqnlib.make_env("Breakout")`` (frame skip 4), reset on terminated or
   truncated: agent steps/s.
3. vector env: ``dqnlib.make_vector_env("Breakout", n)`` for n in 1, 2, 4, 8, 16, 32, stepped with
   an int64 action array (it resets itself): agent steps/s summed over the n games.

Raw ALE and the single env take turns in ``--rounds`` windows of ``--seconds`` each, and their
ratio is the median of the rounds' ratios: this machine's speed drifts by up to a third within
minutes, and two windows measured minutes apart gave that ratio anywhere from 69% to 76%. Each
vector env size gets one window of ``--vector-seconds``; the fastest then takes turns with the
single env in ``--rounds`` more windows, and the vector/single ratio is their median.

All use sticky actions at 0.25 and dqnlib's default no-op starts; actions come from a
seeded ``numpy.random.Generator``, drawn in blocks so that drawing them costs next to
nothing. The script prints a markdown table and two goal ratios:

- vector env (best n) vs single env agent steps/s, goal >= 1.8x;
- single env agent steps/s vs raw ALE frames/s / 4 (median over the rounds), goal >= 75%.

Usage::

    .venv/bin/python benchmarks/bench_envs.py                         # print only
    .venv/bin/python benchmarks/bench_envs.py --write BENCHMARKS.md   # also record (make bench)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ale_py
import gymnasium
import numpy as np
from ale_py import roms
from common import num_cpus, provenance, software, verdict, write_section

import dqnlib

GAME = "Breakout"
ROM_ID = "breakout"
STICKY_ACTION_PROBABILITY = 0.25
FRAME_SKIP = dqnlib.AtariOptions().frame_skip
VECTOR_SIZES = (1, 2, 4, 8, 16, 32)
VECTOR_GOAL = 1.8  # best vector env / single env, agent steps/s
SINGLE_GOAL = 0.75  # single env agent steps/s / (raw ALE frames/s / frame skip)
ACTION_BLOCK = 4096  # random actions drawn per call to the generator
SECTION_TITLE = "## Environment throughput"
DEFAULT_COMMAND = ".venv/bin/python benchmarks/bench_envs.py --write BENCHMARKS.md"
DEFAULT_OPTIONS = (2.0, 10, 5.0, 1.0, 0)  # --seconds, --rounds, --vector-seconds, --warmup, --seed


@dataclass(frozen=True)
class Measurement:
    """One timed window: ``count`` units (frames or agent steps) in ``elapsed`` seconds."""

    name: str
    short: str
    unit: str
    frames_per_unit: int
    count: int
    elapsed: float

    @property
    def rate(self) -> float:
        return self.count / self.elapsed

    @property
    def frame_rate(self) -> float:
        """Emulator frames/s (agent steps times frame skip; no-op and FIRE frames of resets not counted)."""
        return self.rate * self.frames_per_unit


class RandomActions:
    """Uniform random action indices in ``[0, num_actions)``, drawn in blocks from a seeded generator."""

    def __init__(self, rng: np.random.Generator, num_actions: int, num_envs: int | None = None) -> None:
        self._rng = rng
        self._num_actions = num_actions
        self._shape = (ACTION_BLOCK,) if num_envs is None else (ACTION_BLOCK, num_envs)
        self._block: list[int] | np.ndarray = []
        self._next = ACTION_BLOCK

    def _refill(self) -> None:
        block = self._rng.integers(0, self._num_actions, size=self._shape, dtype=np.int64)
        self._block = block.tolist() if block.ndim == 1 else block
        self._next = 0

    def next(self) -> Any:
        """A Python int (one env), or an int64 array of shape (num_envs,) (vector env)."""
        if self._next == ACTION_BLOCK:
            self._refill()
        self._next += 1
        return self._block[self._next - 1]


def timed(step: Callable[[], int], seconds: float, warmup: float) -> tuple[int, float]:
    """Call ``step`` for ``warmup`` seconds, then count its units over a window of ``seconds``."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        step()
    count = 0
    start = time.perf_counter()
    end = start + seconds
    while True:
        count += step()
        now = time.perf_counter()
        if now >= end:
            return count, now - start


def raw_ale_stepper(seed: int) -> Callable[[], int]:
    """One raw emulator frame per call: ``ALEInterface.act`` with a random minimal-set action."""
    ale = ale_py.ALEInterface()
    ale.setLoggerMode(ale_py.LoggerMode.Error)
    ale.setInt("random_seed", seed)
    ale.setInt("frame_skip", 1)
    ale.setInt("max_num_frames_per_episode", dqnlib.AtariOptions().max_episode_frames)
    ale.setFloat("repeat_action_probability", STICKY_ACTION_PROBABILITY)
    ale.loadROM(roms.get_rom_path(ROM_ID))
    action_set = ale.getMinimalActionSet()
    actions = RandomActions(np.random.default_rng(seed), len(action_set))
    ale.reset_game()

    def step() -> int:
        ale.act(action_set[actions.next()])
        if ale.game_over():
            ale.reset_game()
        return 1

    return step


def single_env_stepper(env: gymnasium.Env, seed: int) -> Callable[[], int]:
    """One agent step of ``env`` per call, reset on terminated or truncated."""
    actions = RandomActions(np.random.default_rng(seed), int(env.action_space.n))
    env.reset(seed=seed)

    def step() -> int:
        _, _, terminated, truncated, _ = env.step(actions.next())
        if terminated or truncated:
            env.reset()
        return 1

    return step


def alternate(
    first: Callable[[], int], second: Callable[[], int], args: argparse.Namespace
) -> list[tuple[tuple[int, float], tuple[int, float]]]:
    """``first`` and ``second`` in turns, ``args.rounds`` windows of ``args.seconds`` each (a warm-up
    before the first), so that the machine's drift over minutes hits both alike; returns each
    round's ``((count, elapsed), (count, elapsed))``."""
    rounds = []
    for round_index in range(args.rounds):
        warmup = args.warmup if round_index == 0 else 0.0
        rounds.append((timed(first, args.seconds, warmup), timed(second, args.seconds, warmup)))
    return rounds


def rate(window: tuple[int, float]) -> float:
    count, elapsed = window
    return count / elapsed


def bench_raw_and_single(args: argparse.Namespace) -> tuple[Measurement, Measurement, list[float]]:
    """Raw ALE and the single env in alternating windows; returns both totals and the
    single/(raw/frame skip) ratio of each round."""
    env = dqnlib.make_env(GAME, sticky_action_probability=STICKY_ACTION_PROBABILITY)
    try:
        rounds = alternate(raw_ale_stepper(args.seed), single_env_stepper(env, args.seed), args)
    finally:
        env.close()
    raw_windows, single_windows = zip(*rounds, strict=True)

    def total(windows: tuple[tuple[int, float], ...]) -> tuple[int, float]:
        return sum(count for count, _ in windows), sum(elapsed for _, elapsed in windows)

    raw = Measurement(
        "raw ALE (`ALEInterface.act`, frame skip 1)", "raw ALE", "frames/s", 1, *total(raw_windows)
    )
    single = Measurement(
        "single env (`make_env`)", "single env", "agent steps/s", FRAME_SKIP, *total(single_windows)
    )
    return raw, single, [rate(s) / (rate(r) / FRAME_SKIP) for r, s in rounds]


def vector_env_stepper(env: gymnasium.vector.VectorEnv, num_envs: int, seed: int) -> Callable[[], int]:
    """One step of every game of ``env`` per call (it resets games itself); counts agent steps."""
    actions = RandomActions(np.random.default_rng(seed), int(env.single_action_space.n), num_envs)
    env.reset(seed=seed)

    def step() -> int:
        env.step(actions.next())
        return num_envs

    return step


def make_vector(num_envs: int) -> gymnasium.vector.VectorEnv:
    return dqnlib.make_vector_env(GAME, num_envs, sticky_action_probability=STICKY_ACTION_PROBABILITY)


def bench_vector_env(num_envs: int, seconds: float, warmup: float, seed: int) -> Measurement:
    env = make_vector(num_envs)
    try:
        count, elapsed = timed(vector_env_stepper(env, num_envs, seed), seconds, warmup)
    finally:
        env.close()
    name = f"vector env (`make_vector_env`, n={num_envs})"
    return Measurement(name, f"n={num_envs}", "agent steps/s", FRAME_SKIP, count, elapsed)


def bench_vector_against_single(num_envs: int, args: argparse.Namespace) -> list[float]:
    """The vector env with ``num_envs`` games and the single env in alternating windows;
    returns the vector/single ratio of agent steps/s of each round."""
    vector_env = make_vector(num_envs)
    single_env = dqnlib.make_env(GAME, sticky_action_probability=STICKY_ACTION_PROBABILITY)
    try:
        rounds = alternate(
            vector_env_stepper(vector_env, num_envs, args.seed),
            single_env_stepper(single_env, args.seed),
            args,
        )
    finally:
        vector_env.close()
        single_env.close()
    return [rate(vector) / rate(single) for vector, single in rounds]


@dataclass(frozen=True)
class Ratios:
    vector_name: str
    vector_by_round: list[float]
    single_by_round: list[float]

    @property
    def vector(self) -> float:
        return statistics.median(self.vector_by_round)

    @property
    def single(self) -> float:
        return statistics.median(self.single_by_round)

    @property
    def vector_pass(self) -> bool:
        return self.vector >= VECTOR_GOAL

    @property
    def single_pass(self) -> bool:
        return self.single >= SINGLE_GOAL


def table(raw: Measurement, single: Measurement, vectors: list[Measurement]) -> str:
    rows = [
        "| Measurement | Rate | Unit | Emulator frames/s |",
        "|---|---:|---|---:|",
    ]
    for m in (raw, single, *vectors):
        rows.append(f"| {m.name} | {m.rate:,.0f} | {m.unit} | {m.frame_rate:,.0f} |")
    return "\n".join(rows)


def ratio_lines(r: Ratios, cpus: int, raw: Measurement) -> str:
    vector = (
        f"- Vector env best ({r.vector_name}) vs single env, agent steps/s on {cpus} CPUs, median of "
        f"{len(r.vector_by_round)} alternating rounds: **{r.vector:.2f}x** ({min(r.vector_by_round):.2f}x-"
        f"{max(r.vector_by_round):.2f}x) (goal >= {VECTOR_GOAL:.1f}x): {verdict(r.vector_pass)}"
    )
    single = (
        f"- Single env agent steps/s vs raw ALE frames/s / {FRAME_SKIP} ({raw.rate / FRAME_SKIP:,.0f} over all "
        f"rounds), median of the {len(r.single_by_round)} rounds: **{r.single:.1%}** "
        f"({min(r.single_by_round):.1%}-{max(r.single_by_round):.1%}) (goal >= {SINGLE_GOAL:.0%}): "
        f"{verdict(r.single_pass)}"
    )
    return f"{vector}\n{single}"


def section(
    raw: Measurement, single: Measurement, vectors: list[Measurement], r: Ratios, args: argparse.Namespace
) -> str:
    """The markdown section recorded in ``--write FILE``: setup, machine, table and ratios."""
    command = f".venv/bin/python benchmarks/bench_envs.py --write {args.write}"
    options = (args.seconds, args.rounds, args.vector_seconds, args.warmup, args.seed)
    if options != DEFAULT_OPTIONS:
        command += (
            f" --seconds {args.seconds:g} --rounds {args.rounds} --vector-seconds {args.vector_seconds:g}"
            f" --warmup {args.warmup:g} --seed {args.seed}"
        )
    redo = f"`make bench` or `{command}`" if command == DEFAULT_COMMAND else f"`{command}`"
    setup = (
        f"{GAME}, uniform random actions (seeded numpy Generator), sticky actions "
        f"{STICKY_ACTION_PROBABILITY}, dqnlib's default no-op starts, frame skip {FRAME_SKIP} for the "
        f"environments. Raw ALE and the single env take turns: {args.rounds} rounds of a {args.seconds:g} s "
        "window each (after one warm-up), so that the machine's drift hits both alike; their rows sum the "
        f"rounds. Each vector env row: a {args.warmup:g} s warm-up, then a {args.vector_seconds:g} s window; "
        f"the fastest n then takes turns with the single env over {args.rounds} more rounds for their ratio. "
        "Vector env rates are summed over its n games (ale-py's native threads, one per core). "
        f"Emulator frames/s = agent steps/s x {FRAME_SKIP} (frames played inside resets not counted)."
    )
    versions = {"ale-py": ale_py.__version__, "gymnasium": gymnasium.__version__, "numpy": np.__version__}
    lines = [
        SECTION_TITLE,
        "",
        setup,
        "",
        *provenance(),
        software(versions),
        f"- Redo: {redo}",
        "",
        table(raw, single, vectors),
        "",
        ratio_lines(r, num_cpus(), raw),
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds", type=float, default=2.0, help="raw ALE and single env window per round (s)"
    )
    parser.add_argument("--rounds", type=int, default=10, help="alternating raw ALE / single env windows")
    parser.add_argument("--vector-seconds", type=float, default=5.0, help="timed window per vector env (s)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up before each window (s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the emulators and the actions")
    parser.add_argument(
        "--write", type=Path, metavar="FILE", help=f"replace or append the '{SECTION_TITLE}' section of FILE"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.vector_seconds <= 0 or args.rounds < 1 or args.warmup < 0:
        parser.error("--seconds and --vector-seconds must be > 0, --rounds >= 1 and --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def log(m: Measurement) -> Measurement:
        print(f"{m.name}: {m.rate:,.0f} {m.unit} ({m.count:,} in {m.elapsed:.2f} s)", file=sys.stderr)
        return m

    raw, single, single_by_round = bench_raw_and_single(args)
    log(raw)
    log(single)
    vectors = [log(bench_vector_env(n, args.vector_seconds, args.warmup, args.seed)) for n in VECTOR_SIZES]
    best = max(vectors, key=lambda m: m.rate)
    best_num_envs = VECTOR_SIZES[vectors.index(best)]
    r = Ratios(best.short, bench_vector_against_single(best_num_envs, args), single_by_round)

    print(table(raw, single, vectors))
    print()
    print(ratio_lines(r, num_cpus(), raw))
    if args.write is not None:
        write_section(args.write, SECTION_TITLE, section(raw, single, vectors, r, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
