"""Crash safety, resume, and hostile or damaged input (checkpoints, CLI flags, config fields)."""

import dataclasses
import hashlib
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlib import AtariDQNAgent, DQNAgent, TrainConfig, make_config
from dqnlib.checkpoint import CheckpointError, run_checkpoints
from dqnlib.cli import main as cli_main
from dqnlib.metrics import read_metrics
from dqnlib.training import TrainingDiverged


def tree_digest(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def same_weights(a: DQNAgent, b: DQNAgent) -> bool:
    pairs = zip(a.online.state_dict().values(), b.online.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory) -> Path:
    """A tiny Breakout run directory with one full checkpoint (weights, optimizer, replay),
    trained with two threads. A resume takes its thread count from its caller (``"auto"`` lets
    each process choose by timing), so runs resumed from it pin two threads to compute the same
    bits on any CPU."""
    run_dir = tmp_path_factory.mktemp("run")
    agent = AtariDQNAgent(preset="tiny", seed=1, run_dir=run_dir, checkpoint_every=600, torch_threads=2)
    agent.train(600)
    return run_dir


def test_resume_restores_the_learner_bit_for_bit_and_two_resumes_agree(saved_run):
    newest = run_checkpoints(saved_run)[-1]
    first, second = DQNAgent.load(newest), DQNAgent.load(newest)
    assert first.counters.env_steps == 600 and first.counters.updates > 0
    assert len(first.replay_memory) == len(second.replay_memory) > 0
    first.train(400)
    second.train(400)
    assert same_weights(first, second)
    assert first.counters == second.counters


def test_sigint_ends_the_step_writes_a_checkpoint_and_train_continues(tmp_path):
    agent = AtariDQNAgent(preset="tiny", run_dir=tmp_path)
    timer = threading.Timer(3.0, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        agent.train(1_000_000)
    finally:
        timer.cancel()
    assert agent.stopped_by == "SIGINT"
    stopped_at = agent.counters.env_steps
    assert run_checkpoints(tmp_path)[-1].name == f"step_{stopped_at:010d}"
    agent.train(100)
    assert agent.counters.env_steps == stopped_at + 100


def test_nan_loss_stops_training_naming_the_step_and_keeps_the_checkpoint(tmp_path):
    agent = AtariDQNAgent(preset="tiny", run_dir=tmp_path, checkpoint_every=400)
    agent.train(400)
    before = tree_digest(tmp_path / "checkpoints")
    with torch.no_grad():
        next(agent.online.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match=r"at step 4\d\d") as info:
        agent.train(1_000)
    assert "\n" not in str(info.value)
    assert tree_digest(tmp_path / "checkpoints") == before


def test_a_full_disk_stops_training_with_one_line_and_older_checkpoints_stay(tmp_path):
    agent = AtariDQNAgent(preset="tiny", run_dir=tmp_path, checkpoint_every=400)
    agent.train(400)
    before = tree_digest(tmp_path / "checkpoints")
    # Files may grow to 1 MB at most from here: writing the next checkpoint fails as on a full disk.
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, limits[1]))
    try:
        with pytest.raises(CheckpointError, match="cannot write checkpoint .*step_0000000800") as info:
            agent.train(400)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, limits)
        signal.signal(signal.SIGXFSZ, handler)
    assert "\n" not in str(info.value)
    assert tree_digest(tmp_path / "checkpoints") == before
    assert DQNAgent.load(tmp_path / "checkpoints" / "step_0000000400").counters.env_steps == 400


