import copy
import random
import subprocess
import sys

import numpy as np
import pytest
import torch

import dqnlib.agent
from dqnlib import AtariDQNAgent, DQNAgent, TrainConfig, make_config
from dqnlib.networks import NatureQNetwork
from dqnlib.replay import ReplayBatch


@pytest.mark.parametrize(
    "field, value",
    [
        ("replay_capacity", -5),
        ("batch_size", 0),
        ("epsilon_start", 1.5),
        ("epsilon_end", -0.1),
        ("gamma", 2.0),
        ("learning_rate", 0.0),
        ("optimizer", "sgd"),
        ("precision", "fp8"),
        ("num_envs", 2.5),
        ("double_dqn", "yes"),
    ],
)
def test_bad_config_values_are_one_line_errors_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field) as info:
        make_config(**{field: value})
    assert "\n" not in str(info.value)


def test_batch_larger_than_memory_unknown_preset_and_field():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=64, replay_capacity=32)
    with pytest.raises(ValueError, match="unknown preset 'fastest'"):
        make_config("fastest")
    with pytest.raises(ValueError, match="unknown config field 'lr'"):
        make_config(lr=0.1)
    with pytest.raises(ValueError, match="did you mean Breakout"):
        AtariDQNAgent("Breakot")


def test_epsilon_schedule_is_linear_then_constant():
    config = make_config(epsilon_start=1.0, epsilon_end=0.1, epsilon_decay_steps=100)
    assert [config.epsilon(s) for s in (0, 50, 100, 1000)] == pytest.approx([1.0, 0.55, 0.1, 0.1])


def weights(agent: DQNAgent) -> list[torch.Tensor]:
    return [p.detach().clone() for p in agent.online.state_dict().values()]


def test_split_training_equals_one_call_bit_for_bit():
    # Threads pinned: on some CPUs another count changes the last bits (tests/test_threads.py).
    whole = AtariDQNAgent(preset="tiny", seed=3, torch_threads=2)
    whole.train(600)
    split = AtariDQNAgent(preset="tiny", seed=3, torch_threads=2)
    split.train(300)
    split.train(300)
    assert whole.counters == split.counters and whole.counters.updates > 0
    for a, b in zip(weights(whole), weights(split), strict=True):
        assert torch.equal(a, b)
    np.testing.assert_array_equal(whole.replay_memory.frames, split.replay_memory.frames)


