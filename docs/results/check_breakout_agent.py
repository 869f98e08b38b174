"""Does a Breakout agent play on its own? Scores, frame-cap hits and idle time per protocol.

Usage: python docs/results/check_breakout_agent.py [--checkpoint checkpoints/breakout] [--games 30]

For each protocol it times ``agent.evaluate(games, protocol)`` (the vector environments, as the
CLI's ``evaluate`` plays), then replays the same number of games one by one in a single
environment to read the console's RAM: byte 101 holds the ball's height and is 0 while no ball
is in play (the agent has not served it). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import dqnlib
from dqnlib.episode import longest_stretch
from dqnlib.protocols import get_protocol

BALL_Y = 101  # Breakout's RAM: the ball's height, 0 while no ball is in play


def idle_statistics(
    agent: dqnlib.DQNAgent, protocol: str, games: int
) -> tuple[list[float], list[int], list[bool]]:
    """Per game: share of agent steps with no ball in play, the longest such stretch, and capped."""
    chosen = get_protocol(protocol)
    shares, longest, capped = [], [], []
    for seed in range(games):
        env = dqnlib.make_env(
            agent.config.game, terminal_on_life_loss=False, clip_rewards=False, **chosen.env_options
        )
        rng = np.random.default_rng(seed)
        observation, _ = env.reset(seed=seed)
        ale = env.unwrapped.ale
        waiting = []  # per agent step: no ball in play
        while True:
            action = int(agent.act(observation[None], chosen.epsilon, rng=rng)[0])
            observation, _, _, truncated, info = env.step(action)
            waiting.append(ale.getRAM()[BALL_Y] == 0)
            if info["game_end"]:
                break
        env.close()
        shares.append(float(np.mean(waiting)))
        longest.append(longest_stretch(np.array(waiting))[0])
        capped.append(bool(truncated and not info["game_over"]))
    return shares, longest, capped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="checkpoints/breakout")
    parser.add_argument("--games", type=int, default=30)
    args = parser.parse_args()
    agent = dqnlib.DQNAgent.load(args.checkpoint)
    print(
        f"{args.checkpoint}: {agent.counters.env_steps:,} environment steps, trained under {agent.config.protocol}"
    )
    print()
    print(
        "| protocol | epsilon | score: mean ± std [min, max] | games cut by the frame cap | "
        "steps with no ball in play | longest stretch (median) | evaluation time |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for protocol in ("nature", "machado"):
        started = time.perf_counter()
        result = agent.evaluate(args.games, protocol=protocol, seed=0)
        seconds = time.perf_counter() - started
        shares, longest, capped = idle_statistics(agent, protocol, args.games)
        scores = np.array(result.scores)
        print(
            f"| {protocol} | {result.epsilon} | {scores.mean():.1f} ± {scores.std():.1f} "
            f"[{scores.min():.0f}, {scores.max():.0f}] | {sum(result.capped)} of {args.games} "
            f"(replay: {sum(capped)}) | {100 * np.mean(shares):.1f}% | {int(np.median(longest))} steps "
            f"| {seconds:.0f} s |"
        )


if __name__ == "__main__":
    main()
