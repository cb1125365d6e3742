"""Packed training, without Ray: the members of one pack trained as one tensor program.

A pack's members are validated configs that differ only in packable values (rules.packable).
`train` builds their network (network.py), optimizer (optim.py), learning rule (rules.py) and task
(tasks.py), trains the iterations, measures (metrics.py) and reports one row per member and
iteration. A member whose loss or weights become non-finite is marked diverged; the others go on
unaffected.

Every iteration the task plays with the members' `Learner` (tasks.Task.play): an open-loop task
has it learn from its batches, a closed-loop one drives it, its next input or target depending on
the members' own outputs. Either way every member keeps its own data, so packing never changes a
member's results. The engine names no rule and no task: it finds both in their registries
(rules.get_rule, streams.task_class), and what it needs of a rule the `Rule` declares.
"""
import ctypes
import ctypes.util
from dataclasses import dataclass, field, replace
import functools
import math
import time

import torch

from conv import weight_shapes, with_convolutions
from fused import FUSED_STEPS
from graphs import GraphedStep, graphs_pay
from metrics import ANTICIPATING_RULE, ERROR_PREFIX, METRICS, NEEDS, Observation
from network import ACTIVATIONS, Params, dense_shapes, feedforward, init_params, masked, predict
from optim import OPTIMIZERS
from rules import get_rule, packable
from streams import task_class
from tasks import Task, capture, restore
from utils import ConfigError, derive_seed, flatten

GPU_HINT = "set resources_per_trial.gpu (e.g. 1, or 0.5 to share one), or device: auto or cpu"


def trial_device(requested, gpu_ids, cuda_available):
    """The device of a trial, the one rule for it: `requested` is config.device (auto, cpu, cuda),
    `gpu_ids` the GPUs the trial was given (Ray's assignment; outside Ray, every GPU torch sees).
    auto means CUDA exactly when the trial was given a GPU."""
    if requested == "cpu":
        return "cpu"
    if not gpu_ids:
        if requested == "cuda":
            raise ConfigError(f"config.device: cuda, but this trial was given no GPU; {GPU_HINT}")
        return "cpu"
    if not cuda_available:
        raise ConfigError(f"config.device: {requested}: this trial was given GPU {gpu_ids}, but torch "
                          f"{torch.__version__} cannot use CUDA here (a CPU build?); install torch's "
                          "CUDA build on the node, or set device: cpu and resources_per_trial.gpu: 0")
    return "cuda"


@functools.cache
def keep_freed_memory():
    """Have this process's allocator keep freed blocks of up to 32 MiB for reuse (glibc only).

    By default glibc hands large freed blocks back to the system at once (mmap threshold, heap
    trimming), so the fresh tensors of every step, a few hundred KiB each, are page-faulted in again:
    measured here, that made a BP step of 16 packed 64-wide L=10 nets 2.4x slower (benchmarks/README.md).
    Returns whether the settings took effect; elsewhere (no glibc) it changes nothing.
    """
    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    if not hasattr(libc, "mallopt") or not hasattr(libc, "gnu_get_libc_version"):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 128 << 20))


def shared_config(config):
    """A member config's flattened values outside the packable paths: what the members of a pack share."""
    return {k: v for k, v in flatten(config).items()
            if not any(k == p or k.startswith(p + ".") for p in packable())}


def check_members(members):
    """Members of one pack must agree on everything outside the packable paths."""
    first = shared_config(members[0])
    for i, member in enumerate(members[1:], 1):
        differing = sorted(k for k, v in shared_config(member).items() if first.get(k) != v)
        if differing:
            raise ValueError(f"member {i} differs from member 0 in non-packable {differing}")


