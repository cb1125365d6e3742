"""The seams the mechanism figures need: value nodes frozen after a step, the state PC's inference
anticipates, the prospective index, weight paths, an activation on the output layer, update steps
given as a range. Oracles: hand derivations, the same computation written out step by step, numpy."""
from dataclasses import replace

import numpy as np
import pytest
import torch

from config_errors import validate
import engine
import metrics
import network
import optim
import pc_trainable as pct
from schema import SupervisedConfig
from utils import ConfigError
from test_engine import DT, TANH, member_config, random_batch, random_params, train_rows

SIZES = [4, 5, 5, 3]


def settings(M, T, update_p_at, x_steps=None):
    return pct.PCSettings(T=T, inference_lr=torch.full((M,), 0.1, dtype=DT),
                          x_lr_discount=torch.full((M,), 0.5, dtype=DT),
                          update_p_at=frozenset(update_p_at), x_steps=x_steps)


def traced_step(params, s, t, st, lr=0.05):
    """pc_step with SGD; returns the hidden state at every inference step."""
    states = []
    opt = optim.SGD(params, torch.full((params.num_members, len(params.weights)), lr, dtype=DT))
    pct.pc_step(params, opt, s, t, TANH, st, trace=lambda k, xs, errors: states.append(xs))
    return states


def test_value_nodes_stop_moving_at_the_freeze_step_and_move_before_it():
    params = random_params(SIZES, 2, seed=1)
    s, t = random_batch(SIZES, 2, 3, seed=2)
    states = traced_step(params, s, t, settings(2, 12, [], x_steps=5))
    for k in range(1, 6):   # (at step 0 only the top hidden layer has an error to move it)
        assert not torch.equal(states[k][-1], states[k - 1][-1])
    for k in range(6, 12):
        assert all(torch.equal(a, b) for a, b in zip(states[k], states[5]))


def test_one_weight_step_on_the_frozen_state_equals_a_shorter_inference_that_learns_at_its_last_step():
    """T=20, x frozen from step 8, weights learn at step 8 == T=9, weights learn at the last step."""
    params = random_params(SIZES, 3, seed=3)
    s, t = random_batch(SIZES, 3, 2, seed=4)
    frozen, short = params.clone(), params.clone()
    traced_step(frozen, s, t, settings(3, 20, [8], x_steps=8))
    traced_step(short, s, t, settings(3, 9, [8]))
    for a, b in zip(frozen.tensors, short.tensors):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_weight_steps_on_the_frozen_state_are_gradient_steps_on_the_energy_at_fixed_x():
    """update_p_at 8..19 with x frozen from step 8: the same as relaxing x for 8 steps and then
    taking 12 plain gradient steps on the energy, recomputing the errors with the new weights."""
    params = random_params(SIZES, 2, seed=5)
    s, t = random_batch(SIZES, 2, 2, seed=6)
    code, oracle = params.clone(), params.clone()
    traced_step(code, s, t, settings(2, 20, range(8, 20), x_steps=8), lr=0.03)
    xs = pct.relaxed_state(oracle, s, t, TANH, settings(2, 9, []))
    for _ in range(12):
        acts, errors, _ = pct.prediction_errors(oracle, s, xs, t, TANH)
        for p, g in zip(oracle.tensors, oracle.gradients(acts, errors)):
            p -= 0.03 * g
    for a, b in zip(code.tensors, oracle.tensors):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_the_relaxed_state_is_where_inference_ends_and_leaves_the_weights_alone():
    params = random_params(SIZES, 2, seed=7)
    s, t = random_batch(SIZES, 2, 4, seed=8)
    before = params.clone()
    relaxed = pct.relaxed_state(params, s, t, TANH, settings(2, 30, [29]))
    for a, b in zip(params.tensors, before.tensors):
        assert torch.equal(a, b)
    states = traced_step(params.clone(), s, t, settings(2, 30, [29]))
    for a, b in zip(relaxed, states[-1]):
        assert torch.equal(a, b)


def test_the_relaxed_1_1_2_state_is_the_hand_derived_equilibrium_2_3():
    """Fig. 3a's net (weights 1, input 1, target (0, 1)): x* minimises 0.5(x-1)^2 + 0.5 x^2 + 0.5(x-1)^2."""
    params = network.Params([torch.ones(1, 1, 1, dtype=DT), torch.ones(1, 2, 1, dtype=DT)], [None, None])
    x = pct.relaxed_state(params, torch.tensor([[1.0]], dtype=DT), torch.tensor([[0.0, 1.0]], dtype=DT),
                          network.ACTIVATIONS["identity"], settings(1, 128, []))
    assert x[0].item() == pytest.approx(2 / 3, abs=1e-6)


