"""Command line: ``python -m dqnlib {train,evaluate,play,export,games,sweep,report}``. Argument parsing only;
bad input is one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import ale_py

from dqnlib.atomic import require_writable
from dqnlib.checkpoint import CheckpointError
from dqnlib.config import MAX_SEED
from dqnlib.games import list_games, minimal_action_set
from dqnlib.metrics import MetricsError
from dqnlib.sweep import MissingExtra
from dqnlib.training import TrainingDiverged
from dqnlib.validation import first_line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _integer(text: str) -> int:
    try:
        return int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None


def _positive_int(text: str) -> int:
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _seed(text: str) -> int:
    value = _integer(text)
    if not 0 <= value < MAX_SEED:
        raise argparse.ArgumentTypeError(f"{value} must be in [0, {MAX_SEED:,})")
    return value


def _override(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not of the form field=value")
    name, value = text.split("=", 1)
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dqnlib", description="Deep Q-Networks on Atari.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    train = commands.add_parser("train", help="train, or continue the run in --run-dir")
    train.add_argument("--game", default=None, help="default: the preset's game (Breakout)")
    train.add_argument(
        "--steps", type=_positive_int, default=800_000, help="total environment steps of the run (800,000)"
    )
    train.add_argument("--run-dir", type=Path, default=None, help="default: runs/<game>")
    train.add_argument("--preset", default="default")
    train.add_argument("--seed", type=_seed, default=0)
    train.add_argument("--checkpoint-every", type=_positive_int, default=None)
    train.add_argument("--set", type=_override, action="append", default=[], metavar="FIELD=VALUE")

    evaluate = commands.add_parser("evaluate", help="evaluate a checkpoint under a protocol")
    evaluate.add_argument("--checkpoint", type=Path, required=True)
    evaluate.add_argument("--episodes", type=_positive_int, default=30)
    evaluate.add_argument("--protocol", default="nature", choices=["nature", "machado"])
    evaluate.add_argument("--epsilon", type=float, default=None)
    evaluate.add_argument("--seed", type=_seed, default=0)

    play = commands.add_parser("play", help="play one game and write it as a GIF")
    play.add_argument("--checkpoint", type=Path, required=True)
    play.add_argument("--out", type=Path, default=Path("episode.gif"))
    play.add_argument("--protocol", default="nature", choices=["nature", "machado"])
    play.add_argument("--max-steps", type=_positive_int, default=5_000)
    play.add_argument("--seed", type=_seed, default=0)

    export = commands.add_parser(
        "export", help="a small weights-only copy of a checkpoint, with its run's metrics and learning curve"
    )
    export.add_argument("--checkpoint", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="a new directory")

    commands.add_parser("games", help="list installed games with their action-set sizes")

    sweep = commands.add_parser("sweep", help="one run per (game, variant, seed) as Ray tasks; resumes")
    sweep.add_argument(
        "--games", type=_names, default=["Breakout"], help="comma-separated, e.g. Breakout,Pong"
    )
    sweep.add_argument("--seeds", type=_positive_int, default=3, help="seeds 0..N-1")
    sweep.add_argument(
        "--variants", type=_names, default=["dqn", "double", "dueling"], help="dqn,double,dueling"
    )
    sweep.add_argument("--steps", type=_positive_int, default=1_000_000, help="environment steps per run")
    sweep.add_argument("--preset", default="default")
    sweep.add_argument("--sweep-dir", type=Path, default=Path("runs/sweep"))
    sweep.add_argument("--address", default=None, help="an existing Ray cluster (default: a local one)")
    sweep.add_argument("--eval-episodes", type=_positive_int, default=10)
    sweep.add_argument(
        "--cpus-per-run",
        type=_positive_int,
        default=1,
        help="CPUs (and torch threads) each run gets; 2 on a 2-core machine runs one run at a time",
    )
    sweep.add_argument("--set", type=_override, action="append", default=[], metavar="FIELD=VALUE")

    report = commands.add_parser("report", help="tables and figures of a sweep directory")
    report.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR")
    report.add_argument("--reps", type=_positive_int, default=2_000, help="bootstrap replicates")
    report.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    return parser


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names nothing; give comma-separated names")
    return names


def _parse_value(text: str) -> object:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text.replace("_", ""))
        except ValueError:
            pass
    return text


def _train(args: argparse.Namespace) -> int:
    from dqnlib.agent import DQNAgent
    from dqnlib.config import make_config

    overrides = {name: _parse_value(value) for name, value in args.set}
    for name, flag in (("game", "--game"), ("seed", "--seed"), ("checkpoint_every", "--checkpoint-every")):
        if name in overrides:
            raise ValueError(f"--set {name}=...: use {flag} instead")
    if args.checkpoint_every is not None:
        overrides["checkpoint_every"] = args.checkpoint_every
    if args.game is not None:  # a preset's game (e.g. cartpole's) stands unless --game is given
        overrides["game"] = args.game
    config = make_config(args.preset, seed=args.seed, **overrides)
    run_dir = args.run_dir or Path("runs") / config.game.lower().replace("/", "_")
    _writable_directory(run_dir, "--run-dir" if args.run_dir else "the run directory")
    agent = DQNAgent.start_or_resume(config, run_dir)
    if agent.resumed is None:  # a resume is reported by the agent itself (logged on stderr)
        print(f"new run in {run_dir}: {config.game}, preset {args.preset}, seed {config.seed}")
    remaining = args.steps - agent.counters.env_steps
    if remaining <= 0:
        print(
            f"{run_dir} already holds {agent.counters.env_steps:,} steps (target {args.steps:,}); nothing to do"
        )
        return
    agent.train(remaining)
    if agent.stopped_by is not None:
        print(
            f"stopped by {agent.stopped_by} at step {agent.counters.env_steps:,}; checkpoint written to {run_dir}; "
            "run the same command to continue"
        )
        return 130
    path = agent.save_run_checkpoint()
    print(f"done: {agent.counters.env_steps:,} steps; checkpoint {path}")
    return 0


def _load(path: Path):
    from dqnlib.agent import DQNAgent

    # Weights and counters only: playing never reads the replay memory (gigabytes in a run's).
    return DQNAgent.load(path, replay_memory=False)  # a missing or foreign checkpoint: one line


def _evaluate(args: argparse.Namespace) -> None:
    agent = _load(args.checkpoint)
    print(agent.evaluate(args.episodes, protocol=args.protocol, epsilon=args.epsilon, seed=args.seed))


def _writable_directory(path: Path, flag: str, typed: Path | None = None) -> None:
    """Create directory ``path`` (and its parents) for a flag's value, or raise a one-line
    ValueError naming the flag and the path the user ``typed`` (default: ``path``)."""
    typed = typed or path
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {typed}: {path} is a file, not a directory")
    try:
        require_writable(path)
    except OSError as error:
        raise ValueError(f"{flag} {typed}: cannot write there ({error.strerror or error})") from None


def _play(args: argparse.Namespace) -> None:
    from dqnlib.episode import record_episode

    if args.out.suffix.lower() != ".gif":
        raise ValueError(f"--out {args.out}: only .gif is supported")
    if args.out.is_dir():
        raise ValueError(f"--out {args.out}: is a directory; name a .gif file")
    _writable_directory(args.out.absolute().parent, "--out", args.out)
    episode = record_episode(_load(args.checkpoint), args.protocol, seed=args.seed, max_steps=args.max_steps)
    episode.write_gif(args.out)
    ended = (
        "game over"
        if episode.game_over
        else "frame cap"
        if episode.truncated
        else f"--max-steps {args.max_steps:,}"
    )
    print(f"wrote {args.out}: {len(episode.frames)} frames, score {episode.score:g} ({ended})")


def _export(args: argparse.Namespace) -> None:
    from dqnlib.checkpoint import export_checkpoint

    _writable_directory(args.out.absolute().parent, "--out", args.out)
    path = export_checkpoint(args.checkpoint, args.out)
    files = ", ".join(f"{p.name} ({p.stat().st_size / 1e6:.1f} MB)" for p in sorted(path.iterdir()))
    print(f"wrote {path}: {files}")


def _games(_: argparse.Namespace) -> None:
    for name in list_games():
        print(f"{name:24s} {len(minimal_action_set(name)):2d} actions")


def _sweep(args: argparse.Namespace) -> int:
    from dqnlib.sweep import FAILED, STOPPED, format_summary, plan_sweep, run_sweep

    specs = plan_sweep(
        args.games,
        args.seeds,
        args.variants,
        args.steps,
        sweep_dir=args.sweep_dir,
        preset=args.preset,
        overrides={name: _parse_value(value) for name, value in args.set},
        eval_episodes=args.eval_episodes,
    )
    print(f"sweep of {len(specs)} runs into {args.sweep_dir}")
    results = run_sweep(
        specs,
        args.sweep_dir,
        address=args.address,
        cpus_per_run=args.cpus_per_run,
        on_result=lambda r: print(f"{r.game}/{r.variant}/seed{r.seed}: {r.status} {r.error or ''}".rstrip()),
    )
    print(format_summary(results))
    if any(r.status in (FAILED, STOPPED) for r in results):
        print("failed and stopped runs resume from their newest checkpoint when the same sweep runs again")
    print(
        f"summary written to {args.sweep_dir / 'summary.json'}; report: python -m dqnlib report {args.sweep_dir}"
    )
    return 1 if any(r.status == FAILED for r in results) else 0


def _report(args: argparse.Namespace) -> None:
    from dqnlib.report import write_report

    if not args.sweep_dir.is_dir():
        raise ValueError(f"sweep directory {args.sweep_dir} does not exist")
    path = write_report(args.sweep_dir, reps=args.reps, seed=args.seed)
    print(path.read_text())
    print(f"wrote {path} and its figures")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    ale_py.ALEInterface.setLoggerMode(ale_py.LoggerMode.Error)  # no "A.L.E ... Powered by Stella" banner
    args = build_parser().parse_args(argv)
    command = {
        "train": _train,
        "evaluate": _evaluate,
        "play": _play,
        "export": _export,
        "games": _games,
        "sweep": _sweep,
        "report": _report,
    }[args.command]
    try:
        return command(args) or 0
    except BrokenPipeError:  # the reader went away (e.g. `games | head`): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 141
    except (ValueError, TypeError, MissingExtra) as error:  # bad input, or a missing extra
        print(f"python -m dqnlib {args.command}: error: {first_line(error)}", file=sys.stderr)
        return 2
    except (
        TrainingDiverged,
        CheckpointError,
        MetricsError,
        OSError,
    ) as error:  # stopped by a runtime failure (e.g. a full disk); what was saved is intact
        print(f"python -m dqnlib {args.command}: error: {first_line(error)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
