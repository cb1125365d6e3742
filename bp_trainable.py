"""The supervised trainable (PC or BP on a packed MLP) and the backprop learning step.

A trial trains its members (configs that differ only in packable values) as one tensor program and
reports one row per member and iteration. The Ray-facing function `supervised` is a thin wrapper
around `train_members`, which does not need Ray.
"""
from dataclasses import dataclass
import math
from pathlib import Path
import tempfile
import uuid

import torch

from data_utils import STREAMS
from metrics import ERROR_PREFIX, METRICS, Observation
from network import ACTIVATIONS, INITS, Params, feedforward, init_params, predict
from optim import OPTIMIZERS
from pc_trainable import PCSettings, output_error, pc_step, update_steps, weight_gradients
from utils import (AnyOf, Bool, ConfigError, Float, Int, List, Named, Str, Struct, derive_seed,
                   flatten, results_dir)


# ---------------------------------------------------------------------------------------------
# Backprop
# ---------------------------------------------------------------------------------------------
def backprop_errors(params, s, t, act, output_mask=None):
    """Presynaptic activities a_{l-1} and backpropagated errors for every layer l = 1..L.

    eps_L = t - o and eps_l = f'(mu_l) * (eps_{l+1} W_{l+1}), so -eps_l^T a_{l-1} is dLoss/dW_l for
    Loss = 0.5 * sum((o - t)^2): the same `weight_gradients` serves both rules.
    """
    mus = feedforward(params, s, act)
    acts = [s] + [act.f(mu) for mu in mus[:-1]]
    errors = [output_error(t, mus[-1], output_mask)]
    for mu, w_next in zip(reversed(mus[:-1]), reversed(params.weights[1:])):
        errors.insert(0, act.df(mu) * torch.matmul(errors[0], w_next))
    return acts, errors


def bp_step(params, optimizer, s, t, act, settings=None):
    """One forward, one backward, one optimizer step. Returns the loss before the update [M]."""
    acts, errors = backprop_errors(params, s, t, act, settings and settings.output_mask)
    optimizer.step(params, weight_gradients(acts, errors, params))
    return 0.5 * errors[-1].square().sum(dim=(1, 2))


RULES = {"pc": pc_step, "bp": bp_step}


# ---------------------------------------------------------------------------------------------
# Config of the supervised trainable
# ---------------------------------------------------------------------------------------------
def _init_variants():
    variants = {name: Struct(fields={k: Float(default=v) for k, v in defaults.items()})
                for name, (_, defaults) in INITS.items()}
    variants["pretrained"] = Struct(fields={
        "run": Str(doc="<experiment>/<run> under $RESULTS_DIR of a run with save_weights: true"),
        "member": Int(min=0, default=0, doc="which member of that run's trial"),
    })
    return variants


def _resolve_sizes(config, path):
    """Fill model.sizes / model.num_layers from each other, the width and the data's dimensions."""
    model = config["model"]
    n_in, n_out = STREAMS[config["data"]["name"]].dims(config["data"])
    if model["sizes"] is None:
        if model["num_layers"] is None or (model["width"] is None and model["num_layers"] > 1):
            raise ConfigError(f"{path}.model: give either sizes, or num_layers (and width if > 1)")
        model["sizes"] = [n_in] + [model["width"]] * (model["num_layers"] - 1) + [n_out]
    if (model["sizes"][0], model["sizes"][-1]) != (n_in, n_out):
        raise ConfigError(f"{path}.model.sizes: {model['sizes']} does not fit the data "
                          f"({n_in} inputs, {n_out} outputs)")
    if model["num_layers"] not in (None, len(model["sizes"]) - 1):
        raise ConfigError(f"{path}.model.num_layers: {model['num_layers']} disagrees with sizes")
    model["num_layers"] = len(model["sizes"]) - 1
    lr = config["optimizer"]["lr"]
    if isinstance(lr, list) and len(lr) != model["num_layers"]:
        raise ConfigError(f"{path}.optimizer.lr: needs one rate per layer ({model['num_layers']})")
    units = config["error_units"]
    if units is not None and max(units) >= n_out:
        raise ConfigError(f"{path}.error_units: output units are 0..{n_out - 1}, got {units}")
    steps = config["pc"]["update_p_at"]
    if isinstance(steps, list) and max(steps) >= config["pc"]["T"]:
        raise ConfigError(f"{path}.pc.update_p_at: steps must be < T ({config['pc']['T']})")
    return config


class SupervisedSchema(Struct):
    def check(self, value, path):
        return _resolve_sizes(super().check(value, path), path)


