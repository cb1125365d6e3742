"""Target propagation (TP) for linear networks: layer targets by the pseudo-inverse of each weight
matrix, then a delta-rule step of every layer toward its target.

With our sign convention (errors are target minus output): eps_L = t - o, and going down,
eps_l = eps_{l+1} pinv(W_{l+1})^T with the pre-update weights, i.e. the change of layer l's activity
that would make layer l+1 produce its target. Every layer then steps at once on the local gradient
-eps_l^T a_{l-1} of the feed-forward activities a (the same `params.gradients` as PC and BP). With one
layer TP is BP; for a square invertible W_{l+1} the output moves along t - o to first order.
"""
import torch

from network import feedforward, output_errors
from rules import Rule, feedforward_step, no_settings


def tp_errors(params, s, t, act, output_mask=None):
    """Feed-forward activities a_{l-1}, target-propagated errors eps_l for every layer l = 1..L, and
    the output residual t - o."""
    mus = feedforward(params, s, act)
    acts = [s] + [act.f(mu) for mu in mus[:-1]]
    residual, eps_out = output_errors(t, mus[-1], act, output_mask)
    errors = [eps_out]
    for l in range(len(mus) - 1, 0, -1):
        errors.insert(0, torch.matmul(errors[0], torch.linalg.pinv(params.weights[l]).transpose(1, 2)))
    return acts, errors, residual


def tp_step(params, optimizer, s, t, act, settings=None, output_mask=None, trace=None):
    """One TP step on a batch; returns the loss 0.5 * sum((o - t)^2) before the update [M]."""
    return feedforward_step(tp_errors, params, optimizer, s, t, act, output_mask, trace)


RULE = Rule("tp", tp_step, no_settings)
