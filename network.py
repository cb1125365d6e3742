"""Packed multilayer perceptrons: M member networks as one tensor program.

Layer l (1..L) holds W_l with shape [M, n_l, n_{l-1}] and an optional bias b_l with shape [M, 1, n_l].
The prediction of layer l is mu_l = f(x_{l-1}) W_l^T + b_l, except mu_1 = s W_1^T + b_1: the input
is clamped and no activation is applied to it. Inputs are [B, n_0] (shared by all members) or
[M, B, n_0] (one batch per member); everything downstream is [M, B, n_l].

The learning rules see a network only through `Params.layer` (mu_l from a_{l-1}), `Params.back`
(an error of layer l carried to its input side) and `Params.gradients` (the local weight
gradients): a convolutional network plugs in by providing the same three methods. The maths both
rules share (the output error and the local gradients) lives here, not under either rule's name.
"""
from dataclasses import dataclass, replace
import math

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Activation:
    """An activation f and its derivative f' (both elementwise, taking the pre-activation); f' is
    None for the identity, whose derivative is 1. With `on_output` f is also the output layer's
    activation, o = f(mu_L); otherwise the output is linear, o = mu_L."""
    f: callable
    df: callable = None
    on_output: bool = False
    df_of_f: callable = None   # f' from the value f(x), where that is cheaper (sigmoid, tanh)

    def times_df(self, x, g, fx=None):
        """f'(x) * g; g itself for the identity (exactly what multiplying by 1 gives, one op less).
        With fx = f(x) already at hand, f' is computed from it where df_of_f allows (the same values)."""
        if self.df is None:
            return g
        return (self.df(x) if fx is None or self.df_of_f is None else self.df_of_f(fx)) * g

    def output(self, mu):
        """The network's output o from the output layer's pre-activation mu_L."""
        return self.f(mu) if self.on_output else mu

    def with_output(self, on_output):
        """This activation, applied to the output layer too or not."""
        return replace(self, on_output=on_output)


def _sigmoid_df_of_f(s):
    return s * (1 - s)


def _tanh_df_of_f(t):
    return 1 - t * t


ACTIVATIONS = {
    "identity": Activation(lambda x: x),
    "sigmoid": Activation(torch.sigmoid, lambda x: _sigmoid_df_of_f(torch.sigmoid(x)), df_of_f=_sigmoid_df_of_f),
    "tanh": Activation(torch.tanh, lambda x: _tanh_df_of_f(torch.tanh(x)), df_of_f=_tanh_df_of_f),
    "relu": Activation(torch.relu, lambda x: (x > 0).to(x.dtype)),
    "leaky_relu": Activation(lambda x: F.leaky_relu(x, 0.01),
                             lambda x: torch.where(x > 0, torch.ones_like(x), torch.full_like(x, 0.01))),
}


