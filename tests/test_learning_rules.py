"""Tests of the learning rules (PC and BP), the optimizers and the packed run, grouped by oracle.

Oracles, in order:
  1. hand derivations on the 1-1-2 linear network of Fig. 3a (derivations in the comments);
  2. torch.autograd of the energy / loss, written here independently in plain torch;
  3. an independent autograd + torch.optim.SGD implementation of the whole PC step;
  4. torch.optim.SGD / torch.optim.Adam for the optimizers and the BP step;
  5. limits in which PC equals (or approaches) BP;
  6. packed members == the same members trained alone (engine.train);
  7. mutations of the rules that the comparisons above must catch;
  8. divergence of one packed member leaves the others untouched.

Everything runs in float64 so that the comparisons can be tight.
"""
import math

import numpy as np
import pytest
import torch

import bp_trainable as bpt
from config_errors import validate
import engine
import network
import optim
import pc_trainable as pct
from schema import SupervisedConfig
from test_fused import compiled_pc_step, kernel_pc_step

DT = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)
# The PC tests with hand derivations and the autograd oracle run on every path: the plain pc_step
# (the reference) and the fused one (fused.py; it runs pc_step where it does not apply) on its compiled
# loop and on its C kernel (dense_kernel.py).
PC_STEPS = pytest.mark.parametrize("pc_step", [pct.pc_step, compiled_pc_step, kernel_pc_step],
                                   ids=["plain", "compiled", "kernel"])

