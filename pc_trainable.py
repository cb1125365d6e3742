"""Prospective configuration (PC): infer the value nodes first, then consolidate them in the weights.

Notation (ARCHITECTURE.md): input s clamped; hidden value nodes x_l, l = 1..L-1; predictions
mu_l = W_l f(x_{l-1}) + b_l (mu_1 = W_1 s); output o = mu_L. With prediction errors
    eps_l = x_l - mu_l  (l < L),        eps_L = t - mu_L,
the energy of member m is  E = sum_l 0.5 * ||eps_l||^2, summed over units and over the batch, i.e. the
value-node energies plus the loss 0.5 * ||o - t||^2. All functions here are closed forms on packed
tensors ([M, B, n]); nothing uses autograd. The network is reached only through its layer
operations (`params.layer`, `params.back`, `params.gradients`), so any packed model providing them
runs the same inference.
"""
from dataclasses import dataclass, field, replace

import torch

from network import feedforward, output_errors, output_loss, per_member
from rules import Rule


@dataclass(frozen=True)
class PCSettings:
    """Inference hyper-parameters; `inference_lr` and `x_lr_discount` are per-member tensors [M]."""
    T: int
    inference_lr: torch.Tensor
    x_lr_discount: torch.Tensor
    update_p_at: frozenset   # inference steps (0..T-1) at which the weights are updated
    x_steps: int = None      # the value nodes move at steps 0..x_steps-1 (None: all but the last)
    discounting: bool = field(init=False)   # whether any member's gamma can change (else E_k is not needed)

    def __post_init__(self):   # read once here, so that pc_step never waits for the device
        object.__setattr__(self, "discounting", bool((self.x_lr_discount != 1).any()))


def update_steps(update_p_at, T):
    """Resolve the YAML's update_p_at ('last', 'all', a list of steps or {range: [start, stop(,
    step)]}) to a set of steps."""
    if update_p_at == "last":
        return frozenset([T - 1])
    if update_p_at == "all":
        return frozenset(range(T))
    if isinstance(update_p_at, dict):
        return frozenset(range(*update_p_at["range"]))
    return frozenset(update_p_at)


def settings_of(members, dtype, device):
    """PCSettings of a trial from its members' `pc` sections (T and update_p_at are shared)."""
    pc = members[0]["pc"]

    def per_member(key):
        return torch.tensor([m["pc"][key] for m in members], dtype=dtype, device=device)

    return PCSettings(T=pc["T"], inference_lr=per_member("inference_lr"),
                      x_lr_discount=per_member("x_lr_discount"),
                      update_p_at=update_steps(pc["update_p_at"], pc["T"]), x_steps=pc["freeze_x_at"])


def prediction_errors(params, s, xs, t, act, output_mask=None, mu_1=None):
    """Presynaptic activities a_{l-1}, errors eps_l for every layer l = 1..L, and the output residual.

    a_0 = s, a_l = f(x_l); eps_l = x_l - mu_l for hidden layers; at the output the residual is
    t - o and eps_L = -dLoss/dmu_L (the residual itself for a linear output, network.output_errors).
    mu_1 = W_1 s + b_1 does not change during inference (s is clamped), so a caller may pass it in
    and skip the widest matmul of every step.
    """
    acts = [s] + [act.f(x) for x in xs]
    if mu_1 is None:
        mu_1 = params.layer(0, s)
    mus = [mu_1] + [params.layer(l, a) for l, a in enumerate(acts[1:], 1)]
    residual, eps_out = output_errors(t, mus[-1], act, output_mask)
    return acts, [x - mu for x, mu in zip(xs, mus[:-1])] + [eps_out], residual


def energy(errors, residual):
    """E per member: sum over hidden layers and over batch and units of 0.5 * eps_l^2, plus the loss
    0.5 * ||t - o||^2 -> [M]."""
    return 0.5 * sum_of_squares(errors[:-1] + [residual])


def sum_of_squares(tensors):
    """The sum of the squares of every entry of `tensors` ([M, ...] each), per member -> [M], summed
    tensor by tensor in order (the order decides ties of E_k and E_(k-1) near convergence, hence the
    discounts: benchmarks/README.md)."""
    squares = [e.square().sum(dim=tuple(range(1, e.dim()))) for e in tensors]
    return sum(squares[1:], squares[0])   # not 0 + ...: one addition fewer


def value_gradients(params, xs, errors, act, acts=None):
    """dE/dx_l = eps_l - f'(x_l) * (eps_{l+1} W_{l+1}) for every hidden layer l = 1..L-1 (`acts`,
    the activities [s, f(x_1), ...] of prediction_errors, spare recomputing f where f' needs it)."""
    fxs = acts[1:] if acts is not None else [None] * len(xs)
    return [e - act.times_df(x, params.back(l, e_next), fx)
            for l, (x, fx, e, e_next) in enumerate(zip(xs, fxs, errors[:-1], errors[1:]), 1)]


def pc_step(params, optimizer, s, t, act, settings, output_mask=None, trace=None):
    """One PC training step on a batch: inference on the value nodes, then plasticity.

    x_l starts at the feed-forward prediction mu_l. For step k = 0..T-1: errors and E_k are computed at
    the current x; if k is an update step the weights take an optimizer step on dE/dW at that state;
    if k < x_steps (by default every step but the last) every x takes x <- x - gamma * dE/dx (with
    the same state's gradients), then, if E_k >= E_{k-1} (the energy did not decrease),
    gamma <- gamma * x_lr_discount for the following steps. gamma restarts at `inference_lr` for
    every batch. Returns the per-member loss before the update [M].
    """
    mus = feedforward(params, s, act)
    xs, mu_1 = [mu.clone() for mu in mus[:-1]], mus[0]   # the value nodes move in place
    gamma = settings.inference_lr.clone()
    gammas = [per_member(gamma, x) for x in xs]
    discount = settings.x_lr_discount
    kept = torch.ones_like(discount)
    previous = None
    x_steps = settings.T - 1 if settings.x_steps is None else min(settings.x_steps, settings.T - 1)
    for k in range(settings.T):
        if mu_1 is None:   # the first layer's weights changed at the previous step
            mu_1 = params.layer(0, s)
        acts, errors, residual = prediction_errors(params, s, xs, t, act, output_mask, mu_1)
        if trace is not None:
            trace(k, [x.clone() for x in xs], errors)
        if k == 0:
            loss = output_loss(residual)
        moves = k < x_steps
        x_grads = value_gradients(params, xs, errors, act, acts) if moves else None
        if k in settings.update_p_at:
            optimizer.step(params, params.gradients(acts, errors))
            mu_1 = None
        if moves:
            for x, g, gamma_x in zip(xs, x_grads, gammas):
                x.sub_(gamma_x * g)   # not addcmul_: its fused rounding would change every result
            if settings.discounting:
                current = sum_of_squares(errors[:-1] + [residual])   # 2 E_k: compared, the same order
                if previous is not None:
                    gamma.mul_(torch.where(current >= previous, discount, kept))
                previous = current
    return loss


def relaxed_state(params, s, t, act, settings, output_mask=None):
    """x+: the hidden state [x_1, ..., x_{L-1}] PC's inference reaches on (s, t) with the weights
    held fixed (the same inference as pc_step, without its weight updates)."""
    kept = {}

    def keep(k, xs, errors):
        kept["xs"] = xs
    pc_step(params, None, s, t, act, replace(settings, update_p_at=frozenset()), output_mask, keep)
    return kept["xs"]


RULE = Rule("pc", pc_step, settings_of, graphable=True, packable=("pc.inference_lr", "pc.x_lr_discount"),
            relaxed=relaxed_state)
