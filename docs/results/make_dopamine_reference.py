"""Rebuild dqnlib/data/dopamine_atari.json from a clone of google/dopamine (Apache-2.0).

Usage: python docs/results/make_dopamine_reference.py PATH_TO_DOPAMINE_CLONE [--iterations 200]

Each game's ``baselines/atari/data/<game>.json`` lists, per agent, one training return per run
and iteration (5 runs; an iteration is 250,000 agent steps = 1,000,000 frames, sticky actions
0.25, whole games, raw score). This keeps the mean, minimum and maximum over the runs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from collections import defaultdict
from pathlib import Path

GAMES = {"Breakout": "breakout", "Pong": "pong", "SpaceInvaders": "spaceinvaders", "Qbert": "qbert"}
AGENTS = ("DQN", "C51", "Rainbow", "IQN")
OUT = Path(__file__).resolve().parents[2] / "dqnlib" / "data" / "dopamine_atari.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dopamine", type=Path)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    commit = subprocess.check_output(
        ["git", "-C", str(args.dopamine), "rev-parse", "HEAD"], text=True
    ).strip()
    games = {}
    for name, stem in GAMES.items():
        text = subprocess.check_output(
            ["git", "-C", str(args.dopamine), "show", f"{commit}:baselines/atari/data/{stem}.json"], text=True
        )
        runs = defaultdict(lambda: defaultdict(list))
        for row in json.loads(text):
            if row["Agent"] in AGENTS and row["Iteration"] < args.iterations:
                runs[row["Agent"]][row["Iteration"]].append(float(row["Value"]))
        games[name] = {}
        for agent in AGENTS:
            iterations = sorted(runs[agent])
            if iterations != list(range(len(iterations))):
                raise SystemExit(f"{stem}.json: {agent} misses iterations")
            values = [runs[agent][i] for i in iterations]
            games[name][agent] = {
                "mean": [round(sum(v) / len(v), 2) for v in values],
                "min": [round(min(v), 2) for v in values],
                "max": [round(max(v), 2) for v in values],
                "runs": min(len(v) for v in values),
            }
    reference = {
        "source": f"https://github.com/google/dopamine/tree/{commit}/baselines/atari/data",
        "licence": "Apache-2.0; Copyright 2018 The Dopamine Authors",
        "what": (
            "Training returns of Dopamine's agents (Castro et al. 2018): mean raw score of the whole games "
            "played in each iteration of 250,000 agent steps (1,000,000 frames), sticky actions 0.25; "
            "mean, min and max over the runs, one entry per iteration from iteration 0"
        ),
        "agent_steps_per_iteration": 250_000,
        "games": games,
    }
    OUT.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
