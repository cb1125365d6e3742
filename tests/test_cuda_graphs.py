"""CUDA graphs (graphs.py): a learner's steps replayed from graphs give the numbers of plain steps."""
from dataclasses import replace

import pytest
import torch

import engine
import graphs
import network
import optim
from rules import get_rule
from test_engine import member_config

@pytest.mark.parametrize("rule, optimizer, device, expected", [
    ("pc", "sgd", "cuda", True), ("bp", "sgd", "cuda", True), ("pc", "sgd", "cpu", False),
    ("pc", "adam", "cuda", False), ("tp", "sgd", "cuda", False)])
def test_steps_are_replayed_from_graphs_only_on_a_gpu_with_a_recordable_rule_and_optimizer(
        rule, optimizer, device, expected):
    params = network.Params([torch.zeros(1, 2, 2)], [None])
    assert graphs.graphs_pay(device, get_rule(rule), optim.OPTIMIZERS[optimizer](params, torch.ones(1, 1))) is expected


def cuda_members(rule):
    return [member_config(rule=rule, seed=seed, device="cuda", dtype="float32", optimizer__lr=lr,
                          model__sizes=[4, 16, 16, 3], pc__T=8, pc__x_lr_discount=0.5)
            for seed, lr in [(0, 0.05), (1, 0.05), (0, 0.01)]]


@pytest.mark.gpu
@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_learner_replaying_graphs_learns_as_plain_steps_over_shapes_masks_and_silenced_members(rule):
    graphed = engine.build_learner(cuda_members(rule))
    plain = replace(engine.build_learner(cuda_members(rule)), graphed=None)
    assert isinstance(graphed.graphed, graphs.GraphedStep)
    g = torch.Generator(device="cuda").manual_seed(0)
    for k, batch in enumerate([5] * 5 + [3] * 4 + [5] * 3):   # a second shape, then the first again
        s = torch.randn(3, batch, 4, generator=g, device="cuda")
        t = torch.randn(3, batch, 3, generator=g, device="cuda")
        mask = (torch.rand(3, batch, 3, generator=g, device="cuda") > 0.3).float()
        if k == 8:   # as the engine silences a diverged member: in place
            for learner in (graphed, plain):
                for p in learner.params.tensors:
                    p[1] = 0
        losses = [learner.learn(s, t, mask) for learner in (graphed, plain)]
        assert torch.equal(losses[0], losses[1])   # the same kernels on the same numbers
    assert all(torch.equal(a, b) for a, b in zip(graphed.params.tensors, plain.params.tensors))
    assert len(graphed.graphed.graphs) == 2