def test_same_seed_same_first_actions_other_seed_other_weights():
    state = np.zeros((5, 4, 84, 84), dtype=np.uint8)
    a, b, c = (AtariDQNAgent(preset="tiny", seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.act(state, 0.5), b.act(state, 0.5))
    assert not all(torch.equal(x, y) for x, y in zip(weights(a), weights(c), strict=True))


def test_the_callers_global_random_states_are_left_alone(tmp_path):
    """Building, training, checkpointing, loading and evaluating draw only from the agent's
    own generators: Python's, numpy's and torch's global states are as the caller left them,
    and the initial weights depend on the config's seed alone."""
    random.seed(5)
    np.random.seed(5)
    torch.manual_seed(5)
    before = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    agent = AtariDQNAgent(preset="tiny", seed=0, run_dir=tmp_path, learning_starts=200)
    agent.train(300, progress_bar=False)
    DQNAgent.load(agent.save_run_checkpoint()).evaluate(1, protocol="nature")
    after = random.getstate(), np.random.get_state()[1], torch.get_rng_state()
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    assert torch.equal(after[2], before[2])
    torch.manual_seed(6)
    again = AtariDQNAgent(preset="tiny", seed=0)
    fresh = AtariDQNAgent(preset="tiny", seed=0)
    assert all(torch.equal(x, y) for x, y in zip(weights(again), weights(fresh), strict=True))


def test_acting_with_epsilon_one_skips_the_network_and_draws_the_same_actions():
    agent = AtariDQNAgent(preset="tiny", seed=0)
    states = np.zeros((6, 4, 84, 84), dtype=np.uint8)

    def no_forward(_states):
        raise AssertionError("the network ran although every state explores")

    agent.q_values = no_forward
    actions = agent.act(states, 1.0, rng=np.random.default_rng(9))
    expected = np.random.default_rng(9)
    expected.random(6)
    np.testing.assert_array_equal(actions, expected.integers(agent.num_actions, size=6))


@pytest.mark.parametrize("preset", ["tiny", "cartpole"])
def test_an_error_in_an_update_mid_step_leaves_the_agent_able_to_train_on(preset):
    """The games play while the learner updates; an update that raises must not leave a
    step under way that the next train() would trip over (Atari's native step, or the
    deferred step of a gymnasium environment)."""
    agent = DQNAgent(make_config(preset, seed=0, learning_starts=200))
    agent.train(300)  # past learning_starts

    def failing_learn(batch):
        raise RuntimeError("update failed")

    agent.learn = failing_learn
    with pytest.raises(RuntimeError, match="update failed"):
        agent.train(100)
    del agent.learn
    steps, transitions = agent.counters.env_steps, agent.replay_memory.transitions_added
    agent.train(100)
    assert agent.counters.env_steps == steps + 100
    assert agent.replay_memory.transitions_added > transitions + 90  # a few steps start new episodes


def test_auto_precision_keeps_the_mlp_in_fp32():
    """bf16 made CartPole learn worse (BENCHMARKS.md, "Speed settings and learning"); "auto" leaves it to the
    Atari network, and asking for bf16 still gets it where the CPU has it."""
    assert not DQNAgent(make_config("cartpole", precision="auto")).bf16
    atari = AtariDQNAgent(preset="tiny", precision="auto")
    if atari.bf16:  # this CPU has native bf16
        assert DQNAgent(make_config("cartpole", precision="bf16")).bf16


def test_the_progress_bar_can_be_turned_off(capsys):
    agent = AtariDQNAgent(preset="tiny", seed=0)
    agent.train(40, progress_bar=False)
    assert "DQN Breakout" not in capsys.readouterr().err
    agent.train(40)
    err = capsys.readouterr().err
    assert "DQN Breakout" in err
    assert agent.counters.env_steps == 80
    assert "80/80" in err and " 0/40" not in err  # the run's position, not the call's
    assert "steps/s=" not in err  # one rate: tqdm's own


def test_the_progress_bar_shows_score_and_epsilon_every_few_seconds(capsys, monkeypatch):
    monkeypatch.setattr(dqnlib.training, "POSTFIX_SECONDS", 0.0)
    agent = AtariDQNAgent(preset="tiny", seed=0, log_every=100_000)
    agent.train(600)  # the fields refresh by the clock, long before log_every
    err = capsys.readouterr().err
    assert "eps=0.4" in err and "score=" in err


@pytest.mark.parametrize("autocast", [False, True])
def test_the_nature_network_scales_frames_as_a_float32_division(autocast):
    """Under bf16 autocast the uint8 frames go straight to bf16 (one copy, not three); the
    first layer must see exactly what a float32 x / 255 cast to bf16 would give it."""
    torch.manual_seed(0)
    network = NatureQNetwork(4)
    frames = torch.as_tensor(np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84), dtype=np.uint8))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        reference = network.head(network.features(frames.float() / 255.0)).float()
        assert torch.equal(network(frames), reference)


def test_a_bf16_target_network_computes_what_autocast_computes_from_fp32_weights():
    """The agent holds its target network in bf16, which saves casting every weight on each
    update; under autocast that must give the same bits as the fp32 weights would."""
    torch.manual_seed(0)
    network = NatureQNetwork(4)
    held_in_bf16 = copy.deepcopy(network).to(torch.bfloat16)
    frames = torch.as_tensor(np.random.default_rng(0).integers(0, 256, (5, 4, 84, 84), dtype=np.uint8))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(held_in_bf16(frames), network(frames))


