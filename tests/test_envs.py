import numpy as np
import pytest

import dqnlib
from dqnlib import AtariOptions

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
    for terminated, reward, info, observation in play_until_game_end(env, rng):
        lives.append(info["lives"])
        raw_total += info.get("raw_reward", 0.0)
        if terminated is None:  # reset after a lost life: same game, fresh stack
            after_life_loss.append((info["lives"], info["game_score"], observation))
        elif info["life_lost"] and not info["game_over"]:
            life_losses += 1
            assert terminated
    assert life_losses == 4  # Breakout has five lives; the fifth loss ends the game
    assert all(0 < lost_lives < 5 for lost_lives, _, _ in after_life_loss)
    assert all(not stack[:3].any() and stack[3].any() for _, _, stack in after_life_loss)
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
    single = dqnlib.make_env(game, **DETERMINISTIC)
    vector = dqnlib.make_vector_env(game, 1, **DETERMINISTIC)
    single_obs, _ = single.reset(seed=0)
    vector_obs, _ = vector.reset(seed=0)
    np.testing.assert_array_equal(single_obs, vector_obs[0])
    rng = np.random.default_rng(0)
    episode_over, episodes = False, 0
    for _ in range(1500):
        action = int(rng.integers(single.action_space.n))
        if episode_over:
            single_obs, _ = single.reset()
            episodes += 1
        else:
            single_obs, single_reward, terminated, truncated, _ = single.step(action)
        vector_obs, vector_reward, vector_terminated, vector_truncated, _ = vector.step(np.array([action]))
        np.testing.assert_array_equal(single_obs, vector_obs[0])
        if not episode_over:
            assert (single_reward, terminated, truncated) == (
                vector_reward[0],
                vector_terminated[0],
                vector_truncated[0],
            )
        episode_over = not episode_over and (terminated or truncated)
    assert episodes >= 1  # the comparison crossed an episode edge


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
