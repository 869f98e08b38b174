import numpy as np
import pytest

import dqnlib
from dqnlib import AtariOptions
from dqnlib.protocols import PROTOCOLS
from dqnlib.training import make_training_env

DETERMINISTIC = {"noop_max": 0, "sticky_action_probability": 0.0}


@pytest.mark.parametrize(
    "field, value",
    [
        ("stack_size", -1),
        ("stack_size", 0),
        ("frame_skip", 0),
        ("sticky_action_probability", 1.5),
        ("sticky_action_probability", -0.1),
        ("noop_max", -3),
        ("max_episode_frames", 0),
        ("screen_size", 4),
    ],
)
def test_bad_option_values_are_one_line_errors_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field) as info:
        AtariOptions(**{field: value})
    assert "\n" not in str(info.value)


def test_bad_option_types_and_keys():
    with pytest.raises(TypeError, match="frame_skip"):
        AtariOptions(frame_skip=4.0)
    with pytest.raises(TypeError, match="clip_rewards"):
        AtariOptions(clip_rewards="yes")
    with pytest.raises(TypeError, match="frameskip"):
        dqnlib.make_env("Breakout", frameskip=4)
    with pytest.raises(ValueError, match="did you mean Breakout"):
        dqnlib.make_vector_env("Breakot", 2)
    with pytest.raises(ValueError, match="num_envs"):
        dqnlib.make_vector_env("Breakout", 0)


def test_observation_layout():
    env = dqnlib.make_env("Breakout")
    observation, _ = env.reset(seed=0)
    assert observation.shape == (4, 84, 84) and observation.dtype == np.uint8
    assert env.render().shape == (210, 160, 3)
    vector = dqnlib.make_vector_env("Breakout", 3)
    observations, _ = vector.reset(seed=0)
    assert observations.shape == (3, 4, 84, 84) and observations.dtype == np.uint8
    # A new game's stack is padded with zero frames before its first frame.
    for stack in (observation, *observations):
        assert not stack[:3].any() and stack[3].any()


def play_until_game_end(env, rng, max_steps=20_000):
    """Random play through one whole game; yields each step's (terminated, reward, info, observation)."""
    env.reset(seed=int(rng.integers(1 << 30)))
    continuing = False
    for _ in range(max_steps):
        if continuing:
            observation, info = env.reset()
            yield None, 0.0, info, observation
        else:
            observation, reward, terminated, _truncated, info = env.step(
                int(rng.integers(env.action_space.n))
            )
            yield terminated, reward, info, observation
            if info["game_end"]:
                return
        continuing = not continuing and terminated
    raise AssertionError("the game did not end")


def test_life_loss_is_a_learning_terminal_while_the_game_goes_on():
    env = dqnlib.make_env("Breakout", clip_rewards=False)
    rng = np.random.default_rng(0)
    lives, raw_total, life_losses, after_life_loss = [], 0.0, 0, []
    last_observation = None
    for terminated, reward, info, observation in play_until_game_end(env, rng):
        lives.append(info["lives"])
        raw_total += info.get("raw_reward", 0.0)
        if terminated is None:  # reset after a lost life: the same game and the same frames
            after_life_loss.append((info["lives"], info["game_score"], observation))
            np.testing.assert_array_equal(observation, last_observation)
        elif info["life_lost"] and not info["game_over"]:
            life_losses += 1
            assert terminated
        last_observation = observation
    assert life_losses == 4  # Breakout has five lives; the fifth loss ends the game
    assert all(0 < lost_lives < 5 for lost_lives, _, _ in after_life_loss)
    assert all(stack[:3].any() for _, _, stack in after_life_loss)  # no fresh, zero-padded stack
    assert info["game_score"] == raw_total
    assert [score for _, score, _ in after_life_loss] == sorted(score for _, score, _ in after_life_loss)


def test_without_life_loss_terminals_only_the_game_end_terminates():
    env = dqnlib.make_env("Breakout", terminal_on_life_loss=False)
    rng = np.random.default_rng(1)
    outcomes = [
        (terminated, info["life_lost"], info["game_end"])
        for terminated, _, info, _ in play_until_game_end(env, rng)
    ]
    assert sum(life_lost for _, life_lost, _ in outcomes) == 5
    assert [terminated for terminated, _, _ in outcomes] == [game_end for _, _, game_end in outcomes]


def test_clipped_rewards_are_signs_of_raw_rewards():
    env = dqnlib.make_env("SpaceInvaders")
    rng = np.random.default_rng(2)
    pairs = [
        (reward, info["raw_reward"])
        for _, reward, info, _ in play_until_game_end(env, rng)
        if "raw_reward" in info
    ]
    assert any(raw > 1 for _, raw in pairs)
    assert all(reward == np.sign(raw) for reward, raw in pairs)