# Activations written independently of network.ACTIVATIONS (autograd supplies the derivatives).
ORACLE_F = {
    "identity": lambda x: x,
    "tanh": lambda x: (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x)),
    "sigmoid": lambda x: 1 / (1 + torch.exp(-x)),
    "leaky_relu": lambda x: torch.where(x > 0, x, 0.01 * x),
    "relu": lambda x: torch.where(x > 0, x, torch.zeros_like(x)),
}
ACT_NAMES = list(ORACLE_F)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------
def random_params(sizes, M, bias, seed, scale=0.8):
    g = torch.Generator().manual_seed(seed)
    weights = [scale * torch.randn(M, o, i, generator=g, dtype=DT) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [0.5 * torch.randn(M, 1, o, generator=g, dtype=DT) if bias else None for o in sizes[1:]]
    return network.Params(weights, biases)


def random_data(sizes, M, B, per_member, seed):
    g = torch.Generator().manual_seed(seed)
    lead = (M, B) if per_member else (B,)
    s = torch.randn(*lead, sizes[0], generator=g, dtype=DT)
    t = torch.randn(*lead, sizes[-1], generator=g, dtype=DT)
    return s, t


def oracle_linear(a, w, b):
    """mu[m, b, o] = sum_i a[(m,) b, i] w[m, o, i] + b[m, 0, o], by einsum (not network.linear)."""
    mu = torch.einsum("bi,moi->mbo", a, w) if a.dim() == 2 else torch.einsum("mbi,moi->mbo", a, w)
    return mu if b is None else mu + b


def oracle_energy(weights, biases, s, xs, t, f, mask=None, on_output=False):
    """E = sum_l<L 0.5||x_l - mu_l||^2 + 0.5||m * (t - o)||^2, summed over members, batch and units
    (m = 1 unless an output mask is given; o = mu_L, or f(mu_L) with on_output)."""
    a, E = s, 0
    for l, (w, b) in enumerate(zip(weights, biases)):
        mu = oracle_linear(a, w, b)
        if l < len(weights) - 1:
            E = E + 0.5 * ((xs[l] - mu) ** 2).sum()
            a = f(xs[l])
        else:
            o = f(mu) if on_output else mu
            E = E + 0.5 * (((t - o) if mask is None else mask * (t - o)) ** 2).sum()
    return E


def oracle_output(weights, biases, s, f, on_output=False):
    a = s
    for l, (w, b) in enumerate(zip(weights, biases)):
        mu = oracle_linear(a, w, b)
        a = f(mu) if l < len(weights) - 1 or on_output else mu
    return a


def leaves(params):
    ws = [w.clone().requires_grad_(True) for w in params.weights]
    bs = [None if b is None else b.clone().requires_grad_(True) for b in params.biases]
    return ws, bs


def assert_all_close(actual, expected, **tol):
    tol = tol or TOL
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        torch.testing.assert_close(a, e, **tol)


def check_value_gradients(params, s, xs, t, act_name, on_output=False):
    """value_gradients (closed form) == autograd dE/dx of the independent energy, and the energy too."""
    act = network.ACTIVATIONS[act_name].with_output(on_output)
    _, errors, residual = pct.prediction_errors(params, s, xs, t, act)
    code = pct.value_gradients(params, xs, errors, act)
    xl = [x.clone().requires_grad_(True) for x in xs]
    E = oracle_energy(params.weights, params.biases, s, xl, t, ORACLE_F[act_name], on_output=on_output)
    torch.testing.assert_close(pct.energy(errors, residual).sum(), E.detach(), **TOL)
    expected = torch.autograd.grad(E, xl)
    assert_all_close(code, list(expected))


def check_weight_gradients(params, s, xs, t, act_name, on_output=False):
    """params.gradients (local rule) == autograd dE/dW, dE/db, in params.tensors order."""
    act = network.ACTIVATIONS[act_name].with_output(on_output)
    acts, errors, _ = pct.prediction_errors(params, s, xs, t, act)
    code = params.gradients(acts, errors)
    ws, bs = leaves(params)
    E = oracle_energy(ws, bs, s, xs, t, ORACLE_F[act_name], on_output=on_output)
    expected = torch.autograd.grad(E, ws + [b for b in bs if b is not None])
    assert_all_close(code, list(expected))


def check_bp_gradients(params, s, t, act_name, on_output=False):
    """backprop_errors + params.gradients == autograd of 0.5 * sum((o - t)^2), and the loss too."""
    act = network.ACTIVATIONS[act_name].with_output(on_output)
    acts, errors, residual = bpt.backprop_errors(params, s, t, act)
    code = params.gradients(acts, errors)
    ws, bs = leaves(params)
    loss = 0.5 * ((oracle_output(ws, bs, s, ORACLE_F[act_name], on_output) - t) ** 2).sum()
    torch.testing.assert_close(network.output_loss(residual).sum(), loss.detach(), **TOL)
    expected = torch.autograd.grad(loss, ws + [b for b in bs if b is not None])
    assert_all_close(code, list(expected))


def random_hidden(sizes, M, B, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(M, B, n, generator=g, dtype=DT) for n in sizes[1:-1]]


def settings(T, gammas, discounts, update_p_at):
    return pct.PCSettings(T=T, inference_lr=torch.tensor(gammas, dtype=DT),
                          x_lr_discount=torch.tensor(discounts, dtype=DT),
                          update_p_at=pct.update_steps(update_p_at, T))


def lr_tensor(values, L):
    """[M, L] learning rates from per-member scalars or per-member lists."""
    return torch.tensor([v if isinstance(v, list) else [v] * L for v in values], dtype=DT)


# ---------------------------------------------------------------------------------------------
# 1. Hand derivation: the 1-1-2 linear network of Fig. 3a
# ---------------------------------------------------------------------------------------------
# W1 = [[1]], W2 = [[1], [1]], s = 1, t = (0, 1), f = identity, no bias.
#   Feed-forward:  mu_1 = W1 s = 1, so x_1 = 1;  o = mu_2 = W2 x_1 = (1, 1).
#   Errors there:  eps_1 = x_1 - mu_1 = 0;  eps_2 = t - o = (-1, 0).
#   Energy:        E = 0.5 * 0^2 + 0.5 * ((-1)^2 + 0^2) = 0.5  (= the loss).
#   dE/dx_1 = eps_1 - f'(x_1) * (eps_2 . W2[:, 0]) = 0 - (-1 * 1 + 0 * 1) = 1.
#   BP:  delta_2 = eps_2 = (-1, 0);  delta_1 = eps_2 W2 = -1.
#        dL/dW2 = -delta_2^T x_1 = [[1], [0]];  dL/dW1 = -delta_1 s = [[1]].
#   BP SGD, lr 0.2:  W1 = 1 - 0.2 = 0.8;  W2 = [[0.8], [1]];  o = W2 W1 s = (0.64, 0.8).
#   PC, one inference step of rate g from the feed-forward state:
#        x_1 = 1 - g * 1 = 1 - g;  eps_1 = (1 - g) - 1 = -g;  eps_2 = (0 - (1 - g), 1 - (1 - g)) = (g - 1, g).
#        E = 0.5 g^2 + 0.5 ((1 - g)^2 + g^2).
#        dE/dW1 = -eps_1 s = g;  dE/dW2 = -eps_2^T x_1 = [[(1 - g)^2], [-g (1 - g)]].
#   PC at equilibrium: E(x) = 0.5 (x - 1)^2 + 0.5 (x^2 + (1 - x)^2), dE/dx = 3x - 2 = 0 -> x* = 2/3;
#        eps_1 = -1/3, eps_2 = (-2/3, 1/3);  dE/dW1 = 1/3;  dE/dW2 = [[4/9], [-2/9]].
#        After SGD lr 0.2: W1 = 1 - 0.2/3, W2 = (1 - 0.8/9, 1 + 0.4/9), o = W2 W1.
def fig3a_params():
    return network.Params([torch.tensor([[[1.0]]], dtype=DT), torch.tensor([[[1.0], [1.0]]], dtype=DT)],
                          [None, None])


FIG3A_S = torch.tensor([[1.0]], dtype=DT)
FIG3A_T = torch.tensor([[0.0, 1.0]], dtype=DT)
IDENTITY = network.ACTIVATIONS["identity"]


def test_fig3a_feedforward_state_errors_and_energy_match_hand_derivation():
    params = fig3a_params()
    mus = network.feedforward(params, FIG3A_S, IDENTITY)
    torch.testing.assert_close(mus[0], torch.tensor([[[1.0]]], dtype=DT), rtol=0, atol=0)
    torch.testing.assert_close(mus[1], torch.tensor([[[1.0, 1.0]]], dtype=DT), rtol=0, atol=0)
    acts, errors, residual = pct.prediction_errors(params, FIG3A_S, mus[:-1], FIG3A_T, IDENTITY)
    torch.testing.assert_close(errors[0], torch.tensor([[[0.0]]], dtype=DT), rtol=0, atol=0)
    torch.testing.assert_close(errors[1], torch.tensor([[[-1.0, 0.0]]], dtype=DT), rtol=0, atol=0)
    torch.testing.assert_close(pct.energy(errors, residual), torch.tensor([0.5], dtype=DT), rtol=0, atol=0)
    grads = pct.value_gradients(params, mus[:-1], errors, IDENTITY)
    torch.testing.assert_close(grads[0], torch.tensor([[[1.0]]], dtype=DT), rtol=0, atol=0)


def test_fig3a_bp_gradients_match_hand_derivation():
    params = fig3a_params()
    acts, errors, _ = bpt.backprop_errors(params, FIG3A_S, FIG3A_T, IDENTITY)
    torch.testing.assert_close(errors[0], torch.tensor([[[-1.0]]], dtype=DT), rtol=0, atol=0)
    gw1, gw2 = params.gradients(acts, errors)
    torch.testing.assert_close(gw1, torch.tensor([[[1.0]]], dtype=DT), rtol=0, atol=0)
    torch.testing.assert_close(gw2, torch.tensor([[[1.0], [0.0]]], dtype=DT), rtol=0, atol=0)


def test_fig3a_first_bp_sgd_step_gives_output_064_08():
    params = fig3a_params()
    opt = optim.SGD(params, lr_tensor([0.2], 2))
    loss = bpt.bp_step(params, opt, FIG3A_S, FIG3A_T, IDENTITY)
    torch.testing.assert_close(loss, torch.tensor([0.5], dtype=DT))
    torch.testing.assert_close(params.weights[0], torch.tensor([[[0.8]]], dtype=DT))
    torch.testing.assert_close(params.weights[1], torch.tensor([[[0.8], [1.0]]], dtype=DT))
    out = network.predict(params, FIG3A_S, IDENTITY)
    torch.testing.assert_close(out, torch.tensor([[[0.64, 0.8]]], dtype=DT))


@PC_STEPS
@pytest.mark.parametrize("g", [0.1, 0.25])
def test_fig3a_pc_weight_gradient_after_one_inference_step_matches_hand_derivation(g, pc_step):
    params = fig3a_params()
    x = [torch.tensor([[[1.0 - g]]], dtype=DT)]
    acts, errors, residual = pct.prediction_errors(params, FIG3A_S, x, FIG3A_T, IDENTITY)
    torch.testing.assert_close(errors[0], torch.tensor([[[-g]]], dtype=DT))
    torch.testing.assert_close(errors[1], torch.tensor([[[g - 1, g]]], dtype=DT))
    torch.testing.assert_close(pct.energy(errors, residual),
                               torch.tensor([0.5 * g * g + 0.5 * ((1 - g) ** 2 + g * g)], dtype=DT))
    gw1, gw2 = params.gradients(acts, errors)
    torch.testing.assert_close(gw1, torch.tensor([[[g]]], dtype=DT))
    torch.testing.assert_close(gw2, torch.tensor([[[(1 - g) ** 2], [-g * (1 - g)]]], dtype=DT))

    # pc_step with T = 2 and update_p_at 'last' makes exactly one inference step, then updates.
    params = fig3a_params()
    lr = 0.2
    opt = optim.SGD(params, lr_tensor([lr], 2))
    loss = pc_step(params, opt, FIG3A_S, FIG3A_T, IDENTITY, settings(2, [g], [0.5], "last"))
    torch.testing.assert_close(loss, torch.tensor([0.5], dtype=DT))
    torch.testing.assert_close(params.weights[0], torch.tensor([[[1 - lr * g]]], dtype=DT))
    torch.testing.assert_close(params.weights[1], torch.tensor(
        [[[1 - lr * (1 - g) ** 2], [1 + lr * g * (1 - g)]]], dtype=DT))


@PC_STEPS
def test_fig3a_pc_at_equilibrium_matches_hand_derivation_and_spares_output_1(pc_step):
    params = fig3a_params()
    opt = optim.SGD(params, lr_tensor([0.2], 2))
    pc_step(params, opt, FIG3A_S, FIG3A_T, IDENTITY, settings(128, [0.1], [0.5], "last"))
    w1, w2 = 1 - 0.2 / 3, (1 - 0.8 / 9, 1 + 0.4 / 9)
    # The energy stops decreasing in float64 once x is within ~1e-8 of x*, so the tolerance is loose.
    torch.testing.assert_close(params.weights[0], torch.tensor([[[w1]]], dtype=DT), rtol=0, atol=1e-6)
    torch.testing.assert_close(params.weights[1], torch.tensor([[[w2[0]], [w2[1]]]], dtype=DT),
                               rtol=0, atol=1e-6)
    out = network.predict(params, FIG3A_S, IDENTITY)[0, 0]
    torch.testing.assert_close(out, torch.tensor([w2[0] * w1, w2[1] * w1], dtype=DT), rtol=0, atol=1e-6)
    # Interference: BP moves output 1 from 1 to 0.8; PC moves it by less than 0.03.
    assert abs(out[1].item() - 1) < 0.03


# ---------------------------------------------------------------------------------------------
# 2. Autograd oracle for the closed-form gradients
# ---------------------------------------------------------------------------------------------
SIZES = [3, 5, 4, 2]
M, B = 3, 4
GRAD_CASES = [(a, bias, per_member) for a in ACT_NAMES for bias in (False, True) for per_member in (False, True)]
GRAD_IDS = [f"{a}-{'bias' if b else 'nobias'}-{'per_member' if p else 'shared'}" for a, b, p in GRAD_CASES]


@pytest.mark.parametrize("act_name,bias,per_member", GRAD_CASES, ids=GRAD_IDS)
def test_value_gradient_equals_autograd_of_energy(act_name, bias, per_member):
    params = random_params(SIZES, M, bias, seed=1)
    s, t = random_data(SIZES, M, B, per_member, seed=2)
    xs = random_hidden(SIZES, M, B, seed=3)
    check_value_gradients(params, s, xs, t, act_name)


@pytest.mark.parametrize("act_name,bias,per_member", GRAD_CASES, ids=GRAD_IDS)
def test_weight_gradient_equals_autograd_of_energy(act_name, bias, per_member):
    params = random_params(SIZES, M, bias, seed=4)
    s, t = random_data(SIZES, M, B, per_member, seed=5)
    xs = random_hidden(SIZES, M, B, seed=6)
    check_weight_gradients(params, s, xs, t, act_name)


@pytest.mark.parametrize("act_name,bias,per_member", GRAD_CASES, ids=GRAD_IDS)
def test_bp_gradient_equals_autograd_of_loss(act_name, bias, per_member):
    params = random_params(SIZES, M, bias, seed=7)
    s, t = random_data(SIZES, M, B, per_member, seed=8)
    check_bp_gradients(params, s, t, act_name)


@pytest.mark.parametrize("act_name", ["tanh", "sigmoid"])
@pytest.mark.parametrize("bias", [False, True])
def test_gradients_with_an_output_activation_equal_autograd(act_name, bias):
    """o = f(mu_L) (model.output_activation): PC's value and weight gradients are those of
    E = hidden energies + 0.5||t - f(mu_L)||^2, BP's those of 0.5||t - f(mu_L)||^2."""
    params = random_params(SIZES, M, bias, seed=17)
    s, t = random_data(SIZES, M, B, True, seed=18)
    xs = random_hidden(SIZES, M, B, seed=19)
    check_value_gradients(params, s, xs, t, act_name, on_output=True)
    check_weight_gradients(params, s, xs, t, act_name, on_output=True)
    check_bp_gradients(params, s, t, act_name, on_output=True)


@pytest.mark.parametrize("act_name", ["tanh", "leaky_relu"])
def test_masked_output_gradients_equal_autograd_of_masked_energy_and_loss(act_name):
    """With an output mask (error_units) the closed forms are the gradients of the energy / loss in
    which only the masked output units' errors count."""
    sizes = [3, 4, 3]
    mask = torch.tensor([1.0, 0.0, 1.0], dtype=DT)
    params = random_params(sizes, M, True, seed=14)
    s, t = random_data(sizes, M, B, True, seed=15)
    xs = random_hidden(sizes, M, B, seed=16)
    act, f = network.ACTIVATIONS[act_name], ORACLE_F[act_name]
    acts, errors, _ = pct.prediction_errors(params, s, xs, t, act, mask)
    assert torch.count_nonzero(errors[-1][..., 1]) == 0
    xl = [x.clone().requires_grad_(True) for x in xs]
    ws, bs = leaves(params)
    E = oracle_energy(ws, bs, s, xl, t, f, mask)
    expected = torch.autograd.grad(E, xl + ws + bs)
    assert_all_close(pct.value_gradients(params, xs, errors, act), list(expected[:1]))
    assert_all_close(params.gradients(acts, errors), list(expected[1:]))

    acts, errors, _ = bpt.backprop_errors(params, s, t, act, mask)
    ws, bs = leaves(params)
    loss = 0.5 * ((mask * (oracle_output(ws, bs, s, f) - t)) ** 2).sum()
    assert_all_close(params.gradients(acts, errors), list(torch.autograd.grad(loss, ws + bs)))


@pytest.mark.parametrize("per_member", [False, True])
def test_energy_is_the_per_member_sum_of_half_squared_errors(per_member):
    params = random_params(SIZES, M, True, seed=9)
    s, t = random_data(SIZES, M, B, per_member, seed=10)
    xs = random_hidden(SIZES, M, B, seed=11)
    act = network.ACTIVATIONS["tanh"]
    _, errors, residual = pct.prediction_errors(params, s, xs, t, act)
    code = pct.energy(errors, residual)
    for m in range(M):
        single = network.Params([w[m:m + 1] for w in params.weights], [b[m:m + 1] for b in params.biases])
        sm = s if s.dim() == 2 else s[m:m + 1]
        tm = t if t.dim() == 2 else t[m:m + 1]
        expected = oracle_energy(single.weights, single.biases, sm, [x[m:m + 1] for x in xs], tm, ORACLE_F["tanh"])
        torch.testing.assert_close(code[m], expected, **TOL)


def test_feedforward_state_is_a_fixed_point_of_hidden_errors_so_hidden_value_gradient_is_backprop():
    """At x = mu, hidden eps are zero and dE/dx_l = -f'(x_l) eps_{l+1} W_{l+1} (only the top term)."""
    params = random_params(SIZES, M, True, seed=12)
    s, t = random_data(SIZES, M, B, False, seed=13)
    act = network.ACTIVATIONS["tanh"]
    xs = network.feedforward(params, s, act)[:-1]
    _, errors, _ = pct.prediction_errors(params, s, xs, t, act)
    for e in errors[:-1]:
        assert torch.count_nonzero(e) == 0
    grads = pct.value_gradients(params, xs, errors, act)
    assert torch.count_nonzero(grads[0]) == 0          # layer 1's successor error is zero too
    assert torch.count_nonzero(grads[-1]) > 0          # the top hidden layer feels the output error


# ---------------------------------------------------------------------------------------------
# 3. The whole PC step against an independent autograd implementation (one member at a time)
# ---------------------------------------------------------------------------------------------
def oracle_pc_member(weights, biases, batches, f, T, gamma0, discount, steps, lr,
                     carry_gamma=False, late_weights=False, mask=None):
    """PC on one member (2-D weights [out, in], biases [1, out] or None) over several batches.

    Returns the trained tensors, the losses before each batch's update and the number of
    discounts that changed a later x update which a weight update could still see.
    `carry_gamma` and `late_weights` are deliberately wrong readings (for the mutation tests):
    gamma not reset per batch; weights updated from the state after the step's x update.
    """
    ws = [w.clone().requires_grad_(True) for w in weights]
    bs = [None if b is None else b.clone().requires_grad_(True) for b in biases]
    tensors = ws + [b for b in bs if b is not None]
    opt = torch.optim.SGD(tensors, lr=lr)
    L = len(ws)

    def mus_of(a_list):
        return [a @ w.T + (0 if b is None else b) for a, w, b in zip(a_list, ws, bs)]

    def energy_of(s, xs, t):
        mus = mus_of([s] + [f(x) for x in xs])
        out_err = t - mus[-1] if mask is None else mask * (t - mus[-1])
        return sum(0.5 * ((x - mu) ** 2).sum() for x, mu in zip(xs, mus[:-1])) + 0.5 * (out_err ** 2).sum()

    losses, effective = [], 0
    for s, t in batches:
        with torch.no_grad():
            a, xs = s, []
            for l in range(L - 1):
                mu = a @ ws[l].T + (0 if bs[l] is None else bs[l])
                xs.append(mu.clone())
                a = f(mu)
            out = a @ ws[-1].T + (0 if bs[-1] is None else bs[-1])
            losses.append(0.5 * (((out - t) if mask is None else mask * (out - t)) ** 2).sum())
        if not (carry_gamma and losses[1:]):
            gamma = gamma0
        previous = None
        for k in range(T):
            xl = [x.detach().clone().requires_grad_(True) for x in xs]
            E = energy_of(s, xl, t)
            gx = torch.autograd.grad(E, xl, retain_graph=True) if xl else []
            if k in steps and not late_weights:
                opt.zero_grad()
                E.backward()
                opt.step()
            xs = [x.detach() - gamma * g for x, g in zip(xl, gx)]
            if k in steps and late_weights:
                opt.zero_grad()
                energy_of(s, xs, t).backward()
                opt.step()
            if previous is not None and E.item() >= previous:
                gamma = gamma * discount
                if k <= T - 3:
                    effective += 1
            previous = E.item()
    return [w.detach() for w in ws], [None if b is None else b.detach() for b in bs], losses, effective


def oracle_steps(update_p_at, T):
    if update_p_at == "last":
        return {T - 1}
    if update_p_at == "all":
        return set(range(T))
    return set(update_p_at)


PC_SIZES = [3, 4, 4, 2]
PC_GAMMAS = [0.3, 0.6, 0.9]
PC_DISCOUNTS = [0.5, 0.3, 0.7]
PC_LRS = [0.01, 0.005, 0.02]
PC_CASES = [(1, "last"), (1, "all"), (1, [0]),
            (5, "last"), (5, "all"), (5, [1, 3]),
            (20, "last"), (20, "all"), (20, [0, 7, 19])]


def run_pc_comparison(act_name, bias, per_member, T, update_p_at, nbatches=2, seed=20, pc_step=pct.pc_step):
    params = random_params(PC_SIZES, M, bias, seed=seed, scale=1.0)
    batches = [random_data(PC_SIZES, M, B, per_member, seed=seed + 1 + i) for i in range(nbatches)]
    act = network.ACTIVATIONS[act_name]
    st = settings(T, PC_GAMMAS, PC_DISCOUNTS, update_p_at)
    opt = optim.SGD(params, lr_tensor(PC_LRS, len(PC_SIZES) - 1))
    initial = params.clone()
    code_losses = [pc_step(params, opt, s, t, act, st) for s, t in batches]
    assert all(torch.isfinite(p).all() for p in params.tensors)
    effective = 0
    for m in range(M):
        member_batches = [(s if s.dim() == 2 else s[m], t if t.dim() == 2 else t[m]) for s, t in batches]
        ws, bs, losses, eff = oracle_pc_member(
            [w[m] for w in initial.weights], [None if b is None else b[m] for b in initial.biases],
            member_batches, ORACLE_F[act_name], T, PC_GAMMAS[m], PC_DISCOUNTS[m],
            oracle_steps(update_p_at, T), PC_LRS[m])
        effective += eff
        assert_all_close([w[m] for w in params.weights], ws)
        assert_all_close([b[m] for b in params.biases if b is not None], [b for b in bs if b is not None])
        assert_all_close([cl[m] for cl in code_losses], losses)
    return effective, initial, params


@PC_STEPS
@pytest.mark.parametrize("T,update_p_at", PC_CASES, ids=[f"T{T}-{u}" for T, u in PC_CASES])
@pytest.mark.parametrize("act_name,bias,per_member", [("tanh", True, False), ("leaky_relu", False, True)])
def test_pc_step_equals_autograd_pc_with_energy_discount(act_name, bias, per_member, T, update_p_at, pc_step):
    effective, initial, params = run_pc_comparison(act_name, bias, per_member, T, update_p_at, pc_step=pc_step)
    if T >= 5:
        # The large inference rates make the energy rise: the discount must matter for the weights.
        assert effective > 0
    assert any(not torch.equal(a, b) for a, b in zip(initial.tensors, params.tensors))


@PC_STEPS
@pytest.mark.parametrize("update_p_at", ["last", "all"])
def test_pc_step_and_bp_step_with_an_output_mask_equal_the_masked_oracles(update_p_at, pc_step):
    mask = torch.tensor([0.0, 1.0], dtype=DT)
    params = random_params(PC_SIZES, M, True, seed=30, scale=1.0)
    batches = [random_data(PC_SIZES, M, B, False, seed=31 + i) for i in range(2)]
    act = network.ACTIVATIONS["tanh"]
    st = settings(6, PC_GAMMAS, PC_DISCOUNTS, update_p_at)
    initial = params.clone()
    params_bp = params.clone()
    lr = lr_tensor(PC_LRS, 3)
    opt, opt_bp = optim.SGD(params, lr), optim.SGD(params_bp, lr)
    pc_losses = [pc_step(params, opt, s, t, act, st, mask) for s, t in batches]
    for s, t in batches:
        bpt.bp_step(params_bp, opt_bp, s, t, act, None, mask)
    for m in range(M):
        w0 = [w[m] for w in initial.weights]
        b0 = [b[m] for b in initial.biases]
        ws, bs, losses, _ = oracle_pc_member(w0, b0, batches, ORACLE_F["tanh"], 6, PC_GAMMAS[m],
                                             PC_DISCOUNTS[m], oracle_steps(update_p_at, 6), PC_LRS[m],
                                             mask=mask)
        assert_all_close([p[m] for p in params.tensors], ws + bs)
        assert_all_close([cl[m] for cl in pc_losses], losses)
        ws_bp, bs_bp, _ = oracle_bp_member_masked(w0, b0, batches, ORACLE_F["tanh"], PC_LRS[m], mask)
        assert_all_close([p[m] for p in params_bp.tensors], ws_bp + bs_bp)
    # unit 0's error is ignored: its target does not matter
    other = [(s, t.clone().index_fill_(-1, torch.tensor([0]), 123.0)) for s, t in batches]
    again = initial.clone()
    opt2 = optim.SGD(again, lr)
    for s, t in other:
        pct.pc_step(again, opt2, s, t, act, st, mask)
    assert_all_close(again.tensors, params.tensors)


def oracle_bp_member_masked(weights, biases, batches, f, lr, mask):
    ws = [w.clone().requires_grad_(True) for w in weights]
    bs = [b.clone().requires_grad_(True) for b in biases]
    opt = torch.optim.SGD(ws + bs, lr=lr)
    for s, t in batches:
        a = s
        for l, (w, b) in enumerate(zip(ws, bs)):
            mu = a @ w.T + b
            a = f(mu) if l < len(ws) - 1 else mu
        opt.zero_grad()
        (0.5 * ((mask * (a - t)) ** 2).sum()).backward()
        opt.step()
    return [w.detach() for w in ws], [b.detach() for b in bs], None


@PC_STEPS
def test_pc_inference_rate_restarts_at_every_batch(pc_step):
    """Over three batches pc_step equals the oracle that resets gamma per batch (run_pc_comparison)
    and differs from one that carries the discounted gamma over."""
    effective, initial, params = run_pc_comparison("tanh", True, False, 20, "last", nbatches=3, seed=40,
                                                   pc_step=pc_step)
    assert effective > 0
    batches = [random_data(PC_SIZES, M, B, False, seed=41 + i) for i in range(3)]
    differs = 0
    for m in range(M):
        ws, _, _, _ = oracle_pc_member([w[m] for w in initial.weights], [b[m] for b in initial.biases],
                                       batches, ORACLE_F["tanh"], 20, PC_GAMMAS[m], PC_DISCOUNTS[m],
                                       {19}, PC_LRS[m], carry_gamma=True)
        try:
            assert_all_close([w[m] for w in params.weights], ws)
        except AssertionError:
            differs += 1
    assert differs > 0


# ---------------------------------------------------------------------------------------------
# 4. Optimizers and the BP step against torch.optim
# ---------------------------------------------------------------------------------------------
def oracle_bp_member(weights, biases, batches, f, opt_name, lrs, weight_decay):
    """Plain autograd BP on one member, torch.optim with one parameter group per layer."""
    ws = [w.clone().requires_grad_(True) for w in weights]
    bs = [None if b is None else b.clone().requires_grad_(True) for b in biases]
    groups = [{"params": [w] + ([b] if b is not None else []), "lr": lr} for w, b, lr in zip(ws, bs, lrs)]
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}[opt_name]
    opt = cls(groups, lr=lrs[0], weight_decay=weight_decay)
    losses = []
    for s, t in batches:
        a = s
        for l, (w, b) in enumerate(zip(ws, bs)):
            mu = a @ w.T + (0 if b is None else b)
            a = f(mu) if l < len(ws) - 1 else mu
        loss = 0.5 * ((a - t) ** 2).sum()
        losses.append(loss.detach())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return [w.detach() for w in ws], [None if b is None else b.detach() for b in bs], losses


