"""The replay memory against a naive reference: a list of full transitions."""

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dqnlib.replay import ReplayMemory
from dqnlib.sum_tree import SumTree

STACK = 4
GAMMA = 0.9


def frame(observation_id: int) -> np.ndarray:
    """A (3,) uint8 frame that spells a unique observation id; id 0 never occurs (zeros pad)."""
    return np.array(
        [(observation_id >> 16) & 255, (observation_id >> 8) & 255, observation_id & 255], np.uint8
    )


def frame_id(frame_bytes: np.ndarray) -> int:
    return (int(frame_bytes[0]) << 16) | (int(frame_bytes[1]) << 8) | int(frame_bytes[2])


@dataclass
class Episode:
    ids: list = field(default_factory=list)  # observation ids, one per step plus the final one
    rows: list = field(default_factory=list)  # memory row each observation was written in
    steps: list = field(default_factory=list)  # (action, reward, terminated, truncated)
    closed: bool = False


class ReferenceMemory:
    """Keeps every episode whole and computes each transition directly from it."""

    def __init__(self, num_envs: int, n_step: int) -> None:
        self.num_envs, self.n_step = num_envs, n_step
        self.episodes = [[] for _ in range(num_envs)]

    def state(self, episode: Episode, j: int) -> np.ndarray:
        ids = [episode.ids[k] if k >= 0 else 0 for k in range(j - STACK + 1, j + 1)]
        return np.stack([frame(i) if i else np.zeros(3, np.uint8) for i in ids])

    def window_end(self, episode: Episode, j: int) -> int:
        """Steps from step j to its next state: cut after a terminal or a truncation (a lost
        life too, although the episode goes on), at a closed episode's end, or after n."""
        for k in range(self.n_step):
            if j + k == len(episode.steps):
                # A closed episode ends here (a restart cut it); an open one may go on: wait.
                return k if episode.closed else self.n_step
            _, _, terminated, truncated = episode.steps[j + k]
            if terminated or truncated:
                return k + 1
        return self.n_step

    def transitions(self, oldest_row: int, newest_row: int) -> dict:
        """Transitions whose every frame lies in rows [oldest_row, newest_row], keyed by state id."""
        found = {}
        for env_episodes in self.episodes:
            for episode in env_episodes:
                for j, (action, _, _, _) in enumerate(episode.steps):
                    ends = self.window_end(episode, j)
                    if j + ends >= len(episode.ids):
                        continue  # next state not observed yet
                    if (
                        episode.rows[max(0, j - STACK + 1)] < oldest_row
                        or episode.rows[j + ends] > newest_row
                    ):
                        continue
                    window = episode.steps[j : j + ends]
                    found[episode.ids[j]] = (
                        self.state(episode, j),
                        action,
                        sum(GAMMA**k * reward for k, (_, reward, _, _) in enumerate(window)),
                        self.state(episode, j + ends),
                        window[-1][2],
                        GAMMA**ends,
                    )
        return found


# What one environment reports for one step: (terminated, truncated, resets). A lost life
# under terminal_on_life_loss is a terminal that resets nothing: the episode's frames go on.
OUTCOMES = [
    (False, False, False),  # the game goes on
    (True, False, False),  # a lost life: terminal, no reset
    (True, False, True),  # game over
    (False, True, True),  # the frame cap
    (True, True, True),  # game over on the frame cap's step
]
step_strategy = st.tuples(
    st.integers(0, 5),  # action
    st.sampled_from([-1.0, 0.0, 0.0, 1.0, 0.5]),  # reward
    st.sampled_from([0] * 5 + [1, 1, 2, 3, 4]),  # index into OUTCOMES
)