@dataclass
class Learner:
    """The members of one pack as a task sees them: their outputs and one learning step.

    `learn` takes a batch (s, t) for every member and an optional mask (broadcastable to the output
    [M, B, n_out]) of the output units whose error counts, e.g. only the action a member chose. The
    first batch of an iteration is its probe: the metrics compare the outputs on it before and after.
    `keep` names what the metrics need besides (metrics.NEEDS): the probe's hidden state at the end
    of inference ("inferred"), its feed-forward hidden state before learning and the state that
    `anticipate(params, s, t, act, mask)` returns ("prospective": metrics.ANTICIPATING_RULE's relaxed
    state), the weights before the iteration and at the start ("weight_history").
    """
    params: Params
    act: object
    optimizer: object
    rule: object
    settings: object
    error_units: torch.Tensor = None   # [n_out] static mask from the config's error_units
    keep: frozenset = frozenset()
    anticipate: callable = None
    graphed: object = None   # on a GPU, the rule's step replayed from CUDA graphs (graphs.py)
    probe: tuple = None
    before: torch.Tensor = None
    loss: torch.Tensor = 0
    inferred: list = None
    hidden_before: list = None
    anticipated: list = None
    weights_before: list = None
    initial_weights: list = None

    def begin(self):
        """Start an iteration: no probe yet, no loss."""
        self.probe, self.before, self.loss, self.inferred = None, None, 0, None
        if "weight_history" in self.keep:
            self.weights_before = [w.clone() for w in self.params.weights]
            self.initial_weights = self.initial_weights or self.weights_before

    def predict(self, s):
        """Feed-forward outputs [M, B, n_out] (value nodes are transparent)."""
        return predict(self.params, s, self.act)

    def learn(self, s, t, mask=None, trace=None):
        """One step of the learning rule on (s, t); returns the loss before the update [M]."""
        if self.error_units is not None:
            mask = self.error_units if mask is None else mask * self.error_units
        if self.probe is None:
            self.probe, self.before = (s, t), self.predict(s)
            if "inferred" in self.keep:
                trace = self.keeping_inferred(trace)
            if "prospective" in self.keep:
                self.hidden_before = feedforward(self.params, s, self.act)[:-1]
                self.anticipated = self.anticipate(self.params, s, t, self.act, mask)
        if trace is None and self.graphed is not None:
            loss = self.graphed(self.params, self.optimizer, s, t, self.act, self.settings, mask)
        else:
            loss = self.rule.step(self.params, self.optimizer, s, t, self.act, self.settings, mask, trace)
        self.loss = self.loss + loss
        return loss

    def state_dict(self):
        """What the learner carries from one iteration to the next: weights, optimizer state, and the
        weights before the first iteration where a metric reads them."""
        return {"tensors": [p.detach().cpu().clone() for p in self.params.tensors],
                "optimizer": self.optimizer.state_dict(), "initial_weights": capture(self.initial_weights)}

    def load_state_dict(self, state):
        """In place, so a CUDA graph recorded on these tensors stays valid."""
        for live, saved in zip(self.params.tensors, state["tensors"], strict=True):
            live.copy_(saved)
        self.optimizer.load_state_dict(state["optimizer"])
        self.initial_weights = restore(self.initial_weights, state["initial_weights"], self.params.weights[0].device)

    def keeping_inferred(self, trace):
        def keep(k, xs, errors):
            self.inferred = xs
            if trace is not None:
                trace(k, xs, errors)
        return keep

    def observe(self, task):
        """What the metrics see of the iteration that just ended."""
        after = None if self.probe is None else self.predict(self.probe[0])
        loss = self.loss if torch.is_tensor(self.loss) else torch.zeros_like(self.params.weights[0][:, 0, 0])
        return Observation(self.params, self.act, task, self.probe, self.before, after, loss,
                           self.inferred, self.hidden_before, self.anticipated, self.weights_before,
                           self.initial_weights)


def build_learner(members, load_weights=None):
    """The members' network, optimizer and rule as one Learner (without a task); `load_weights` as
    for initial_params."""
    keep_freed_memory()
    first = members[0]
    visible = list(range(torch.cuda.device_count()))   # outside Ray every GPU counts as given
    device = trial_device(first["device"], visible, torch.cuda.is_available())
    dtype = getattr(torch, first["dtype"])
    params = initial_params(members, dtype, device, load_weights)
    lr = learning_rates(members, params, dtype, device)
    optimizer = OPTIMIZERS[first["optimizer"]["name"]](params, lr, weight_decay=first["optimizer"]["weight_decay"])
    rule = learning_rule(first, device)
    act = ACTIVATIONS[first["model"]["activation"]].with_output(first["model"]["output_activation"])
    keep = frozenset(NEEDS[name] for name in first["log"] if name in NEEDS)
    return Learner(params, act, optimizer, rule, rule.settings(members, dtype, device),
                   error_units_mask(first, dtype, device),
                   keep, anticipation(members, dtype, device) if "prospective" in keep else None,
                   GraphedStep(rule.step) if graphs_pay(device, rule, optimizer) else None)