OPT_CASES = [("sgd", 0.0), ("sgd", 0.01), ("adam", 0.0), ("adam", 0.01)]


@pytest.mark.parametrize("opt_name,weight_decay", OPT_CASES, ids=[f"{o}-wd{w}" for o, w in OPT_CASES])
@pytest.mark.parametrize("per_layer", [False, True], ids=["member_lr", "layer_lr"])
def test_bp_step_with_packed_optimizer_equals_autograd_with_torch_optim(opt_name, weight_decay, per_layer):
    sizes = [3, 4, 4, 2]
    L = len(sizes) - 1
    params = random_params(sizes, M, True, seed=50)
    batches = [random_data(sizes, M, B, True, seed=51 + i) for i in range(6)]
    lrs = ([[0.01, 0.03, 0.002], [0.05, 0.001, 0.02], [0.004, 0.004, 0.1]] if per_layer
           else [[0.01] * L, [0.03] * L, [0.002] * L])
    initial = params.clone()
    opt = optim.OPTIMIZERS[opt_name](params, lr_tensor(lrs, L), weight_decay=weight_decay)
    act = network.ACTIVATIONS["sigmoid"]
    code_losses = [bpt.bp_step(params, opt, s, t, act) for s, t in batches]
    for m in range(M):
        ws, bs, losses = oracle_bp_member([w[m] for w in initial.weights], [b[m] for b in initial.biases],
                                          [(s[m], t[m]) for s, t in batches], ORACLE_F["sigmoid"],
                                          opt_name, lrs[m], weight_decay)
        assert_all_close([w[m] for w in params.weights], ws)
        assert_all_close([b[m] for b in params.biases], bs)
        assert_all_close([cl[m] for cl in code_losses], losses)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_equals_torch_adam_on_arbitrary_gradients(weight_decay):
    """optim.Adam on given gradient sequences == torch.optim.Adam, member by member, layer by layer."""
    g = torch.Generator().manual_seed(60)
    params = random_params([2, 3, 2], M, True, seed=61)
    lrs = [[0.1, 0.01], [0.001, 0.3], [0.05, 0.05]]
    initial = params.clone()
    opt = optim.Adam(params, lr_tensor(lrs, 2), weight_decay=weight_decay, betas=(0.8, 0.99), eps=1e-6)
    grads_seq = [[torch.randn(p.shape, generator=g, dtype=DT) * 10 ** (i % 3 - 1) for p in params.tensors]
                 for i in range(7)]
    for grads in grads_seq:
        opt.step(params, grads)
    for m in range(M):
        tensors = [p[m].clone().requires_grad_(True) for p in initial.tensors]
        # params.tensors order: w1, w2, b1, b2 -> layer groups (w1, b1), (w2, b2)
        groups = [{"params": [tensors[0], tensors[2]], "lr": lrs[m][0]},
                  {"params": [tensors[1], tensors[3]], "lr": lrs[m][1]}]
        topt = torch.optim.Adam(groups, betas=(0.8, 0.99), eps=1e-6, weight_decay=weight_decay)
        for grads in grads_seq:
            for p, gr in zip(tensors, grads):
                p.grad = gr[m].clone()
            topt.step()
        assert_all_close([p[m] for p in params.tensors], [p.detach() for p in tensors])


