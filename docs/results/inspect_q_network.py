"""What a Breakout Q-network has learned: does it tell the screens apart?

Usage: python docs/results/inspect_q_network.py CHECKPOINT [CHECKPOINT ...] [--states 3000]

Each CHECKPOINT is a run checkpoint directory (its ``model.pt`` is read; the replay memory is
not loaded). The states are ``--states`` steps of uniformly random play in ``make_env("Breakout")``
(seed 0). Prints, per checkpoint, each action's mean Q-value and its standard deviation over
the states, the correlation of the state value (the mean over actions) with the discounted
return that the random play then collected until the life ended (near 0 for a network blind to
the screen), the share of states in which each action is greedy, and each weight matrix's norm;
then the same Q-values under bf16 autocast (the training loop's precision on a CPU with native
bf16): how far they are from float32's, and in what share of the states both pick one action.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

import dqnlib
from dqnlib.checkpoint import read_state
from dqnlib.networks import NatureQNetwork

GAMMA = 0.99


def random_play(count: int, seed: int = 0) -> tuple[torch.Tensor, np.ndarray]:
    """``count`` states (count, 4, 84, 84) uint8 of uniformly random Breakout play
    (``make_env("Breakout")``, ``seed``) and each state's discounted clipped return (count,)
    float64 that the play then collected until the life ended (gamma 0.99); the last life's
    return is cut at the end of the play."""
    env = dqnlib.make_env("Breakout")
    rng = np.random.default_rng(seed)
    observation, info = env.reset(seed=seed)
    states, rewards, life_ends = [], [], []
    for _ in range(count):
        states.append(observation)
        lives = info["lives"]
        observation, reward, terminated, truncated, info = env.step(int(rng.integers(env.action_space.n)))
        rewards.append(np.sign(reward))
        life_ends.append(terminated or truncated or info["lives"] < lives)
        if terminated or truncated:
            observation, info = env.reset()
    env.close()
    returns = np.zeros(count)
    ahead = 0.0
    for k in reversed(range(count)):
        ahead = rewards[k] + (0.0 if life_ends[k] else GAMMA * ahead)
        returns[k] = ahead
    return torch.from_numpy(np.stack(states)), returns


def initial_weights(path: Path) -> dict[str, torch.Tensor]:
    """The online network's weights as the run of checkpoint ``path`` started them: a new agent
    for the checkpoint's config (same seed and ``weight_init``; a small replay memory, which
    the network's initialization does not depend on)."""
    config = dqnlib.TrainConfig.from_saved(read_state(path)["config"])
    small = dataclasses.replace(config, replay_capacity=1_000, learning_starts=1_000, num_envs=1)
    return dqnlib.DQNAgent(small).online.state_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--states", type=int, default=3_000)
    args = parser.parse_args()
    states, returns = random_play(args.states)
    for path in args.checkpoints:
        weights = torch.load(path / "model.pt", map_location="cpu", weights_only=True)["online"]
        network = NatureQNetwork(weights["head.2.weight"].shape[0])
        network.load_state_dict(weights)
        with torch.no_grad():
            q = network(states).float()  # (states, actions)
            with torch.autocast("cpu", dtype=torch.bfloat16):
                q_bf16 = network(states).float()
        greedy = np.bincount(q.argmax(1).numpy(), minlength=q.shape[1]) / len(q)
        print(path)
        print("  mean Q per action:     ", np.round(q.mean(0).numpy(), 3))
        print("  std of Q over states:  ", np.round(q.std(0).numpy(), 4))
        correlation = np.corrcoef(q.mean(1).numpy(), returns)[0, 1]
        print(f"  correlation of the mean Q with the return ahead: {correlation:+.2f}")
        print("  share greedy per action:", np.round(greedy, 3))
        norms = {name: round(float(w.norm()), 2) for name, w in weights.items() if name.endswith("weight")}
        print("  weight norms:          ", norms)
        start = initial_weights(path)
        moved = {
            name: round(float((w - start[name]).norm() / start[name].norm()), 3)
            for name, w in weights.items()
            if name.endswith("weight")
        }
        print("  moved from the start:  ", moved)
        error = (q_bf16 - q).pow(2).mean(0).sqrt()
        agree = float((q_bf16.argmax(1) == q.argmax(1)).float().mean())
        print("  bf16 error, rms:       ", np.round(error.numpy(), 4))
        print(f"  bf16 and float32 greedy action agree in {agree:.1%} of the states")


if __name__ == "__main__":
    main()
