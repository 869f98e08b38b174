"""dqnlib beside Stable-Baselines3 and CleanRL: DQN training speed on Breakout, side by side.

One command runs the three trainers and the learner ceilings in turns (``--rounds``, 3 by
default, so that the machine's drift over minutes shows as a range), each in a child
process with 2 torch threads and the same hyperparameters (Breakout, replay 100,000,
batch 32, learning starts 5,000, train frequency 4, target update 1,000), and measures:

- environment steps/s over the learning phase: every ``torch.optim.Adam.step`` call is
  timestamped (all three use Adam, one update per 4 environment steps), and the rate is
  ``4 * (updates - 1) / (last - first)``; nothing inside the trainers is changed for it;
- peak RSS of the child (``ru_maxrss``) and the replay memory's bytes per transition
  (its numpy arrays' ``nbytes`` over its capacity);
- the pure-learner ceiling: Nature-network updates/s at batch 32 with the target forward,
  in plain fp32 PyTorch (default Adam, as the peers do), dqnlib in fp32, and dqnlib with
  its speed settings (bf16 autocast and a bf16 target network where the CPU has bf16, fused Adam),
  for DQN and for Double DQN.

The peers train DQN, so dqnlib runs DQN for the comparison (``double_dqn=False``), and
once more with its default Double DQN, whose update runs the next states through both
networks.

The peers: Stable-Baselines3 from pip (``pip install stable-baselines3``: ``DQN("CnnPolicy")``
on its ``make_atari_env`` + ``VecFrameStack(4)``), and CleanRL's ``cleanrl/dqn_atari.py``
run from a checkout given with ``--cleanrl DIR`` (it also needs ``tyro`` and ``tensorboard``).
Its code is not in this repository: the script copies it to a temporary folder and makes
the edits that gymnasium 1.x needs, listed in the output.

Usage::

    .venv/bin/pip install stable-baselines3 tyro tensorboard
    git clone https://github.com/vwxyzjn/cleanrl /tmp/cleanrl
    .venv/bin/python benchmarks/peers/bench_peers.py --cleanrl /tmp/cleanrl --write BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import (
    command_output,
    median_range,
    peak_rss_kib,
    provenance,
    publish,
    report_to_parent,
    run_child,
    software,
)

SECTION_TITLE = "## dqnlib beside Stable-Baselines3 and CleanRL"
THREADS = 2
HYPERPARAMETERS = {
    "buffer_size": 100_000,
    "batch_size": 32,
    "learning_starts": 5_000,
    "train_frequency": 4,
    "target_update": 1_000,
}
# CleanRL's dqn_atari.py targets gymnasium 0.29; these make it run on gymnasium 1.x.
CLEANRL_EDITS = [
    ("import gymnasium as gym\n", "import gymnasium as gym\nimport ale_py\n\ngym.register_envs(ale_py)\n"),
    ("gym.wrappers.GrayScaleObservation(env)", "gym.wrappers.GrayscaleObservation(env)"),
    ("gym.wrappers.FrameStack(env, 4)", "gym.wrappers.FrameStackObservation(env, 4)"),
]

EDITS_TEXT = "; ".join(f"`{old.strip()}` -> `{' '.join(new.split())}`" for old, new in CLEANRL_EDITS)


# ---------------------------------------------------------------------------- in the child
class UpdateClock:
    """Timestamps of every ``torch.optim.Adam.step`` call in this process."""

    def __init__(self) -> None:
        self.times: list[float] = []
        step = torch.optim.Adam.step
        clock = self

        def timed_step(optimizer, *args, **kwargs):
            result = step(optimizer, *args, **kwargs)
            clock.times.append(time.perf_counter())
            return result

        torch.optim.Adam.step = timed_step

    def steps_per_second(self) -> float:
        if len(self.times) < 2:
            raise RuntimeError("fewer than two learner updates: raise --steps")
        return HYPERPARAMETERS["train_frequency"] * (len(self.times) - 1) / (self.times[-1] - self.times[0])


def buffer_bytes_per_transition(buffer: object, capacity: int) -> float:
    arrays = [value for value in vars(buffer).values() if isinstance(value, np.ndarray)]
    return sum(array.nbytes for array in arrays) / capacity


def run_sb3(steps: int) -> dict:
    import ale_py
    import gymnasium
    import stable_baselines3
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    gymnasium.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=0), n_stack=4)
    model = DQN(
        "CnnPolicy",
        env,
        buffer_size=HYPERPARAMETERS["buffer_size"],
        batch_size=HYPERPARAMETERS["batch_size"],
        learning_starts=HYPERPARAMETERS["learning_starts"],
        train_freq=HYPERPARAMETERS["train_frequency"],
        target_update_interval=HYPERPARAMETERS["target_update"],
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=steps)
    return {
        "name": f"Stable-Baselines3 {stable_baselines3.__version__} (`DQN('CnnPolicy')`, fp32)",
        "bytes_per_transition": buffer_bytes_per_transition(
            model.replay_buffer, HYPERPARAMETERS["buffer_size"]
        ),
    }


def run_cleanrl(steps: int, checkout: Path) -> dict:
    source = (checkout / "cleanrl" / "dqn_atari.py").read_text()
    for old, new in CLEANRL_EDITS:
        if old not in source:
            raise RuntimeError(f"CleanRL's dqn_atari.py changed: {old!r} not found")
        source = source.replace(old, new)
    folder = Path(tempfile.mkdtemp(prefix="cleanrl-"))
    script = folder / "dqn_atari.py"
    script.write_text(source)
    sys.path.insert(0, str(checkout))  # cleanrl_utils
    os.chdir(folder)  # it writes runs/ for TensorBoard where it is started
    sys.argv = [
        str(script),
        "--env-id", "BreakoutNoFrameskip-v4",
        "--total-timesteps", str(steps),
        "--buffer-size", str(HYPERPARAMETERS["buffer_size"]),
        "--batch-size", str(HYPERPARAMETERS["batch_size"]),
        "--learning-starts", str(HYPERPARAMETERS["learning_starts"]),
        "--train-frequency", str(HYPERPARAMETERS["train_frequency"]),
        "--target-network-frequency", str(HYPERPARAMETERS["target_update"]),
        "--no-cuda",
    ]  # fmt: skip
    commit = command_output(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"]) or "unknown commit"
    namespace = runpy.run_path(str(script), run_name="__main__")
    return {
        "name": f"CleanRL `dqn_atari.py` ({commit}, fp32)",
        "bytes_per_transition": buffer_bytes_per_transition(namespace["rb"], HYPERPARAMETERS["buffer_size"]),
    }


def precision_label(agent) -> str:
    """How the agent's learner runs, e.g. "bf16 autocast + bf16 target network"."""
    if not agent.bf16:
        return "fp32"
    parts = ["bf16 autocast"]
    if next(agent.target.parameters()).dtype == torch.bfloat16:
        parts.append("bf16 target network")
    if agent.channels_last:
        parts.append("channels-last")
    return " + ".join(parts)