POSITIVE = Float(min=0, min_exclusive=True)
SCHEMA = SupervisedSchema(fields={
    "rule": Str(choices=tuple(RULES)),
    "seed": Int(min=0, doc="seeds the member's initial weights and data"),
    "data": Named(variants={name: stream.schema for name, stream in STREAMS.items()}),
    "model": Struct(fields={
        "sizes": List(item=Int(min=1), min_len=2, default=None),
        "num_layers": Int(min=1, default=None, doc="weight layers"),
        "width": Int(min=1, default=None, doc="hidden width"),
        "activation": Str(choices=tuple(ACTIVATIONS), default="identity"),
        "bias": Bool(default=False),
        "init": Named(variants=_init_variants()),
    }),
    "pc": Struct(fields={
        "T": Int(min=1, default=128, doc="inference steps"),
        "inference_lr": Float(min=0, min_exclusive=True, default=0.1),
        "x_lr_discount": Float(min=0, max=1, default=0.5),
        "update_p_at": AnyOf(default="last", options=(Str(choices=("last", "all")),
                                                        List(item=Int(min=0), min_len=1))),
    }, default={}),
    "optimizer": Struct(fields={
        "name": Str(choices=tuple(OPTIMIZERS), default="sgd"),
        "lr": AnyOf(options=(POSITIVE, List(item=POSITIVE, min_len=1))),
        "weight_decay": Float(min=0, default=0.0),
    }),
    "error_units": List(item=Int(min=0), min_len=1, default=None,
                        doc="output units whose error drives learning (default: all)"),
    "log": List(item=Str(choices=tuple(METRICS)), default=["loss"]),
    "save_weights": Bool(default=False, doc="keep the final weights in a checkpoint"),
    "device": Str(choices=("auto", "cpu", "cuda"), default="auto"),
    "dtype": Str(choices=("float32", "float64"), default="float32"),
})

# Values that may differ between the members of one trial (they do not change tensor shapes).
PACKABLE = ("seed", "optimizer.lr", "pc.inference_lr", "pc.x_lr_discount", "model.init")


# ---------------------------------------------------------------------------------------------
# The packed run
# ---------------------------------------------------------------------------------------------
def check_members(members):
    """Members of one trial must agree on everything outside PACKABLE."""
    def shared(config):
        flat = flatten(config)
        return {k: v for k, v in flat.items()
                if not any(k == p or k.startswith(p + ".") for p in PACKABLE)}
    first = shared(members[0])
    for i, member in enumerate(members[1:], 1):
        differing = sorted(k for k, v in shared(member).items() if first.get(k) != v)
        if differing:
            raise ValueError(f"member {i} differs from member 0 in non-packable {differing}")


def pick_device(name):
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


@dataclass
class PackedRun:
    """Everything one trial trains: the members' weights, optimizer, rule and data stream."""
    params: object
    optimizer: object
    act: object
    rule: callable
    settings: object
    stream: object
    metrics: list

    @classmethod
    def build(cls, members):
        check_members(members)
        first = members[0]
        device, dtype = pick_device(first["device"]), getattr(torch, first["dtype"])
        seeds = [m["seed"] for m in members]
        model = first["model"]
        params = initial_params(members, dtype, device)
        lr = torch.tensor([_layer_lrs(m["optimizer"]["lr"], model["num_layers"]) for m in members],
                          dtype=dtype, device=device)
        optimizer = OPTIMIZERS[first["optimizer"]["name"]](
            params, lr, weight_decay=first["optimizer"]["weight_decay"])
        pc = first["pc"]
        settings = PCSettings(
            T=pc["T"],
            inference_lr=torch.tensor([m["pc"]["inference_lr"] for m in members], dtype=dtype,
                                      device=device),
            x_lr_discount=torch.tensor([m["pc"]["x_lr_discount"] for m in members], dtype=dtype,
                                       device=device),
            update_p_at=update_steps(pc["update_p_at"], pc["T"]),
            output_mask=None if first["error_units"] is None else torch.zeros(
                model["sizes"][-1], dtype=dtype, device=device).index_fill_(
                0, torch.tensor(first["error_units"], device=device), 1.0))
        stream = STREAMS[first["data"]["name"]](first["data"], seeds, device, dtype)
        return cls(params, optimizer, ACTIVATIONS[model["activation"]], RULES[first["rule"]],
                   settings, stream, [METRICS[name] for name in first["log"]])

    def iterate(self, iteration):
        """Train on the iteration's batches and measure; returns ({column: [M] tensor}, finite [M])."""
        total, probe, before = 0, None, None
        for s, t in self.stream.batches(iteration):
            if probe is None:
                probe, before = (s, t), predict(self.params, s, self.act)
            total = total + self.rule(self.params, self.optimizer, s, t, self.act, self.settings)
        after = predict(self.params, probe[0], self.act)
        obs = Observation(self.params, self.act, self.stream, probe, before, after, total)
        columns = {}
        for metric in self.metrics:
            columns.update(metric(obs))
        finite = torch.isfinite(total)
        for p in self.params.tensors:
            finite &= torch.isfinite(p).flatten(1).all(1)
        return columns, finite

    def silence(self, diverged):
        """Zero the weights of diverged members so they stay finite (their scores are fixed)."""
        for p in self.params.tensors:
            p[diverged] = 0