# ---------------------------------------------------------------------------------------------
# 5. Limits in which PC equals (or approaches) BP
# ---------------------------------------------------------------------------------------------
@PC_STEPS
@pytest.mark.parametrize("T", [1, 3, 17])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_single_layer_pc_step_equals_bp_step_for_any_T(T, opt_name, pc_step):
    sizes = [4, 3]
    params_pc = random_params(sizes, M, True, seed=70)
    params_bp = params_pc.clone()
    lr = lr_tensor([0.1, 0.02, 0.3], 1)
    opt_pc = optim.OPTIMIZERS[opt_name](params_pc, lr, weight_decay=0.01)
    opt_bp = optim.OPTIMIZERS[opt_name](params_bp, lr, weight_decay=0.01)
    st = settings(T, [0.1, 0.5, 1.0], [0.5, 0.5, 0.5], "last")
    act = network.ACTIVATIONS["tanh"]
    for i in range(3):
        s, t = random_data(sizes, M, B, i % 2 == 1, seed=71 + i)
        loss_pc = pc_step(params_pc, opt_pc, s, t, act, st)
        loss_bp = bpt.bp_step(params_bp, opt_bp, s, t, act)
        torch.testing.assert_close(loss_pc, loss_bp, **TOL)
    assert_all_close(params_pc.tensors, params_bp.tensors)