@pytest.mark.parametrize("tau", [1.0, 0.5])
def test_sync_target_copies_or_moves_the_weights_in_the_target_networks_precision(tau, monkeypatch):
    # bf16 on any CPU, emulated where it is not native, so that every machine checks this
    monkeypatch.setattr(dqnlib.agent, "_cpu_has_bf16", lambda: True)
    agent = AtariDQNAgent(preset="tiny", seed=0, tau=tau)
    assert agent.bf16
    held_in = torch.bfloat16 if tau == 1.0 else torch.float32  # soft updates need fp32
    before = [p.detach().clone() for p in agent.target.parameters()]
    with torch.no_grad():
        for parameter in agent.online.parameters():
            parameter.add_(torch.randn_like(parameter))
    agent.sync_target()
    for old, online, target in zip(before, agent.online.parameters(), agent.target.parameters(), strict=True):
        assert target.dtype == held_in
        assert torch.equal(target, torch.lerp(old.float(), online.detach(), tau).to(held_in))


@pytest.mark.parametrize("max_grad_norm", [1e-4, 1e6])  # every gradient clipped / none
def test_gradient_clipping_gives_what_clip_grad_norm_gives(max_grad_norm):
    """The agent skips the rescale when its factor would be 1; the gradients must be PyTorch's."""
    agent = AtariDQNAgent(preset="tiny", seed=0, max_grad_norm=max_grad_norm)
    frames = torch.as_tensor(np.random.default_rng(0).integers(0, 256, (6, 4, 84, 84), dtype=np.uint8))
    agent.online(frames).square().mean().backward()
    unclipped = [p.grad.clone() for p in agent.online.parameters()]
    torch.nn.utils.clip_grad_norm_(agent.online.parameters(), max_grad_norm)
    reference = [p.grad.clone() for p in agent.online.parameters()]
    for parameter, gradient in zip(agent.online.parameters(), unclipped, strict=True):
        parameter.grad.copy_(gradient)
    agent._clip_gradients()
    assert all(torch.equal(p.grad, r) for p, r in zip(agent.online.parameters(), reference, strict=True))
    clipped = not all(torch.equal(u, r) for u, r in zip(unclipped, reference, strict=True))
    assert clipped == (max_grad_norm < 1)


def test_learn_moves_q_toward_target_and_target_changes_only_on_sync():
    agent = AtariDQNAgent(preset="tiny", seed=0, learning_rate=1e-3, precision="fp32")
    rng = np.random.default_rng(0)
    states = rng.integers(0, 255, size=(8, 4, 84, 84), dtype=np.uint8)
    batch = ReplayBatch(
        states=states,
        actions=np.zeros(8, dtype=np.int64),
        rewards=np.full(8, 1.0, dtype=np.float32),
        next_states=states,
        dones=np.ones(8, dtype=bool),  # target is exactly the reward
        discounts=np.full(8, 0.99, dtype=np.float32),
        weights=np.ones(8, dtype=np.float32),
        indices=np.arange(8),
    )
    target_before = [p.clone() for p in agent.target.parameters()]
    before = np.abs(agent.q_values(states)[:, 0] - 1.0).mean()
    updates = agent.counters.updates
    for _ in range(20):
        agent.learn(batch)
    after = np.abs(agent.q_values(states)[:, 0] - 1.0).mean()
    assert after < before
    assert agent.counters.updates == updates + 20  # a direct call counts as the loop's do
    assert all(torch.equal(a, b) for a, b in zip(target_before, agent.target.parameters(), strict=True))
    agent.sync_target()
    assert all(
        torch.equal(a, b) for a, b in zip(agent.online.parameters(), agent.target.parameters(), strict=True)
    )