def anticipation(members, dtype, device):
    """(params, s, t, act, mask) -> x+ of the prospective metrics: the hidden state that the inference
    of metrics.ANTICIPATING_RULE reaches with the weights held fixed, with the members' settings of it."""
    rule = get_rule(ANTICIPATING_RULE)
    settings = rule.settings(members, dtype, device)
    return lambda params, s, t, act, mask: rule.relaxed(params, s, t, act, settings, mask)


def learning_rule(config, device):
    """The config's rule, with its step fused (fused.py) where the config asks for it on a CPU."""
    rule = get_rule(config["rule"])
    wants = config["pc"]["fused"] and rule.name in FUSED_STEPS and torch.device(device).type == "cpu"
    return replace(rule, step=FUSED_STEPS[rule.name]) if wants else rule


@dataclass
class PackedTraining:
    """Everything one pack trains: the learner (members' weights, optimizer, rule), task, metrics,
    and how far it got: the iterations done and which members diverged."""
    learner: Learner
    task: Task
    metrics: list = field(default_factory=list)
    iteration: int = 0
    diverged: torch.Tensor = None   # [M] bool

    @classmethod
    def build(cls, members, load_weights=None):
        """The training of `members`; `load_weights` as for initial_params."""
        check_members(members)
        learner = build_learner(members, load_weights)
        first, weights = members[0], learner.params.weights[0]
        task = task_class(first["data"]["name"])(first["data"], [m["seed"] for m in members],
                                                 weights.device, weights.dtype)
        diverged = torch.zeros(len(members), dtype=torch.bool, device=weights.device)
        return cls(learner, task, [METRICS[name] for name in first["log"]], 0, diverged)

    @property
    def params(self):
        return self.learner.params

    def state_dict(self):
        """Everything the next iteration depends on, as tensors and plain containers (a checkpoint)."""
        return {"iteration": self.iteration, "diverged": self.diverged.cpu(),
                "learner": self.learner.state_dict(), "task": self.task.state_dict()}

    def load_state_dict(self, state):
        """Continue from a state_dict: the next iteration is the one after the saved state's."""
        self.iteration = state["iteration"]
        self.diverged.copy_(state["diverged"])
        self.learner.load_state_dict(state["learner"])
        self.task.load_state_dict(state["task"])

    def advance(self):
        """Train the next iteration; returns its per-member columns. From the iteration in which a
        member diverges, its error columns (test_error...) read 1.0 and its other columns NaN."""
        columns, finite = self.iterate(self.iteration)
        self.iteration += 1
        self.diverged |= ~finite
        if self.diverged.any():
            self.silence(self.diverged)
            columns = {k: torch.where(self.diverged, 1.0 if k.startswith(ERROR_PREFIX) else math.nan, v)
                       for k, v in columns.items()}
        return columns

    def iterate(self, iteration, costliest=False):
        """Train one iteration and measure; returns ({column: [M] tensor}, finite [M]). `costliest`:
        the task's costliest iteration instead (cost.py's measurement; tasks.Task.play_costliest)."""
        self.learner.begin()
        columns = (self.task.play_costliest if costliest else self.task.play)(iteration, self.learner)
        obs = self.learner.observe(self.task)
        for metric in self.metrics:
            columns.update(metric(obs))
        finite = torch.isfinite(obs.loss)
        for p in self.params.tensors:
            finite &= torch.isfinite(p).flatten(1).all(1)
        return split_columns(columns), finite

    def silence(self, diverged):
        """Zero the weights of diverged members so they stay finite (their scores are fixed), and
        tell the task, which may stop simulating them (tasks.Task.drop)."""
        for p in self.params.tensors:
            p[diverged] = 0
        self.task.drop(diverged.cpu().numpy())


def split_columns(columns):
    """Per-member columns, copied (a measurement may be a view of weights that go on learning until
    the rows are reported): a [M, k] measurement becomes the columns <name>_0 .. <name>_{k-1}."""
    out = {}
    for name, values in columns.items():
        values = values.detach().clone()
        if values.dim() == 1:
            out[name] = values
        else:
            out.update({f"{name}_{i}": column for i, column in enumerate(values.flatten(1).unbind(1))})
    return out


