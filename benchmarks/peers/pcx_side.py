"""The PCX side of the peer benchmark: our PC written with PCX (run in PCX's own environment).

    <pcx venv>/bin/python benchmarks/peers/pcx_side.py WORK.npz OUT.json [--weights OUT.npz] [--repeat-compile]

It imports only numpy, jax and pcx (never the project). WORK.npz (written by run.py) holds the case:
the initial weights of every member (W<l> [M, out, in], b<l> [M, out] when biased), the batches
s [N, M, B, in] and t [N, M, B, out], per-member inference rate, discount and weight lr [M], and
T, the activation and the dtype. The network is the project's PC exactly (ARCHITECTURE.md):

    value nodes on the pre-activations: x_l = vode(W_l f(x_{l-1}) + b_l), x_0 = s (no f on the input);
    the output vode is clamped to the target, so its energy is the loss 0.5 ||t - mu_L||^2;
    per batch: x = feed-forward; T energy evaluations: at k = 0..T-2 the value nodes take
    x <- x - gamma dE/dx and, from k = 1, gamma <- gamma * discount where E_k >= E_(k-1); at
    k = T-1 the weights take W <- W - lr dE/dW (SGD, no scaling by the batch size).

The members are vmapped (one compiled program for all of them, as the project packs them); the T-1
inference steps are one `pxf.scan`; the whole batch is one `pxf.jit`. The jit is compiled on a copy
of the model before the clock starts (that time is reported as `compile_s`), then the epoch is timed.
"""
import argparse
from importlib import metadata
import json
import os
import sys
import time

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import pcx as px  # noqa: E402
import pcx.functional as pxf  # noqa: E402
import pcx.nn as pxnn  # noqa: E402
import pcx.predictive_coding as pxc  # noqa: E402
import pcx.utils as pxu  # noqa: E402

ACTIVATIONS = {"identity": lambda x: x, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid}


class PCNet(pxc.EnergyModule):
    """An MLP whose value nodes sit on the pre-activations; the last vode is clamped to the target."""

    def __init__(self, sizes, activation, bias):
        super().__init__()
        self.f = px.static(ACTIVATIONS[activation])
        self.layers = [pxnn.Linear(n_in, n_out, bias=bias) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
        self.vodes = [pxc.Vode() for _ in sizes[1:]]
        self.vodes[-1].h.frozen = True

    def __call__(self, s, t=None):
        a = s
        for layer, vode in zip(self.layers, self.vodes):
            a = self.f(vode(layer(a)))   # the last f is never used: the output is mu_L
        if t is not None:
            self.vodes[-1].set("h", t)
        return self.vodes[-1].get("u")


VODES = pxu.M(pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0))
MEMBER = pxu.M(pxnn.LayerParam | pxc.VodeParam | pxc.VodeParam.Cache).to((None, 0))


@pxf.vmap(VODES, in_axes=(0, 0), out_axes=0)
def forward(s, t, *, model):
    return model(s, t)


@pxf.vmap(VODES, in_axes=(0,), out_axes=(None, 0), axis_name="batch")
def energy(s, *, model):
    mu_out = model(s)
    return jax.lax.psum(model.energy(), "batch"), mu_out


def infer(k, gamma, previous, s, discount, *, model):
    """One inference step k: E_k and dE/dx at the current x, x <- x - gamma dE/dx, then the discount."""
    with pxu.step(model, clear_params=pxc.VodeParam.Cache):
        (E, _), grads = pxf.value_and_grad(pxu.M_hasnot(pxc.VodeParam, frozen=True).to([False, True]),
                                           has_aux=True)(energy)(s, model=model)
    for vode, grad in zip(model.vodes[:-1], grads["model"].vodes[:-1]):
        vode.h.set(vode.h.get() - gamma * grad.h.get())
    gamma = jnp.where((k > 0) & (E >= previous), gamma * discount, gamma)
    return (gamma, E), E


@pxf.vmap(MEMBER, in_axes=(None, 0, 0, 0, 0, 0), out_axes=0)
def member_step(T, s, t, gamma, discount, lr, *, model):
    """One batch of one member (vmapped over the members, T >= 2); returns its loss before the
    update (E_0: at the feed-forward state the energy is the loss)."""
    with pxu.step(model, (pxc.STATUS.INIT, None), clear_params=pxc.VodeParam.Cache):
        forward(s, t, model=model)
    _, energies = pxf.scan(lambda k, gamma, previous, *, model: infer(k, gamma, previous, s, discount, model=model),
                           xs=jnp.arange(T - 1))(gamma, jnp.asarray(jnp.inf, gamma.dtype), model=model)
    with pxu.step(model, clear_params=pxc.VodeParam.Cache):
        _, grads = pxf.value_and_grad(pxu.M(pxnn.LayerParam).to([False, True]), has_aux=True)(energy)(
            s, model=model)
    for layer, grad in zip(model.layers, grads["model"].layers):
        for name in ("weight", "bias"):
            param = getattr(layer.nn, name, None)
            if param is not None:
                param.set(param.get() - lr * getattr(grad.nn, name).get())
    return energies[0]


@pxf.jit(static_argnums=0)
def train_on_batch(T, s, t, gamma, discount, lr, *, model):
    return member_step(T, s, t, gamma, discount, lr, model=model)


def build(work, sizes):
    """The packed model with every member's initial weights from the work file."""
    bias = "b0" in work
    model = PCNet(sizes, str(work["activation"]), bias)
    for l, layer in enumerate(model.layers):
        layer.nn.weight.set(jnp.asarray(work[f"W{l}"]))
        if bias:
            layer.nn.bias.set(jnp.asarray(work[f"b{l}"]))
    return model


def weights(model):
    """{W<l>, b<l>}: the members' weights as numpy arrays (waits for the device)."""
    out = {}
    for l, layer in enumerate(model.layers):
        out[f"W{l}"] = np.asarray(jax.block_until_ready(layer.nn.weight.get()))
        if layer.nn.bias is not None:
            out[f"b{l}"] = np.asarray(layer.nn.bias.get())
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work")
    parser.add_argument("out")
    parser.add_argument("--weights", help="write the final weights here (.npz)")
    args = parser.parse_args(argv)
    work = dict(np.load(args.work))
    if work["s"].dtype == np.float64:
        jax.config.update("jax_enable_x64", True)
    layers = len([k for k in work if k.startswith("W")])
    sizes = [work["W0"].shape[2]] + [work[f"W{l}"].shape[1] for l in range(layers)]
    T = int(work["T"])
    s, t = jnp.asarray(work["s"]), jnp.asarray(work["t"])
    gamma, discount, lr = (jnp.asarray(work[k]) for k in ("inference_lr", "x_lr_discount", "lr"))

    start = time.perf_counter()
    warm = build(work, sizes)
    for i in range(2):   # two compilations: the value nodes are empty at the first call
        jax.block_until_ready(train_on_batch(T, s[i], t[i], gamma, discount, lr, model=warm))
    compile_s = time.perf_counter() - start   # compilation and one batch, on a throwaway copy

    model = build(work, sizes)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(s.shape[0]):
        train_on_batch(T, s[i], t[i], gamma, discount, lr, model=model)
    final = weights(model)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if args.weights:
        np.savez(args.weights, **final)
    json.dump({"side": "pcx", "cpu_s": cpu, "wall_s": wall, "compile_s": compile_s,
               "versions": {"pcx": metadata.version("pcx"), "jax": jax.__version__}},
              open(args.out, "w"))


if __name__ == "__main__":
    sys.exit(main())