@pytest.mark.parametrize("double_dqn", [True, False])
def test_learn_computes_the_target_and_loss_by_hand(double_dqn):
    """One update on a hand-made batch: terminal and non-terminal rows, n-step discounts,
    importance weights, and online and target networks that disagree on the best next action."""
    agent = DQNAgent(make_config("cartpole", hidden_size=16, double_dqn=double_dqn, seed=3))
    with torch.no_grad():  # a target network unlike the online one
        for parameter in agent.target.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=torch.Generator().manual_seed(1)))
    rng = np.random.default_rng(0)
    size = 16
    batch = ReplayBatch(
        states=rng.normal(size=(size, 4)).astype(np.float32),
        actions=rng.integers(2, size=size).astype(np.int64),
        rewards=rng.normal(scale=2.0, size=size).astype(np.float32),
        next_states=rng.normal(size=(size, 4)).astype(np.float32),
        dones=np.arange(size) % 3 == 0,
        discounts=(0.99 ** rng.integers(1, 4, size=size)).astype(np.float32),  # n-step: gamma ** k
        weights=rng.uniform(0.2, 1.0, size=size).astype(np.float32),
        indices=np.arange(size),
    )
    with torch.no_grad():
        q_online = agent.online(torch.as_tensor(batch.states)).numpy().astype(np.float64)  # (B, 2)
        next_online = agent.online(torch.as_tensor(batch.next_states)).numpy().astype(np.float64)
        next_target = agent.target(torch.as_tensor(batch.next_states)).numpy().astype(np.float64)
    disagree = next_online.argmax(axis=1) != next_target.argmax(axis=1)
    assert (disagree & ~batch.dones).sum() >= 3  # the choice of network shows in the target
    chooser = next_online if double_dqn else next_target
    bootstrap = next_target[np.arange(size), chooser.argmax(axis=1)]
    targets = batch.rewards + batch.discounts * np.where(batch.dones, 0.0, bootstrap)
    errors = targets - q_online[np.arange(size), batch.actions]
    huber = np.where(np.abs(errors) < 1.0, 0.5 * errors**2, np.abs(errors) - 0.5)
    assert (np.abs(errors) > 1.0).any() and (np.abs(errors) < 1.0).any()  # both branches of Huber
    expected = float(np.mean(batch.weights * huber))
    assert agent.learn(batch) == pytest.approx(expected, rel=1e-5)


def test_the_convolutions_learn_on_real_breakout_batches():
    """Weight gradients of the Nature network on Breakout frames are tiny (1e-7 to 1e-5 once
    training is under way); an optimizer epsilon that dwarfs them leaves the convolutions
    where they started. Measured over 30 updates from initialization: each layer before the
    output moves 1.9-3.3% of its norm with the default Adam epsilon (1e-8), 0.4-0.7% with
    Dopamine's 1.5e-4, which froze a 200,000-step Breakout run."""
    agent = AtariDQNAgent(seed=0, replay_capacity=2_000, learning_starts=10_000)
    agent.train(800)  # random play only: fills the memory with real transitions
    parameters = dict(agent.online.named_parameters())
    hidden = [name for name in parameters if name.endswith("weight") and not name.startswith("head.2")]
    initial = {name: parameters[name].detach().clone() for name in hidden}
    for _ in range(30):
        agent.learn(agent.replay_memory.sample(32))
    moved = {
        name: float((parameters[name].detach() - before).norm() / before.norm())
        for name, before in initial.items()
    }
    assert len(moved) == 4 and all(change > 0.01 for change in moved.values()), moved


def test_breakout_end_to_end(tmp_path):
    agent = AtariDQNAgent("Breakout", preset="tiny", seed=0, run_dir=tmp_path / "run")
    agent.train(2_000, save_path=tmp_path / "saved")
    assert agent.counters.updates > 0 and np.isfinite(agent.recent_losses).all()
    assert (tmp_path / "run" / "metrics.csv").is_file()
    loaded = AtariDQNAgent.load(tmp_path / "saved")
    probe = agent.replay_memory.sample(16).states
    np.testing.assert_array_equal(agent.act(probe, 0.0), loaded.act(probe, 0.0))
    assert loaded.counters == agent.counters
    result = loaded.evaluate(1, protocol="nature")
    assert result.protocol == "nature" and result.epsilon == 0.05 and len(result.scores) == 1
    assert "nature protocol" in str(result)


