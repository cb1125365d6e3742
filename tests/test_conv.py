"""Convolutional layers in the packed engine: the closed-form PC and BP gradients of a small conv
net equal autograd on its energy / loss (an oracle written with torch.nn.functional), a PC step with
weights learning at every inference step equals the same step run member by member."""
import pytest
import torch
import torch.nn.functional as F

import bp_trainable as bpt
from config_errors import validate
import conv
import engine
import network
import optim
import pc_trainable as pct
from schema import SupervisedConfig
from test_engine import member_config
from utils import ConfigError

DT = torch.float64
TOL = dict(rtol=1e-9, atol=1e-11)
RELU = network.ACTIVATIONS["relu"]
TANH = network.ACTIVATIONS["tanh"]
# 2x6x6 images -> conv 3ch (3x3, stride 2, pad 1) -> 3x3x3 -> conv 4ch (2x2, stride 1) -> 4x2x2 -> 16 -> 5 -> 3
CONFIG = {"input_shape": [2, 6, 6], "layers": [{"channels": 3, "kernel": 3, "stride": 2, "padding": 1},
                                               {"channels": 4, "kernel": 2, "stride": 1, "padding": 0}]}
SIZES = [16, 5, 3]
M, B = 3, 4


def params_of(seed, bias=True):
    g = [torch.Generator().manual_seed(seed + m) for m in range(M)]
    return conv.conv_params(CONFIG, SIZES, [{"name": "torch_default"}] * M, bias, g, DT)


def data(seed, shared):
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(*((B,) if shared else (M, B)), 72, generator=g, dtype=DT)
    return s, torch.randn(M, B, 3, generator=g, dtype=DT)


def hidden(params, seed):
    """Random value nodes of every hidden layer, shaped like the feed-forward ones."""
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(mu.shape, generator=g, dtype=DT) for mu in network.feedforward(params, data(0, True)[0], TANH)[:-1]]


def oracle_mus(weights, biases, s_m, xs_m, f):
    """mu_l of one member from torch.nn.functional: convolutions, then flatten, then dense layers."""
    strides, pads = (2, 1), (1, 0)
    a = s_m.view(-1, 2, 6, 6)
    mus = []
    for l, (w, b) in enumerate(zip(weights, biases)):
        if l < 2:
            mu = F.conv2d(a, w, stride=strides[l], padding=pads[l])
        else:
            mu = F.linear(a.flatten(1), w, b[0])
        mus.append(mu)
        if l < len(weights) - 1:
            a = f(xs_m[l]) if xs_m is not None else f(mu)
    return mus


def oracle_energy(params, s, xs, t, f, m):
    weights = [w[m] for w in params.weights]
    biases = [None if b is None else b[m] for b in params.biases]
    s_m = s if s.dim() == 2 else s[m]
    mus = oracle_mus(weights, biases, s_m, [x[m] for x in xs], f)
    hidden_e = sum(0.5 * ((x[m] - mu) ** 2).sum() for x, mu in zip(xs, mus[:-1]))
    return hidden_e + 0.5 * ((t[m] - mus[-1]) ** 2).sum()


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("act", [TANH, RELU], ids=["tanh", "relu"])
def test_pc_value_and_weight_gradients_of_a_conv_net_equal_autograd_of_the_energy(shared, act):
    params = params_of(1)
    s, t = data(2, shared)
    xs = hidden(params, 3)
    acts, errors, residual = pct.prediction_errors(params, s, xs, t, act)
    f = act.f
    ws = [w.clone().requires_grad_(True) for w in params.weights]
    bs = [None if b is None else b.clone().requires_grad_(True) for b in params.biases]
    xl = [x.clone().requires_grad_(True) for x in xs]
    oracle = network.Params(ws, bs)
    E = sum(oracle_energy(oracle, s, xl, t, f, m) for m in range(M))
    torch.testing.assert_close(pct.energy(errors, residual).sum(), E.detach(), **TOL)
    grads = torch.autograd.grad(E, xl + ws + [b for b in bs if b is not None])
    for code, expected in zip(pct.value_gradients(params, xs, errors, act) + params.gradients(acts, errors), grads):
        torch.testing.assert_close(code, expected, **TOL)


@pytest.mark.parametrize("shared", [True, False])
def test_bp_gradients_of_a_conv_net_equal_autograd_of_the_loss(shared):
    params = params_of(4)
    s, t = data(5, shared)
    acts, errors, _ = bpt.backprop_errors(params, s, t, RELU)
    ws = [w.clone().requires_grad_(True) for w in params.weights]
    bs = [None if b is None else b.clone().requires_grad_(True) for b in params.biases]
    loss = 0
    for m in range(M):
        out = oracle_mus([w[m] for w in ws], [None if b is None else b[m] for b in bs],
                         s if shared else s[m], None, torch.relu)[-1]
        loss = loss + 0.5 * ((t[m] - out) ** 2).sum()
    grads = torch.autograd.grad(loss, ws + [b for b in bs if b is not None])
    for code, expected in zip(params.gradients(acts, errors), grads):
        torch.testing.assert_close(code, expected, **TOL)


