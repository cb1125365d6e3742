"""Target propagation: a hand-worked two-layer example, one layer = BP, first-order alignment, and the
rule through the engine and the config."""
import pytest
import torch

import bp_trainable as bpt
import engine
import network
import optim
import tp_trainable as tpt
from schema import SupervisedConfig, validate
from utils import ConfigError

DT = torch.float64
IDENTITY = network.ACTIVATIONS["identity"]


# W1 = [[2]], W2 = [[1], [1]], s = 1, t = (0, 1), lr 0.1.
#   Feed-forward: x1 = 2, o = (2, 2); eps_2 = t - o = (-2, -1).
#   pinv(W2) = [[0.5, 0.5]], so eps_1 = eps_2 pinv(W2)^T = -2 * 0.5 - 1 * 0.5 = -1.5.
#   Delta rule, all layers at once: W2 += 0.1 * eps_2^T x1 = [[1 - 0.4], [1 - 0.2]] = [[0.6], [0.8]];
#   W1 += 0.1 * eps_1 * s = 2 - 0.15 = 1.85.  New output (0.6 * 1.85, 0.8 * 1.85) = (1.11, 1.48).
def test_a_tp_step_on_the_two_layer_example_matches_the_hand_derivation():
    params = network.Params([torch.tensor([[[2.0]]], dtype=DT), torch.tensor([[[1.0], [1.0]]], dtype=DT)],
                            [None, None])
    s, t = torch.tensor([[1.0]], dtype=DT), torch.tensor([[0.0, 1.0]], dtype=DT)
    _, errors, _ = tpt.tp_errors(params, s, t, IDENTITY)
    torch.testing.assert_close(errors[0], torch.tensor([[[-1.5]]], dtype=DT))
    loss = tpt.tp_step(params, optim.SGD(params, torch.tensor([[0.1, 0.1]], dtype=DT)), s, t, IDENTITY)
    torch.testing.assert_close(loss, torch.tensor([0.5 * (4 + 1)], dtype=DT))
    torch.testing.assert_close(params.weights[0], torch.tensor([[[1.85]]], dtype=DT))
    torch.testing.assert_close(params.weights[1], torch.tensor([[[0.6], [0.8]]], dtype=DT))
    torch.testing.assert_close(network.predict(params, s, IDENTITY), torch.tensor([[[1.11, 1.48]]], dtype=DT))


def random_net(sizes, M, seed):
    g = torch.Generator().manual_seed(seed)
    return network.Params([torch.randn(M, o, i, generator=g, dtype=DT) / i ** 0.5
                           for i, o in zip(sizes[:-1], sizes[1:])], [None] * (len(sizes) - 1))


def test_with_one_layer_tp_is_bp():
    tp, s_t = random_net([5, 3], 4, seed=1), torch.randn(2, 4, 8, generator=torch.Generator().manual_seed(2), dtype=DT)
    bp = tp.clone()
    s, t = s_t[0, :, :5], s_t[1, :, :3]
    lr = torch.full((4, 1), 0.05, dtype=DT)
    tpt.tp_step(tp, optim.SGD(tp, lr), s, t, IDENTITY)
    bpt.bp_step(bp, optim.SGD(bp, lr), s, t, IDENTITY)
    torch.testing.assert_close(tp.weights[0], bp.weights[0], rtol=0, atol=0)


def test_through_square_invertible_layers_a_small_tp_step_moves_the_output_towards_the_target():
    """To first order the output change is lr (|x1|^2 + |s|^2) (t - o): target alignment 1."""
    sizes, M = [6, 6, 6], 5
    params = random_net(sizes, M, seed=3)
    g = torch.Generator().manual_seed(4)
    s, t = torch.randn(M, 1, 6, generator=g, dtype=DT), torch.randn(M, 1, 6, generator=g, dtype=DT)
    before = network.predict(params, s, IDENTITY)
    tpt.tp_step(params, optim.SGD(params, torch.full((M, 2), 1e-4, dtype=DT)), s, t, IDENTITY)
    change, wanted = (network.predict(params, s, IDENTITY) - before).flatten(1), (t - before).flatten(1)
    alignment = (change * wanted).sum(1) / (change.norm(dim=1) * wanted.norm(dim=1))
    assert (alignment > 0.999).all(), alignment


def member(**changes):
    config = {"rule": "tp", "seed": 0,
              "data": {"name": "gaussian_pair", "input_size": 4, "output_size": 4},
              "model": {"num_layers": 2, "width": 4, "init": {"name": "xavier_uniform"}},
              "optimizer": {"lr": 0.001}, "log": ["target_alignment"], "dtype": "float64", "device": "cpu"}
    return validate(SupervisedConfig, {**config, **changes}, "config")


def test_the_engine_trains_tp_by_name_with_members_packed_as_alone():
    members = [member(seed=seed) for seed in range(3)]
    packed, alone = {}, {}
    engine.train(members, 1, lambda r, done: packed.update(r))
    for m, config in enumerate(members):
        engine.train([config], 1, lambda r, done: alone.update({m: r["target_alignment"][0]}))
    assert packed["target_alignment"] == pytest.approx([alone[m] for m in range(3)], rel=1e-12)
    assert all(ta > 0.99 for ta in packed["target_alignment"])   # square layers: TA ~ 1 at depth 2


def test_tp_on_a_nonlinear_network_is_a_config_error():
    with pytest.raises(ConfigError, match="^config.rule: tp .* use activation: identity"):
        member(model={"num_layers": 2, "width": 4, "activation": "tanh", "init": {"name": "xavier_uniform"}})
