"""Dopamine's published curves and dqnlib's figure at the same steps, in the report."""

import csv
import json

import numpy as np
import pytest

from dqnlib import make_config
from dqnlib.published import dopamine_curves, dopamine_source, training_return_per_iteration
from dqnlib.report import _plot_curves, collect_runs, write_report


def test_reference_data_holds_the_four_games_and_agents_with_its_source():
    for game in ("Breakout", "ALE/Pong-v5", "SpaceInvaders", "Qbert"):
        curves = dopamine_curves(game)
        assert set(curves) == {"DQN", "C51", "Rainbow", "IQN"}
        dqn = curves["DQN"]
        assert dqn.runs == 5 and dqn.end_steps[0] == 250_000 and np.all(np.diff(dqn.end_steps) == 250_000)
        assert np.all(dqn.low <= dqn.mean) and np.all(dqn.mean <= dqn.high)
    assert dopamine_curves("CartPole-v1") == {}
    assert "google/dopamine" in dopamine_source() and "Apache-2.0" in dopamine_source()


def test_per_iteration_means_count_games_by_the_window_they_ended_in():
    steps = np.array([100, 250_000, 250_001, 499_999, 600_000, 760_000])
    returns = np.array([1.0, 3.0, 10.0, 20.0, 7.0, 9.0])
    ends, means, games = training_return_per_iteration(steps, returns, reached=760_000)
    # The third window (500k-750k) is complete; the fourth is not, so its game is left out.
    np.testing.assert_array_equal(ends, [250_000, 500_000, 750_000])
    np.testing.assert_allclose(means, [2.0, 15.0, 7.0])
    np.testing.assert_array_equal(games, [2, 2, 1])
    ends, means, games = training_return_per_iteration(np.array([300_000]), np.array([5.0]), reached=510_000)
    assert np.isnan(means[0]) and games[0] == 0 and means[1] == 5.0


def _write_run(directory, scores_by_window, reached, protocol="machado"):
    """A finished run in ``directory`` (``.../<game>/<variant>/seed<k>``)."""
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(make_config(protocol=protocol).to_dict()))
    with open(directory / "metrics.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["env_step", "game", "score", "loss", "epsilon", "env_steps_per_s"])
        game = 0
        for window, scores in enumerate(scores_by_window):
            for i, score in enumerate(scores):
                game += 1
                writer.writerow([window * 250_000 + 1_000 * (i + 1), game, score, 0.1, 0.01, 300.0])
    final = {
        "game": "Breakout",
        "variant": directory.parent.name,
        "seed": 0,
        "env_steps": reached,
        "protocol": "machado",
        "epsilon": 0.001,
        "scores": [10.0],
        "mean": 10.0,
    }
    (directory / "final.json").write_text(json.dumps(final))


def test_report_puts_each_window_beside_dopamine_at_the_same_steps(tmp_path):
    dqn = dopamine_curves("Breakout")["DQN"].mean
    # Window 1 above Dopamine DQN's first iteration, window 2 below its second.
    _write_run(tmp_path / "Breakout" / "double" / "seed0", [[dqn[0] + 1] * 4, [dqn[1] - 1] * 2], 500_000)
    report = write_report(tmp_path, reps=50).read_text()
    assert "## Beside Dopamine's published training curves" in report
    rows = [line for line in report.splitlines() if line.startswith("| Breakout | double |")]
    assert len(rows) == 2
    assert rows[0].startswith(
        f"| Breakout | double | 250,000 | {dqn[0] + 1:.1f} (1 seeds, 4 games) | {dqn[0]:.1f} "
    )
    assert rows[0].endswith("DQN yes, IQN no |") and "DQN no" in rows[1]
    assert "Left out" not in report


@pytest.mark.parametrize("variant, agent", [("c51", "C51"), ("rainbow", "Rainbow"), ("iqn", "IQN")])
def test_report_compares_each_variant_with_dopamine_s_agent_of_its_kind(tmp_path, variant, agent):
    own = dopamine_curves("Breakout")[agent].mean
    _write_run(tmp_path / "Breakout" / variant / "seed0", [[own[0] + 1] * 4], 250_000)
    report = write_report(tmp_path, reps=50).read_text()
    (row,) = [line for line in report.splitlines() if line.startswith(f"| Breakout | {variant} |")]
    verdicts = row.rsplit("|", 2)[1].strip()
    assert verdicts.startswith(f"{agent} yes") and "DQN" not in verdicts
    assert verdicts == f"{agent} yes" or verdicts.endswith(("IQN yes", "IQN no"))


@pytest.mark.parametrize(
    "variant, references",
    [("double", ["Dopamine DQN", "Dopamine IQN"]), ("c51", ["Dopamine C51", "Dopamine IQN"])],
)
def test_the_curves_draw_dopamine_s_agent_of_the_variant_s_kind_and_iqn(tmp_path, variant, references):
    _write_run(tmp_path / "Breakout" / variant / "seed0", [[3.0] * 4, [4.0] * 4], 500_000)
    figure = _plot_curves(collect_runs(tmp_path), ["Breakout"], [variant])
    labels = [
        line.get_label() for line in figure.axes[0].get_lines() if line.get_label().startswith("Dopamine")
    ]
    assert [label.split(" (")[0] for label in labels] == references


def test_report_leaves_runs_of_another_protocol_out_of_the_dopamine_comparison(tmp_path):
    _write_run(tmp_path / "Breakout" / "double" / "seed0", [[5.0] * 4], 250_000)
    _write_run(tmp_path / "Breakout" / "double" / "seed1", [[50.0] * 4], 250_000, protocol="nature")
    report = write_report(tmp_path, reps=50).read_text()
    assert "| Breakout | double | 250,000 | 5.0 (1 seeds, 4 games)" in report
    assert "Left out (not trained under `machado`): Breakout/double/seed1." in report
    assert (tmp_path / "curves.png").stat().st_size > 10_000


def test_report_orders_variants_the_same_way_every_time(tmp_path):
    for variant in ("zeta", "rainbow", "alpha", "double"):
        _write_run(tmp_path / "Breakout" / variant / "seed0", [[5.0] * 4], 250_000)
    report = write_report(tmp_path, reps=50).read_text()
    assert "variants double, rainbow, alpha, zeta;" in report  # dqnlib's own first, then by name


def test_report_ignores_a_final_json_without_its_protocol_with_a_warning(tmp_path, caplog):
    run = tmp_path / "Breakout" / "double" / "seed0"
    _write_run(run, [[2.0] * 3], 250_000)
    final = json.loads((run / "final.json").read_text())
    del final["protocol"]
    (run / "final.json").write_text(json.dumps(final))
    report = write_report(tmp_path, reps=50).read_text()
    assert "0 finished with a final evaluation" in report and "Breakout/double/seed0" in report
    assert "field 'protocol' is missing" in caplog.text


def test_a_metrics_csv_without_its_columns_is_one_line(tmp_path):
    from dqnlib.metrics import read_metrics

    (tmp_path / "metrics.csv").write_text("step,score\n1,2\n")
    with pytest.raises(ValueError, match="has no column 'env_step'"):
        read_metrics(tmp_path / "metrics.csv")
    (tmp_path / "metrics.csv").write_text("agent_step,return\n1,two\n")
    with pytest.raises(ValueError, match="not a number"):
        read_metrics(tmp_path / "metrics.csv")
