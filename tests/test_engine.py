"""The engine's seams: weight masks, fixed layers, other layer types, closed-loop tasks, more rules,
logging any per-member measurement. Oracles: autograd, hand derivations, members trained alone."""
from dataclasses import replace
import math

import numpy as np
from pydantic import Field
import pytest
import torch

import bp_trainable as bpt
from config_errors import validate
import engine
import network
import optim
import pc_trainable as pct
import rules
from rules import Rule
from schema import SupervisedConfig
from utils import ConfigError
import streams
from tasks import Task, TaskConfig

DT = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)
TANH = network.ACTIVATIONS["tanh"]


def random_params(sizes, M, seed, bias=True):
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(M, o, i, generator=g, dtype=DT) for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [0.5 * torch.randn(M, 1, o, generator=g, dtype=DT) if bias else None for o in sizes[1:]]
    return network.Params(weights, biases)


def random_batch(sizes, M, B, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(M, B, sizes[0], generator=g, dtype=DT),
            torch.randn(M, B, sizes[-1], generator=g, dtype=DT))


def pc_settings(M, T=6):
    return pct.PCSettings(T=T, inference_lr=torch.full((M,), 0.2, dtype=DT),
                          x_lr_discount=torch.full((M,), 0.5, dtype=DT), update_p_at=frozenset({T - 1}))


def step(rule, params, opt, s, t):
    if rule == "pc":
        return pct.pc_step(params, opt, s, t, TANH, pc_settings(params.num_members))
    return bpt.bp_step(params, opt, s, t, TANH)


def member_config(**changes):
    """A full, validated member config of a small tanh network (float64, CPU)."""
    config = {"rule": "pc", "seed": 0,
              "data": {"name": "gaussian_pair", "input_size": 4, "output_size": 3, "batch_size": 2},
              "model": {"sizes": [4, 3, 3], "activation": "tanh", "bias": True,
                        "init": {"name": "xavier_normal"}},
              "pc": {"T": 16}, "optimizer": {"lr": 0.05}, "log": ["loss"],
              "device": "cpu", "dtype": "float64"}
    for key, value in changes.items():
        node = config
        *parents, last = key.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return SupervisedConfig.model_validate(config).model_dump()


def train_rows(members, iterations=3, report_every=0):
    rows = {}

    def report(r, done):
        for k, v in r.items():
            rows.setdefault(k, []).extend(v)

    run = engine.train(members, iterations, report, report_every)
    return rows, run


def member_rows(rows, m):
    idx = [i for i, mm in enumerate(rows["member"]) if mm == m]
    return {k: [v[i] for i in idx] for k, v in rows.items() if k != "member"}


# ---------------------------------------------------------------------------------------------
# Weight masks and fixed layers
# ---------------------------------------------------------------------------------------------
CUE_MASK = [[1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 1]]   # hidden 0 sees inputs 0-1, hidden 1-2 see 2-3


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_masked_weights_start_at_zero_and_stay_zero_under_either_rule_with_adam_and_decay(rule):
    g = [torch.Generator().manual_seed(s) for s in range(3)]
    params = network.init_params(network.dense_shapes([4, 3, 2]), [{"name": "normal", "std": 1.0}] * 3, True, g, DT,
                                 masks=[CUE_MASK, None])
    zero = torch.tensor(CUE_MASK, dtype=DT) == 0
    assert torch.all(params.weights[0][:, zero] == 0) and torch.all(params.weights[0][:, ~zero] != 0)
    opt = optim.Adam(params, torch.full((3, 2), 0.05, dtype=DT), weight_decay=0.1)
    for i in range(4):
        step(rule, params, opt, *random_batch([4, 3, 2], 3, 5, seed=i))
    assert torch.all(params.weights[0][:, zero] == 0)


def test_a_mask_does_not_change_the_draws_of_the_unmasked_weights():
    plain = network.init_params(network.dense_shapes([4, 3, 2]), [{"name": "normal"}], False, [torch.Generator().manual_seed(1)], DT)
    masked = network.init_params(network.dense_shapes([4, 3, 2]), [{"name": "normal"}], False, [torch.Generator().manual_seed(1)],
                                 DT, masks=[CUE_MASK, None])
    keep = torch.tensor(CUE_MASK, dtype=DT) == 1
    assert torch.equal(plain.weights[0][:, keep], masked.weights[0][:, keep])
    assert torch.equal(plain.weights[1], masked.weights[1])


