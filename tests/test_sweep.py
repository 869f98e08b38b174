"""Sweeps on a local Ray instance: resume, skip, failure reporting, the report and the CLI.

One module-scoped sweep of four short CartPole runs (2 variants x 2 seeds on 2 CPUs) goes
through the life of a real sweep: one run was stopped half-way, one has a damaged checkpoint,
the sweep runs, then runs again.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from dqnlib import DQNAgent
from dqnlib.checkpoint import run_checkpoints
from dqnlib.cli import main as cli_main
from dqnlib.config import make_config
from dqnlib.metrics import read_metrics
from dqnlib.report import write_report
from dqnlib.sweep import FAILED, FINISHED, SKIPPED, format_summary, plan_sweep, read_final, run_sweep

STEPS = 800
SWEEP = {"preset": "cartpole", "overrides": {"learning_starts": 200}, "eval_episodes": 2}
CLI_ARGS = ["--games", "CartPole-v1", "--seeds", "2", "--steps", str(STEPS), "--preset", "cartpole"]
CLI_ARGS += ["--set", "learning_starts=200", "--eval-episodes", "2"]


def digest(directory: Path) -> dict[str, tuple[str, int]]:
    """Each file's hash and modification time."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {
        str(p.relative_to(directory)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in files
    }


@pytest.fixture(scope="module")
def ray_local():
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only, as dqnlib.sweep does
    ray = pytest.importorskip("ray", reason="the sweep extra: pip install 'dqnlib[sweep]'")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            ignore_reinit_error=True,
        )
        try:
            yield ray
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def sweep(ray_local, tmp_path_factory):
    sweep_dir = tmp_path_factory.mktemp("sweep")
    specs = {
        (s.variant, s.seed): s
        for s in plan_sweep(["CartPole-v1"], 2, ["dqn", "dueling"], STEPS, sweep_dir, **SWEEP)
    }
    # dqn/seed1 was stopped half-way, after a checkpoint at 400 steps.
    stopped = specs["dqn", 1]
    agent = DQNAgent(stopped.config, stopped.run_dir)
    agent.train(400)
    agent.save_run_checkpoint()
    agent.close()  # lets the sweep's own process train there
    # dueling/seed0 holds a damaged checkpoint.
    damaged = specs["dueling", 0].run_dir / "checkpoints" / "step_0000000100"
    damaged.mkdir(parents=True)
    (damaged / "state.json").write_text("{")
    first = {(r.variant, r.seed): r for r in run_sweep(list(specs.values()), sweep_dir)}
    before = {key: digest(spec.run_dir) for key, spec in specs.items()}
    second = {(r.variant, r.seed): r for r in run_sweep(list(specs.values()), sweep_dir)}
    after = {key: digest(spec.run_dir) for key, spec in specs.items()}
    return {
        "dir": sweep_dir,
        "specs": specs,
        "first": first,
        "second": second,
        "before": before,
        "after": after,
    }


def test_sweep_finishes_runs_and_resumes_the_stopped_one(sweep):
    first, specs = sweep["first"], sweep["specs"]
    assert {key: r.status for key, r in first.items()} == {
        ("dqn", 0): FINISHED,
        ("dqn", 1): FINISHED,
        ("dueling", 0): FAILED,
        ("dueling", 1): FINISHED,
    }
    for key in [("dqn", 0), ("dqn", 1), ("dueling", 1)]:
        final = read_final(specs[key].run_dir)
        assert final["env_steps"] == STEPS == first[key].env_steps
        assert len(final["scores"]) == 2 and final["mean"] == pytest.approx(first[key].score)
        assert run_checkpoints(specs[key].run_dir)[-1].name == f"step_{STEPS:010d}"
    # The stopped run went on from step 400 rather than starting again.
    steps = read_metrics(specs["dqn", 1].run_dir / "metrics.csv")["env_step"]
    assert steps[0] < 400 < steps[-1] <= STEPS and np.all(np.diff(steps) > 0)
    assert json.loads((specs["dqn", 1].run_dir / "config.json").read_text())["double_dqn"] is False
    assert json.loads((specs["dueling", 1].run_dir / "config.json").read_text())["dueling"] is True


def test_a_second_sweep_skips_finished_runs_without_touching_them(sweep):
    assert {key: r.status for key, r in sweep["second"].items() if key != ("dueling", 0)} == dict.fromkeys(
        [("dqn", 0), ("dqn", 1), ("dueling", 1)], SKIPPED
    )
    assert sweep["after"] == sweep["before"]
    assert sweep["second"]["dqn", 0].score == sweep["first"]["dqn", 0].score


