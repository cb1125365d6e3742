"""Target propagation: a hand-worked two-layer example, one layer = BP, first-order alignment, and the
rule through the engine and the config."""
import pytest
import torch

import bp_trainable as bpt
from config_errors import validate
import engine
import network
import optim
import tp_trainable as tpt
from schema import SupervisedConfig
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


@pytest.mark.parametrize("sizes", [[5, 5, 5, 5, 5], [7, 6, 5, 4, 3]], ids=["square", "narrowing"])
def test_at_depth_4_each_layer_error_sent_up_through_the_layers_above_is_the_output_error(sizes):
    """Oracle for L > 2: with square invertible or narrowing (full row rank) layers pinv is a right
    inverse, so eps_l passed through W_{l+1} .. W_L (linear) gives back exactly eps_L = t - o; and each
    layer steps by lr * eps_l^T a_{l-1} with the feed-forward activity a_{l-1} = W_{l-1} .. W_1 s."""
    M, lr = 3, 0.01
    params = random_net(sizes, M, seed=5)
    weights = [w.clone() for w in params.weights]
    g = torch.Generator().manual_seed(6)
    s, t = torch.randn(M, 2, sizes[0], generator=g, dtype=DT), torch.randn(M, 2, sizes[-1], generator=g, dtype=DT)
    acts = [s]
    for w in weights:
        acts.append(acts[-1] @ w.transpose(1, 2))
    eps_out = t - acts[-1]
    _, errors, _ = tpt.tp_errors(params, s, t, IDENTITY)
    assert len(errors) == 4
    for l, eps in enumerate(errors):
        up = eps
        for w in weights[l + 1:]:
            up = up @ w.transpose(1, 2)
        torch.testing.assert_close(up, eps_out, rtol=1e-9, atol=1e-10)
    tpt.tp_step(params, optim.SGD(params, torch.full((M, 4), lr, dtype=DT)), s, t, IDENTITY)
    for w_after, w, eps, a in zip(params.weights, weights, errors, acts):
        torch.testing.assert_close(w_after, w + lr * eps.transpose(1, 2) @ a, rtol=1e-10, atol=1e-12)


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