def test_masked_local_gradients_equal_autograd_of_the_energy_with_masked_weights():
    """dE/dW of E(W * mask): autograd through the mask product gives the masked local gradient."""
    sizes, M = [4, 3, 2], 2
    mask = torch.tensor(CUE_MASK, dtype=DT)
    params = network.masked(random_params(sizes, M, seed=3), [mask, None])
    s, t = random_batch(sizes, M, 5, seed=4)
    xs = [torch.randn(M, 5, 3, generator=torch.Generator().manual_seed(5), dtype=DT)]
    acts, errors, _ = pct.prediction_errors(params, s, xs, t, TANH)
    code = params.gradients(acts, errors)
    w1, w2 = (w.clone().requires_grad_(True) for w in params.weights)
    b1, b2 = (b.clone().requires_grad_(True) for b in params.biases)
    mu1 = torch.einsum("mbi,moi->mbo", s, w1 * mask) + b1
    mu2 = torch.einsum("mbi,moi->mbo", torch.tanh(xs[0]), w2) + b2
    E = 0.5 * ((xs[0] - mu1) ** 2).sum() + 0.5 * ((t - mu2) ** 2).sum()
    expected = torch.autograd.grad(E, [w1, w2, b1, b2])
    for c, e in zip(code, expected):
        torch.testing.assert_close(c, e, **TOL)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_fixed_layer_never_changes_and_the_others_learn_as_if_it_were_a_constant(rule, opt_name):
    sizes, M = [4, 3, 2], 3
    frozen = replace(random_params(sizes, M, seed=6), frozen=frozenset({1}))
    reference = frozen.clone()
    lr = torch.full((M, 2), 0.05, dtype=DT)
    opt = optim.OPTIMIZERS[opt_name](frozen, lr, weight_decay=0.1)
    ref_opt = optim.OPTIMIZERS[opt_name](reference, lr, weight_decay=0.1)
    for i in range(3):
        s, t = random_batch(sizes, M, 5, seed=10 + i)
        step(rule, frozen, opt, s, t)
        # the oracle: the full step, then layer 2 put back (the weights move once, after inference,
        # so layer 2's update never feeds layer 1's; Adam's states are per tensor)
        w2, b2 = reference.weights[1].clone(), reference.biases[1].clone()
        step(rule, reference, ref_opt, s, t)
        reference.weights[1].copy_(w2)
        reference.biases[1].copy_(b2)
    initial = random_params(sizes, M, seed=6)
    assert torch.equal(frozen.weights[1], initial.weights[1]) and torch.equal(frozen.biases[1], initial.biases[1])
    assert not torch.equal(frozen.weights[0], initial.weights[0])
    for a, b in zip(frozen.tensors, reference.tensors):
        torch.testing.assert_close(a, b, **TOL)


def test_config_masks_and_trainable_layers_reach_the_network():
    member = member_config(model__masks=[CUE_MASK[:3], None], model__trainable=[True, False])
    _, run = train_rows([member])
    zero = torch.tensor(CUE_MASK, dtype=DT) == 0
    assert torch.all(run.params.weights[0][:, zero] == 0)
    initial = engine.initial_params([member], DT, "cpu")
    assert torch.equal(run.params.weights[1], initial.weights[1])
    assert not torch.equal(run.params.weights[0], initial.weights[0])