def numpy_cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return a @ b / np.linalg.norm(a) / np.linalg.norm(b)


def test_the_prospective_index_is_the_cosine_of_the_activity_changes_per_hidden_layer():
    params = random_params([3, 4, 2, 3], 2, seed=9, bias=False)
    s = torch.randn(2, 1, 3, generator=torch.Generator().manual_seed(10), dtype=DT)
    g = torch.Generator().manual_seed(11)
    before = [torch.randn(2, 1, n, generator=g, dtype=DT) for n in (4, 2)]
    anticipated = [torch.randn(2, 1, n, generator=g, dtype=DT) for n in (4, 2)]
    obs = metrics.Observation(params, TANH, None, (s, None), None, None, None,
                              hidden_before=before, anticipated=anticipated)
    pi = metrics.prospective_index(obs)["prospective_index"]
    after = network.feedforward(params, s, TANH)[:-1]
    for m in range(2):
        for l in range(2):
            expected = numpy_cos((after[l][m] - before[l][m]).numpy(), (anticipated[l][m] - before[l][m]).numpy())
            assert pi[m, l].item() == pytest.approx(expected, rel=1e-12)


def test_pc_s_first_hidden_layer_has_prospective_index_1_and_bp_s_is_measured_against_pc_s_inference():
    """With one example the first layer's update is proportional to eps_1 s^T, so it moves mu_1
    exactly along x+ - x- = eps_1: PI = 1 (hand derivation). A BP member is measured against the
    same x+."""
    members = [member_config(rule=rule, seed=0, model__sizes=[4, 6, 6, 3], model__bias=False, data__batch_size=1,
                             model__activation="identity", pc__T=64, log=["prospective_index"])
               for rule in ("pc", "bp")]
    pc, _ = train_rows([members[0]], iterations=1)
    bp, _ = train_rows([members[1]], iterations=1)
    assert pc["prospective_index_0"][0] == pytest.approx(1.0, abs=1e-12)
    assert 0.9 < pc["prospective_index_1"][0] <= 1 + 1e-12
    assert bp["prospective_index_0"][0] < pc["prospective_index_0"][0] - 1e-6


def test_weight_path_logs_each_iterations_step_and_the_distance_from_the_start():
    member = member_config(log=["weight_path", "weights"], model__bias=False)
    rows, _ = train_rows([member], iterations=4)
    start = network.init_params(network.dense_shapes(member["model"]["sizes"]), [member["model"]["init"]], False,
                                [torch.Generator().manual_seed(engine.derive_seed(0, "init"))], DT)
    previous = [w[0].flatten().numpy() for w in start.weights]
    initial = list(previous)
    for i in range(4):
        now = [np.array([rows[f"weight_{l}_{j}"][i] for j in range(w.size)]) for l, w in enumerate(initial, 1)]
        for l in range(2):
            assert rows[f"weight_step_{l}"][i] == pytest.approx(np.linalg.norm(now[l] - previous[l]), rel=1e-12)
            assert rows[f"weight_displacement_{l}"][i] == pytest.approx(np.linalg.norm(now[l] - initial[l]), rel=1e-12)
        previous = now


def test_an_output_activation_applies_f_to_the_networks_output():
    params = random_params([3, 4, 2], 2, seed=12)
    s = torch.randn(5, 3, generator=torch.Generator().manual_seed(13), dtype=DT)
    linear = network.predict(params, s, TANH)
    torch.testing.assert_close(network.predict(params, s, TANH.with_output(True)), torch.tanh(linear), rtol=0, atol=0)


def test_a_range_of_update_steps_is_validated_and_resolved():
    config = member_config(pc__T=10, pc__update_p_at={"range": [4, 10, 2]})
    assert pct.update_steps(config["pc"]["update_p_at"], 10) == {4, 6, 8}
    for bad, message in (({"range": [4, 11]}, "pc.update_p_at: steps must be a non-empty set of steps < T (10)"),
                         ({"range": [4, 8, 0]}, "pc.update_p_at: steps must be a non-empty set of steps < T (10)"),
                         ({"range": [4]}, "pc.update_p_at.range: needs at least 2 entries, got 1"),
                         ({"range": "4"}, "pc.update_p_at.range: expected a list, got '4'"),
                         ({"rang": [4, 8]}, "pc.update_p_at.rang: unknown key; allowed: range")):
        with pytest.raises(ConfigError) as error:
            validate(SupervisedConfig, member_config() | {"pc": {"T": 10, "update_p_at": bad}})
        assert str(error.value) == message
    with pytest.raises(ConfigError) as error:
        validate(SupervisedConfig, member_config() | {"pc": {"T": 10, "freeze_x_at": 10}})
    assert str(error.value) == "pc.freeze_x_at: must be < T (10)"