@dataclass
class Params:
    """Packed weights: lists over layers of [M, out, in] weights and [M, 1, out] biases (or None).

    `masks` (per layer None or a 0/1 tensor broadcastable to [M, out, in]) keeps masked weights at
    zero: they start at zero and their gradients are masked (e.g. cue-specific input layers).
    `frozen` holds the indices of layers that never learn (their gradients are None, so no optimizer
    touches them, not even weight decay).
    """
    weights: list
    biases: list
    masks: list = None
    frozen: frozenset = frozenset()

    @property
    def num_members(self):
        return self.weights[0].shape[0]

    @property
    def tensors(self):
        """All trainable tensors, weights first, in a fixed order (the optimizer's view)."""
        return self.weights + [b for b in self.biases if b is not None]

    def clone(self):
        return replace(self, weights=[w.clone() for w in self.weights],
                       biases=[None if b is None else b.clone() for b in self.biases])

    def member(self, m):
        """The sub-network of member m as a packed network with one member."""
        return replace(self, weights=[w[m:m + 1].clone() for w in self.weights],
                       biases=[None if b is None else b[m:m + 1].clone() for b in self.biases])

    def layer(self, l, a):
        """mu_{l+1} = a W^T + b of weight layer l (0-based) from its input a ([B, in] or [M, B, in])."""
        return linear(a, self.weights[l], self.biases[l])

    def back(self, l, e):
        """The error e [M, B, out] of weight layer l carried to its input side: e W -> [M, B, in]."""
        return torch.bmm(e, self.weights[l])

    def weight_gradient(self, l, a, e):
        """dE/dW of weight layer l (0-based): -eps^T a, its error times its presynaptic activity (a
        shared input a_0 [B, n_0] is broadcast over members)."""
        if a.dim() == 2:
            return -torch.matmul(e.transpose(1, 2), a)
        return torch.baddbmm(e.new_zeros(()), e.transpose(1, 2), a, beta=0, alpha=-1)   # the sign in the product

    def gradients(self, acts, errors):
        """Local gradients dE/dW_l (`weight_gradient`), dE/db_l = -sum_batch eps_l, in `tensors`
        order; masked weights get zero, frozen layers None."""
        grads_w = [self.weight_gradient(l, a, e) for l, (a, e) in enumerate(zip(acts, errors))]
        if self.masks is not None:
            grads_w = [g if mask is None else g * mask for g, mask in zip(grads_w, self.masks)]
        grads_b = [-e.sum(dim=1, keepdim=True) for e, b in zip(errors, self.biases) if b is not None]
        layers = list(range(len(self.weights))) + [l for l, b in enumerate(self.biases) if b is not None]
        return [None if l in self.frozen else g for l, g in zip(layers, grads_w + grads_b)]


def output_error(t, o, mask=None):
    """t - o, restricted to the output units where `mask` (broadcastable to o) is 1."""
    return t - o if mask is None else (t - o) * mask


def output_errors(t, mu, act, mask=None):
    """(residual t - o, eps_L) at the output layer: eps_L = -dLoss/dmu_L for Loss = 0.5*||t - o||^2,
    i.e. the residual itself for a linear output and f'(mu_L) * residual for o = f(mu_L)."""
    residual = output_error(t, act.output(mu), mask)
    return residual, (act.times_df(mu, residual) if act.on_output else residual)


def output_loss(residual):
    """0.5 * sum of the squared residual over batch and units, per member -> [M]."""
    return half_squared_sum(residual)


def half_squared_sum(e):
    """0.5 * sum of e^2 over everything but the member axis -> [M]."""
    return 0.5 * e.square().sum(dim=tuple(range(1, e.dim())))


def per_member(values, like):
    """Per-member values [M] shaped to broadcast against `like` [M, ...]."""
    return values.view(-1, *[1] * (like.dim() - 1))


def linear(a, weight, bias):
    """mu = a W^T + b for every member; a is [B, in] (shared) or [M, B, in]."""
    # bmm where it applies: the same product as matmul's, without matmul's reshaping around it (not
    # baddbmm for the bias: it adds the bias inside the product, rounding differently for wide layers)
    mu = torch.matmul(a, weight.transpose(1, 2)) if a.dim() == 2 else torch.bmm(a, weight.transpose(1, 2))
    return mu if bias is None else mu + bias


def feedforward(params, s, act):
    """Plain forward pass; returns the pre-activations [mu_1, ..., mu_L] (mu_L is the output)."""
    mus, a = [], s
    for l in range(len(params.weights)):
        mu = params.layer(l, a)
        mus.append(mu)
        a = act.f(mu)
    return mus


def predict(params, s, act):
    """Feed-forward output o (value nodes are transparent at evaluation)."""
    return act.output(feedforward(params, s, act)[-1])


def _init_constant(w, generator, value=1.0):
    return torch.nn.init.constant_(w, value)


def _init_normal(w, generator, std=1.0, mean=0.0):
    return torch.nn.init.normal_(w, mean, std, generator=generator)


def _init_xavier_normal(w, generator, gain=1.0):
    return torch.nn.init.xavier_normal_(w, gain, generator=generator)


def _init_xavier_uniform(w, generator, gain=1.0):
    return torch.nn.init.xavier_uniform_(w, gain, generator=generator)