# ---------------------------------------------------------------------------------------------
# Another layer type plugs into the same inference code
# ---------------------------------------------------------------------------------------------
class TransposedParams(network.Params):
    """Weights stored as [M, in, out]: the rules must reach them only through layer/back/gradients."""

    def layer(self, l, a):
        return network.linear(a, self.weights[l].transpose(1, 2), self.biases[l])

    def back(self, l, e):
        return torch.matmul(e, self.weights[l].transpose(1, 2))

    def gradients(self, acts, errors):
        grads = network.Params([w.transpose(1, 2) for w in self.weights], self.biases).gradients(acts, errors)
        return [g.transpose(1, 2) for g in grads[:len(self.weights)]] + grads[len(self.weights):]


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_network_with_its_own_layer_operations_trains_exactly_as_the_mlp_it_represents(rule):
    sizes, M = [4, 5, 3, 2], 2
    mlp = random_params(sizes, M, seed=20)
    other = TransposedParams([w.transpose(1, 2).clone() for w in mlp.weights], [b.clone() for b in mlp.biases])
    lr = torch.full((M, 3), 0.05, dtype=DT)
    opt_mlp, opt_other = optim.SGD(mlp, lr), optim.SGD(other, lr)
    for i in range(3):
        s, t = random_batch(sizes, M, 4, seed=21 + i)
        torch.testing.assert_close(step(rule, other, opt_other, s, t), step(rule, mlp, opt_mlp, s, t), **TOL)
    for w_mlp, w_other in zip(mlp.weights, other.weights):
        torch.testing.assert_close(w_other.transpose(1, 2), w_mlp, **TOL)


# ---------------------------------------------------------------------------------------------
# Closed-loop tasks
# ---------------------------------------------------------------------------------------------
class TwoArmedBandit(Task):
    """Each member picks an arm by softmax over its outputs (its own generator) and learns the reward
    of the chosen arm only: the target depends on the member's own output."""

    class Config(TaskConfig):
        rewards: list[float] = Field([1.0, 0.0], description="the reward of each arm")

    @staticmethod
    def dims(cfg):
        return 1, len(cfg["rewards"])

    def __init__(self, cfg, seeds, device, dtype):
        self.generators = [torch.Generator().manual_seed(seed) for seed in seeds]
        self.s = torch.ones(len(seeds), 1, 1, dtype=dtype)
        self.reward = torch.tensor(cfg["rewards"], dtype=dtype)

    def play(self, iteration, learner):
        values = learner.predict(self.s)[:, 0, :]                                  # [M, 2]
        probs = torch.softmax(values, -1)
        choice = torch.stack([torch.multinomial(p, 1, generator=g)[0] for p, g in zip(probs, self.generators)])
        chosen = torch.nn.functional.one_hot(choice, 2).to(values.dtype)[:, None, :]   # [M, 1, 2]
        learner.learn(self.s, self.reward.expand_as(chosen), mask=chosen)
        return {"choice": choice.to(values.dtype), "value": values}


@pytest.fixture
def bandit(monkeypatch):
    """TwoArmedBandit registered as a stream: the engine finds a task by its registered name only."""
    monkeypatch.setitem(streams.STREAMS, "two_armed_bandit", TwoArmedBandit)


def bandit_member(seed, lr, rule="pc"):
    """A member config of the bandit: one validated for a stream of the same shapes, with the bandit's
    `data` (the config the engine is handed)."""
    member = member_config(rule=rule, seed=seed, data={"name": "gaussian_pair", "input_size": 1, "output_size": 2},
                           model={"sizes": [1, 2], "bias": False, "init": {"name": "constant", "value": 0.5}},
                           optimizer={"lr": lr}, log=["loss"])
    return dict(member, data={"name": "two_armed_bandit", "rewards": [1.0, 0.0]})


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_closed_loop_task_learns_only_the_chosen_output_and_packs_like_members_alone(bandit, rule):
    members = [bandit_member(seed, lr, rule) for seed, lr in [(0, 0.1), (1, 0.3), (2, 0.2)]]
    rows, run = train_rows(members, iterations=20)
    for m, member in enumerate(members):
        alone, _ = train_rows([member], iterations=20)
        packed_m, alone_m = member_rows(rows, m), member_rows(alone, 0)
        for key in ("choice", "value_0", "value_1", "loss"):
            np.testing.assert_allclose(packed_m[key], alone_m[key], **TOL)
    # Only the chosen arm's weight moves: towards 1 for arm 0, towards 0 for arm 1 (delta rule).
    for m in range(3):
        r = member_rows(rows, m)
        for i in range(19):
            arm, other = int(r["choice"][i]), 1 - int(r["choice"][i])
            assert r[f"value_{other}"][i + 1] == pytest.approx(r[f"value_{other}"][i], abs=1e-15)
            target = 1.0 if arm == 0 else 0.0
            assert abs(r[f"value_{arm}"][i + 1] - target) < abs(r[f"value_{arm}"][i] - target)


