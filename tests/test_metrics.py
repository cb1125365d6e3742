"""metrics.py against independent calculations: numpy by hand, math.acos, explicit loops."""
import math

import numpy as np
import pytest
import torch

import metrics   # its test_error is imported as metrics.test_error, so pytest does not collect it
from metrics import Observation, classification_error, cosine, target_alignment
from network import ACTIVATIONS, Params


def observe(before, after, target, params=None, task=None):
    """An Observation of one iteration; only the fields a metric reads need values."""
    return Observation(params=params, act=ACTIVATIONS["identity"], task=task,
                       probe=(None, target), before=before, after=after, loss=None)


def numpy_cosine(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def numpy_output(weights, biases, f, x):
    """o = W_L f(... f(W_1 x + b_1) ...) + b_L for one member and one sample."""
    a = x
    for l, (w, b) in enumerate(zip(weights, biases)):
        mu = w @ a + b
        a = f(mu) if l < len(weights) - 1 else mu
    return a


def looped_error(weights, biases, f, x, t):
    """Classification error of every member, sample by sample ([M])."""
    errors = []
    for m in range(weights[0].shape[0]):
        xm = x[m] if x.ndim == 3 else x
        wrong = [np.argmax(numpy_output([w[m] for w in weights], [b[m, 0] for b in biases], f, xs))
                 != np.argmax(ts) for xs, ts in zip(xm, t[m])]
        errors.append(sum(wrong) / len(wrong))
    return np.array(errors)


# ----------------------------------------------------------------------------- cosine


def test_cosine_is_one_for_parallel_minus_one_for_antiparallel_and_zero_for_orthogonal_members():
    a = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]], [[1.0, 0.0], [0.0, 1.0]]])
    b = torch.stack([2.5 * a[0], -a[1], torch.tensor([[0.0, 1.0], [-1.0, 0.0]])])
    assert cosine(a, b).tolist() == pytest.approx([1.0, -1.0, 0.0], abs=1e-7)


def test_cosine_of_a_member_is_the_cosine_of_its_batch_and_units_flattened_into_one_vector():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 3, 5))
    got = cosine(torch.from_numpy(a), torch.from_numpy(b))
    assert got.shape == (4,)
    assert got.tolist() == pytest.approx([numpy_cosine(a[m], b[m]) for m in range(4)], rel=1e-12)


# ----------------------------------------------------------------------------- target alignment


def test_target_alignment_is_1_minus_1_and_0_at_angles_0_180_and_90_degrees():
    before = torch.zeros(3, 1, 2)
    target = torch.tensor([[1.0, 0.0]])                       # one target shared by the members
    after = torch.tensor([[[0.3, 0.0]], [[-2.0, 0.0]], [[0.0, 0.7]]])
    out = target_alignment(observe(before, after, target))
    assert out["target_alignment"].tolist() == pytest.approx([1.0, -1.0, 0.0], abs=1e-7)
    assert out["target_alignment_angle"].tolist() == pytest.approx([0.0, 180.0, 90.0], abs=1e-4)


def test_target_alignment_is_the_cosine_between_the_output_change_and_the_step_to_the_target():
    rng = np.random.default_rng(1)
    before, after, target = (rng.normal(size=(3, 2, 4)) for _ in range(3))   # per-member targets
    out = target_alignment(observe(*(torch.from_numpy(v) for v in (before, after, target))))
    expected = [numpy_cosine(after[m] - before[m], target[m] - before[m]) for m in range(3)]
    assert out["target_alignment"].tolist() == pytest.approx(expected, rel=1e-12)
    degrees = [math.degrees(math.acos(c)) for c in expected]
    assert out["target_alignment_angle"].tolist() == pytest.approx(degrees, rel=1e-10)


# ----------------------------------------------------------------------------- classification error


def test_a_one_layer_identity_network_errs_where_its_permutation_moves_the_label():
    # member 0 keeps every unit; member 1 swaps units 0 and 1, so it predicts 1, 0, 2, 1 on e0, e1, e2, e0
    weights = torch.stack([torch.eye(3), torch.eye(3)[[1, 0, 2]]])
    params = Params([weights], [None])
    x = torch.eye(3)[[0, 1, 2, 0]]
    t = torch.eye(3)[[0, 1, 2, 1]].expand(2, -1, -1)
    error = classification_error(params, ACTIVATIONS["identity"], x, t)
    assert error.dtype == weights.dtype and error.tolist() == [0.25, 0.5]


@pytest.mark.parametrize("per_member_inputs", [False, True])
def test_classification_error_counts_the_samples_whose_output_argmax_misses_the_target_argmax(
        per_member_inputs):
    rng = np.random.default_rng(2)
    weights = [rng.normal(size=(3, 6, 4)), rng.normal(size=(3, 5, 6))]
    biases = [rng.normal(size=(3, 1, 6)), rng.normal(size=(3, 1, 5))]
    x = rng.normal(size=(3, 40, 4) if per_member_inputs else (40, 4))
    t = np.eye(5)[rng.integers(0, 5, size=(3, 40))]
    params = Params([torch.from_numpy(w) for w in weights], [torch.from_numpy(b) for b in biases])
    got = classification_error(params, ACTIVATIONS["tanh"], torch.from_numpy(x), torch.from_numpy(t))
    expected = looped_error(weights, biases, np.tanh, x, t)
    assert 0 < expected.min() and expected.max() < 1                        # the case is not trivial
    assert got.tolist() == pytest.approx(expected.tolist(), abs=1e-12)


class GivenSets:
    """A task whose evaluation sets are given."""

    def __init__(self, sets):
        self.sets = sets

    def eval_sets(self):
        return self.sets


def test_test_error_names_one_column_per_evaluation_set_with_that_sets_classification_error():
    rng = np.random.default_rng(3)
    weights, biases = [rng.normal(size=(2, 3, 4))], [np.zeros((2, 1, 3))]
    sets = {                                        # a shared test set and a per-member task set
"test": (rng.normal(size=(30, 4)), np.eye(3)[rng.integers(0, 3, size=(2, 30))]),
            "task_1": (rng.normal(size=(2, 20, 4)), np.eye(3)[rng.integers(0, 3, size=(2, 20))])}
    params = Params([torch.from_numpy(w) for w in weights], [torch.from_numpy(b) for b in biases])
    task = GivenSets({k: tuple(torch.from_numpy(v) for v in xt) for k, xt in sets.items()})
    out = metrics.test_error(observe(None, None, None, params=params, task=task))
    assert set(out) == {"test_error", "test_error_task_1"}
    for column, name in (("test_error", "test"), ("test_error_task_1", "task_1")):
        expected = looped_error(weights, biases, None, *sets[name])
        assert out[column].tolist() == pytest.approx(expected.tolist(), abs=1e-12)