def run_dqnlib(steps: int, double_dqn: bool) -> dict:
    import dqnlib

    agent = dqnlib.AtariDQNAgent(
        "Breakout",
        seed=0,
        replay_capacity=HYPERPARAMETERS["buffer_size"],
        batch_size=HYPERPARAMETERS["batch_size"],
        learning_starts=HYPERPARAMETERS["learning_starts"],
        train_frequency=HYPERPARAMETERS["train_frequency"],
        target_update_interval=HYPERPARAMETERS["target_update"],
        double_dqn=double_dqn,
    )
    agent.train(steps)
    precision = precision_label(agent)
    algorithm = "Double DQN, the default preset's" if double_dqn else "DQN, as the peers"
    return {
        "name": f"dqnlib {dqnlib.__version__} ({algorithm}, {agent.config.num_envs} envs, {precision})",
        "bytes_per_transition": agent.replay_memory.nbytes / agent.replay_memory.spec.capacity,
    }


def run_ceiling(seconds: float) -> dict:
    """Nature-network updates/s on a fixed batch: plain fp32 PyTorch, dqnlib fp32, dqnlib."""
    import dqnlib
    from dqnlib.networks import NatureQNetwork

    rng = np.random.default_rng(0)
    batch_size = HYPERPARAMETERS["batch_size"]

    def rate(update) -> float:
        for _ in range(5):
            update()
        count, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            update()
            count += 1
        return count / (time.perf_counter() - start)

    online, target = NatureQNetwork(4), NatureQNetwork(4)
    optimizer = torch.optim.Adam(online.parameters(), lr=1e-4)
    states = torch.as_tensor(rng.integers(0, 256, (batch_size, 4, 84, 84), dtype=np.uint8))
    next_states = torch.as_tensor(rng.integers(0, 256, (batch_size, 4, 84, 84), dtype=np.uint8))
    actions = torch.as_tensor(rng.integers(0, 4, batch_size))

    def plain_update() -> None:
        with torch.no_grad():
            next_q = target(next_states).max(dim=1).values
        q = online(states).gather(1, actions[:, None]).squeeze(1)
        loss = torch.nn.functional.smooth_l1_loss(q, 0.99 * next_q)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    rates = {"plain PyTorch fp32, DQN (default Adam)": rate(plain_update)}
    for double_dqn in (False, True):
        for precision in ("fp32", "auto"):
            agent = dqnlib.AtariDQNAgent(
                "Breakout", preset="tiny", hidden_size=512, precision=precision, double_dqn=double_dqn
            )
            agent.train(agent.config.learning_starts + 8)  # fills the memory a little
            batch = agent.replay_memory.sample(batch_size)
            speed = precision_label(agent)
            algorithm = "Double DQN (next states through both networks)" if double_dqn else "DQN"
            name = f"dqnlib's update, {algorithm}, {speed}, fused Adam"
            rates[name] = rate(lambda agent=agent, batch=batch: agent.learn(batch))
    return {"ceiling": rates}