# ---------------------------------------------------------------------------------------------
# More than two rules
# ---------------------------------------------------------------------------------------------
def sign_only_step(params, optimizer, s, t, act, settings, output_mask=None, trace=None):
    """A third rule for the test: BP's gradient, but only its sign."""
    acts, errors, residual = bpt.backprop_errors(params, s, t, act, output_mask)
    optimizer.step(params, [g.sign() for g in params.gradients(acts, errors)])
    return network.output_loss(residual)


SIGN_RULE = Rule("sign", sign_only_step, rules.no_settings)


def test_a_third_rule_registered_by_name_trains_through_the_engine(monkeypatch):
    monkeypatch.setitem(rules.RULES, "sign", "test_engine:SIGN_RULE")
    assert rules.get_rule("sign") is SIGN_RULE
    member = member_config(rule="bp", optimizer={"lr": 0.01})
    initial = engine.initial_params([member], DT, "cpu")
    _, run = train_rows([{**member, "rule": "sign"}], iterations=1)
    changes = [(a - b).abs() for a, b in zip(run.params.tensors, initial.tensors)]
    assert all(torch.allclose(c, torch.full_like(c, 0.01), rtol=0, atol=1e-15) for c in changes)


# ---------------------------------------------------------------------------------------------
# Logging weights and inferred activities
# ---------------------------------------------------------------------------------------------
FIG3A = {"data": {"name": "fixed_pair", "input": [[1.0]], "target": [[0.0, 1.0]]},
         "model": {"sizes": [1, 1, 2], "activation": "identity", "bias": False,
                   "init": {"name": "constant", "value": 1.0}},
         "pc": {"T": 128}, "optimizer": {"lr": 0.2}, "log": ["weights", "inferred"]}


def test_inferred_activity_of_the_1_1_2_net_is_the_hand_derived_equilibrium_2_3():
    """E(x) = 0.5 (x - 1)^2 + 0.5 (x^2 + (1 - x)^2) is least at x* = 2/3 (see test_learning_rules)."""
    rows, _ = train_rows([member_config(rule="pc", **FIG3A)], iterations=1)
    assert rows["inferred_1_0"][0] == pytest.approx(2 / 3, abs=1e-6)
    rows, _ = train_rows([member_config(rule="bp", **FIG3A)], iterations=1)
    assert rows["inferred_1_0"][0] == 1.0                       # BP's hidden state: the feed-forward one


def test_logged_weights_are_the_weights_after_each_iteration():
    """BP on the 1-1-2 net, lr 0.2: W1 = 0.8, W2 = (0.8, 1) after one step (hand derivation)."""
    rows, run = train_rows([member_config(rule="bp", **FIG3A)], iterations=2)
    assert [rows["weight_1_0"][0], rows["weight_2_0"][0], rows["weight_2_1"][0]] == pytest.approx([0.8, 0.8, 1.0])
    final = [w.flatten().tolist() for w in run.params.weights]
    assert [rows["weight_1_0"][1]] == final[0] and [rows["weight_2_0"][1], rows["weight_2_1"][1]] == final[1]
    assert math.isfinite(rows["weight_2_1"][1])


# ---------------------------------------------------------------------------------------------
# Per-layer initialisation and per-weight learning rates
# ---------------------------------------------------------------------------------------------
FEAR_LIKE = {"data": {"name": "fixed_pair", "input": [[1.0, 1.0]], "target": [[1.0]]},
             "model": {"sizes": [2, 2, 1], "masks": [[[1, 0], [0, 1]], None],
                       "init": [{"name": "constant", "value": 1.0},
                                {"name": "abs_normal", "mean": 0.1, "std": 0.01}]}}


def test_each_layer_may_have_its_own_initialisation_drawn_from_the_members_seed():
    member = member_config(rule="bp", **FEAR_LIKE)
    params = engine.initial_params([member, {**member, "seed": 1}], DT, "cpu")
    assert torch.equal(params.weights[0], torch.eye(2, dtype=DT).expand(2, 2, 2))   # masked constant 1
    w2 = params.weights[1]
    assert torch.all(w2 > 0) and not torch.equal(w2[0], w2[1])
    g = torch.Generator().manual_seed(engine.derive_seed(0, "init"))   # layer 1 draws nothing
    expected = torch.empty(1, 2, dtype=DT).normal_(0.1, 0.01, generator=g).abs()
    torch.testing.assert_close(w2[0], expected, rtol=0, atol=0)


