"""IQM, mean, human-normalized scores and stratified bootstrap intervals (rliable) against
computations by hand on synthetic scores."""

import itertools
import subprocess
import sys

import numpy as np
import pytest

from dqnlib import aggregate

rng = np.random.default_rng


def hand_iqm(scores: dict[str, list[float]]) -> float:
    """All runs pooled and sorted; floor(n / 4) dropped at each end; the rest averaged."""
    pooled = sorted(itertools.chain(*scores.values()))
    cut = len(pooled) // 4
    return float(np.mean(pooled[cut : len(pooled) - cut]))


def hand_mean(scores: dict[str, list[float]]) -> float:
    return float(np.mean([np.mean(runs) for runs in scores.values()]))


def test_iqm_drops_the_lowest_and_highest_quarter_of_all_runs_pooled():
    assert aggregate.iqm({"a": [8, 1, 3, 2], "b": [7, 4, 6, 5]}) == pytest.approx(4.5)  # mean of 3..6
    assert aggregate.iqm({"a": [100, 0, 1], "b": [2, 3, -50]}) == pytest.approx(
        1.5
    )  # 6 runs: drop 1 each end
    assert aggregate.iqm({"a": [100, 0, 1], "b": [2]}) == pytest.approx(1.5)  # unequal runs: 4 pooled
    scores = rng(0).normal(size=(3, 12))  # 3 games x 12 runs = 36 scores, a quarter is 9
    direct = np.mean(sorted(scores.ravel())[9:27])
    assert aggregate.iqm(dict(zip("abc", scores, strict=True))) == pytest.approx(direct)


def test_mean_weighs_every_game_the_same_whatever_its_number_of_runs():
    assert aggregate.mean({"a": [0.0, 0.0, 0.0], "b": [10.0]}) == pytest.approx(5.0)
    assert aggregate.mean({"a": [1.0, 3.0], "b": [10.0, 30.0]}) == pytest.approx(11.0)


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


def exact_bootstrap(scores: dict[str, list[float]], by_hand) -> np.ndarray:
    """The statistic on every stratified resample, each equally likely: all ways to draw
    n_g of game g's n_g runs with replacement, for every game independently."""
    per_game = [list(itertools.product(runs, repeat=len(runs))) for runs in scores.values()]
    return np.array(
        [by_hand(dict(zip(scores, combo, strict=True))) for combo in itertools.product(*per_game)]
    )


@pytest.mark.parametrize("statistic, by_hand", [(aggregate.iqm, hand_iqm), (aggregate.mean, hand_mean)])
def test_bootstrap_interval_matches_the_exact_stratified_bootstrap_distribution(statistic, by_hand):
    scores = {"a": [0.0, 1.0, 5.0], "b": [10.0, 20.0, 60.0, 70.0]}  # 27 x 256 = 6,912 resamples
    exact = exact_bootstrap(scores, by_hand)
    point, low, high = aggregate.stratified_bootstrap_ci(scores, statistic, rng(1), reps=10_000)
    assert point == pytest.approx(by_hand(scores))
    assert low <= point <= high
    # The sampled endpoints sit at the 2.5% and 97.5% quantiles of the exact distribution
    # (0.008 is five standard errors of a quantile's level from 10,000 replicates).
    assert np.mean(exact < low) <= 0.025 + 0.008 and np.mean(exact <= low) >= 0.025 - 0.008
    assert np.mean(exact < high) <= 0.975 + 0.008 and np.mean(exact <= high) >= 0.975 - 0.008


def test_bootstrap_never_moves_runs_between_games():
    scores = {"low": [0.0, 0.0, 0.0], "high": [100.0, 100.0, 100.0]}
    for statistic in (aggregate.iqm, aggregate.mean):
        # Pooled resampling would mix 0s and 100s; within-game resampling cannot.
        assert aggregate.stratified_bootstrap_ci(scores, statistic, rng(0)) == (50.0, 50.0, 50.0)


def _global_state() -> tuple[bytes, tuple]:
    state = np.random.get_state()
    return state[1].tobytes(), state[2:]


def test_bootstrap_follows_its_rng_alone_and_leaves_the_callers_np_random_as_it_was():
    scores = {"a": rng(0).normal(size=5), "b": rng(1).normal(size=3)}
    first = aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(7), reps=500)
    assert first[1] < first[0] < first[2]
    np.random.random(3)  # the caller draws from np.random between two calls...
    before = _global_state()
    assert aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(7), reps=500) == first  # ...no matter
    assert _global_state() == before
    assert aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(8), reps=500) != first


def test_bootstrap_checks_its_input():
    scores = {"a": [1.0, 2.0], "b": [3.0]}
    with pytest.raises(ValueError, match="confidence"):
        aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(0), confidence=95)
    with pytest.raises(ValueError, match="reps"):
        aggregate.stratified_bootstrap_ci(scores, aggregate.iqm, rng(0), reps=0)
    with pytest.raises(ValueError, match="at least one run"):
        aggregate.stratified_bootstrap_ci({"a": []}, aggregate.iqm, rng(0))


def test_rliable_is_imported_only_for_statistics_and_its_absence_names_the_extra():
    code = (
        "import sys\n"
        "sys.modules['rliable'] = None  # as if not installed\n"
        "import dqnlib\n"
        "from dqnlib import aggregate\n"
        "print(aggregate.human_normalized('Breakout', [30.5])[0])\n"
        "try:\n"
        "    aggregate.iqm({'a': [1.0]})\n"
        "except ImportError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines() == [
        "1.0",
        "MissingExtra rliable is not installed; pip install 'dqnlib[sweep]'",
    ]