@pytest.mark.parametrize("game", ["Breakout", "Pong"])
def test_single_and_vector_environments_see_identical_observations(game):
    """A lost life resets nothing in either: the single env's reset() plays no step and the
    vector env's next step plays the agent's action; a game end resets both."""
    single = dqnlib.make_env(game, **DETERMINISTIC)
    vector = dqnlib.make_vector_env(game, 1, **DETERMINISTIC)
    single_obs, _ = single.reset(seed=0)
    vector_obs, _ = vector.reset(seed=0)
    np.testing.assert_array_equal(single_obs, vector_obs[0])
    rng = np.random.default_rng(0)
    game_over, life_lost, games, lives_lost = False, False, 0, 0
    for _ in range(1500):
        action = int(rng.integers(single.action_space.n))
        if game_over:
            single_obs, _ = single.reset()
            games += 1
        else:
            if life_lost:
                np.testing.assert_array_equal(single.reset()[0], single_obs)
                lives_lost += 1
            single_obs, single_reward, terminated, truncated, info = single.step(action)
        vector_obs, vector_reward, vector_terminated, vector_truncated, _ = vector.step(np.array([action]))
        np.testing.assert_array_equal(single_obs, vector_obs[0])
        if not game_over:
            assert (single_reward, terminated, truncated) == (
                vector_reward[0],
                vector_terminated[0],
                vector_truncated[0],
            )
        game_over = not game_over and info["game_end"]
        life_lost = terminated and not info["game_end"]
    assert games >= 1  # the comparison crossed a game's end
    assert lives_lost >= 1 or game == "Pong"  # and, in Breakout, a lost life


def rollout(seed: int, steps: int = 300) -> np.ndarray:
    env = dqnlib.make_vector_env("Breakout", 2)  # sticky actions and noop starts on
    observations, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    frames = [observations[:, -1].copy()]
    for _ in range(steps):
        observations, *_ = env.step(rng.integers(env.single_action_space.n, size=2))
        frames.append(observations[:, -1].copy())
    return np.stack(frames)


def test_same_seed_same_observations_run_after_run():
    np.testing.assert_array_equal(rollout(seed=3), rollout(seed=3))
    assert not np.array_equal(rollout(seed=3), rollout(seed=4))


def test_single_env_is_reproducible_with_sticky_actions_and_noops():
    def run(seed):
        env = dqnlib.make_env("Breakout")
        observation, _ = env.reset(seed=seed)
        frames = [observation]
        for action in np.random.default_rng(0).integers(4, size=200):
            observation, _, terminated, truncated, _ = env.step(int(action))
            frames.append(observation)
            if terminated or truncated:
                observation, _ = env.reset()
        return np.stack(frames)

    np.testing.assert_array_equal(run(7), run(7))


def test_step_async_then_wait_plays_the_same_game_as_step():
    """The training loop starts a step, updates the learner, then collects the step."""

    def play(split: bool) -> list:
        env = dqnlib.make_vector_env("Breakout", 2, sticky_action_probability=0.0)
        env.reset(seed=5)
        results = []
        for actions in np.random.default_rng(1).integers(4, size=(150, 2)):
            if split:
                env.step_async(actions)
                results.append(env.step_wait())
            else:
                results.append(env.step(actions))
        return results

    for (obs_a, rew_a, term_a, _, info_a), (obs_b, rew_b, term_b, _, info_b) in zip(
        play(split=False), play(split=True), strict=True
    ):
        np.testing.assert_array_equal(obs_a, obs_b)
        np.testing.assert_array_equal(rew_a, rew_b)
        np.testing.assert_array_equal(term_a, term_b)
        np.testing.assert_array_equal(info_a["game_score"], info_b["game_score"])


def test_step_async_and_step_wait_out_of_order_are_errors():
    env = dqnlib.make_vector_env("Breakout", 2)
    env.reset(seed=0)
    with pytest.raises(RuntimeError, match="no step is under way"):
        env.step_wait()
    env.step_async(np.zeros(2, dtype=np.int64))
    with pytest.raises(RuntimeError, match="already under way"):
        env.step_async(np.zeros(2, dtype=np.int64))
    env.reset(seed=0)  # collects the step under way, then resets
    observations, *_ = env.step(np.zeros(2, dtype=np.int64))
    assert observations.shape == (2, 4, 84, 84)


