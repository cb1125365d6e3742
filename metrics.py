"""Per-member measurements logged once per iteration (the YAML's `log` list names them).

Each metric maps an `Observation` of one iteration to {column: tensor [M] or [M, k]}; a [M, k]
measurement becomes the columns <name>_0 .. <name>_{k-1}. A task may log its own columns besides,
from its `play` (tasks.py).
"""
from dataclasses import dataclass

import torch

from network import feedforward, predict


@dataclass
class Observation:
    """What one iteration exposes to the metrics.

    `probe` is the iteration's first training batch (s, t); `before`/`after` are the feed-forward
    outputs on it before and after the iteration's updates; `loss` is the training loss [M] summed
    over the iteration's batches (each taken before its update). Kept only when a metric needs them
    (NEEDS), hidden states being lists [x_1, ..., x_{L-1}] of [M, B, n_l]: `inferred`, the hidden
    state at the end of inference on the probe; `hidden_before`, its feed-forward hidden state
    before the update (x-); `anticipated`, the state PC's inference reaches on it with the weights
    before the update (x+); `weights_before` and `initial_weights`, the weights before the
    iteration and before the first.
    """
    params: object
    act: object
    task: object
    probe: tuple
    before: torch.Tensor
    after: torch.Tensor
    loss: torch.Tensor
    inferred: list = None
    hidden_before: list = None
    anticipated: list = None
    weights_before: list = None
    initial_weights: list = None


def cosine(a, b):
    """Cosine between a and b per member, flattening batch and units ([M, B, n] -> [M])."""
    a, b = a.flatten(1), b.flatten(1)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))


def prediction(obs):
    """The output on the probe's first sample before the iteration's update: output_0, output_1, ..."""
    first = obs.before[:, 0, :]
    return {f"output_{k}": first[:, k] for k in range(first.shape[1])}


def target_alignment(obs):
    """cos(o_after - o_before, t - o_before) on the probe, and the same as an angle in degrees."""
    target = obs.probe[1].expand_as(obs.before)
    ta = cosine(obs.after - obs.before, target - obs.before)
    return {"target_alignment": ta,
            "target_alignment_angle": torch.rad2deg(torch.acos(ta.clamp(-1, 1)))}


def loss(obs):
    """The training loss 0.5 * sum((o - t)^2), summed over the iteration's batches."""
    return {"loss": obs.loss}


def classification_error(params, act, x, t, chunk=1000):
    """Fraction of samples whose output argmax differs from the target argmax -> [M]; the samples
    (the second to last axis of x and t) go through the network `chunk` at a time."""
    wrong = [predict(params, xc, act).argmax(-1) != tc.argmax(-1)
             for xc, tc in zip(x.split(chunk, dim=-2), t.split(chunk, dim=-2))]
    return torch.cat(wrong, dim=-1).to(params.weights[0].dtype).mean(-1)


def test_error(obs):
    """Classification error on each of the task's evaluation sets: test_error[_<set>]."""
    return {("test_error" if name == "test" else f"test_error_{name}"):
            classification_error(obs.params, obs.act, x, t)
            for name, (x, t) in obs.task.eval_sets().items()}


def weights(obs):
    """Every weight after the iteration: weight_<l>_<i>: W_l flattened row-major (l = 1..L)."""
    return {f"weight_{l}": w.flatten(1) for l, w in enumerate(obs.params.weights, 1)}


def inferred(obs):
    """The hidden state at the end of inference on the probe's first sample: inferred_<l>_<i>
    (BP's is its feed-forward state)."""
    return {f"inferred_{l}": x[:, 0, :] for l, x in enumerate(obs.inferred, 1)}


def prospective_index(obs):
    """PI of every hidden layer on the probe: cos(x' - x-, x+ - x-), with x- the feed-forward hidden
    state before the update, x+ the state PC's inference anticipates with those weights and x' the
    feed-forward state after the update: prospective_index_<l> for hidden layers l = 0..L-2."""
    after = feedforward(obs.params, obs.probe[0], obs.act)[:-1]
    if not after:
        return {}
    layers = zip(obs.hidden_before, obs.anticipated, after)
    return {"prospective_index": torch.stack([cosine(x_after - x, x_plus - x) for x, x_plus, x_after in layers], 1)}


def weight_path(obs):
    """Per weight layer l = 0..L-1: weight_step_<l> = ||W_l after - W_l before the iteration||_F
    (summed over iterations: the path length) and weight_displacement_<l> = ||W_l - W_l at the
    start||_F (the final one: the displacement)."""
    def norms(reference):
        return torch.stack([(w - r).flatten(1).norm(dim=1) for w, r in zip(obs.params.weights, reference)], 1)
    return {"weight_step": norms(obs.weights_before), "weight_displacement": norms(obs.initial_weights)}


METRICS = {
    "prediction": prediction,
    "target_alignment": target_alignment,
    "loss": loss,
    "test_error": test_error,
    "weights": weights,
    "inferred": inferred,
    "prospective_index": prospective_index,
    "weight_path": weight_path,
}

# What a metric needs the learner to keep (engine.Learner.keep).
NEEDS = {"inferred": "inferred", "prospective_index": "prospective", "weight_path": "weight_history"}

# The rule whose relaxed state (rules.Rule.relaxed) is x+ of the prospective index, whatever rule
# trains: the paper defines x+ by PC's inference.
ANTICIPATING_RULE = "pc"

# Columns that score a diverged member as a total failure (the paper plots error 1.0 for them).
ERROR_PREFIX = "test_error"
