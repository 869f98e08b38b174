"""Optimizer moments that decay into denormal floats are set to zero every few updates (an
optimizer step over denormal moments is many times slower: benchmarks/bench_denormals.py)."""

import numpy as np
import torch

import dqnlib.agent
from dqnlib import AtariDQNAgent
from dqnlib.denormals import zero_denormal_state


def denormal_count(optimizer: torch.optim.Optimizer) -> int:
    """Entries of the optimizer's state with a zero exponent and a nonzero fraction (float32)."""
    count = 0
    for state in optimizer.state.values():
        for value in state.values():
            if value.dim() > 0:
                bits = value.view(torch.int32)
                count += int((((bits & 0x7F800000) == 0) & ((bits & 0x007FFFFF) != 0)).sum())
    return count


def test_zero_denormal_state_zeroes_denormals_and_nothing_else():
    weight = torch.nn.Parameter(torch.zeros(6))
    optimizer = torch.optim.Adam([weight])
    weight.grad = torch.ones(6)
    optimizer.step()
    tiny = float(torch.finfo(torch.float32).tiny)
    values = torch.tensor([1e-40, -1e-40, tiny, -2 * tiny, 0.0, 0.5])
    optimizer.state[weight]["exp_avg_sq"].copy_(values)
    optimizer.state[weight]["exp_avg"].copy_(-values)
    step = optimizer.state[weight]["step"].clone()
    zero_denormal_state(optimizer)
    expected = torch.tensor([0.0, 0.0, tiny, -2 * tiny, 0.0, 0.5])
    assert torch.equal(optimizer.state[weight]["exp_avg_sq"], expected)
    assert torch.equal(optimizer.state[weight]["exp_avg"], -expected)
    assert torch.equal(optimizer.state[weight]["step"], step)


def test_the_agent_zeroes_its_optimizers_denormal_moments_every_sweep(monkeypatch):
    """Denormals planted in every second moment: the weights without a gradient keep theirs
    through an ordinary update and lose them in the update that sweeps."""
    monkeypatch.setattr(dqnlib.agent, "SWEEP_UPDATES", 4)
    agent = AtariDQNAgent(preset="tiny", seed=0, learning_starts=100, torch_threads=1)
    agent.train(300, progress_bar=False)  # past learning_starts: the moments exist
    while agent.counters.updates % 4 != 1:  # just past a sweep
        agent.learn(agent.replay_memory.sample(agent.config.batch_size))
    rng = np.random.default_rng(0)
    for state in agent.optimizer.state.values():
        moment = state["exp_avg_sq"]
        moment.copy_(torch.from_numpy(rng.integers(1, 500, moment.shape, dtype=np.int32)).view(torch.float32))
    for _ in range(2):  # updates 2 and 3: ordinary
        agent.learn(agent.replay_memory.sample(agent.config.batch_size))
    kept = denormal_count(agent.optimizer)
    agent.learn(agent.replay_memory.sample(agent.config.batch_size))  # update 4: the sweep's
    assert kept > 0 and denormal_count(agent.optimizer) == 0
