"""IQM, mean, human-normalized scores and stratified bootstrap intervals against direct
computations on synthetic scores."""

import itertools

import numpy as np
import pytest

from dqnlib import aggregate

rng = np.random.default_rng


def test_iqm_drops_the_lowest_and_highest_quarter_of_all_runs_pooled():
    assert aggregate.iqm({"a": [8, 1, 3, 2], "b": [7, 4, 6, 5]}) == pytest.approx(4.5)  # mean of 3..6
    assert aggregate.iqm({"a": [100, 0, 1], "b": [2, 3, -50]}) == pytest.approx(
        1.5
    )  # 6 runs: drop 1 each end
    scores = rng(0).normal(size=(3, 12))  # 3 games x 12 runs = 36 scores, a quarter is 9
    direct = np.mean(sorted(scores.ravel())[9:27])
    assert aggregate.iqm(dict(zip("abc", scores, strict=True))) == pytest.approx(direct)


def test_mean_weighs_every_game_the_same_whatever_its_number_of_runs():
    assert aggregate.mean({"a": [0.0, 0.0, 0.0], "b": [10.0]}) == pytest.approx(5.0)


def test_human_normalized_scores_use_the_published_references_in_any_spelling():
    np.testing.assert_allclose(aggregate.human_normalized("Breakout", [1.7, 30.5]), [0.0, 1.0])
    np.testing.assert_allclose(aggregate.human_normalized("ALE/Pong-v5", [-20.7, 14.6]), [0.0, 1.0])
    assert aggregate.reference_scores("MsPacmanNoFrameskip-v4") == aggregate.reference_scores("ms_pacman")
    games = ["Breakout", "Pong", "SpaceInvaders", "Seaquest", "MsPacman", "Enduro", "BeamRider", "Qbert"]
    assert all(aggregate.reference_scores(game) is not None for game in [*games, "Asterix", "Freeway"])
    assert len(aggregate.ATARI_REFERENCES) == 57
    assert all(random < human for random, human in aggregate.ATARI_REFERENCES.values())
    with pytest.raises(ValueError, match="CartPole-v1") as info:
        aggregate.human_normalized("CartPole-v1", [10.0])
    assert "\n" not in str(info.value)


def exact_bootstrap(scores: dict[str, list[float]], statistic) -> np.ndarray:
    """The statistic on every stratified resample, each equally likely: all ways to draw
    n_g of game g's n_g runs with replacement, for every game independently."""
    per_game = [list(itertools.product(runs, repeat=len(runs))) for runs in scores.values()]
    return np.array(
        [statistic(dict(zip(scores, combo, strict=True))) for combo in itertools.product(*per_game)]
    )


@pytest.mark.parametrize("statistic", [aggregate.iqm, aggregate.mean])
def test_bootstrap_interval_matches_the_exact_stratified_bootstrap_distribution(statistic):
    scores = {"a": [0.0, 1.0, 5.0], "b": [10.0, 20.0, 60.0, 70.0]}  # 27 x 256 = 6,912 resamples
    exact = exact_bootstrap(scores, statistic)
    point, low, high = aggregate.stratified_bootstrap_ci(scores, statistic, rng(1), reps=20_000)
    assert point == pytest.approx(statistic(scores))
    # The sampled endpoints sit at the 2.5% and 97.5% quantiles of the exact distribution.
    assert np.mean(exact < low) <= 0.025 + 0.006 and np.mean(exact <= low) >= 0.025 - 0.006
    assert np.mean(exact < high) <= 0.975 + 0.006 and np.mean(exact <= high) >= 0.975 - 0.006


def test_bootstrap_never_moves_runs_between_games():
    scores = {"low": [0.0, 0.0, 0.0], "high": [100.0, 100.0, 100.0]}
    for statistic in (aggregate.iqm, aggregate.mean):
        # Pooled resampling would mix 0s and 100s; within-game resampling cannot.
        assert aggregate.stratified_bootstrap_ci(scores, statistic, rng(0)) == (50.0, 50.0, 50.0)


def test_bootstrap_is_reproducible_and_checks_its_input():
    scores = {"a": rng(0).normal(size=5), "b": rng(1).normal(size=3)}
    first = aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(7), reps=500)
    assert first == aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(7), reps=500)
    assert first[1] < first[0] < first[2]
    with pytest.raises(ValueError, match="confidence"):
        aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(0), confidence=95)
    with pytest.raises(ValueError, match="at least one run"):
        aggregate.stratified_bootstrap_ci({"a": []}, aggregate.iqm, rng(0))
