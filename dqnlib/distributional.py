"""The distributional targets and losses: C51's categorical projection and cross-entropy
(Bellemare et al. 2017) and IQN's quantile Huber loss (Dabney et al. 2018).

Pure tensor functions; the agent (:meth:`dqnlib.agent.DQNAgent.learn`) chooses the actions
and feeds them the networks' outputs.
"""

from __future__ import annotations

import torch


def categorical_support(
    v_min: float, v_max: float, num_atoms: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The atoms z_i, (num_atoms,) float32, spread evenly over [v_min, v_max]."""
    return torch.linspace(v_min, v_max, num_atoms, dtype=torch.float32, device=device)


def project_categorical(
    probabilities: torch.Tensor, rewards: torch.Tensor, discounts: torch.Tensor, support: torch.Tensor
) -> torch.Tensor:
    """Project the distribution of ``rewards + discounts * Z`` back onto ``support``.

    Bellemare et al. (2017), Algorithm 1: each shifted atom ``r + d z_j`` is clipped into
    [v_min, v_max] and its probability split between the two atoms around it, in proportion to
    closeness. Written as one weight per pair of atoms, ``max(0, 1 - |T z_j - z_i| / delta_z)``,
    as Dopamine does; it has no special case for an atom that lands exactly on another.

    Args:
        probabilities: (B, N) float32, the next state's distribution p_j for the chosen action.
        rewards: (B,) float32, the (n-step) discounted reward sum.
        discounts: (B,) float32, gamma**n, 0 where the transition ended its episode.
        support: (N,) float32, evenly spaced atoms z.
    Returns:
        (B, N) float32 target probabilities m_i (each row sums to 1).
    """
    v_min, v_max = float(support[0]), float(support[-1])
    delta = (v_max - v_min) / (len(support) - 1)
    shifted = (rewards[:, None] + discounts[:, None] * support[None, :]).clamp(v_min, v_max)  # (B, N_j)
    closeness = 1.0 - (shifted[:, None, :] - support[None, :, None]).abs() / delta  # (B, N_i, N_j)
    return (closeness.clamp(min=0.0) * probabilities[:, None, :]).sum(dim=2)  # (B, N_i)


def quantile_huber_loss(
    quantiles: torch.Tensor, targets: torch.Tensor, taus: torch.Tensor, kappa: float
) -> torch.Tensor:
    """IQN's loss per transition (Dabney et al. 2018, eq. 3), Dopamine's reduction.

    ``rho(u) = |tau - 1{u < 0}| * Huber_kappa(u) / kappa`` for every pair of a predicted
    quantile and a target sample, ``u = target_j - quantile_i``; summed over the N predicted
    quantiles and averaged over the N' target samples.

    Args:
        quantiles: (B, N) float32, the online network's values at fractions ``taus``.
        targets: (B, N') float32, target samples ``r + gamma**n * Z_tau'`` (no gradient).
        taus: (B, N) float32 fractions in [0, 1].
        kappa: the Huber threshold (> 0).
    Returns:
        (B,) float32 losses.
    """
    errors = targets[:, None, :] - quantiles[:, :, None]  # (B, N, N')
    magnitudes = errors.abs()
    huber = torch.where(magnitudes <= kappa, 0.5 * errors.square(), kappa * (magnitudes - 0.5 * kappa))
    asymmetry = (taus[:, :, None] - (errors.detach() < 0).float()).abs()  # (B, N, N')
    return (asymmetry * huber / kappa).sum(dim=1).mean(dim=1)
