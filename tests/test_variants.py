"""The Rainbow family's options (C51, IQN, noisy nets and their combinations): split training,
checkpoints and resume bit for bit, the learning generator, and one-line errors for their fields.

CartPole's MLP covers each variant in a second or two; one Breakout case covers the Nature
network. Threads are pinned, as in tests/test_agent.py: another count may change the last bits."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dqnlib import DQNAgent, TrainConfig, make_config
from dqnlib.cli import main as cli_main
from dqnlib.config import PRESETS
from dqnlib.replay import ReplayBatch

VARIANTS = {
    "c51": {"distributional": "c51"},
    "iqn": {"distributional": "iqn"},
    "noisy": {"noisy": True},
    # The rainbow preset's components, without Dopamine's learning rate and target interval.
    "rainbow": {
        name: PRESETS["rainbow"][name]
        for name in ("distributional", "noisy", "dueling", "n_step", "prioritized", "double_dqn")
    },
    "iqn-noisy-per": {"distributional": "iqn", "noisy": True, "prioritized": True},
}
# (variant, game): every variant on CartPole, and the Rainbow-like one on Breakout.
CASES = [(name, "cartpole") for name in VARIANTS] + [("rainbow", "breakout")]
CASE_IDS = [f"{name}-{game}" for name, game in CASES]
# Environment steps before and after a split: both past learning_starts (100).
STEPS = {"cartpole": (160, 100), "breakout": (160, 140)}


def variant_config(name: str, game: str = "cartpole", seed: int = 5, **overrides) -> TrainConfig:
    """A small config of a variant: CartPole's preset shrunk to seconds, or Breakout's ``tiny``."""
    if game == "breakout":
        fields = {"seed": seed, "learning_starts": 100, "torch_threads": 1, **VARIANTS[name], **overrides}
        return make_config("tiny", **fields)
    small = {
        "learning_starts": 100,
        "train_frequency": 2,
        "batch_size": 16,
        "replay_capacity": 1_000,
        "hidden_size": 32,
    }
    return make_config("cartpole", seed=seed, torch_threads=1, **{**small, **VARIANTS[name], **overrides})


def tensors(agent: DQNAgent) -> list[torch.Tensor]:
    """Online and target weights, and the optimizer's moments, in a fixed order."""
    moments = agent.optimizer.state_dict()["state"]
    return [
        *agent.online.state_dict().values(),
        *agent.target.state_dict().values(),
        *(moments[key][name] for key in sorted(moments) for name in sorted(moments[key])),
    ]


def assert_same_learner(a: DQNAgent, b: DQNAgent) -> None:
    """Same counters, weights, optimizer moments and generator states, bit for bit."""
    assert a.counters == b.counters
    pairs = list(zip(tensors(a), tensors(b), strict=True))
    assert pairs and all(torch.equal(x, y) for x, y in pairs)
    assert a.rng.bit_generator.state == b.rng.bit_generator.state
    assert a.learn_rng.bit_generator.state == b.learn_rng.bit_generator.state
    assert a.replay_memory.rng.bit_generator.state == b.replay_memory.rng.bit_generator.state


