"""metrics.csv: the columns' names, and runs begun under dqnlib 0.1's names."""

import csv

import numpy as np
import pytest

from dqnlib.metrics import FIELDS, MetricsLogger, read_metrics

OLD_HEADER = "agent_step,episode,return,loss,epsilon,fps"


def test_a_run_begun_under_the_old_column_names_goes_on_under_the_new_ones(tmp_path):
    with open(tmp_path / "metrics.csv", "w", newline="") as file:  # as dqnlib 0.1 wrote it
        csv.writer(file).writerows([OLD_HEADER.split(","), [96, 1, 2.0, "nan", 1.0, 50.0]])
    old = read_metrics(tmp_path / "metrics.csv")
    assert set(old) == set(FIELDS) and old["env_step"][0] == 96 and old["score"][0] == 2.0
    logger = MetricsLogger(tmp_path, env_steps=200)  # resumed at step 200
    logger.log_game(200, 2, 5.0, 0.1, 0.9, 60.0)
    logger.close()
    content = (tmp_path / "metrics.csv").read_bytes()
    assert content.startswith(",".join(FIELDS).encode() + b"\r\n") and content.count(b"\r\n") == 3
    metrics = read_metrics(tmp_path / "metrics.csv")
    np.testing.assert_array_equal(metrics["env_step"], [96, 200])
    np.testing.assert_array_equal(metrics["game"], [1, 2])
    np.testing.assert_array_equal(metrics["score"], [2.0, 5.0])


def test_a_new_run_writes_the_header_once(tmp_path):
    logger = MetricsLogger(tmp_path)
    for game in (1, 2):
        logger.log_game(100 * game, game, 1.0, 0.5, 0.5, 10.0)
    logger.close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(FIELDS) and len(lines) == 3


def test_games_played_after_the_newest_checkpoint_move_aside_on_resume(tmp_path, caplog):
    """A process killed after its checkpoint at step 300 had logged a game at step 300 or later;
    the resumed run plays those steps again."""
    logger = MetricsLogger(tmp_path)
    for game, step in enumerate((96, 296, 300, 350), start=1):
        logger.log_game(step, game, float(game), 0.5, 0.5, 10.0)
    logger.close()
    MetricsLogger(tmp_path, env_steps=300).close()
    np.testing.assert_array_equal(read_metrics(tmp_path / "metrics.csv")["env_step"], [96, 296])
    np.testing.assert_array_equal(read_metrics(tmp_path / "metrics_dropped.csv")["env_step"], [300, 350])
    assert "2 game(s) played at or after step 300" in caplog.text


@pytest.mark.parametrize(
    "distributional, tag", [("none", "huber"), ("c51", "cross_entropy"), ("iqn", "quantile_huber")]
)
def test_the_loss_is_named_for_what_each_variant_minimises(tmp_path, distributional, tag):
    from dqnlib import DQNAgent, make_config

    agent = DQNAgent(make_config("cartpole", distributional=distributional, log_every=10), run_dir=tmp_path)
    agent.train(20, progress_bar=False)
    assert agent.loop.metrics.loss_tag == f"loss/{tag}"
    agent.close()
