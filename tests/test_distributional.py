"""C51's projection, IQN's quantile Huber loss, noisy layers, and the agent that uses them,
each against a naive reference written here from the papers (Bellemare et al. 2017,
Algorithm 1; Dabney et al. 2018, eq. 3; Fortunato et al. 2018, section 3.2)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional

from dqnlib.agent import DQNAgent
from dqnlib.config import make_config
from dqnlib.distributional import categorical_support, project_categorical, quantile_huber_loss
from dqnlib.evaluation import evaluate_policy
from dqnlib.networks import NoisyLinear, reset_noise

# IQN's fraction counts, all different so that a mix-up of N, N' and K shows in a shape or a value.
IQN_SAMPLES = {"num_tau_samples": 8, "num_tau_prime_samples": 6, "num_quantile_samples": 5}


# ---------------------------------------------------------------------------- references
def reference_projection(
    probabilities: np.ndarray, rewards: np.ndarray, discounts: np.ndarray, v_min: float, v_max: float
) -> np.ndarray:
    """Bellemare et al. (2017), Algorithm 1, one atom at a time: (B, N) float64 targets m."""
    batch, atoms = probabilities.shape
    delta = (v_max - v_min) / (atoms - 1)
    m = np.zeros((batch, atoms))
    for row in range(batch):
        for j in range(atoms):
            z_j = v_min + j * delta
            tz = min(max(rewards[row] + discounts[row] * z_j, v_min), v_max)
            b = min(max((tz - v_min) / delta, 0.0), atoms - 1.0)  # (rounding may step past N - 1)
            lower, upper = math.floor(b), math.ceil(b)
            p = probabilities[row, j]
            if lower == upper:
                m[row, lower] += p
            else:
                m[row, lower] += p * (upper - b)
                m[row, upper] += p * (b - lower)
    return m


def huber(u: float, kappa: float) -> float:
    return 0.5 * u * u if abs(u) <= kappa else kappa * (abs(u) - 0.5 * kappa)


def reference_quantile_huber(quantiles: np.ndarray, targets: np.ndarray, taus: np.ndarray, kappa: float):
    """Dabney et al. (2018), eq. 3 with Dopamine's reduction: (B,) float64, summed over the N
    predicted quantiles and averaged over the N' targets."""
    batch, n = quantiles.shape
    n_prime = targets.shape[1]
    losses = np.zeros(batch)
    for row in range(batch):
        total = 0.0
        for i in range(n):
            for j in range(n_prime):
                u = float(targets[row, j]) - float(quantiles[row, i])
                total += abs(float(taus[row, i]) - (1.0 if u < 0 else 0.0)) * huber(u, kappa) / kappa
        losses[row] = total / n_prime
    return losses


# ---------------------------------------------------------------------------- C51 projection
@st.composite
def projection_cases(draw):
    atoms = draw(st.integers(2, 60), label="atoms")
    v_min = draw(st.floats(-50.0, 50.0), label="v_min")
    v_max = v_min + draw(st.floats(0.5, 100.0), label="width")
    batch = draw(st.integers(1, 6), label="batch")
    delta = (v_max - v_min) / (atoms - 1)
    weights = draw(
        st.lists(
            st.lists(st.floats(0.0, 1.0), min_size=atoms, max_size=atoms), min_size=batch, max_size=batch
        ),
        label="weights",
    )
    probabilities = np.array(weights, dtype=np.float64)
    probabilities[probabilities.sum(axis=1) == 0, 0] = 1.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    reward = st.one_of(
        st.floats(-1000.0, 1000.0),
        st.sampled_from([-1000.0, 1000.0, v_min, v_max, 0.0]),
        st.integers(0, atoms - 1).map(lambda k: v_min + k * delta),  # exactly on an atom
    )
    rewards = np.array(draw(st.lists(reward, min_size=batch, max_size=batch), label="rewards"))
    gamma = draw(st.floats(0.0, 1.0), label="gamma")
    steps = draw(st.lists(st.integers(1, 5), min_size=batch, max_size=batch), label="n")
    terminal = draw(st.lists(st.booleans(), min_size=batch, max_size=batch), label="terminal")
    discounts = np.array([0.0 if end else gamma**n for n, end in zip(steps, terminal, strict=True)])
    return probabilities, rewards, discounts, v_min, v_max