def initial_params(members, dtype, device):
    """Each member's initial weights: drawn from its seed's 'init' stream, or a saved run's."""
    model = members[0]["model"]
    if model["init"]["name"] == "pretrained":
        saved = [load_weights(m["model"]["init"]) for m in members]
        weights = [torch.stack([w[l] for w, _ in saved]).to(device, dtype) for l in range(len(saved[0][0]))]
        biases = [None if saved[0][1][l] is None else
                  torch.stack([b[l] for _, b in saved]).to(device, dtype) for l in range(len(weights))]
        return Params(weights, biases)
    generators = [torch.Generator().manual_seed(derive_seed(m["seed"], "init")) for m in members]
    return init_params(model["sizes"], [m["model"]["init"] for m in members], model["bias"],
                       generators, dtype, device)


WEIGHTS_FILE = "weights.pt"


def weights_file(run):
    """The weights a run saved (its single trial's checkpoint); a clear error if there are none."""
    found = sorted((results_dir() / run).glob(f"*/checkpoint_*/{WEIGHTS_FILE}"))
    if len(found) != 1:
        problem = "no saved weights" if not found else f"{len(found)} saved weight files"
        raise ConfigError(f"model.init.run: {problem} under {results_dir() / run}; run the config "
                          f"that produces {run} (with save_weights: true, one trial) first")
    return found[0]


def load_weights(init):
    """(weights, biases) of one member of a saved run: lists over layers of [out, in] / [1, out]."""
    saved = torch.load(weights_file(init["run"]), map_location="cpu")
    m = init["member"]
    return ([w[m] for w in saved["weights"]], [None if b is None else b[m] for b in saved["biases"]])


def save_weights(params, folder):
    """Write the packed weights to folder/weights.pt (the file `load_weights` reads)."""
    torch.save({"weights": [w.cpu() for w in params.weights],
                "biases": [None if b is None else b.cpu() for b in params.biases]},
               Path(folder) / WEIGHTS_FILE)


def prepare(members):
    """Checks before any trial starts: the data is at hand and saved weights exist."""
    first = members[0]
    stream = STREAMS[first["data"]["name"]]
    if hasattr(stream, "prepare"):
        stream.prepare(first["data"])
    try:   # building the stream checks the subsets (e.g. enough images per class) up front
        stream(first["data"], [m["seed"] for m in members], "cpu", torch.float32)
    except ValueError as error:
        raise ConfigError(f"config.data: {error}") from None
    for member in members:
        if member["model"]["init"]["name"] == "pretrained":
            weights_file(member["model"]["init"]["run"])


def _layer_lrs(lr, num_layers):
    return list(lr) if isinstance(lr, list) else [lr] * num_layers


def auto_report_every(iterations, reports=32):
    return max(1, math.ceil(iterations / reports))


def train_members(members, iterations, report, report_every=0):
    """Train the packed members for `iterations` iterations.

    Calls report(rows, done) with columnar rows {"member", "iteration", metric columns...}
    every `report_every` iterations and at the end. A member whose loss or weights become
    non-finite is marked diverged: from then on its error columns read 1.0 and the rest NaN.
    """
    run = PackedRun.build(members)
    every = report_every or auto_report_every(iterations)
    diverged = torch.zeros(len(members), dtype=torch.bool, device=run.params.weights[0].device)
    buffer = []
    for iteration in range(iterations):
        columns, finite = run.iterate(iteration)
        diverged |= ~finite
        if diverged.any():
            run.silence(diverged)
            columns = {k: torch.where(diverged, 1.0 if k.startswith(ERROR_PREFIX) else math.nan, v)
                       for k, v in columns.items()}
        buffer.append((iteration, columns, diverged.clone()))
        done = iteration == iterations - 1
        if done or len(buffer) == every:
            report(_rows(buffer, len(members)), done)
            buffer = []
    return run


def _rows(buffer, num_members):
    """Columnar rows, one per (iteration, member), as plain Python lists."""
    rows = {"iteration": [], "member": [], "diverged": []}
    for iteration, columns, diverged in buffer:
        rows["iteration"] += [iteration] * num_members
        rows["member"] += list(range(num_members))
        rows["diverged"] += diverged.tolist()
        for key, values in columns.items():
            rows.setdefault(key, []).extend(values.detach().double().cpu().tolist())
    return rows


def supervised(trial):
    """Ray Tune trainable: trial = {"members": [config, ...], "iterations": N, "report_every": k}."""
    from ray import tune
    attempt = uuid.uuid4().hex
    torch.set_num_threads(max(1, int(trial.get("cpus", 1))))
    final = {}

    def report(rows, done):
        result = {"rows": rows, "done": done, "attempt": attempt,
                  "iterations_done": rows["iteration"][-1] + 1}
        if done:   # sent below, with the weights when asked to keep them
            final.update(result)
        else:
            tune.report(result)

    run = train_members(trial["members"], trial["iterations"], report, trial.get("report_every", 0))
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = None
        if trial["members"][0]["save_weights"]:
            save_weights(run.params, folder)
            checkpoint = tune.Checkpoint.from_directory(folder)
        tune.report(final, checkpoint=checkpoint)


supervised.schema = SCHEMA
supervised.packable = PACKABLE
supervised.prepare = prepare
TRAINABLES = {"supervised": supervised}