@pytest.mark.parametrize("num_envs", [1, 4])
@pytest.mark.parametrize("n_step", [1, 3])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_transition_equals_the_reference(num_envs, n_step, data):
    """Every edge: a terminal or a truncation on any step of an episode, its first included
    (the first observation after a reset may already end the new episode, e.g. at the frame
    cap), lost lives that end nothing, restarts, and the ring's wrap."""
    capacity = data.draw(st.integers(num_envs * (STACK + n_step + 1), num_envs * 40), label="capacity")
    rows = capacity // num_envs
    events = data.draw(
        st.lists(
            st.one_of(st.lists(step_strategy, min_size=num_envs, max_size=num_envs), st.just("restart")),
            max_size=120,
        ),
        label="events",
    )
    memory = ReplayMemory(
        capacity, num_envs=num_envs, frame_shape=(3,), stack_size=STACK, n_step=n_step, gamma=GAMMA, rng=0
    )
    reference = ReferenceMemory(num_envs, n_step)
    next_id = iter(range(1, 1 << 24))
    row = 0
    resetting = [False] * num_envs  # the environment resets on its next step

    def begin_all():
        nonlocal row
        ids = [next(next_id) for _ in range(num_envs)]
        for env, observation_id in enumerate(ids):
            if reference.episodes[env]:
                reference.episodes[env][-1].closed = True  # a restart cuts the open episode
            reference.episodes[env].append(Episode(ids=[observation_id], rows=[row]))
            resetting[env] = False
        memory.start(np.stack([np.stack([np.zeros(3, np.uint8)] * (STACK - 1) + [frame(i)]) for i in ids]))
        row += 1

    begin_all()
    for event in events:
        if event == "restart":
            begin_all()
            continue
        ids = [next(next_id) for _ in range(num_envs)]
        for env, (action, reward, outcome) in enumerate(event):
            terminated, truncated, resets = OUTCOMES[outcome]
            if resetting[env]:  # next-step autoreset: this observation begins a new episode
                reference.episodes[env].append(Episode(ids=[ids[env]], rows=[row], closed=resets))
            else:
                episode = reference.episodes[env][-1]
                episode.steps.append((action, reward, terminated, truncated))
                episode.ids.append(ids[env])
                episode.rows.append(row)
                episode.closed = resets
            resetting[env] = resets
        observations = np.stack([np.stack([np.zeros(3, np.uint8)] * (STACK - 1) + [frame(i)]) for i in ids])
        actions, rewards, outcomes = (np.array(column) for column in zip(*event, strict=True))
        terminated, truncated, resets = np.array([OUTCOMES[k] for k in outcomes]).T
        memory.add(actions, rewards, terminated, truncated, observations, resets=resets)
        row += 1

    expected = reference.transitions(oldest_row=max(0, row - rows), newest_row=row - 1)
    stored = {}
    for i in range(len(memory)):
        e = memory[i]
        stored[frame_id(e.state[-1])] = e
    assert set(stored) == set(expected)
    for key, e in stored.items():
        state, action, reward, next_state, done, _ = expected[key]
        np.testing.assert_array_equal(e.state, state)
        np.testing.assert_array_equal(e.next_state, next_state)
        assert (e.action, e.done) == (action, done)
        assert e.reward == pytest.approx(reward, abs=1e-5)
    if len(memory) >= 8:
        batch = memory.sample(8)
        assert batch.states.shape == (8, STACK, 3)
        for b in range(8):
            state, action, reward, next_state, done, discount = expected[frame_id(batch.states[b, -1])]
            np.testing.assert_array_equal(batch.states[b], state)
            np.testing.assert_array_equal(batch.next_states[b], next_state)
            assert (batch.actions[b], batch.dones[b]) == (action, done)
            assert batch.rewards[b] == pytest.approx(reward, abs=1e-5)
            assert batch.discounts[b] == pytest.approx(discount)


def test_resets_default_to_gymnasium_contract():
    """Without ``resets``, an episode ends where gymnasium's next-step autoreset ends it."""
    memory = ReplayMemory(40, frame_shape=(3,), stack_size=STACK, rng=0)
    memory.start(np.stack([np.zeros(3, np.uint8)] * (STACK - 1) + [frame(1)])[None])
    for observation_id, terminated in ((2, True), (3, False), (4, False)):
        observation = np.stack([np.zeros(3, np.uint8)] * (STACK - 1) + [frame(observation_id)])[None]
        memory.add(np.array([1]), np.array([0.0]), np.array([terminated]), np.array([False]), observation)
    # 1 -> 2 is terminal; 2 is the final slot, 3 starts a new episode (its step was the reset).
    assert [(frame_id(memory[i].state[-1]), memory[i].done) for i in range(len(memory))] == [
        (1, True),
        (3, False),
    ]
    np.testing.assert_array_equal(memory[1].state[:-1], 0)


