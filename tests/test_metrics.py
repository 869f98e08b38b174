"""metrics.csv: the columns' names, and runs begun under dqnlib 0.1's names."""

import numpy as np

from dqnlib.metrics import FIELDS, MetricsLogger, read_metrics

OLD_HEADER = "agent_step,episode,return,loss,epsilon,fps"


def test_a_run_begun_under_the_old_column_names_goes_on_under_the_new_ones(tmp_path):
    (tmp_path / "metrics.csv").write_text(f"{OLD_HEADER}\n96,1,2.0,nan,1.0,50.0\n")
    old = read_metrics(tmp_path / "metrics.csv")
    assert set(old) == set(FIELDS) and old["env_step"][0] == 96 and old["score"][0] == 2.0
    logger = MetricsLogger(tmp_path)
    logger.log_game(200, 2, 5.0, 0.1, 0.9, 60.0)
    logger.close()
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == ",".join(FIELDS) and len(lines) == 3
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