def test_the_feedforward_of_the_packed_conv_net_is_each_members_torch_forward():
    params = params_of(6)
    s, _ = data(7, True)
    out = network.predict(params, s, RELU)
    for m in range(M):
        expected = oracle_mus([w[m] for w in params.weights], [None if b is None else b[m] for b in params.biases],
                              s, None, torch.relu)[-1]
        torch.testing.assert_close(out[m], expected, **TOL)


def test_a_pc_step_updating_at_every_inference_step_with_adam_packed_equals_member_by_member():
    params = params_of(8)
    s, t = data(9, False)
    st = pct.PCSettings(T=5, inference_lr=torch.tensor([0.5, 0.3, 0.1], dtype=DT),
                        x_lr_discount=torch.full((M,), 0.5, dtype=DT), update_p_at=frozenset(range(5)))
    lr = torch.tensor([[1e-3] * 4, [5e-4] * 4, [1e-4] * 4], dtype=DT)
    packed = params.clone()
    pct.pc_step(packed, optim.Adam(packed, lr, weight_decay=0.01), s, t, RELU, st)
    for m in range(M):
        alone = params.member(m)
        one = pct.PCSettings(T=5, inference_lr=st.inference_lr[m:m + 1], x_lr_discount=st.x_lr_discount[m:m + 1],
                             update_p_at=st.update_p_at)
        pct.pc_step(alone, optim.Adam(alone, lr[m:m + 1], weight_decay=0.01), s[m:m + 1], t[m:m + 1], RELU, one)
        for a, b in zip(packed.tensors, alone.tensors):
            torch.testing.assert_close(a[m:m + 1], b, **TOL)
        assert not torch.equal(alone.weights[0], params.weights[0][m:m + 1])


def test_bp_steps_take_that_many_optimizer_steps_on_the_batch():
    params = params_of(10)
    s, t = data(11, True)
    lr = torch.full((M, 4), 1e-3, dtype=DT)
    once, thrice = params.clone(), params.clone()
    opt = optim.Adam(once, lr)
    for _ in range(3):
        bpt.bp_step(once, opt, s, t, RELU)
    loss = bpt.bp_step(thrice, optim.Adam(thrice, lr), s, t, RELU, bpt.BPSettings(steps=3))
    for a, b in zip(once.tensors, thrice.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    torch.testing.assert_close(loss, bpt.bp_step(params.clone(), optim.Adam(params.clone(), lr), s, t, RELU), rtol=0, atol=0)


def conv_member(**model):
    config = member_config(data={"name": "gaussian_pair", "input_size": 72, "output_size": 3}, model={
        "conv": CONFIG, "sizes": SIZES, "activation": "relu", "bias": True, "init": {"name": "torch_default"}})
    return config | {"model": config["model"] | model}


@pytest.mark.parametrize("model,message", [
    ({"sizes": [12, 5, 3]}, "model.sizes: with conv, give the dense layers' sizes from the flattened 4x2x2 = 16 to "
                            "the 3 outputs, got [12, 5, 3]"),
    ({"conv": {**CONFIG, "input_shape": [3, 6, 6]}}, "model.conv.input_shape: [3, 6, 6] does not fit the data's 72 inputs"),
    ({"conv": {**CONFIG, "layers": [{"channels": 3, "kernel": 9}]}},
     "model.conv.layers: the images shrink to nothing: use smaller kernels or strides"),
    ({"masks": [None, None, None, None]}, "model.masks: masks are for MLPs (not with model.conv)"),
    ({"init": [{"name": "given", "values": [[1.0]]}] * 4},
     "model.conv: given weights and per-weight learning rates are for MLPs (not with conv)"),
    ({"num_layers": 3}, "model.num_layers: 3 disagrees with conv and sizes (4 layers)"),
])
def test_a_conv_model_that_does_not_fit_is_a_one_line_config_error(model, message):
    with pytest.raises(ConfigError) as error:
        validate(SupervisedConfig, conv_member(**model))
    assert str(error.value) == message


def test_a_valid_conv_member_trains_through_the_engine_and_counts_its_layers():
    member = validate(SupervisedConfig, conv_member())
    assert member["model"]["num_layers"] == 4
    training = engine.PackedTraining.build([member, member | {"seed": 1}])
    assert isinstance(training.params, conv.ConvParams) and training.params.weights[0].shape == (2, 3, 2, 3, 3)
    before = [w.clone() for w in training.params.weights]
    training.iterate(0)
    assert all(not torch.equal(a, b) for a, b in zip(before, training.params.weights))