def child_main(kind: str, steps: int, cleanrl: Path | None, seconds: float) -> None:
    torch.set_num_threads(THREADS)
    clock = UpdateClock()
    if kind == "ceiling":
        result = run_ceiling(seconds)
    else:
        start = time.perf_counter()
        if kind == "cleanrl":
            result = run_cleanrl(steps, cleanrl)
        elif kind == "sb3":
            result = run_sb3(steps)
        else:
            result = run_dqnlib(steps, double_dqn=kind == "dqnlib_double")
        result |= {
            "steps_per_second": clock.steps_per_second(),
            "updates": len(clock.times),
            "wall_seconds": time.perf_counter() - start,
        }
    result["peak_rss_mib"] = peak_rss_kib() / 1024
    report_to_parent(result)


# ---------------------------------------------------------------------------- the parent
def run_trainer(kind: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--steps",
        str(args.steps),
        "--seconds",
        str(args.seconds),
    ]
    if args.cleanrl is not None:
        command += ["--cleanrl", str(args.cleanrl)]
    environment = {**os.environ, "OMP_NUM_THREADS": str(THREADS), "MKL_NUM_THREADS": str(THREADS)}
    print(f"running {kind} ...", file=sys.stderr, flush=True)
    return run_child(command, kind, environment)


def section(rounds: list[dict[str, dict]], args: argparse.Namespace) -> str:
    """BENCHMARKS.md's section from ``rounds``: one {kind: child result} dict per round."""
    trainers = [kind for kind in rounds[0] if kind != "ceiling"]
    rate = {kind: [r[kind]["steps_per_second"] for r in rounds] for kind in trainers}
    rows = ["| Trainer | Learning-phase env steps/s | Updates timed | Peak RSS | Replay bytes/transition |"]
    rows.append("|---|---:|---:|---:|---:|")
    for kind in trainers:
        first = rounds[0][kind]
        rows.append(
            f"| {first['name']} | {median_range(rate[kind])} | {first['updates']:,} | "
            f"{max(r[kind]['peak_rss_mib'] for r in rounds):,.0f} MiB | {first['bytes_per_transition']:,.0f} B |"
        )
    ratios = []
    for kind in trainers:
        if kind.startswith("dqnlib"):
            continue
        per_round = [ours / theirs for ours, theirs in zip(rate["dqnlib"], rate[kind], strict=True)]
        ratios.append(f"- dqnlib (DQN) / {kind}, per round: **{median_range(per_round, 2)}x** (goal >= 3x)")
    ceiling_rows = [
        "| Learner (Nature network, batch 32, target forward) | Updates/s | Env steps/s at train frequency 4 |"
    ]
    ceiling_rows.append("|---|---:|---:|")
    for name in rounds[0]["ceiling"]["ceiling"]:
        updates = [r["ceiling"]["ceiling"][name] for r in rounds]
        ceiling_rows.append(f"| {name} | {median_range(updates)} | {4 * statistics.median(updates):,.0f} |")
    usage = []
    for kind, algorithm in (("dqnlib", "DQN,"), ("dqnlib_double", "Double DQN")):
        shares = []
        for r in rounds:
            best = max(
                updates
                for name, updates in r["ceiling"]["ceiling"].items()
                if f"dqnlib's update, {algorithm}" in name
            )
            shares.append(100 * r[kind]["steps_per_second"] / 4 / best)
        usage.append(
            f"- dqnlib {algorithm.rstrip(',')}: updates/s in training vs its best learner ceiling in the same "
            f"round: **{median_range(shares, 0)}%** (goal >= 90%)"
        )
    return "\n".join(
        [
            SECTION_TITLE,
            "",
            (
                f"Breakout, {THREADS} torch threads per trainer, replay {HYPERPARAMETERS['buffer_size']:,}, batch "
                f"{HYPERPARAMETERS['batch_size']}, learning starts {HYPERPARAMETERS['learning_starts']:,}, train "
                f"frequency {HYPERPARAMETERS['train_frequency']}, target update {HYPERPARAMETERS['target_update']:,}; "
                f"{args.steps:,} environment steps per trainer; other settings "
                "are each trainer's defaults (dqnlib steps 4 games at once, SB3 and CleanRL one). The peers train "
                "DQN; dqnlib runs once with DQN (the comparison) and once with its default Double DQN. Peak RSS is "
                "after these steps, not with a full replay memory. Steps/s over the "
                "learning phase from the timestamps of the Adam steps (4 environment steps per update). "
                f"The trainers and the learner ceilings take turns, {len(rounds)} round(s) in one session; each "
                "figure is the median over the rounds with their range in brackets, since the machine's speed "
                "drifts from minute to minute (a virtual machine on a shared host). "
                f"CleanRL edits for gymnasium 1.x: {EDITS_TEXT}."
            ),
            "",
            *provenance(),
            software({"torch": torch.__version__}),
            (
                f"- Redo: `.venv/bin/python benchmarks/peers/bench_peers.py --cleanrl CLEANRL_CHECKOUT --steps {args.steps}"
                f" --rounds {len(rounds)} --write BENCHMARKS.md` (see the script's docstring for the peers' installation)"
            ),
            "",
            *rows,
            "",
            *ratios,
            "",
            *ceiling_rows,
            "",
            *usage,
            "",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cleanrl", type=Path, help="a CleanRL checkout (with cleanrl/dqn_atari.py)")
    parser.add_argument("--steps", type=int, default=9_000, help="environment steps per trainer")
    parser.add_argument("--seconds", type=float, default=10.0, help="timed window per learner ceiling")
    parser.add_argument("--rounds", type=int, default=3, help="turns each trainer and the ceiling take")
    parser.add_argument("--write", type=Path, metavar="FILE")
    parser.add_argument(
        "--child", choices=["sb3", "cleanrl", "dqnlib", "dqnlib_double", "ceiling"], help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.steps <= HYPERPARAMETERS["learning_starts"] + 100:
        parser.error(f"--steps must be > {HYPERPARAMETERS['learning_starts'] + 100} to time a learning phase")
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    if args.cleanrl is not None and not (args.cleanrl / "cleanrl" / "dqn_atari.py").is_file():
        parser.error(f"--cleanrl {args.cleanrl}: no cleanrl/dqn_atari.py there")
    if args.child is not None:
        child_main(args.child, args.steps, args.cleanrl, args.seconds)
        return 0
    kinds = (
        ["dqnlib", "dqnlib_double", "sb3"] + (["cleanrl"] if args.cleanrl is not None else []) + ["ceiling"]
    )
    rounds = [{kind: run_trainer(kind, args) for kind in kinds} for _ in range(args.rounds)]
    text = section(rounds, args)
    publish(text, SECTION_TITLE, args.write)
    return 0


if __name__ == "__main__":
    sys.exit(main())