def learning_rates(members, params, dtype, device):
    """Per layer, the members' learning rates: [M, 1, 1], or [M, out, in] where some member gives a
    matrix of rates (one per weight) for that layer."""
    per_member = [m["optimizer"]["lr"] for m in members]
    per_member = [lr if isinstance(lr, list) else [lr] * len(params.weights) for lr in per_member]
    out = []
    for l, w in enumerate(params.weights):
        rates = [torch.as_tensor(lr[l], dtype=dtype, device=device) for lr in per_member]
        shape = w.shape[1:] if any(r.dim() for r in rates) else (1, 1)
        out.append(torch.stack([r.expand(shape) for r in rates]))
    return out


def error_units_mask(config, dtype, device):
    """[n_out] 1 for the output units whose error drives learning, or None for all of them."""
    units = config["error_units"]
    if units is None:
        return None
    mask = torch.zeros(config["model"]["sizes"][-1], dtype=dtype, device=device)
    return mask.index_fill_(0, torch.tensor(units, device=device), 1.0)


def is_pretrained(init):
    """Whether a model's init starts from a saved run (a single `pretrained` init)."""
    return isinstance(init, dict) and init["name"] == "pretrained"


def initial_params(members, dtype, device, load_weights=None):
    """Each member's initial weights: drawn from its seed's 'init' stream, or a saved run's, read by
    `load_weights(run, member) -> (weights, biases)` (results.load_weights); with model.conv, the first
    layers are convolutions (conv.py)."""
    model = members[0]["model"]
    frozen = {l for l, trainable in enumerate(model["trainable"] or []) if not trainable}
    if is_pretrained(model["init"]):
        saved = [load_weights(m["model"]["init"]["run"], m["model"]["init"]["member"]) for m in members]
        weights = [torch.stack([w[l] for w, _ in saved]).to(device, dtype) for l in range(len(saved[0][0]))]
        biases = [None if saved[0][1][l] is None else
                  torch.stack([b[l] for _, b in saved]).to(device, dtype) for l in range(len(weights))]
        params = masked(Params(weights, biases, frozen=frozenset(frozen)), model["masks"])
    else:
        generators = [torch.Generator().manual_seed(derive_seed(m["seed"], "init")) for m in members]
        shapes = dense_shapes(model["sizes"]) if model["conv"] is None else weight_shapes(model["conv"], model["sizes"])
        params = init_params(shapes, [m["model"]["init"] for m in members], model["bias"], generators, dtype,
                             device, model["masks"], frozen)
    return params if model["conv"] is None else with_convolutions(params, model["conv"])


def auto_report_every(iterations, reports=32):
    return max(1, math.ceil(iterations / reports))


def train(members, iterations, report, report_every=0, checkpoint_every_s=None, start=None, load_weights=None):
    """Train the packed members for `iterations` iterations; returns their PackedTraining.

    Calls report(rows, done) with columnar rows {"iteration", "member", "diverged", columns...}
    every `report_every` iterations and at the end. With `checkpoint_every_s`, a report at the end
    of the first iteration that many seconds after the previous checkpoint (or the start) is
    report(rows, done, state) instead, `state` being the training's state_dict; `start`, such a state,
    continues the training from there, bit for bit as if it had not stopped (if the task is
    resumable). A pretrained init's weights come from `load_weights` (initial_params).
    """
    training = PackedTraining.build(members, load_weights)
    if start is not None:
        training.load_state_dict(start)
    every = report_every or auto_report_every(iterations)
    checkpointing = checkpoint_every_s is not None and training.task.resumable
    buffer, saved = [], time.monotonic()
    while training.iteration < iterations:
        iteration = training.iteration
        buffer.append((iteration, training.advance(), training.diverged.clone()))
        done = training.iteration == iterations
        due = checkpointing and not done and time.monotonic() - saved >= checkpoint_every_s
        if due:
            report(rows(buffer, len(members)), done, training.state_dict())
            buffer, saved = [], time.monotonic()
        elif done or len(buffer) == every:
            report(rows(buffer, len(members)), done)
            buffer = []
    return training


def rows(buffer, num_members):
    """Columnar rows, one per (iteration, member), as plain Python lists."""
    out = {"iteration": [], "member": [], "diverged": []}
    for iteration, columns, diverged in buffer:
        out["iteration"] += [iteration] * num_members
        out["member"] += list(range(num_members))
        out["diverged"] += diverged.tolist()
        for key, values in columns.items():
            out.setdefault(key, []).extend(values.detach().double().cpu().tolist())
    return out