def test_a_failed_run_is_reported_with_its_error_line_and_the_others_go_on(sweep):
    failed = sweep["first"]["dueling", 0]
    assert failed.error.startswith("ValueError: ") and "state.json is damaged" in failed.error
    assert "\n" not in failed.error and not (Path(failed.run_dir) / "final.json").exists()
    summary = json.loads((sweep["dir"] / "summary.json").read_text())["runs"]
    assert [(r["variant"], r["seed"], r["status"]) for r in summary] == [
        ("dqn", 0, SKIPPED),
        ("dqn", 1, SKIPPED),
        ("dueling", 0, FAILED),
        ("dueling", 1, SKIPPED),
    ]
    assert summary[2]["error"] == sweep["second"]["dueling", 0].error
    table = format_summary(list(sweep["second"].values()))
    assert "state.json is damaged" in table and "3 skipped (finished), 1 failed" in table


def test_report_has_tables_figures_and_the_failed_run(sweep):
    path = write_report(sweep["dir"], reps=500)
    text = path.read_text()
    assert "| dqn | 1 of 1 | 2 |" in text and "| dueling | 1 of 1 | 1 |" in text
    # An interval from two runs; none from one (resampling one run gives the point back).
    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| d")}
    assert rows["| dqn"].count("[") == 2 and rows["| dueling"].count("| - |") == 2
    (per_game,) = [line for line in text.splitlines() if line.startswith("| CartPole-v1 |")]
    assert per_game.count("[") == 1 and per_game.endswith(" (1) |")
    assert "| CartPole-v1/dueling/seed0 | failed | ValueError:" in text
    for figure in ("curves.png", "aggregate.png"):
        assert (sweep["dir"] / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({figure})" in text


def test_cli_sweep_and_report_on_the_same_directory(sweep, capsys):
    assert cli_main(["sweep", *CLI_ARGS, "--variants", "dqn", "--sweep-dir", str(sweep["dir"])]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped (finished)") >= 4 and "2 skipped (finished)" in out
    assert cli_main(["report", str(sweep["dir"]), "--reps", "200"]) == 0
    assert "## Aggregate" in capsys.readouterr().out


def test_cli_sweep_without_ray_names_the_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if ray were not installed
    assert cli_main(["sweep", *CLI_ARGS, "--sweep-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("ray is not installed; pip install 'dqnlib[sweep]'") and "\n" not in err


@pytest.mark.parametrize(
    "args, words",
    [
        (["sweep", "--variants", "dqn,rainbw"], "unknown variant 'rainbw'"),
        (["sweep", "--games", "Breakout,Breakuot"], "did you mean Breakout"),
        (["sweep", "--set", "double_dqn=false"], "double_dqn is set by variant"),
        (
            ["sweep", "--variants", "dqn,c51", "--set", "learning_rate=0.001"],
            "learning_rate is set by variant c51",
        ),
        (["sweep", "--set", "seed=3"], "seed is set by the sweep"),
        (["sweep", "--seeds", "0"], "must be >= 1"),
        (["report", "/nonexistent/sweep"], "does not exist"),
    ],
)
def test_cli_bad_sweep_input_is_one_line_and_exit_2(args, words, capsys):
    try:
        code = cli_main(args)
    except SystemExit as exit:  # argparse's errors
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert words in err and "\n" not in err


def test_plan_names_directories_by_game_variant_and_seed(tmp_path):
    specs = plan_sweep(["breakout", "ALE/Pong-v5"], [3], ["dqn", "dueling"], 100, tmp_path, preset="tiny")
    assert [s.run_dir.relative_to(tmp_path).as_posix() for s in specs] == [
        "Breakout/dqn/seed3",
        "Breakout/dueling/seed3",
        "Pong/dqn/seed3",
        "Pong/dueling/seed3",
    ]
    assert [(s.config.double_dqn, s.config.dueling, s.config.seed) for s in specs[:2]] == [
        (False, False, 3),
        (True, True, 3),
    ]


def test_the_rainbow_family_s_variants_are_their_presets_on_the_sweep_s_preset(tmp_path):
    specs = plan_sweep(["Breakout"], [0], ["c51", "rainbow", "iqn"], 100, tmp_path, preset="tiny")
    c51, rainbow, iqn = (s.config for s in specs)
    assert (c51.distributional, c51.noisy, c51.double_dqn) == ("c51", False, False)
    assert (rainbow.distributional, rainbow.noisy, rainbow.dueling, rainbow.n_step) == ("c51", True, True, 3)
    assert rainbow.prioritized and rainbow.double_dqn and rainbow.target_update_interval == 8_000
    assert (iqn.distributional, iqn.n_step, iqn.double_dqn) == ("iqn", 3, False)
    assert {c.replay_capacity for c in (c51, rainbow, iqn)} == {make_config("tiny").replay_capacity}