def _lives_lost_with_noops(env, steps: int) -> int:
    """Play NOOP only; the most lives any game lost (a reset after each terminal, as a loop would)."""
    vector = isinstance(env, dqnlib.AtariVectorEnv)
    _, info = env.reset(seed=0)
    start_lives = np.atleast_1d(info["lives"]).copy()
    most = 0
    for _ in range(steps):
        if vector:
            _, _, _, _, info = env.step(np.zeros(env.num_envs, dtype=np.int64))
        else:
            _, _, terminated, truncated, info = env.step(0)
            if terminated or truncated:
                assert not info["game_end"], "a NOOP-only game ended"
                env.reset()
        assert not np.any(info["game_end"])
        most = max(most, int(np.max(start_lives - np.atleast_1d(info["lives"]))))
    env.close()
    return most


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_noop_only_play_never_loses_a_second_life(protocol):
    """No environment presses FIRE for the agent after a lost life: with NOOP only, the ball
    is launched at most once (by the protocol's FIRE at game start), so at most one life goes."""
    options = PROTOCOLS[protocol].env_options
    config = dqnlib.make_config(protocol=protocol, num_envs=2)
    evaluation_options = {**options, "terminal_on_life_loss": False, "clip_rewards": False}
    envs = {
        "training, vector": make_training_env(config),
        "training, single": dqnlib.make_env("Breakout", **options),
        "evaluation, vector": dqnlib.make_vector_env("Breakout", 2, **evaluation_options),
        "evaluation, single": dqnlib.make_env("Breakout", **evaluation_options),
    }
    lost = {name: _lives_lost_with_noops(env, 1_500) for name, env in envs.items()}
    assert all(count <= 1 for count in lost.values()), lost
    if options["fire_reset"]:  # the launch at game start loses one life, which shows NOOPs were played
        assert all(count == 1 for count in lost.values()), lost


def test_vector_env_hands_the_emulator_exactly_the_chosen_actions():
    """Every action sent to ale-py's games is the agent's: after lost lives and game ends too."""
    env = dqnlib.make_vector_env("Breakout", 3, max_episode_frames=2_000, fire_reset=True)
    sent = []
    send = env.env.send
    env.env.send = lambda actions: (sent.append(np.array(actions)), send(actions))[1]
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    chosen, life_losses, game_ends = [], 0, 0
    for _ in range(1_500):
        actions = rng.integers(env.single_action_space.n, size=3)
        chosen.append(actions)
        *_, info = env.step(actions)
        life_losses += int((info["life_lost"] & ~info["game_end"]).sum())
        game_ends += int(info["game_end"].sum())
    env.close()
    assert life_losses >= 3 and game_ends >= 2  # the edges were crossed
    np.testing.assert_array_equal(np.stack(sent), np.stack(chosen))


def test_single_env_hands_the_emulator_exactly_the_chosen_actions():
    """Each step plays the chosen action on every skipped frame; a reset after a lost life plays none."""
    env = dqnlib.make_env("Breakout", max_episode_frames=2_000, fire_reset=True)
    ale = env.unwrapped.ale
    action_set = env.unwrapped._action_set
    played = []
    act = ale.act
    env.reset(seed=0)
    stepper = env.env.env  # _SkipMaxResize drives the emulator with ale.act
    stepper._ale = type("Spy", (), {})()
    for name in ("game_over", "game_truncated", "getScreenGrayscale", "lives", "getEpisodeFrameNumber"):
        setattr(stepper._ale, name, getattr(ale, name))
    stepper._ale.act = lambda code, strength=1.0: (played.append(code), act(code, strength))[1]
    rng = np.random.default_rng(0)
    life_losses, game_ends = 0, 0
    for _ in range(1_500):
        action = int(rng.integers(env.action_space.n))
        played.clear()
        _, _, terminated, _, info = env.step(action)
        assert played and set(played) == {action_set[action]}
        if info["game_end"]:
            game_ends += 1
            env.reset()
        elif terminated:
            life_losses += 1
            played.clear()
            env.reset()
            assert played == []
    assert life_losses >= 3 and game_ends >= 2


def _diverges(make, seeds=(0, 1), steps: int = 300) -> bool:
    """Whether two games seeded differently, fed the same actions, ever show different screens."""
    envs = [make() for _ in seeds]
    observations = [env.reset(seed=seed)[0] for env, seed in zip(envs, seeds, strict=True)]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        action = int(rng.integers(4))
        observations = [
            env.step(np.array([action]) if isinstance(env, dqnlib.AtariVectorEnv) else action)[0]
            for env in envs
        ]
        if not np.array_equal(observations[0], observations[1]):
            return True
    return False


@pytest.mark.parametrize("vector", [False, True])
def test_sticky_actions_are_in_force(vector):
    """With no noop starts the emulator is deterministic, so two seeds differ only through ALE's
    sticky-action draws: they must differ at 0.25 and must not at 0."""

    def make(probability):
        options = {"noop_max": 0, "sticky_action_probability": probability}
        return lambda: (
            dqnlib.make_vector_env("Breakout", 1, **options)
            if vector
            else dqnlib.make_env("Breakout", **options)
        )

    assert _diverges(make(0.25))
    assert not _diverges(make(0.0))


@pytest.mark.parametrize("action", [-1, 4, 20, True, 1.5, "1", None])
def test_an_action_outside_the_action_set_is_a_one_line_error(action):
    """Breakout's minimal set has 4 actions: -1 would silently play the last one, 20 fail deep
    in a list index, and a bool or a float pass for an index."""
    env = dqnlib.make_env("Breakout")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"must be an integer in \[0, 4\)") as info:
        env.step(action)
    assert "\n" not in str(info.value)
    for valid in (3, np.int64(3), np.array(3)):
        env.step(valid)
    env.close()