def test_pc_with_T1_updates_only_the_output_layer_and_as_bp_does():
    """At the feed-forward state the hidden errors vanish, so the local PC gradient of every hidden
    layer is zero; the output layer's gradient is BP's."""
    sizes = [3, 5, 4, 2]
    params = random_params(sizes, M, True, seed=80)
    s, t = random_data(sizes, M, B, False, seed=81)
    act = network.ACTIVATIONS["tanh"]
    xs = network.feedforward(params, s, act)[:-1]
    acts, errors, _ = pct.prediction_errors(params, s, xs, t, act)
    grads = params.gradients(acts, errors)   # w1, w2, w3, b1, b2, b3
    for g in (grads[0], grads[1], grads[3], grads[4]):
        assert torch.count_nonzero(g) == 0
    bp_grads = params.gradients(*bpt.backprop_errors(params, s, t, act)[:2])
    for i in (2, 5):
        assert torch.count_nonzero(grads[i]) > 0
        torch.testing.assert_close(grads[i], bp_grads[i], **TOL)

    params_pc, params_bp = params.clone(), params.clone()
    lr = lr_tensor([0.1, 0.2, 0.3], 3)
    pct.pc_step(params_pc, optim.SGD(params_pc, lr), s, t, act, settings(1, [0.1] * M, [0.5] * M, "last"))
    bpt.bp_step(params_bp, optim.SGD(params_bp, lr), s, t, act)
    for i in (0, 1, 3, 4):   # hidden layers unchanged by PC, changed by BP
        torch.testing.assert_close(params_pc.tensors[i], params.tensors[i], rtol=0, atol=0)
        assert not torch.equal(params_bp.tensors[i], params.tensors[i])
    for i in (2, 5):
        torch.testing.assert_close(params_pc.tensors[i], params_bp.tensors[i], **TOL)


