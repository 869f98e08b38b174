"""How soon a learner's Q-values come to read the screen, on one fixed set of Breakout data.

Usage: python docs/results/offline_learners.py [--play 30000] [--updates 6000] [--every 2000]
       [--learners default,nature:glorot,nature,nature:fp32] [--seed 0]

One agent plays ``--play`` steps of uniformly random Breakout (the training environment, seed
``--seed``) into its replay memory. Each learner, named ``preset[:glorot][:fp32]`` (the preset's
optimizer and network; ``glorot``: Glorot-uniform initial weights and zero biases; ``fp32``:
float32 instead of bf16 autocast where this CPU has native bf16), then makes ``--updates``
updates on batches from that one memory, its sampler reseeded alike, without playing. Every
``--every`` updates the script prints, over 2,000 held-out states of random play (seed
``--seed`` + 1000, ``inspect_q_network.random_play``), the correlation of the learner's state
value (its Q-values' mean over actions) with the discounted clipped return the play then
collected until the life ended (gamma 0.99; a lost life ends a learning episode in both
presets), and in brackets the Q-values' standard deviation over the states. A network blind
to the screen has a correlation near 0; the reward ahead is partly visible (the ball's path to
the bricks), so a learner that reads the screen raises it.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from inspect_q_network import random_play

from dqnlib import DQNAgent, TrainConfig, make_config


def learner_config(name: str, seed: int, play: int) -> TrainConfig:
    """The config of a learner named ``preset[:glorot][:fp32]``, learning from step ``play``."""
    preset, *options = name.split(":")
    unknown = set(options) - {"glorot", "fp32"}
    if unknown:
        raise SystemExit(f"unknown learner option(s) {sorted(unknown)} in {name!r}; use glorot and/or fp32")
    try:
        return make_config(
            preset,
            seed=seed,
            replay_capacity=max(play, 1_000),
            learning_starts=play,
            torch_threads=1,
            weight_init="glorot" if "glorot" in options else "torch",
            precision="fp32" if "fp32" in options else "auto",
        )
    except ValueError as error:
        raise SystemExit(f"learner {name!r}: {error}") from None


def read_screen(agent: DQNAgent, states: np.ndarray, returns: np.ndarray) -> str:
    """``correlation (spread)``: of the state values with ``returns``, and the Q-values'
    standard deviation over the states (mean over actions)."""
    q = agent.q_values(states)  # (states, actions)
    correlation = np.corrcoef(q.mean(axis=1), returns)[0, 1]
    return f"{correlation:+.2f} ({q.std(axis=0).mean():.4f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--play", type=int, default=30_000)
    parser.add_argument("--updates", type=int, default=6_000)
    parser.add_argument("--every", type=int, default=2_000)
    parser.add_argument("--learners", default="default,nature:glorot,nature,nature:fp32")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.play < 32 or args.updates < 1 or not 1 <= args.every <= args.updates:
        raise SystemExit("need --play >= 32, --updates >= 1 and 1 <= --every <= --updates")
    torch.set_num_threads(1)
    configs = {name: learner_config(name, args.seed, args.play) for name in args.learners.split(",")}
    held_out, returns = random_play(2_000, args.seed + 1_000)
    held_out = held_out.numpy()
    player = DQNAgent(
        make_config(
            "nature", seed=args.seed, replay_capacity=args.play, learning_starts=args.play, epsilon_end=1.0
        )
    )
    player.train(args.play, progress_bar=False)
    memory = player.replay_memory
    checkpoints = list(range(0, args.updates + 1, args.every))
    print("| learner | " + " | ".join(f"{k:,} updates" for k in checkpoints) + " |")
    print("|---|" + "---:|" * len(checkpoints))
    for name, config in configs.items():
        agent = DQNAgent(config)
        memory.rng = np.random.default_rng(args.seed)
        cells = [read_screen(agent, held_out, returns)]
        sync_every = agent.config.target_update_interval // agent.config.train_frequency  # in updates
        for update in range(1, args.updates + 1):
            agent.learn(memory.sample(agent.config.batch_size))
            if update % sync_every == 0:
                agent.sync_target()
            if update % args.every == 0:
                cells.append(read_screen(agent, held_out, returns))
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        agent.close()
    player.close()


if __name__ == "__main__":
    main()