def test_an_unwritable_run_directory_is_one_line(capsys):
    with pytest.raises(CheckpointError, match="cannot write checkpoints to /proc/dqnlib-run") as info:
        AtariDQNAgent(preset="tiny", run_dir="/proc/dqnlib-run")
    assert "\n" not in str(info.value)
    assert cli_main(["train", "--preset", "tiny", "--run-dir", "/proc/dqnlib-run", "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--run-dir /proc/dqnlib-run: cannot write there" in err


def test_a_run_directory_another_process_trains_in_is_refused_in_one_line(tmp_path, capsys):
    claim = "import sys; from pathlib import Path; from dqnlib.checkpoint import claim_run_dir; "
    claim += "lock = claim_run_dir(Path(sys.argv[1])); print('held', flush=True); sys.stdin.read()"
    holder = subprocess.Popen(
        [sys.executable, "-c", claim, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "held\n"
        staging = tmp_path / "checkpoints" / ".step_0000000400.tmp.x"  # that process's write
        staging.mkdir(parents=True)
        for start in (
            lambda: DQNAgent.start_or_resume(make_config("tiny"), tmp_path),
            lambda: AtariDQNAgent(preset="tiny", run_dir=tmp_path),
        ):
            with pytest.raises(
                CheckpointError, match="is in use: another process holds an agent training there"
            ) as info:
                start()
            assert "\n" not in str(info.value)
        assert cli_main(["train", "--preset", "tiny", "--run-dir", str(tmp_path), "--steps", "10"]) == 1
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and f"{tmp_path} is in use" in err
        assert staging.is_dir()  # nothing of the other process's was tidied away
    finally:
        holder.communicate("")
    first = DQNAgent.start_or_resume(make_config("tiny"), tmp_path)  # free once that process ended
    second = DQNAgent.start_or_resume(make_config("tiny"), tmp_path)  # one process may hold it twice
    assert not staging.exists() and first.run_dir == second.run_dir == tmp_path
    first.close()  # gives the directory to other processes
    holder = subprocess.Popen([sys.executable, "-c", claim, str(tmp_path)], stdin=subprocess.PIPE, text=True)
    assert holder.communicate("", timeout=60) == (None, None) and holder.returncode == 0


def test_evaluating_a_checkpoint_reads_no_replay_memory(saved_run, tmp_path, capsys):
    shutil.copytree(saved_run, tmp_path / "run")
    newest = run_checkpoints(tmp_path / "run")[-1]
    assert len(DQNAgent.load(newest).replay_memory) > 0
    agent = DQNAgent.load(newest, replay_memory=False)
    assert len(agent.replay_memory) == 0 and "replay memory not loaded" in agent.resumed
    for array in (newest / "replay").glob("*.npy"):
        array.write_bytes(b"damaged")  # a resume from here stops with a one-line error
    argv = ["evaluate", "--checkpoint", str(newest), "--episodes", "1", "--epsilon", "1"]
    assert cli_main([*argv, "--protocol", "nature"]) == 0, capsys.readouterr().err


def test_bad_paths_typed_by_the_user_are_exit_2_naming_the_flag_and_path(saved_run, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    checkpoint = str(run_checkpoints(saved_run)[-1])
    cases = [
        (
            ["train", "--preset", "tiny", "--run-dir", str(a_file), "--steps", "10"],
            f"--run-dir {a_file}: {a_file} is a file",
        ),
        (["play", "--checkpoint", checkpoint, "--out", str(tmp_path)], "--out"),
        (["play", "--checkpoint", checkpoint, "--out", str(tmp_path / "dir.gif")], "is a directory"),
        (["export", "--checkpoint", checkpoint, "--out", "/proc/dqnlib-export"], "--out /proc/dqnlib-export"),
        (["export", "--checkpoint", checkpoint, "--out", str(tmp_path)], "already exists"),
    ]
    (tmp_path / "dir.gif").mkdir()
    for argv, words in cases:
        assert cli_main(argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and words in err, err
        assert ".tmp." not in err  # no internal temporary path


class RunsACommand:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def damaged_copy(saved_run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "checkpoint"
    shutil.copytree(run_checkpoints(saved_run)[-1], copy)
    return copy


def test_a_checkpoint_crafted_to_run_a_command_is_refused(saved_run, tmp_path):
    checkpoint = damaged_copy(saved_run, tmp_path)
    marker = tmp_path / "pwned"
    (checkpoint / "model.pt").write_bytes(pickle.dumps(RunsACommand(str(marker))))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(
            ValueError, match=r"holds Python objects other than tensors \(dqnlib never loads those\)"
        ) as info:
            DQNAgent.load(checkpoint)
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)
    assert not caught  # no warning of torch's on stderr
    assert not marker.exists()


def test_a_replay_array_of_python_objects_is_refused_in_dqnlibs_words(saved_run, tmp_path):
    checkpoint = damaged_copy(saved_run, tmp_path)
    np.save(
        checkpoint / "replay" / "rewards.npy", np.array([RunsACommand("x")], dtype=object), allow_pickle=True
    )
    with pytest.raises(
        ValueError, match="rewards.npy holds Python objects; dqnlib never loads those"
    ) as info:
        DQNAgent.load(checkpoint)
    assert "allow_pickle" not in str(info.value)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda c: (c / "model.pt").write_bytes((c / "model.pt").read_bytes()[:500]), "cannot load weights"),
        (lambda c: (c / "model.pt").write_bytes(b""), "cannot load weights"),
        (lambda c: (c / "state.json").write_text(""), "damaged"),
        (lambda c: (c / "state.json").unlink(), "not a dqnlib checkpoint"),
        (lambda c: _edit_state(c, version=99), "newer dqnlib"),
        (lambda c: _edit_state(c, config={"hidden_size": 32}), "cannot load weights"),
        (lambda c: _edit_state(c, config={"game": "Pong"}), "cannot load weights"),
        (lambda c: (c / "replay" / "frames.npy").write_bytes(b"\x93NUMPY"), "damaged"),
    ],
    ids=["truncated", "empty", "empty-state", "no-state", "newer", "other-shape", "other-game", "replay"],
)
def test_damaged_checkpoints_are_one_line_errors_and_change_nothing(saved_run, tmp_path, damage, message):
    checkpoint = damaged_copy(saved_run, tmp_path)
    damage(checkpoint)
    before = tree_digest(checkpoint)
    with pytest.raises(ValueError, match=message) as info:
        DQNAgent.load(checkpoint)
    assert "\n" not in str(info.value)
    assert tree_digest(checkpoint) == before


def _set_json_field(file: Path, path: str, value) -> None:
    """Set (or, with value ``...``, delete) a dotted field of a JSON file."""
    document = json.loads(file.read_text())
    *parents, name = path.split(".")
    holder = document
    for parent in parents:
        holder = holder[parent]
    if value is ...:
        del holder[name]
    else:
        holder[name] = value
    file.write_text(json.dumps(document))


def _set_field(checkpoint: Path, path: str, value) -> None:
    _set_json_field(checkpoint / "state.json", path, value)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("counters", ..., "'counters' is missing"),
        ("config", ..., "'config' is missing"),
        ("rng_state", ..., "'rng_state' is missing"),
        ("recent_scores", ..., "'recent_scores' is missing"),
        ("counters", [1, 2], "'counters' must be a JSON object"),
        ("counters.env_steps", -5, "'counters.env_steps' must be an integer"),
        ("counters.updates", 10**30, "'counters.updates' must be an integer"),
        ("counters.games", 1.5, "'counters.games' must be an integer"),
        ("counters.extra", 1, "'counters' must hold exactly"),
        ("counters.last_target_sync", 10**9, "later than counters.env_steps"),
        ("recent_scores", [1.0, "NaN"], "'recent_scores' must hold finite numbers"),
        ("rng_state", {"bit_generator": "Nope"}, "'rng_state' is not a generator state"),
    ],
)
def test_a_state_json_with_a_missing_or_wrong_field_names_the_field(saved_run, tmp_path, field, value, words):
    checkpoint = damaged_copy(saved_run, tmp_path)
    _set_field(checkpoint, field, value)
    with pytest.raises(ValueError, match="state.json") as info:
        DQNAgent.load(checkpoint)
    assert words in str(info.value) and "\n" not in str(info.value)


def _set_header(checkpoint: Path, field: str, value) -> None:
    header_path = checkpoint / "replay" / "header.json"
    header = json.loads(header_path.read_text())
    if field == "arrays+":  # one more name, e.g. a path out of the checkpoint
        header["arrays"][value] = [[1], "uint8"]
        header_path.write_text(json.dumps(header))
        return
    _set_json_field(header_path, field, value)


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("arrays", {}, "'arrays' must list exactly"),
        ("arrays.frames", ..., "'arrays' must list exactly"),
        ("arrays+", "../../outside", "'arrays' must list exactly"),
        ("spec.gamma", 0.5, "'spec.gamma' in header.json is 0.5, the config says 0.99"),
        ("spec.capacity", 4_000, "'spec.capacity' in header.json is 4000, the config says 2000"),
        ("spec.n_step", 3, "'spec.n_step' in header.json is 3, the config says 1"),
        ("rows_written", -3, "'rows_written' must be an integer"),
        ("transitions_added", 10**20, "'transitions_added' must be an integer"),
        ("transitions_added", 10**6, "exceeds the rows written"),
        ("max_priority", float("nan"), "'max_priority' must be finite"),
        ("env_steps", [0], "'env_steps' must hold one value per environment"),
        ("awaiting_start", [1, 0], "'awaiting_start' must hold booleans"),
        ("rows_written", ..., "field 'rows_written' is missing"),
    ],
)
def test_a_replay_header_with_a_missing_or_wrong_field_is_one_line(saved_run, tmp_path, field, value, words):
    checkpoint = damaged_copy(saved_run, tmp_path)
    _set_header(checkpoint, field, value)
    before = tree_digest(checkpoint)
    with pytest.raises(ValueError) as info:
        DQNAgent.load(checkpoint)
    assert words in str(info.value) and "\n" not in str(info.value), str(info.value)
    assert tree_digest(checkpoint) == before