@pytest.mark.parametrize("seed", [90, 95])
def test_pc_update_direction_approaches_bp_with_a_tiny_inference_rate(seed):
    """With inference rate g -> 0, each layer's PC update points along BP's gradient.

    To first order in g, x_{L-1} moves by g * delta_{L-1} (the BP error) per step, so after the T-1
    inference steps before the update at step T-1, eps_{L-1} = (T-1) g delta_{L-1}; x_{L-2} moves by
    g * (k g delta_{L-2}) at step k, so eps_{L-2} = g^2 (T-1)(T-2)/2 delta_{L-2}; in general layer l's
    update is C(T-1, L-l) g^(L-l) times BP's gradient. (At the inference equilibrium PC does not
    approach BP in this energy: see the Fig. 3a derivation, where the two differ whatever the error.)
    """
    sizes = [3, 4, 4, 2]
    L, T, g = 3, 4, 1e-3
    params = random_params(sizes, M, True, seed=seed, scale=0.7)
    s, t = random_data(sizes, M, B, True, seed=seed + 1)
    act = network.ACTIVATIONS["tanh"]
    bp_grads = params.gradients(*bpt.backprop_errors(params, s, t, act)[:2])
    before = params.clone()
    pct.pc_step(params, optim.SGD(params, lr_tensor([1.0] * M, L)), s, t, act,
                settings(T, [g] * M, [0.5] * M, "last"))
    layer_of = list(range(1, L + 1)) + list(range(1, L + 1))    # tensors: w1..wL, b1..bL
    for layer, p0, p1, gb in zip(layer_of, before.tensors, params.tensors, bp_grads):
        delta, gb = (p0 - p1).flatten(1), gb.flatten(1)        # delta = dE/dW (SGD, lr 1)
        cos = (delta * gb).sum(1) / (delta.norm(dim=1) * gb.norm(dim=1))
        assert (cos > 0.99).all(), (layer, cos)
        expected_ratio = math.comb(T - 1, L - layer) * g ** (L - layer)
        ratio = delta.norm(dim=1) / gb.norm(dim=1)
        torch.testing.assert_close(ratio, torch.full_like(ratio, expected_ratio), rtol=1e-2, atol=0)