def _init_orthogonal(w, generator, gain=1.0):
    return torch.nn.init.orthogonal_(w, gain, generator=generator)


def _init_abs_normal(w, generator, std=1.0, mean=0.0):
    return torch.nn.init.normal_(w, mean, std, generator=generator).abs_()


def _init_given(w, generator, values):
    if tuple(w.shape) != (len(values), len(values[0])):
        raise ValueError(f"given weights of shape {len(values)}x{len(values[0])} for a layer of {tuple(w.shape)}")
    return w.copy_(torch.tensor(values, dtype=w.dtype))


def _init_torch_default(w, generator):
    return torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=generator)


# name -> (function, {parameter: default}); parameters are what the YAML may set under model.init.
INITS = {
    "constant": (_init_constant, {"value": 1.0}),
    "normal": (_init_normal, {"std": 1.0, "mean": 0.0}),
    "abs_normal": (_init_abs_normal, {"std": 1.0, "mean": 0.0}),   # |N(mean, std^2)|: positive weights
    "xavier_normal": (_init_xavier_normal, {"gain": 1.0}),
    "xavier_uniform": (_init_xavier_uniform, {"gain": 1.0}),
    "orthogonal": (_init_orthogonal, {"gain": 1.0}),
    "torch_default": (_init_torch_default, {}),
    "given": (_init_given, {"values": None}),   # the weights themselves, a matrix [out][in]
}


def dense_shapes(sizes):
    """The weight shapes [n_l, n_{l-1}] of an MLP with layer sizes `sizes`."""
    return [(fan_out, fan_in) for fan_in, fan_out in zip(sizes[:-1], sizes[1:])]


def init_member(shapes, init, bias, generator, dtype=torch.float32):
    """Initial weights of one network, drawn layer by layer from `generator`: W_l of shape
    shapes[l], [out, in] for a dense layer (dense_shapes) or [out, in, k, k] for a convolution.

    `init` is one initialisation for every layer or a list with one per layer. With `bias` every
    dense layer has one (convolutions have none), starting at zero, except with `torch_default`,
    which draws it from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as torch.nn.Linear does.
    """
    layer_inits = init if isinstance(init, list) else [init] * len(shapes)
    weights, biases = [], []
    for shape, layer_init in zip(shapes, layer_inits):
        fn, defaults = INITS[layer_init["name"]]
        kwargs = {k: layer_init.get(k, v) for k, v in defaults.items()}
        weights.append(fn(torch.empty(shape, dtype=dtype), generator, **kwargs))
        b = None
        if bias and len(shape) == 2:
            b = torch.zeros(1, shape[0], dtype=dtype)
            if layer_init["name"] == "torch_default":
                bound = 1 / math.sqrt(shape[1])
                b.uniform_(-bound, bound, generator=generator)
        biases.append(b)
    return weights, biases


def init_params(shapes, inits, bias, generators, dtype=torch.float32, device="cpu", masks=None,
                frozen=frozenset()):
    """Packed initial weights: member m is `init_member(shapes, inits[m], bias, generators[m])`.

    Masked weights are drawn like the others (so a mask never changes the other weights' draws),
    then set to zero.
    """
    drawn = [init_member(shapes, i, bias, g, dtype) for i, g in zip(inits, generators)]
    weights = [torch.stack([d[0][l] for d in drawn]).to(device) for l in range(len(shapes))]
    biases = [None if drawn[0][1][l] is None else torch.stack([d[1][l] for d in drawn]).to(device)
              for l in range(len(shapes))]
    return masked(Params(weights, biases, frozen=frozenset(frozen)), masks)


def masked(params, masks):
    """`params` with weight masks (per layer None or [out, in] of 0/1) applied and kept."""
    if masks is None or all(m is None for m in masks):
        return params
    device, dtype = params.weights[0].device, params.weights[0].dtype
    tensors = [None if m is None else torch.as_tensor(m, dtype=dtype, device=device) for m in masks]
    for w, mask in zip(params.weights, tensors):
        if mask is not None:
            w.mul_(mask)
    return replace(params, masks=tensors)