@settings(max_examples=300, deadline=None)
@given(case=projection_cases())
def test_projection_matches_algorithm_1_atom_by_atom(case):
    """In float64 the triangle-kernel projection equals Algorithm 1 for any support, reward
    (far outside the support too), n-step discount and terminal."""
    probabilities, rewards, discounts, v_min, v_max = case
    support = torch.linspace(v_min, v_max, probabilities.shape[1], dtype=torch.float64)
    got = project_categorical(
        torch.from_numpy(probabilities), torch.from_numpy(rewards), torch.from_numpy(discounts), support
    ).numpy()
    np.testing.assert_allclose(
        got, reference_projection(probabilities, rewards, discounts, v_min, v_max), atol=1e-6
    )
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-6)
    assert (got >= 0).all()


@settings(max_examples=100, deadline=None)
@given(case=projection_cases())
def test_projection_in_float32_on_the_agents_support(case):
    """The agent's dtype: float32 rounding of r + d z and of the atoms moves mass by about
    eps * |v| / delta (e.g. 52 atoms on [8, 9]: the atom next to v_min gets 1.5e-5)."""
    probabilities, rewards, discounts, v_min, v_max = case
    support = categorical_support(v_min, v_max, probabilities.shape[1])
    got = project_categorical(
        torch.from_numpy(probabilities).float(),
        torch.from_numpy(rewards).float(),
        torch.from_numpy(discounts).float(),
        support,
    ).numpy()
    delta = (v_max - v_min) / (probabilities.shape[1] - 1)
    tolerance = 1e-5 + 20 * np.finfo(np.float32).eps * max(abs(v_min), abs(v_max)) / delta
    expected = reference_projection(probabilities, rewards, discounts, v_min, v_max)
    np.testing.assert_allclose(got, expected, atol=tolerance)
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=tolerance)


def project(probabilities, rewards, discounts, support) -> np.ndarray:
    return project_categorical(
        torch.tensor(probabilities, dtype=torch.float32),
        torch.tensor(rewards, dtype=torch.float32),
        torch.tensor(discounts, dtype=torch.float32),
        torch.tensor(support, dtype=torch.float32),
    ).numpy()