# ---------------------------------------------------------------------------------------------
# 6. Packed members == members trained alone (the real trainable)
# ---------------------------------------------------------------------------------------------
def member_config(rule, seed, lr, inference_lr=0.1, opt="sgd", data="gaussian_pair", T=8,
                  update_p_at="last", init=None):
    data_cfg = ({"name": "gaussian_pair", "input_size": 3, "output_size": 2, "std": 1.0, "batch_size": 2}
                if data == "gaussian_pair" else
                {"name": "fixed_pair", "input": [[1.0, -0.5, 0.3], [0.2, 0.1, -1.0]],
                 "target": [[0.0, 1.0], [1.0, -1.0]]})
    return validate(SupervisedConfig, {
        "rule": rule, "seed": seed, "data": data_cfg,
        "model": {"sizes": [3, 4, 4, 2], "activation": "tanh", "bias": True,
                  "init": init or {"name": "xavier_normal", "gain": 1.0}},
        "pc": {"T": T, "inference_lr": inference_lr, "x_lr_discount": 0.5, "update_p_at": update_p_at},
        "optimizer": {"name": opt, "lr": lr, "weight_decay": 0.01},
        "log": ["loss", "prediction", "target_alignment"],
        "device": "cpu", "dtype": "float64"}, "config")


def collect_rows(members, iterations, report_every=0):
    rows, dones = {}, []

    def report(r, done):
        dones.append(done)
        for k, v in r.items():
            rows.setdefault(k, []).extend(v)

    engine.train(members, iterations, report, report_every)
    assert dones and dones[-1] and not any(dones[:-1])
    return rows


def member_rows(rows, m):
    idx = [i for i, mm in enumerate(rows["member"]) if mm == m]
    return {k: [v[i] for i in idx] for k, v in rows.items() if k != "member"}


def assert_rows_equal(packed, alone):
    assert set(packed) == set(alone)
    assert packed["iteration"] == alone["iteration"]
    assert packed["diverged"] == alone["diverged"]
    for k in packed:
        if k in ("iteration", "diverged"):
            continue
        np.testing.assert_allclose(np.array(packed[k], dtype=float), np.array(alone[k], dtype=float),
                                   rtol=1e-10, atol=1e-12, equal_nan=True, err_msg=k)


PACK_CASES = [("pc", "sgd", "gaussian_pair"), ("bp", "sgd", "gaussian_pair"),
              ("pc", "adam", "gaussian_pair"), ("bp", "adam", "gaussian_pair"),
              ("pc", "sgd", "fixed_pair"), ("bp", "adam", "fixed_pair")]


@pytest.mark.parametrize("rule,opt,data", PACK_CASES, ids=["-".join(c) for c in PACK_CASES])
def test_packed_members_report_the_same_rows_as_members_trained_alone(rule, opt, data):
    lrs = [0.05, [0.02, 0.1, 0.3], 0.2] if opt == "sgd" else [0.01, [0.003, 0.02, 0.05], 0.03]
    members = [member_config(rule, seed, lr, inference_lr=il, opt=opt, data=data, init=init)
               for seed, lr, il, init in zip([0, 1, 2], lrs, [0.1, 0.3, 0.05],
                                             [None, {"name": "torch_default"}, {"name": "normal", "std": 0.7}])]
    iterations = 5
    packed = collect_rows(members, iterations, report_every=2)
    assert packed["member"] == [m for _ in range(iterations) for m in range(3)]
    assert packed["iteration"] == [i for i in range(iterations) for _ in range(3)]
    for m, member in enumerate(members):
        alone = collect_rows([member], iterations, report_every=3)
        assert set(alone["member"]) == {0}
        assert_rows_equal(member_rows(packed, m), member_rows(alone, 0))
    # The members really differ (otherwise the comparison above would be vacuous).
    losses = [member_rows(packed, m)["loss"] for m in range(3)]
    assert losses[0] != losses[1] and losses[1] != losses[2]
    assert all(not r for r in packed["diverged"])


def test_gaussian_pair_gives_each_seed_its_own_example_and_same_seed_same_initial_output():
    members = [member_config("bp", seed, 0.1) for seed in (3, 4, 3)]
    rows = collect_rows(members, 1)
    first = [(rows["output_0"][m], rows["output_1"][m]) for m in range(3)]
    assert first[0] == first[2]
    assert first[0] != first[1]