def test_a_target_sync_stamped_one_vector_step_ahead_loads(saved_run, tmp_path):
    """The learner stamps a sync with the step its update is due at, before the step is counted."""
    checkpoint = damaged_copy(saved_run, tmp_path)
    state = json.loads((checkpoint / "state.json").read_text())
    _set_field(
        checkpoint, "counters.last_target_sync", state["counters"]["env_steps"] + state["config"]["num_envs"]
    )
    DQNAgent.load(checkpoint)


def test_a_damaged_model_file_is_not_called_crafted(saved_run, tmp_path):
    checkpoint = damaged_copy(saved_run, tmp_path)
    (checkpoint / "model.pt").write_bytes(b"\x80\x02garbage")
    with pytest.raises(ValueError, match=r"model.pt holds Python objects .*, or is damaged"):
        DQNAgent.load(checkpoint)


def test_a_state_json_nested_too_deeply_is_one_line(saved_run, tmp_path):
    checkpoint = damaged_copy(saved_run, tmp_path)
    (checkpoint / "state.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        DQNAgent.load(checkpoint)


def test_a_stray_folder_among_the_checkpoints_is_ignored_with_a_warning(saved_run, tmp_path, caplog):
    run_dir = tmp_path / "run"
    shutil.copytree(saved_run, run_dir)
    shutil.copytree(run_checkpoints(run_dir)[-1], run_dir / "checkpoints" / "step_abc")
    shutil.copytree(
        run_checkpoints(run_dir)[-1], run_dir / "checkpoints" / "step_\u00b2"
    )  # a digit to isdigit()
    (run_dir / "checkpoints" / "step_notes").mkdir()  # no state.json: the user's, left alone
    assert [p.name for p in run_checkpoints(run_dir)] == [p.name for p in run_checkpoints(saved_run)]
    assert "ignoring" in caplog.text and "step_abc" in caplog.text
    DQNAgent.start_or_resume(TrainConfig(**json.loads((run_dir / "config.json").read_text())), run_dir)
    assert (run_dir / "checkpoints" / "step_notes").is_dir()


def test_loading_a_checkpoint_leaves_pythons_random_state_alone(saved_run):
    import random

    random.seed(1234)
    before = random.getstate()
    DQNAgent.load(run_checkpoints(saved_run)[-1])
    assert random.getstate() == before


def _edit_state(checkpoint: Path, version: int | None = None, config: dict | None = None) -> None:
    state = json.loads((checkpoint / "state.json").read_text())
    if version is not None:
        state["version"] = version
    state["config"].update(config or {})
    (checkpoint / "state.json").write_text(json.dumps(state))


def newest_step(run_dir: Path) -> int:
    checkpoints = run_checkpoints(run_dir)
    return int(checkpoints[-1].name.split("_")[1]) if checkpoints else 0


def test_sigkill_at_random_moments_then_resume_reaches_the_target(tmp_path):
    """Kill -9 a training process five times, each at a random moment after it wrote a new
    checkpoint; each restart resumes from a loadable checkpoint and the run reaches its target."""
    run_dir, target, interval = tmp_path / "run", 6_000, 400
    command = [sys.executable, "-m", "dqnlib", "train", "--preset", "tiny", "--steps", str(target)]
    command += ["--run-dir", str(run_dir), "--checkpoint-every", str(interval)]
    rng = np.random.default_rng(0)
    resumed_steps = []
    for _ in range(5):
        before = newest_step(run_dir)
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(1200):  # until this process has written a checkpoint of its own (at most 2 min)
                if newest_step(run_dir) > before or process.poll() is not None:
                    break
                threading.Event().wait(0.1)
            threading.Event().wait(float(rng.uniform(0.0, 2.0)))  # then anywhere in the next interval
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        resumed_steps.append(newest_step(run_dir))
        for checkpoint in run_checkpoints(run_dir):
            DQNAgent.load(checkpoint)  # every complete checkpoint loads
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    assert finished.returncode == 0, finished.stderr
    assert DQNAgent.load(run_checkpoints(run_dir)[-1]).counters.env_steps == target
    assert resumed_steps == sorted(resumed_steps) and resumed_steps[0] > 0
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]
    # Games played after a checkpoint by a killed process are dropped from metrics.csv on resume:
    # each game is counted once, and the steps go forward.
    metrics = read_metrics(run_dir / "metrics.csv")
    np.testing.assert_array_equal(metrics["game"], np.arange(1, len(metrics["game"]) + 1))
    assert (np.diff(metrics["env_step"]) >= 0).all()