def fill(memory: ReplayMemory, steps: int, seed: int = 0) -> None:
    """Feed a memory of (3,) frames with a random episodic stream."""
    rng = np.random.default_rng(seed)
    n = memory.spec.num_envs
    counter = 1

    def observations():
        nonlocal counter
        ids = range(counter, counter + n)
        counter += n
        return np.stack([np.stack([np.zeros(3, np.uint8)] * (STACK - 1) + [frame(i)]) for i in ids])

    memory.start(observations())
    for _ in range(steps):
        memory.add(
            rng.integers(0, 4, size=n),
            rng.choice([-1.0, 0.0, 1.0], size=n),
            rng.random(n) < 0.05,
            rng.random(n) < 0.02,
            observations(),
        )


def make_memory(**kwargs) -> ReplayMemory:
    return ReplayMemory(kwargs.pop("capacity", 400), frame_shape=(3,), stack_size=STACK, **kwargs)


def test_exploration_api():
    memory = make_memory(capacity=50)
    fill(memory, 30)
    assert memory.index == 31 % 50
    e = memory[0]
    assert e[0].shape == (STACK, 3) and e.state is e[0]
    assert isinstance(e[1], int) and isinstance(e[2], float) and isinstance(e[4], bool)
    np.testing.assert_array_equal(memory[-1].state, memory[len(memory) - 1].state)
    with pytest.raises(IndexError):
        memory[len(memory)]


def test_sampling_is_seeded():
    a, b = make_memory(rng=5), make_memory(rng=5)
    fill(a, 300)
    fill(b, 300)
    np.testing.assert_array_equal(a.sample(16).states, b.sample(16).states)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"capacity": 5}, "capacity"),
        ({"n_step": 0}, "n_step"),
        ({"alpha": -0.5}, "alpha"),
        ({"gamma": 1.5}, "gamma"),
        ({"num_envs": 0}, "num_envs"),
        ({"frame_dtype": "pixels"}, "frame_dtype"),
    ],
)
def test_bad_arguments_are_one_line_errors(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        make_memory(**kwargs)
    assert "\n" not in str(info.value)


def test_sampling_errors():
    memory = make_memory(capacity=40)
    with pytest.raises(RuntimeError, match="start"):
        memory.add(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1), np.zeros((1, STACK, 3), np.uint8))
    fill(memory, 5)
    with pytest.raises(ValueError, match="cannot sample"):
        memory.sample(32)
    with pytest.raises(ValueError, match="larger than the capacity"):
        memory.sample(41)
    with pytest.raises(ValueError, match="batch_size"):
        memory.sample(0)
    with pytest.raises(ValueError, match="observations must have shape"):
        memory.start(np.zeros((2, STACK, 3), np.uint8))


def test_sum_tree_invariants():
    rng = np.random.default_rng(0)
    tree = SumTree(37)
    leaves = np.zeros(37)
    for _ in range(50):
        indices = rng.choice(37, size=5, replace=False)
        values = rng.random(5) * rng.integers(0, 2, size=5)
        tree.update(indices, values)
        leaves[indices] = values
        internal = np.arange(1, tree.leaf_offset)
        np.testing.assert_allclose(
            tree.nodes[internal], tree.nodes[2 * internal] + tree.nodes[2 * internal + 1]
        )
        assert tree.total == pytest.approx(leaves.sum())
    targets = rng.random(200) * tree.total
    np.testing.assert_array_equal(
        tree.find(targets), np.searchsorted(np.cumsum(leaves), targets, side="right")
    )
    with pytest.raises(ValueError):
        tree.update(np.array([0]), np.array([-1.0]))