def test_train_members_bp_on_fig3a_reports_hand_derived_outputs():
    cfg = validate(SupervisedConfig, {
        "rule": "bp", "seed": 0, "data": {"name": "fixed_pair", "input": [[1.0]], "target": [[0.0, 1.0]]},
        "model": {"sizes": [1, 1, 2], "activation": "identity", "bias": False,
                  "init": {"name": "constant", "value": 1.0}},
        "pc": {"T": 128, "inference_lr": 0.1, "x_lr_discount": 0.5, "update_p_at": "last"},
        "optimizer": {"name": "sgd", "lr": 0.2}, "log": ["prediction"], "dtype": "float64",
        "device": "cpu"}, "config")
    rows = collect_rows([cfg], 2)
    # Iteration 0 logs the output before any update, (1, 1); iteration 1 the output after one step.
    np.testing.assert_allclose(rows["output_0"], [1.0, 0.64], rtol=0, atol=1e-14)
    np.testing.assert_allclose(rows["output_1"], [1.0, 0.8], rtol=0, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# 7. Mutations: the comparisons above must catch wrong rules
# ---------------------------------------------------------------------------------------------
def _no_df_value_gradients(params, xs, errors, act, acts=None):
    return [e - torch.matmul(e_next, w_next)
            for x, e, e_next, w_next in zip(xs, errors[:-1], errors[1:], params.weights[1:])]


def test_autograd_comparison_catches_value_gradient_without_activation_derivative(monkeypatch):
    params = random_params(SIZES, M, True, seed=100)
    s, t = random_data(SIZES, M, B, False, seed=101)
    xs = random_hidden(SIZES, M, B, seed=102)
    check_value_gradients(params, s, xs, t, "tanh")          # correct rule passes
    monkeypatch.setattr(pct, "value_gradients", _no_df_value_gradients)
    with pytest.raises(AssertionError):
        check_value_gradients(params, s, xs, t, "tanh")


def test_autograd_comparison_catches_flipped_weight_gradient_sign(monkeypatch):
    params = random_params(SIZES, M, True, seed=103)
    s, t = random_data(SIZES, M, B, False, seed=104)
    xs = random_hidden(SIZES, M, B, seed=105)
    check_weight_gradients(params, s, xs, t, "sigmoid")
    original = network.Params.gradients
    monkeypatch.setattr(network.Params, "gradients", lambda p, a, e: [-g for g in original(p, a, e)])
    with pytest.raises(AssertionError):
        check_weight_gradients(params, s, xs, t, "sigmoid")
    with pytest.raises(AssertionError):
        check_bp_gradients(params, s, t, "sigmoid")


def test_autograd_comparison_catches_bp_error_without_activation_derivative(monkeypatch):
    params = random_params(SIZES, M, False, seed=106)
    s, t = random_data(SIZES, M, B, True, seed=107)

    def no_df_backprop_errors(params, s, t, act):
        mus = network.feedforward(params, s, act)
        acts = [s] + [act.f(mu) for mu in mus[:-1]]
        errors = [t - mus[-1]]
        for w_next in reversed(params.weights[1:]):
            errors.insert(0, torch.matmul(errors[0], w_next))
        return acts, errors, errors[-1]

    check_bp_gradients(params, s, t, "tanh")
    monkeypatch.setattr(bpt, "backprop_errors", no_df_backprop_errors)
    with pytest.raises(AssertionError):
        check_bp_gradients(params, s, t, "tanh")


def test_pc_step_oracle_catches_missing_activation_derivative_in_inference(monkeypatch):
    monkeypatch.setattr(pct, "value_gradients", _no_df_value_gradients)
    with pytest.raises(AssertionError):
        run_pc_comparison("tanh", True, False, 5, "last")


def test_pc_step_oracle_catches_a_missing_energy_discount():
    """Running pc_step without the discount (x_lr_discount = 1) must disagree with the oracle."""
    params = random_params(PC_SIZES, M, True, seed=20, scale=1.0)
    s, t = random_data(PC_SIZES, M, B, False, seed=21)
    act = network.ACTIVATIONS["tanh"]
    initial = params.clone()
    pct.pc_step(params, optim.SGD(params, lr_tensor(PC_LRS, 3)), s, t, act,
                settings(20, PC_GAMMAS, [1.0] * M, "last"))
    mismatched = 0
    for m in range(M):
        ws, bs, _, eff = oracle_pc_member([w[m] for w in initial.weights], [b[m] for b in initial.biases],
                                          [(s, t)], ORACLE_F["tanh"], 20, PC_GAMMAS[m], PC_DISCOUNTS[m],
                                          {19}, PC_LRS[m])
        try:
            assert_all_close([w[m] for w in params.weights], ws)
        except AssertionError:
            mismatched += 1
            assert eff > 0
    assert mismatched > 0


@pytest.mark.parametrize("update_p_at", ["last", "all"])
def test_pc_step_oracle_catches_weights_updated_after_the_x_update(update_p_at):
    """The oracle that takes dE/dW after the step's x update (a wrong reading) disagrees with
    pc_step, which the correct oracle matches."""
    params = random_params(PC_SIZES, M, True, seed=20, scale=1.0)
    s, t = random_data(PC_SIZES, M, B, False, seed=21)
    act = network.ACTIVATIONS["tanh"]
    initial = params.clone()
    pct.pc_step(params, optim.SGD(params, lr_tensor(PC_LRS, 3)), s, t, act,
                settings(5, PC_GAMMAS, PC_DISCOUNTS, update_p_at))
    for m in range(M):
        args = ([w[m] for w in initial.weights], [b[m] for b in initial.biases], [(s, t)], ORACLE_F["tanh"],
                5, PC_GAMMAS[m], PC_DISCOUNTS[m], oracle_steps(update_p_at, 5), PC_LRS[m])
        ws, _, _, _ = oracle_pc_member(*args)
        assert_all_close([w[m] for w in params.weights], ws)
        ws, _, _, _ = oracle_pc_member(*args, late_weights=True)
        with pytest.raises(AssertionError):
            assert_all_close([w[m] for w in params.weights], ws)


# ---------------------------------------------------------------------------------------------
# 8. Divergence of one packed member
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_diverging_member_is_flagged_and_leaves_the_other_members_rows_unchanged(rule):
    lrs, seeds = [0.05, 1e200, 0.1], [0, 1, 2]
    members = [member_config(rule, seed, lr) for seed, lr in zip(seeds, lrs)]
    iterations = 6
    packed = collect_rows(members, iterations, report_every=4)
    for m in (0, 2):
        alone = collect_rows([members[m]], iterations)
        assert_rows_equal(member_rows(packed, m), member_rows(alone, 0))
        assert not any(member_rows(packed, m)["diverged"])
    bad = member_rows(packed, 1)
    flags = bad["diverged"]
    assert flags[-1] is True
    first = flags.index(True)
    assert all(flags[first:]) and not any(flags[:first])
    for k in ("loss", "output_0", "output_1", "target_alignment", "target_alignment_angle"):
        assert all(math.isnan(v) for v in bad[k][first:]), k
        assert all(math.isfinite(v) for v in bad[k][:first]), k