# ---------------------------------------------------------------- every CLI flag and config field

BAD_FLAGS = [
    ["train", "--game", ""],
    ["train", "--game", "Breakot"],
    ["train", "--steps", "0"],
    ["train", "--steps", "1.5"],
    ["train", "--preset", "huge"],
    ["train", "--seed", "minus"],
    ["train", "--seed", "-1"],
    ["train", "--checkpoint-every", "0"],
    ["train", "--checkpoint-every", "often"],
    ["train", "--set", "no_equals_sign"],
    ["train", "--set", "unknown_field=1"],
    ["train", "--run-dir"],
    ["train", "--bogus"],
    ["evaluate", "--checkpoint", "missing/dir"],
    ["evaluate", "--checkpoint", "."],
    ["evaluate", "--checkpoint", "x", "--episodes", "0"],
    ["evaluate", "--checkpoint", "x", "--protocol", "atari100k"],
    ["evaluate", "--checkpoint", "x", "--epsilon", "lots"],
    ["play", "--checkpoint", "missing/dir"],
    ["play", "--checkpoint", "x", "--max-steps", "-5"],
    ["play", "--checkpoint", "x", "--out", "episode.mp4"],
    ["export", "--checkpoint", "missing/dir", "--out", "somewhere"],
    ["export", "--checkpoint", "x"],
    ["games", "--all"],
    [],
]