def test_prioritized_sampling_frequencies_match_priorities():
    memory = make_memory(capacity=400, prioritized=True, alpha=0.7, rng=1)
    fill(memory, 99)
    slots = memory.valid_slots()
    priorities = np.random.default_rng(2).uniform(0.1, 5.0, size=slots.size)
    memory.update_priorities(slots, priorities)
    counts = dict.fromkeys(slots.tolist(), 0)
    draws = 0
    for _ in range(400):
        batch = memory.sample(32)
        for index in batch.indices:
            counts[int(index)] += 1
        draws += 32
    expected = priorities**0.7 / (priorities**0.7).sum() * draws
    observed = np.array([counts[s] for s in slots.tolist()])
    chi_square = ((observed - expected) ** 2 / expected).sum()
    degrees = slots.size - 1
    # Wilson-Hilferty approximation of the chi-square 0.999 quantile, z = 3.09.
    critical = degrees * (1 - 2 / (9 * degrees) + 3.09 * np.sqrt(2 / (9 * degrees))) ** 3
    assert chi_square < critical


def test_importance_weights_and_beta_annealing():
    memory = make_memory(prioritized=True, beta_start=0.4, beta_end=1.0, beta_steps=10, rng=0)
    fill(memory, 200)
    batch = memory.sample(16)
    assert batch.weights.max() == pytest.approx(1.0) and (batch.weights > 0).all()
    for _ in range(20):
        memory.sample(16)
    assert memory.beta() == pytest.approx(1.0)
    memory.update_priorities(batch.indices, np.zeros(16))
    with pytest.raises(ValueError, match="finite"):
        memory.update_priorities(batch.indices, np.full(16, np.nan))


@pytest.mark.parametrize("prioritized", [False, True])
def test_save_load_round_trip(tmp_path, prioritized):
    memory = make_memory(num_envs=2, n_step=3, prioritized=prioritized, rng=3)
    fill(memory, 350)
    memory.sample(8)
    memory.save(tmp_path / "replay")
    loaded = ReplayMemory.load(tmp_path / "replay")
    assert len(loaded) == len(memory) and loaded.index == memory.index
    for i in (0, len(memory) // 2, -1):
        np.testing.assert_array_equal(loaded[i].state, memory[i].state)
    a, b = memory.sample(32), loaded.sample(32)
    for name in ("states", "actions", "rewards", "next_states", "dones", "weights", "indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # Both continue identically.
    fill(memory, 10, seed=9)
    fill(loaded, 10, seed=9)
    np.testing.assert_array_equal(memory.sample(8).states, loaded.sample(8).states)


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda f: f.write_bytes(f.read_bytes()[:-1]), "frames.npy is truncated"),
        (lambda f: np.save(f, np.zeros((3, 84, 84), np.uint8)), "frames.npy has shape (3, 84, 84) uint8"),
        (lambda f: np.save(f, np.zeros(np.load(f).shape, np.float32)), "float32, expected"),
        (lambda f: np.save(f, np.asfortranarray(np.load(f))), "frames.npy is in Fortran order"),
        (lambda f: f.write_bytes(b"not a numpy file at all"), "damaged"),
    ],
    ids=["short", "shape", "dtype", "fortran", "foreign"],
)
def test_a_damaged_array_is_a_one_line_error(tmp_path, damage, words):
    memory = make_memory()
    fill(memory, 50)
    memory.save(tmp_path / "replay")
    damage(tmp_path / "replay" / "frames.npy")
    with pytest.raises(ValueError, match="damaged") as info:
        ReplayMemory.load(tmp_path / "replay")
    assert words in str(info.value) and "\n" not in str(info.value)


def test_damaged_and_foreign_directories_are_one_line_errors(tmp_path):
    memory = make_memory()
    fill(memory, 50)
    memory.save(tmp_path / "replay")
    with pytest.raises(ValueError, match="no replay memory"):
        ReplayMemory.load(tmp_path / "elsewhere")
    frames = tmp_path / "replay" / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:100])
    with pytest.raises(ValueError, match="damaged") as info:
        ReplayMemory.load(tmp_path / "replay")
    assert "\n" not in str(info.value)
    (tmp_path / "replay" / "header.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a dqnlib replay memory"):
        ReplayMemory.load(tmp_path / "replay")