def test_projection_explicit_cases():
    support = [-2.0, -1.0, 0.0, 1.0, 2.0]
    uniform = [[0.2] * 5]
    # A reward of exactly one atom spacing shifts every atom onto the next; the top one is clipped.
    np.testing.assert_allclose(project(uniform, [1.0], [1.0], support), [[0, 0.2, 0.2, 0.2, 0.4]], atol=1e-6)
    # Terminal (discount 0) on an atom: all the mass there, whatever the next distribution.
    skewed = [[0.7, 0.1, 0.1, 0.05, 0.05]]
    np.testing.assert_allclose(project(skewed, [1.0], [0.0], support), [[0, 0, 0, 1, 0]], atol=1e-6)
    # Terminal between atoms: split in proportion to closeness.
    np.testing.assert_allclose(project(skewed, [0.25], [0.0], support), [[0, 0, 0.75, 0.25, 0]], atol=1e-6)
    # A terminal reward beyond the support is clipped to its end.
    np.testing.assert_allclose(project(skewed, [-7.0], [0.0], support), [[1, 0, 0, 0, 0]], atol=1e-6)
    # A reward beyond v_max puts all the mass on the last atom, and one below v_min on the first.
    np.testing.assert_allclose(project(skewed, [1000.0], [0.99], support), [[0, 0, 0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(project(skewed, [-1000.0], [0.99], support), [[1, 0, 0, 0, 0]], atol=1e-6)
    # gamma = 0.5 halves the support: -2 -> -1, -1 -> -0.5, 0 -> 0, 1 -> 0.5, 2 -> 1.
    expected = [[0, 0.7 + 0.05, 0.05 + 0.1 + 0.025, 0.025 + 0.05, 0]]
    np.testing.assert_allclose(project(skewed, [0.0], [0.5], support), expected, atol=1e-6)


# ---------------------------------------------------------------------------- quantile Huber loss
@pytest.mark.parametrize("kappa", [0.25, 1.0, 2.0, 10.0])
def test_quantile_huber_loss_matches_the_double_loop(kappa):
    rng = np.random.default_rng(int(kappa * 100))
    batch, n, n_prime = 3, 5, 7
    quantiles = rng.normal(0.0, 3.0, (batch, n)).astype(np.float32)
    targets = rng.normal(0.5, 3.0, (batch, n_prime)).astype(np.float32)
    taus = rng.random((batch, n), dtype=np.float32)
    got = quantile_huber_loss(
        torch.from_numpy(quantiles), torch.from_numpy(targets), torch.from_numpy(taus), kappa
    )
    assert got.shape == (batch,)
    expected = reference_quantile_huber(quantiles, targets, taus, kappa)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_quantile_huber_gradient_pushes_each_quantile_toward_the_targets():
    """A quantile below every target gets the gradient -tau (it moves up under descent); one
    above every target gets 1 - tau (it moves down); with |u| > kappa each target pulls at kappa."""
    quantiles = torch.tensor([[-10.0, 5.0]], requires_grad=True)
    targets = torch.tensor([[0.0, 1.0, 2.0]])
    taus = torch.tensor([[0.3, 0.6]])
    quantile_huber_loss(quantiles, targets, taus, kappa=1.0).sum().backward()
    np.testing.assert_allclose(quantiles.grad.numpy(), [[-0.3, 0.4]], atol=1e-6)


# ---------------------------------------------------------------------------- noisy layers
def test_noise_vectors_are_signed_square_roots_of_standard_normals():
    """f(x) = sign(x) sqrt(|x|) of x ~ N(0, 1): E f = 0, E f^2 = E|x| = sqrt(2/pi),
    E f^4 = E x^2 = 1; over 20,000 draws, each within 5 standard errors."""
    layer = NoisyLinear(60, 40)
    rng = np.random.default_rng(12345)
    draws = []
    for _ in range(200):
        layer.reset_noise(rng)
        draws.append(torch.cat([layer.noise_in, layer.noise_out]).numpy().copy())
    f = np.concatenate(draws).astype(np.float64)
    assert f.size == 20_000
    count = f.size
    mean_abs = math.sqrt(2 / math.pi)
    assert abs(f.mean()) < 5 * math.sqrt(mean_abs / count)
    assert abs((f**2).mean() - mean_abs) < 5 * math.sqrt((1 - 2 / math.pi) / count)
    assert abs((f**4).mean() - 1.0) < 5 * math.sqrt(2.0 / count)
    assert len({tuple(d[:5]) for d in draws}) == len(draws)  # a new draw every time


@pytest.mark.parametrize("in_features, out_features, sigma0", [(16, 8, 0.5), (100, 3, 0.1)])
def test_noisy_linear_initialisation(in_features, out_features, sigma0):
    torch.manual_seed(0)
    layer = NoisyLinear(in_features, out_features, sigma0)
    bound = 1.0 / math.sqrt(in_features)
    for sigma in (layer.weight_sigma, layer.bias_sigma):
        np.testing.assert_allclose(sigma.detach().numpy(), sigma0 / math.sqrt(in_features), rtol=1e-6)
    for mu in (layer.weight_mu, layer.bias_mu):
        assert mu.abs().max() <= bound
    assert layer.weight_mu.max() - layer.weight_mu.min() > bound  # spread over the interval


def test_noisy_linear_eval_uses_the_mean_weights_and_training_the_noisy_ones():
    torch.manual_seed(1)
    layer = NoisyLinear(7, 5, sigma0=0.5)
    x = torch.randn(11, 7)
    rng = np.random.default_rng(3)
    layer.reset_noise(rng)
    with torch.no_grad():
        layer.eval()
        mean_output = functional.linear(x, layer.weight_mu, layer.bias_mu)
        first = layer(x)
        layer.reset_noise(rng)
        second = layer(x)
        assert torch.equal(first, mean_output)
        assert torch.equal(second, mean_output)

        layer.train()
        outputs = []
        for _ in range(3):
            layer.reset_noise(rng)
            f_in, f_out = layer.noise_in.clone(), layer.noise_out.clone()
            weight = layer.weight_mu + layer.weight_sigma * torch.outer(f_out, f_in)
            bias = layer.bias_mu + layer.bias_sigma * f_out
            expected = x @ weight.T + bias
            got = layer(x)
            np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)
            assert not torch.allclose(got, mean_output, atol=1e-3)
            outputs.append(got)
        assert not torch.allclose(outputs[0], outputs[1], atol=1e-3)


# ---------------------------------------------------------------------------- agents
def make_agent(**overrides) -> DQNAgent:
    options = {"torch_threads": 1, "learning_starts": 50, "hidden_size": 32, **overrides}
    if options.get("distributional") == "iqn":
        options = {**IQN_SAMPLES, **options}
    return DQNAgent(make_config("cartpole", **options))


def observations(count: int = 64, seed: int = 0) -> np.ndarray:
    """(count, 4) float32 CartPole-like observations."""
    return np.random.default_rng(seed).normal(0.0, 1.0, (count, 4)).astype(np.float32)


@pytest.mark.parametrize("distributional", ["none", "c51", "iqn"])
def test_noisy_agent_q_values_are_deterministic_without_a_generator(distributional):
    agent = make_agent(distributional=distributional, noisy=True)
    assert agent.config.epsilon(0) == 0.0
    assert agent.config.epsilon(10**6) == 0.0
    states = observations()
    plain = agent.q_values(states)
    assert np.array_equal(plain, agent.q_values(states))
    drawn = [agent.q_values(states, rng=np.random.default_rng(k)) for k in range(3)]
    assert not np.allclose(drawn[0], drawn[1])
    assert not np.allclose(drawn[0], plain)
    assert np.array_equal(drawn[2], agent.q_values(states, rng=np.random.default_rng(2)))  # reproducible
    assert np.array_equal(plain, agent.q_values(states))  # drawing noise left the estimate alone


@pytest.mark.parametrize("distributional", ["none", "c51"])
def test_noise_free_actions_do_not_depend_on_the_generator(distributional):
    """IQN is left out: its K fractions come from the generator even without noise."""
    agent = make_agent(distributional=distributional, noisy=True)
    states = observations(256)
    with agent.noise_free():
        actions = [agent.act(states, 0.0, rng=np.random.default_rng(k)) for k in range(4)]
    for other in actions[1:]:
        assert np.array_equal(actions[0], other)
    assert np.array_equal(actions[0], agent.q_values(states).argmax(axis=1))
    noisy = [agent.act(states, 0.0, rng=np.random.default_rng(k)) for k in range(4)]
    assert any(not np.array_equal(noisy[0], other) for other in noisy[1:])


def test_noisy_evaluation_plays_the_mean_weights():
    """Evaluation plays the greedy policy of the mean weights, whatever noise was drawn before
    it, and leaves the online network's noise on. (A large sigma_0 makes the noisy policy play
    differently, so that the comparison can fail.)"""
    agent = make_agent(distributional="c51", noisy=True, noisy_sigma0=2.0)
    states = observations()
    agent.q_values(states, rng=np.random.default_rng(99))  # new noise in the layers
    scores = agent.evaluate(6, seed=5).scores
    game = agent.config.game
    mean_weights = evaluate_policy(game, lambda s, eps, rng: agent.q_values(s).argmax(axis=1), 6, seed=5)
    noisy = evaluate_policy(game, lambda s, eps, rng: agent.act(s, 0.0, rng=rng), 6, seed=5)
    assert scores == mean_weights.scores
    assert scores != noisy.scores
    assert not np.array_equal(
        agent.q_values(states, rng=np.random.default_rng(0)),
        agent.q_values(states, rng=np.random.default_rng(1)),
    )


def test_c51_q_values_are_the_mean_of_the_softmax_distribution():
    agent = make_agent(distributional="c51", num_atoms=21, v_min=-5.0, v_max=15.0)
    states = observations()
    with torch.no_grad():
        logits = agent.online(torch.from_numpy(states)).numpy().astype(np.float64)  # (B, A, 21)
    assert logits.shape == (len(states), agent.num_actions, 21)
    probabilities = np.exp(logits - logits.max(axis=2, keepdims=True))
    probabilities /= probabilities.sum(axis=2, keepdims=True)
    expected = (probabilities * np.linspace(-5.0, 15.0, 21)).sum(axis=2)
    np.testing.assert_allclose(agent.q_values(states), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(agent.q_values(states[0]), expected[0], rtol=1e-5, atol=1e-5)


def test_iqn_q_values_average_the_quantiles_at_k_fractions():
    agent = make_agent(distributional="iqn")
    states = observations()
    k = IQN_SAMPLES["num_quantile_samples"]
    even = torch.tensor((np.arange(k) + 0.5) / k, dtype=torch.float32).expand(len(states), k)
    with torch.no_grad():
        expected = agent.online(torch.from_numpy(states), even).mean(dim=1).numpy()
    np.testing.assert_allclose(agent.q_values(states), expected, rtol=1e-5, atol=1e-6)
    # With a generator: the mean at K fractions drawn from it, uniform in [0, 1).
    taus = torch.from_numpy(np.random.default_rng(4).random((len(states), k), dtype=np.float32))
    with torch.no_grad():
        expected = agent.online(torch.from_numpy(states), taus).mean(dim=1).numpy()
    np.testing.assert_allclose(
        agent.q_values(states, rng=np.random.default_rng(4)), expected, rtol=1e-5, atol=1e-6
    )


def trained_batch(agent: DQNAgent, size: int = 128):
    agent.train(300, progress_bar=False)
    batch = agent.replay_memory.sample(size)
    assert batch.dones.any() and not batch.dones.all()  # both kinds of target are exercised
    return batch


def replayed_learn_rng(agent: DQNAgent) -> np.random.Generator:
    """A generator that will draw what ``agent.learn_rng`` draws next."""
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = agent.learn_rng.bit_generator.state
    return rng


@pytest.mark.parametrize("double_dqn, noisy", [(True, False), (False, False), (True, True)])
def test_c51_learn_returns_the_cross_entropy_to_the_projected_target(double_dqn, noisy):
    agent = make_agent(distributional="c51", double_dqn=double_dqn, noisy=noisy, num_atoms=31)
    batch = trained_batch(agent)
    config = agent.config
    rng = replayed_learn_rng(agent)
    if noisy:  # learn draws the online network's noise, then the target's
        reset_noise(agent.online, rng)
        reset_noise(agent.target, rng)
    support = np.linspace(config.v_min, config.v_max, config.num_atoms)
    rows = np.arange(len(batch.actions))
    with torch.no_grad():
        next_states = torch.from_numpy(batch.next_states)
        target_p = torch.softmax(agent.target(next_states), dim=2).double().numpy()  # (B, A, N)
        online_p = torch.softmax(agent.online(next_states), dim=2).double().numpy()
        log_p = torch.log_softmax(agent.online(torch.from_numpy(batch.states)), dim=2).double().numpy()
    discounts = batch.discounts.astype(np.float64) * ~batch.dones
    rewards = batch.rewards.astype(np.float64)

    def loss(chooser_p: np.ndarray) -> float:
        next_actions = (chooser_p * support).sum(axis=2).argmax(axis=1)
        targets = reference_projection(
            target_p[rows, next_actions], rewards, discounts, config.v_min, config.v_max
        )
        return float(-(targets * log_p[rows, batch.actions]).sum(axis=1).mean())

    expected, other = (loss(online_p), loss(target_p)) if double_dqn else (loss(target_p), loss(online_p))
    assert abs(expected - other) > 1e-4  # online and target choose differently somewhere
    got = agent.learn(batch)
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("double_dqn, noisy", [(True, False), (False, False), (True, True)])
def test_iqn_learn_returns_the_quantile_huber_loss(double_dqn, noisy):
    agent = make_agent(distributional="iqn", double_dqn=double_dqn, noisy=noisy, kappa=2.0)
    batch = trained_batch(agent)
    config = agent.config
    size = len(batch.actions)
    rows = np.arange(size)
    rng = replayed_learn_rng(agent)
    if noisy:
        reset_noise(agent.online, rng)
        reset_noise(agent.target, rng)

    def fractions(count: int) -> torch.Tensor:
        return torch.from_numpy(rng.random((size, count), dtype=np.float32))

    states, next_states = torch.from_numpy(batch.states), torch.from_numpy(batch.next_states)
    with torch.no_grad():
        chooser = agent.online if double_dqn else agent.target
        next_actions = chooser(next_states, fractions(config.num_quantile_samples)).mean(dim=1).argmax(dim=1)
        next_quantiles = agent.target(next_states, fractions(config.num_tau_prime_samples)).numpy()
        taus = fractions(config.num_tau_samples)
        quantiles = agent.online(states, taus).numpy()[rows, :, batch.actions]  # (B, N)
    bootstraps = batch.discounts * ~batch.dones
    targets = batch.rewards[:, None] + bootstraps[:, None] * next_quantiles[rows, :, next_actions.numpy()]
    expected = reference_quantile_huber(quantiles, targets, taus.numpy(), config.kappa).mean()
    got = agent.learn(batch)
    assert got == pytest.approx(expected, rel=1e-5)