def test_the_original_exploration_workflow(tmp_path):
    agent = AtariDQNAgent(preset="tiny")
    agent.train(500)
    memory = agent._replay_memory
    assert 0 <= memory.index < memory.spec.capacity
    e = memory[random.Random(0).randint(0, len(memory) - 1)]
    action, reward, done = e[1], e[2], e[4]
    assert 0 <= action < 4 and reward in (-1.0, 0.0, 1.0) and isinstance(done, bool)
    assert e[0][0].shape == (84, 84) and e[0].dtype == np.uint8  # channels first: e[0][0] is a frame
    agent.train(100, save_path=tmp_path / "checkpoints" / "Breakout-v0-50")
    assert agent.counters.env_steps == 600
    assert (tmp_path / "checkpoints" / "Breakout-v0-50" / "model.pt").is_file()
    state = agent.preprocess_observation(np.zeros((210, 160, 3), np.uint8), None)
    assert state.shape == (4, 84, 84)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dqnlib", *args], check=False, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "args, words",
    [
        (["train", "--game", "Breakot", "--steps", "10"], "did you mean Breakout"),
        (["train", "--steps", "-3"], "must be >= 1"),
        (["train", "--steps", "ten"], "not an integer"),
        (["train", "--preset", "nope"], "unknown preset"),
        (["train", "--set", "gamma=3"], "gamma"),
        (["train", "--set", "nonsense"], "FIELD=VALUE"),
        (["train", "--set", "game=Pong"], "use --game instead"),
        (["train", "--set", "replay_capacity=1000000000000"], "replay_capacity=1,000,000,000,000 needs"),
        (["train", "--set", "hidden_size=1000000000000"], "hidden_size=1,000,000,000,000 needs"),
        (
            ["train", "--seed", "1099511627776"],
            "argument --seed: 1099511627776 must be in [0, 1,073,741,824)",
        ),
        (
            ["evaluate", "--checkpoint", "checkpoints/breakout", "--seed", "-1"],
            "argument --seed: -1 must be in",
        ),
        (
            ["play", "--checkpoint", "checkpoints/breakout", "--seed", "x"],
            "argument --seed: 'x' is not an integer",
        ),
        (["train", "--set", "seed=3"], "use --seed instead"),
        (["evaluate", "--checkpoint", "/nonexistent"], "does not exist"),
        (["evaluate"], "--checkpoint"),
        (["fly"], "invalid choice"),
    ],
)
def test_cli_bad_input_is_one_line_and_exit_2(args, words):
    result = run_cli(*args)
    assert result.returncode == 2
    assert words in result.stderr or words.lower() in result.stderr.lower()
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_cli_preset_game_stands_unless_game_is_given(tmp_path):
    """`--preset cartpole` trains CartPole; `--game` still overrides a preset's game."""
    result = run_cli("train", "--preset", "cartpole", "--steps", "50", "--run-dir", str(tmp_path / "a"))
    assert result.returncode == 0 and "CartPole-v1" in result.stdout, result.stderr
    result = run_cli(
        "train", "--preset", "tiny", "--game", "Pong", "--steps", "50", "--run-dir", str(tmp_path / "b")
    )
    assert result.returncode == 0 and "Pong" in result.stdout, result.stderr


