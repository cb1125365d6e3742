"""Learning rules by name. A rule's module defines `RULE`, a `Rule`; this registry maps each name to
that module and imports it on first use, so the rule modules may import `Rule` from here. A new rule
(e.g. target propagation) is a module with its `RULE` and one line in `RULES`.

The engine knows no rule by name: what it needs of one (its settings, the config paths they come
from, the state its inference relaxes to) the `Rule` declares.
"""
from dataclasses import dataclass
import functools
import importlib

from network import feedforward, output_loss


@dataclass(frozen=True)
class Rule:
    """A learning rule for packed networks.

    step(params, optimizer, s, t, act, settings, output_mask=None, trace=None) -> loss [M]
        one training step on a batch; returns the loss 0.5 * sum((o - t)^2) before the update;
        `trace(k, xs, errors)`, when given, sees the hidden activities at every inference step.
    settings(members, dtype, device) -> the rule's per-trial settings (per-member values as [M]
        tensors), or None when it has none.
    graphable: whether a step can be recorded as a CUDA graph and replayed (graphs.py).
    packable: the config paths of the settings the members of one trial may differ in.
    relaxed(params, s, t, act, settings, output_mask=None) -> the hidden state [x_1, ..., x_{L-1}]
        the rule's inference reaches on (s, t) with the weights held fixed; None for a rule without
        inference.
    """
    name: str
    step: callable
    settings: callable
    graphable: bool = False
    packable: tuple = ()
    relaxed: callable = None


def feedforward_step(errors_of, params, optimizer, s, t, act, output_mask=None, trace=None):
    """One step of a rule without value nodes (BP, TP): the layer errors from
    `errors_of(params, s, t, act, output_mask) -> (acts, errors, residual)`, then every layer at
    once on its local gradient. Returns the loss 0.5 * sum((o - t)^2) before the update [M]; `trace` sees the
    feed-forward hidden state (the pre-activations, as PC's value nodes) once, as step 0."""
    acts, errors, residual = errors_of(params, s, t, act, output_mask)
    if trace is not None:
        trace(0, feedforward(params, s, act)[:-1], errors)
    optimizer.step(params, params.gradients(acts, errors))
    return output_loss(residual)


def no_settings(members, dtype, device):
    """The settings of a rule that has none (TP)."""
    return None


RULES = {"pc": "pc_trainable:RULE", "bp": "bp_trainable:RULE", "tp": "tp_trainable:RULE"}
RULE_NAMES = tuple(RULES)

# Config paths the members of one trial may differ in whatever the rule: they change no tensor shape.
MEMBER_PATHS = ("seed", "optimizer.lr", "model.init")


def get_rule(name):
    """The registered `Rule` called `name`."""
    module, attribute = RULES[name].split(":")
    return getattr(importlib.import_module(module), attribute)


@functools.cache
def packable():
    """Every config path the members of one trial may differ in: MEMBER_PATHS and each rule's own."""
    return MEMBER_PATHS + tuple(path for name in RULES for path in get_rule(name).packable)