def test_a_matrix_of_learning_rates_steps_each_weight_with_its_own_rate():
    """BP on o = m . (w * s), one step: each weight moves by its own rate times its gradient."""
    rates = [[0.5, 0.0001], [0.0001, 0.5]], [[0.001, 1.0]]
    member = member_config(rule="bp", optimizer={"lr": list(rates)}, **{
        **FEAR_LIKE, "model": {**FEAR_LIKE["model"], "init": {"name": "constant", "value": 0.5}}})
    initial = engine.initial_params([member], DT, "cpu")
    _, run = train_rows([member], iterations=1)
    # o = 0.5 * 0.5 + 0.5 * 0.5 = 0.5, error t - o = 0.5; dL/dm_j = -0.5 * h_j = -0.25;
    # dL/dw_jj = -0.5 * m_j * s_j = -0.25
    for layer, lr in enumerate(rates):
        expected = initial.weights[layer][0] + 0.25 * torch.tensor(lr, dtype=DT) * (initial.weights[layer][0] != 0)
        torch.testing.assert_close(run.params.weights[layer][0], expected, **TOL)


def test_packed_members_may_mix_one_rate_and_a_matrix_of_rates_for_a_layer():
    matrix = member_config(rule="pc", optimizer={"lr": [[[0.1, 0.2], [0.3, 0.4]], 0.05]}, **FEAR_LIKE)
    scalar = member_config(rule="pc", optimizer={"lr": [0.3, 0.05]}, **FEAR_LIKE)
    packed, _ = train_rows([matrix, scalar], iterations=3)
    for m, member in enumerate([matrix, scalar]):
        alone, _ = train_rows([member], iterations=3)
        np.testing.assert_allclose(member_rows(packed, m)["loss"], member_rows(alone, 0)["loss"], **TOL)


def test_weights_logged_between_reports_are_those_of_their_own_iteration():
    """Rows are reported every 4 iterations: each must still show its own iteration's weights."""
    member = member_config(rule="bp", **FIG3A)
    every, once = train_rows([member], iterations=6, report_every=4)[0], train_rows([member], 6, 1)[0]
    assert every["weight_1_0"] == once["weight_1_0"] and len(set(every["weight_1_0"])) == 6


def test_given_weights_are_set_as_written_and_a_fixed_given_layer_stays_so():
    """The 1-2-2 net of the example_122 figure: w = (0, 0) learns, the output weights (1, 2) are fixed.
    BP's first step from w = (0, 0) with target (1, 1) and lr 0.4 is (0.4, 0.8) (FIGURES.md)."""
    member = member_config(rule="bp", data={"name": "fixed_pair", "input": [[1.0]], "target": [[1.0, 1.0]]},
                           model={"sizes": [1, 2, 2], "trainable": [True, False],
                                  "init": [{"name": "constant", "value": 0.0},
                                           {"name": "given", "values": [[1.0, 0.0], [0.0, 2.0]]}]},
                           optimizer={"lr": 0.4})
    _, run = train_rows([member], iterations=1)
    torch.testing.assert_close(run.params.weights[0][0], torch.tensor([[0.4], [0.8]], dtype=DT))
    torch.testing.assert_close(run.params.weights[1][0], torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=DT))


def test_given_weights_of_the_wrong_shape_are_a_config_error():
    with pytest.raises(ConfigError, match=r"^config.model.init\[1\].values: expected a matrix of weights of 3 rows"):
        validate(SupervisedConfig, {**member_config(), "model": {
            "sizes": [4, 3, 3], "init": [{"name": "normal"}, {"name": "given", "values": [[1.0, 2.0, 3.0]]}]}},
            "config")


def test_the_allocator_keeps_freed_memory_on_glibc():
    import platform
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("only glibc's allocator is tuned")
    assert engine.keep_freed_memory()
