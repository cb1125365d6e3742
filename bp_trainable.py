"""Backpropagation (BP): one forward pass, one backward pass, one optimizer step per batch (or
`bp.steps` of them, e.g. to match PC updating the weights at every inference step).

The same packed networks as PC (network.py), with no value nodes; the weight gradients are the same
local products of errors and presynaptic activities (`params.gradients`), fed BP's errors.
"""
from dataclasses import dataclass

from network import feedforward, output_errors
from rules import Rule, feedforward_step


def backprop_errors(params, s, t, act, output_mask=None):
    """Presynaptic activities a_{l-1}, backpropagated errors for every layer l = 1..L, and the output
    residual t - o.

    eps_L = -dLoss/dmu_L (t - o for a linear output) and eps_l = f'(mu_l) * (eps_{l+1} W_{l+1}), so
    -eps_l^T a_{l-1} is dLoss/dW_l for Loss = 0.5 * sum((o - t)^2): the same local gradients serve
    both rules.
    """
    mus = feedforward(params, s, act)
    acts = [s] + [act.f(mu) for mu in mus[:-1]]
    residual, eps_out = output_errors(t, mus[-1], act, output_mask)
    errors = [eps_out]
    for l in range(len(mus) - 1, 0, -1):
        errors.insert(0, act.times_df(mus[l - 1], params.back(l, errors[0]), acts[l]))
    return acts, errors, residual


@dataclass(frozen=True)
class BPSettings:
    steps: int = 1   # weight steps per batch, each a forward, a backward and an optimizer step


def settings_of(members, dtype, device):
    """BPSettings of a trial from its members' `bp` section (shared)."""
    return BPSettings(steps=members[0]["bp"]["steps"])


def bp_step(params, optimizer, s, t, act, settings=None, output_mask=None, trace=None):
    """`settings.steps` (default 1) times: one forward, one backward, one optimizer step on the
    batch. Returns the loss before the first update [M]."""
    loss = feedforward_step(backprop_errors, params, optimizer, s, t, act, output_mask, trace)
    for _ in range(1, settings.steps if settings else 1):
        feedforward_step(backprop_errors, params, optimizer, s, t, act, output_mask)
    return loss


RULE = Rule("bp", bp_step, settings_of, graphable=True)