def same_weights(a: DQNAgent, b: DQNAgent) -> bool:
    pairs = zip(a.online.state_dict().values(), b.online.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


@pytest.mark.parametrize("name, game", CASES, ids=CASE_IDS)
def test_split_training_equals_one_call_bit_for_bit(name, game):
    first, then = STEPS[game]
    config = variant_config(name, game)
    whole = DQNAgent(config)
    whole.train(first + then, progress_bar=False)
    split = DQNAgent(config)
    split.train(first, progress_bar=False)
    updates = split.counters.updates
    split.train(then, progress_bar=False)
    assert 0 < updates < split.counters.updates  # both calls learned
    assert_same_learner(whole, split)
    whole.close()
    split.close()


@pytest.mark.parametrize("name, game", CASES, ids=CASE_IDS)
def test_a_resumed_run_goes_on_as_the_run_itself_would_bit_for_bit(name, game, tmp_path):
    """A resume restarts the games with a seed that depends on the step (TrainingLoop.restart_games);
    the run that was checkpointed, doing the same, must then compute what the resumed one does."""
    first, then = STEPS[game]
    # A memory smaller than the steps before the checkpoint: it has wrapped when it is saved.
    config = variant_config(name, game, checkpoint_every=100_000, replay_capacity=120)
    run = DQNAgent(config, run_dir=tmp_path / "run")
    run.train(first, progress_bar=False)
    run.save_run_checkpoint()
    shutil.copytree(tmp_path / "run", tmp_path / "copy")
    resumed = DQNAgent.start_or_resume(config, tmp_path / "copy")
    memory = run.replay_memory
    assert len(memory) < memory.transitions_added
    held = f"replay memory of {len(memory):,} transitions ({memory.transitions_added:,} added in all)"
    assert resumed.resumed is not None and held in resumed.resumed
    assert_same_learner(run, resumed)
    run.loop.restart_games()
    run.train(then, progress_bar=False)
    updates = resumed.counters.updates
    resumed.train(then, progress_bar=False)
    assert resumed.counters.updates > updates  # learned after the resume too
    assert_same_learner(run, resumed)
    run.close()
    resumed.close()


@pytest.mark.parametrize("name", VARIANTS)
def test_a_saved_agent_loads_with_the_same_q_values_and_actions(name, tmp_path):
    agent = DQNAgent(variant_config(name))
    agent.train(150, progress_bar=False)
    agent.save(tmp_path / "saved")
    loaded = DQNAgent.load(tmp_path / "saved")
    states = agent.replay_memory.sample(32).states  # (32, 4) float32 CartPole states
    np.testing.assert_array_equal(agent.q_values(states), loaded.q_values(states))
    drawn = [a.q_values(states, rng=np.random.default_rng(0)) for a in (agent, loaded)]
    np.testing.assert_array_equal(*drawn)
    actions = [a.act(states, 0.0, rng=np.random.default_rng(0)) for a in (agent, loaded)]
    np.testing.assert_array_equal(*actions)
    if agent.config.noisy or agent.config.distributional == "iqn":  # the draws matter
        assert not np.array_equal(drawn[0], agent.q_values(states))
    agent.close()


BAD_FIELDS = [
    ({"distributional": "c52"}, "distributional"),
    ({"num_atoms": 1}, "num_atoms"),
    ({"v_min": 10.0, "v_max": 10.0}, "v_max"),
    ({"kappa": 0}, "kappa"),
    ({"noisy_sigma0": 0}, "noisy_sigma0"),
    ({"num_tau_samples": 0}, "num_tau_samples"),
    ({"num_tau_prime_samples": 0}, "num_tau_prime_samples"),
    ({"num_quantile_samples": 0}, "num_quantile_samples"),
    ({"quantile_embedding_dim": 0}, "quantile_embedding_dim"),
]


@pytest.mark.parametrize("overrides, field", BAD_FIELDS, ids=[field for _, field in BAD_FIELDS])
def test_a_bad_value_of_a_new_field_is_a_one_line_error_naming_it(overrides, field):
    with pytest.raises(ValueError, match=field) as info:
        make_config("cartpole", **overrides)
    assert "\n" not in str(info.value)


def test_the_cli_refuses_a_bad_distribution_with_one_line_and_exit_2(tmp_path, capsys):
    run_dir = tmp_path / "run"
    argv = ["train", "--preset", "cartpole", "--run-dir", str(run_dir), "--steps", "10"]
    code = cli_main([*argv, "--set", "distributional=c52"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "distributional" in err and "c51" in err, err
    assert not (run_dir / "checkpoints").exists()


def _edit_state(checkpoint: Path, field: str, value) -> None:
    """Set (or, with value ``...``, delete) a top-level field of a checkpoint's state.json."""
    document = json.loads((checkpoint / "state.json").read_text())
    if value is ...:
        del document[field]
    else:
        document[field] = value
    (checkpoint / "state.json").write_text(json.dumps(document))


@pytest.mark.parametrize("value", ["PCG64", {"bit_generator": "Nope"}, 7])
def test_a_damaged_learning_generator_state_is_a_one_line_error_naming_it(value, tmp_path):
    checkpoint = DQNAgent(variant_config("noisy")).save(tmp_path / "saved")
    _edit_state(checkpoint, "learn_rng_state", value)
    with pytest.raises(ValueError, match="learn_rng_state") as info:
        DQNAgent.load(checkpoint)
    assert "\n" not in str(info.value)


def test_a_checkpoint_from_before_the_learning_generator_still_loads(tmp_path):
    """Plain DQN drew nothing in learning, so a checkpoint without ``learn_rng_state`` loses nothing."""
    config = make_config("cartpole", seed=2, learning_starts=100, hidden_size=32, torch_threads=1)
    agent = DQNAgent(config)
    agent.train(150, progress_bar=False)
    checkpoint = agent.save(tmp_path / "old")
    _edit_state(checkpoint, "learn_rng_state", ...)
    loaded = DQNAgent.load(checkpoint)
    assert loaded.counters == agent.counters and loaded.counters.updates > 0
    assert same_weights(agent, loaded)
    assert loaded.rng.bit_generator.state == agent.rng.bit_generator.state
    agent.close()


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, tuple[Path, ReplayBatch]]:
    """For the noisy and the IQN variant: a checkpoint after learning began, and a batch
    sampled from the run's memory."""
    found = {}
    for name in ("noisy", "iqn"):
        agent = DQNAgent(variant_config(name))
        agent.train(150, progress_bar=False)
        found[name] = (agent.save(tmp_path_factory.mktemp(name) / "saved"), agent.replay_memory.sample(16))
        agent.close()
    return found


@pytest.mark.parametrize("name", ["noisy", "iqn"])
def test_learning_draws_its_noise_and_fractions_from_the_learning_generator(trained, name):
    """Two copies of an agent that differ in their learning generator's state alone learn
    differently from the same batch: so a checkpoint must hold that state (the resume test
    then catches its loss)."""
    checkpoint, batch = trained[name]
    same, other, moved = (DQNAgent.load(checkpoint) for _ in range(3))
    moved.learn_rng.random()  # one draw: only the learning generator's state differs
    for agent in (same, other, moved):
        agent.learn(batch)
    assert same_weights(same, other)
    assert not same_weights(same, moved)


@pytest.mark.parametrize("name", ["noisy", "iqn"])
def test_acting_and_learning_draw_from_their_own_generators(trained, name):
    checkpoint, batch = trained[name]
    agent = DQNAgent.load(checkpoint)
    learn_state = agent.learn_rng.bit_generator.state
    agent.act(batch.states, 0.0)
    assert agent.learn_rng.bit_generator.state == learn_state
    act_state = agent.rng.bit_generator.state
    agent.learn(batch)
    assert agent.rng.bit_generator.state == act_state
    assert agent.learn_rng.bit_generator.state != learn_state


def test_the_bootstrap_uses_a_noisy_target_network(trained):
    """Noisy nets draw the target network's noise too (Fortunato et al. 2018, Algorithm 1):
    the same update with the target's mean weights alone gives other weights."""
    checkpoint, batch = trained["noisy"]
    noisy_target, mean_target = DQNAgent.load(checkpoint), DQNAgent.load(checkpoint)
    mean_target.target.eval()  # noisy layers in eval mode use their mean weights
    noisy_target.learn(batch)
    mean_target.learn(batch)
    assert not same_weights(noisy_target, mean_target)


@pytest.mark.parametrize("name", ["c51", "iqn", "rainbow"])
def test_every_variant_learns_under_bf16_autocast_as_in_fp32(name, monkeypatch):
    """The bf16 learner (the fast path on CUDA and on CPUs with native bf16) runs every variant:
    from the same weights and batch, its loss is fp32's within bf16's precision, and not fp32's
    bits (autocast did run). On a CPU without native bf16, torch emulates it."""
    monkeypatch.setattr("dqnlib.agent._cpu_has_bf16", lambda: True)
    fp32 = DQNAgent(variant_config(name, "breakout", learning_starts=10_000, precision="fp32"))
    fp32.train(200, progress_bar=False)  # fills the memory; no update yet
    batch = fp32.replay_memory.sample(fp32.config.batch_size)
    bf16 = DQNAgent(variant_config(name, "breakout", learning_starts=10_000, precision="bf16"))
    assert bf16.bf16 and next(bf16.target.parameters()).dtype == torch.bfloat16
    assert same_weights(fp32, bf16)
    losses = fp32.learn(batch), bf16.learn(batch)
    assert np.isfinite(losses).all() and losses[0] != losses[1]
    assert losses[1] == pytest.approx(losses[0], rel=0.05)
    fp32.close()