@pytest.mark.parametrize("argv", BAD_FLAGS, ids=[" ".join(a) or "empty" for a in BAD_FLAGS])
def test_every_bad_flag_is_one_line_and_exit_2(argv, capsys):
    try:
        code = cli_main(argv)
    except SystemExit as exit_:
        code = exit_.code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err


def bad_values(field: dataclasses.Field) -> list[str]:
    """Values that no field of this type accepts: the wrong type, or out of every field's range
    (the support's ends, which may be negative: the wrong type, not finite, or crossed)."""
    ends = {"v_min": ["abc", "inf", "10"], "v_max": ["abc", "nan", "-10"]}
    if field.name in ends:
        return ends[field.name]
    return {
        "int": ["abc", "1.5", "-7"],
        "float": ["abc", "-0.5"],
        "bool": ["maybe", "3"],
        "str": ["", "3", "nonsense"],
        "int | str": ["0", "-1", "1.5", "Auto", "true", "100000"],  # torch_threads: "auto" or 1 to 1,024
    }[field.type]


CONFIG_CASES = [
    (field.name, value) for field in dataclasses.fields(TrainConfig) for value in bad_values(field)
]


@pytest.mark.parametrize("name, value", CONFIG_CASES)
def test_every_config_field_with_a_bad_value_is_one_line_and_exit_2(name, value, capsys, tmp_path):
    code = cli_main(["train", "--run-dir", str(tmp_path), "--steps", "10", "--set", f"{name}={value}"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and name in err, err


def test_the_python_api_resumes_a_run_directory_and_says_what_it_restored(saved_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(saved_run, run_dir)
    with pytest.raises(ValueError, match="already holds a run .*start_or_resume") as info:
        AtariDQNAgent(preset="tiny", seed=1, run_dir=run_dir)  # a constructor never resumes
    assert "\n" not in str(info.value)
    agent = DQNAgent.start_or_resume(make_config("tiny", seed=1), run_dir)
    assert agent.counters.env_steps == 600
    memory = agent.replay_memory
    held = f"replay memory of {len(memory):,} transitions ({memory.transitions_added:,} added in all)"
    assert "step 600" in agent.resumed and held in agent.resumed
    with pytest.raises(ValueError, match="holds a Breakout run, not Pong"):
        DQNAgent.start_or_resume(make_config("tiny", game="Pong"), run_dir)


def test_the_replay_memory_may_be_saved_less_often_than_the_weights(tmp_path):
    agent = AtariDQNAgent(preset="tiny", run_dir=tmp_path, checkpoint_every=300, replay_checkpoint_every=2)
    agent.train(900)
    with_memory = [p.name for p in run_checkpoints(tmp_path) if (p / "replay").is_dir()]
    assert with_memory == ["step_0000000600"]  # 300 and 900 hold weights only; 600 is kept for its memory
    resumed = DQNAgent.start_or_resume(make_config("tiny"), tmp_path)
    assert resumed.counters.env_steps == 900
    assert "from step_0000000600" in resumed.resumed


def test_two_processes_resumed_from_one_checkpoint_end_with_identical_weights(saved_run, tmp_path):
    runs = []
    for name in ("a", "b"):
        shutil.copytree(saved_run, tmp_path / name)
        command = [
            sys.executable,
            "-m",
            "dqnlib",
            "train",
            "--preset",
            "tiny",
            "--seed",
            "1",
            "--steps",
            "1000",
            "--set",
            "torch_threads=2",  # a resume takes its thread count from the command line
        ]
        result = subprocess.run(
            [*command, "--run-dir", str(tmp_path / name)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert (result.stdout + result.stderr).count("resumed from") == 1  # said once, by the agent
        runs.append(DQNAgent.load(run_checkpoints(tmp_path / name)[-1]))
    assert runs[0].counters.env_steps == runs[1].counters.env_steps == 1000
    assert same_weights(*runs)


def test_adam_moments_saved_in_another_memory_layout_update_the_right_weights(tmp_path):
    """dqnlib used to train bf16 on CPUs channels-last, so older checkpoints hold Adam's moments
    in that layout. The fused step pairs moments and weights by memory order: a resumed agent
    must update exactly as it would from moments in its own layout."""
    agent = AtariDQNAgent(preset="tiny", seed=0)
    agent.train(400, progress_bar=False)  # past learning_starts: Adam has moments
    agent.save(tmp_path / "own_layout")
    for moments in agent.optimizer.state.values():
        for name, value in moments.items():
            if value.dim() == 4:
                moments[name] = value.contiguous(memory_format=torch.channels_last)
    agent.save(tmp_path / "channels_last")
    batch = agent.replay_memory.sample(8)
    updated = []
    for name in ("own_layout", "channels_last"):
        resumed = DQNAgent.load(tmp_path / name)
        resumed.learn(batch)
        updated.append(resumed)
    assert same_weights(*updated)


def test_the_state_after_loading_equals_the_state_that_was_saved(tmp_path):
    agent = AtariDQNAgent(preset="tiny", seed=4, run_dir=tmp_path, checkpoint_every=500)
    agent.train(500)
    loaded = DQNAgent.load(run_checkpoints(tmp_path)[-1])
    assert same_weights(agent, loaded) and loaded.counters == agent.counters
    for a, b in zip(agent.target.state_dict().values(), loaded.target.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    saved_moments = agent.optimizer.state_dict()["state"]
    loaded_moments = loaded.optimizer.state_dict()["state"]
    assert saved_moments and set(loaded_moments) == set(saved_moments)  # Adam has moments to restore
    for key, moments in saved_moments.items():
        assert set(loaded_moments[key]) == set(moments)
        assert all(torch.equal(loaded_moments[key][name], moments[name]) for name in moments)
    assert loaded.rng.bit_generator.state == agent.rng.bit_generator.state
    assert loaded.replay_memory.rng.bit_generator.state == agent.replay_memory.rng.bit_generator.state
    for name in ("frames", "actions", "rewards", "flags", "episode_steps"):
        np.testing.assert_array_equal(getattr(loaded.replay_memory, name), getattr(agent.replay_memory, name))
    assert list(loaded.recent_scores) == list(agent.recent_scores)


def test_sigterm_stops_a_cli_run_with_a_checkpoint(tmp_path):
    command = [sys.executable, "-m", "dqnlib", "train", "--preset", "tiny", "--steps", "1000000"]
    process = subprocess.Popen([*command, "--run-dir", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    for line in process.stdout:  # wait until training has begun
        if "new run" in line:
            break
    threading.Event().wait(4.0)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=120)
    assert process.returncode == 130 and "stopped by SIGTERM" in out
    assert DQNAgent.load(run_checkpoints(tmp_path)[-1]).counters.env_steps > 0


def test_export_of_a_run_whose_metrics_lack_a_column_is_one_line(saved_run, tmp_path):
    from dqnlib.checkpoint import export_checkpoint

    run_dir = tmp_path / "run"
    shutil.copytree(saved_run, run_dir)
    (run_dir / "metrics.csv").write_text("episode,return\n1,2.0\n")
    with pytest.raises(ValueError, match="has no column 'env_step'") as info:
        export_checkpoint(run_checkpoints(run_dir)[-1], tmp_path / "out")
    assert "\n" not in str(info.value) and not (tmp_path / "out").exists()


# A child process that trains a tiny run, then stops forever at one moment of a checkpoint
# write, so that the test can kill -9 it exactly there.
_PAUSED_CHILD = """
import os, shutil, sys, threading
from pathlib import Path
import dqnlib.atomic, dqnlib.checkpoint
from dqnlib import AtariDQNAgent

run_dir, window, marker = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
agent = AtariDQNAgent(preset="tiny", seed=2, run_dir=run_dir, checkpoint_every=300, keep_checkpoints=1)
agent.train(600)  # checkpoints at 300 and 600 (which prunes 300)

def stop_here():
    marker.write_text("paused")
    threading.Event().wait()

if window == "rewrite":  # between moving the old step_600 away and moving the new one in
    replace = os.replace
    def paused_replace(source, target):
        target = Path(target)
        if target.name == "step_0000000600" and target.with_name(".step_0000000600.old").exists():
            stop_here()
        replace(source, target)
    dqnlib.atomic.os.replace = paused_replace
    agent.save_run_checkpoint()
else:  # pruning at step 900: the deletion of step_600 has removed state.json and nothing else yet
    rmtree = shutil.rmtree
    def paused_rmtree(path, *args, **kwargs):
        if "0000000600" in str(path):
            (Path(path) / "state.json").unlink()
            stop_here()
        rmtree(path, *args, **kwargs)
    dqnlib.checkpoint.shutil.rmtree = paused_rmtree
    agent.train(300)  # the checkpoint at step 900 prunes step_600
"""


@pytest.mark.parametrize("window", ["rewrite", "prune"])
def test_a_kill_inside_a_checkpoint_rewrite_or_prune_loses_no_checkpoint(tmp_path, window):
    run_dir, marker = tmp_path / "run", tmp_path / "paused"
    process = subprocess.Popen([sys.executable, "-c", _PAUSED_CHILD, str(run_dir), window, str(marker)])
    try:
        for _ in range(1800):  # the child trains first (at most 3 min)
            if marker.exists() or process.poll() is not None:
                break
            threading.Event().wait(0.1)
        assert marker.exists(), "the child never reached the window"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    names = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    if window == "rewrite":
        assert ".step_0000000600.old" in names and "step_0000000600" not in names  # the window was hit
    agent = DQNAgent.start_or_resume(
        TrainConfig(**json.loads((run_dir / "config.json").read_text())), run_dir
    )
    left = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert not [name for name in left if name.startswith(".")]  # nothing half-written or half-deleted
    assert all((run_dir / "checkpoints" / name / "state.json").is_file() for name in left)
    expected = 600 if window == "rewrite" else 900
    assert agent.counters.env_steps == expected and f"step_{expected:010d}" in left