def test_cli_output_into_a_closed_pipe_stops_quietly():
    """`python -m dqnlib games | head -1`: no traceback, no error line, the SIGPIPE status."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dqnlib", "games"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout.readline()
    process.stdout.close()  # as head does after its line
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == 141 and "Error" not in stderr and "Traceback" not in stderr, stderr
    assert "Stella" not in stderr  # no ALE banner either


def test_cli_lists_games():
    result = run_cli("games")
    assert result.returncode == 0
    assert any(line.split() == ["Breakout", "4", "actions"] for line in result.stdout.splitlines())


@pytest.mark.parametrize("preset", ["cartpole", "cartpole-c51", "cartpole-iqn"])
def test_cartpole_mlp_learns_within_budget(preset):
    """Mean greedy return >= 195 over 10 games within 30,000 steps, with DQN, C51 and IQN
    (benchmarks/bench_cartpole.py runs each over 10 seeds)."""
    torch.set_num_threads(1)
    agent = DQNAgent(make_config(preset, seed=0))
    assert agent.train_until(195.0, max_steps=30_000, eval_every=5_000) is not None


def test_random_play_baseline_under_a_protocol():
    from dqnlib.evaluation import evaluate_random

    result = evaluate_random("Breakout", episodes=2, protocol="nature", seed=0)
    assert result.protocol == "nature" and result.epsilon == 1.0 and len(result.scores) == 2
    assert all(score >= 0 for score in result.scores)


def test_evaluation_counts_games_cut_by_the_frame_cap():
    """NOOP only under `nature`: FIRE at game start serves once, nobody serves again, so each
    game runs to the 18,000-frame cap; random play ends its games by losing them."""
    from dqnlib.evaluation import evaluate_policy

    idle = evaluate_policy("Breakout", lambda states, eps, rng: np.zeros(len(states), np.int64), 2, "nature")
    assert idle.capped == [True, True] and "2 cut by the frame cap" in str(idle)
    from dqnlib.evaluation import evaluate_random

    played = evaluate_random("Breakout", episodes=2, protocol="nature", seed=0)
    assert played.capped == [False, False] and "frame cap" not in str(played)


def test_a_config_of_an_older_dqnlib_is_read_with_a_warning_and_users_set_the_protocol(caplog):
    """Checkpoints written before `protocol` existed name sticky_action_probability; a user's
    config may not."""
    from dqnlib.config import TrainConfig

    old = {k: v for k, v in make_config().to_dict().items() if k not in ("protocol", "rmsprop_epsilon")}
    for sticky, protocol in ((0.25, "machado"), (0.0, "nature"), (0.1, "machado")):
        config = TrainConfig.from_saved({**old, "sticky_action_probability": sticky})
        assert (config.protocol, config.rmsprop_epsilon) == (protocol, 0.01)
    assert "pressed FIRE for the agent" in caplog.text
    with pytest.raises(ValueError, match="sticky_action_probability' is set by protocol: machado"):
        make_config(sticky_action_probability=0.0)


def test_glorot_weight_init_gives_glorot_uniform_weights_and_zero_biases():
    layers = {}
    for weight_init in ("torch", "glorot"):
        agent = AtariDQNAgent(preset="tiny", seed=3, weight_init=weight_init)
        modules = agent.online.modules()
        layers[weight_init] = [m for m in modules if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(layers["glorot"]) == 5
    for layer in layers["glorot"]:
        fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(layer.weight)
        bound = (6 / (fan_in + fan_out)) ** 0.5
        assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
        assert not layer.bias.any()
    assert all(layer.bias.any() for layer in layers["torch"])  # PyTorch's default draws biases


def test_the_nature_preset_starts_from_glorots_weights():
    """With PyTorch's weights its RMSProp left the network blind on Breakout (BENCHMARKS.md,
    "The nature learner's initial weights over a run"); the other presets keep PyTorch's."""
    for preset, zero_biases in (("nature", True), ("default", False)):
        agent = AtariDQNAgent(preset=preset, replay_capacity=1_000, learning_starts=1_000)
        layers = [m for m in agent.online.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        assert len(layers) == 5 and all(not layer.bias.any() for layer in layers) == zero_biases, preset
        agent.close()


def test_glorot_weight_init_leaves_noisy_layers_as_they_were():
    networks = [
        DQNAgent(make_config("cartpole", seed=2, noisy=True, weight_init=init)).online
        for init in ("torch", "glorot")
    ]
    noisy = [
        [p for name, p in network.named_parameters() if "sigma" in name or "_mu" in name]
        for network in networks
    ]
    assert noisy[0] and all(torch.equal(a, b) for a, b in zip(*noisy, strict=True))


def test_the_nature_learner_moves_glorot_weights_further_in_its_first_updates():
    """Centered RMSProp's epsilon dominates its divisor for this network's gradients, so its step
    follows the gradient's scale, which Glorot's weights and zero biases make larger, most of
    all in the convolutions (BENCHMARKS.md, "The nature preset's initial weights")."""
    moved = {}
    for weight_init in ("torch", "glorot"):
        config = make_config("nature", weight_init=weight_init, replay_capacity=2_000, learning_starts=10_000)
        agent = DQNAgent(config)
        agent.train(600, progress_bar=False)  # random play only
        weights = {n: w for n, w in agent.online.named_parameters() if n.endswith("weight")}
        start = {n: w.detach().clone() for n, w in weights.items()}
        for _ in range(10):
            agent.learn(agent.replay_memory.sample(32))
        moved[weight_init] = {n: float((w.detach() - start[n]).norm()) for n, w in weights.items()}
        agent.close()
    ratios = {n: moved["glorot"][n] / moved["torch"][n] for n in moved["torch"] if n.startswith("features")}
    assert len(ratios) == 3 and all(ratio > 2 for ratio in ratios.values()), ratios  # 3.3-11 over seeds 0-3
