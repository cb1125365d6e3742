"""The fused PC step (fused.py: its compiled loop, and dense_kernel.py's C kernel for dense networks
with small batches) against the plain one (pc_trainable.pc_step), the reference.

Oracle: pc_step itself, in float64, where rounding differences stay near 1e-15 and no discount can
flip on a tie, so the two must agree to 1e-10 over several batches whatever the model kind, the
activation, the optimizer, the output mask or T. (In float32 they agree to rounding, except where
E_k and E_(k-1) tie within it and a discount flips: benchmarks/peers/ reports that difference.)
The hand-derived and autograd-oracle tests of PC run on both paths in test_learning_rules.py.
"""
import os
from pathlib import Path
import subprocess
import sys
from unittest import mock

import pandas as pd
import pytest
import torch

import conv
import dense_kernel
import engine
import fused
import network
import optim
import pc_trainable as pct
from test_engine import member_config

DT = torch.float64
TOL = dict(rtol=1e-10, atol=1e-12)


def packed(sizes, M, bias, seed):
    g = torch.Generator().manual_seed(seed)
    weights = [torch.randn(M, o, i, generator=g, dtype=DT) / i ** 0.5 for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [0.3 * torch.randn(M, 1, o, generator=g, dtype=DT) if bias else None for o in sizes[1:]]
    return network.Params(weights, biases)


def settings(M, T, update_p_at="last", freeze_x_at=None):
    """Large, different inference rates, so that the energy rises and the discount matters."""
    return pct.PCSettings(T=T, inference_lr=torch.linspace(0.3, 0.9, M, dtype=DT),
                          x_lr_discount=torch.linspace(0.3, 0.7, M, dtype=DT),
                          update_p_at=pct.update_steps(update_p_at, T), x_steps=freeze_x_at)


def compiled_pc_step(*args, **kwargs):
    """fused_pc_step on its compiled loop whatever the batch size (the C kernel never applies)."""
    with mock.patch.object(dense_kernel, "MAX_BATCH", 0):
        return fused.fused_pc_step(*args, **kwargs)


def kernel_pc_step(*args, **kwargs):
    """fused_pc_step with the C kernel on dense networks of any batch size (it computes them all)."""
    with mock.patch.object(dense_kernel, "MAX_BATCH", 1 << 30):
        return fused.fused_pc_step(*args, **kwargs)


FAST_STEPS = pytest.mark.parametrize("fast_step", [compiled_pc_step, kernel_pc_step], ids=["compiled", "kernel"])


def train_both(params, act, st, batches, opt="sgd", mask=None, fast_step=fused.fused_pc_step):
    """(losses, params) of pc_step and of a fast step over the same batches from the same weights."""
    out = []
    for step in (pct.pc_step, fast_step):
        p = params.clone()
        lr = torch.linspace(0.01, 0.03, p.num_members, dtype=DT)[:, None].expand(-1, len(p.weights))
        optimizer = optim.OPTIMIZERS[opt](p, lr.contiguous(), weight_decay=0.01)
        out.append(([step(p, optimizer, s, t, act, st, mask) for s, t in batches], p))
    return out


def assert_same(plain, fast):
    (plain_losses, plain_params), (fast_losses, fast_params) = plain, fast
    for a, b in zip(plain_losses, fast_losses):
        torch.testing.assert_close(b, a, **TOL)
    for a, b in zip(plain_params.tensors, fast_params.tensors):
        torch.testing.assert_close(b, a, **TOL)


def batches(sizes, M, B, per_member, n=3, seed=7):
    g = torch.Generator().manual_seed(seed)
    lead = (M, B) if per_member else (B,)
    return [(torch.randn(*lead, sizes[0], generator=g, dtype=DT), torch.randn(*lead, sizes[-1], generator=g, dtype=DT))
            for _ in range(n)]


CASES = [  # activation, output activation, bias, per-member input, output mask, optimizer, T values
    ("tanh", False, True, False, False, "sgd", [1, 2, 6, 20]),
    ("leaky_relu", False, False, True, True, "adam", [9]),
    ("sigmoid", True, True, True, False, "sgd", [11]),
]


@FAST_STEPS
@pytest.mark.parametrize("act_name,on_output,bias,per_member,masked,opt,Ts", CASES,
                         ids=[c[0] for c in CASES])
def test_fused_step_equals_plain_step_for_every_T(act_name, on_output, bias, per_member, masked, opt, Ts,
                                                  fast_step):
    sizes, M = [3, 5, 4, 2], 3
    params = packed(sizes, M, bias, seed=1)
    act = network.ACTIVATIONS[act_name].with_output(on_output)
    mask = torch.tensor([1.0, 0.0], dtype=DT) if masked else None
    for T in Ts:   # one compiled program serves every T (the loop counts are tensors)
        plain, fast = train_both(params, act, settings(M, T), batches(sizes, M, 4, per_member), opt, mask,
                                 fast_step)
        assert_same(plain, fast)
        assert not torch.equal(plain[1].weights[0], params.weights[0]) or T == 1


def test_a_dense_network_with_one_example_per_batch_runs_the_kernel_and_others_the_compiled_loop():
    sizes, M = [3, 5, 4, 2], 2
    params, act = packed(sizes, M, True, seed=2), network.ACTIVATIONS["relu"]
    for B, kernel_runs in ((1, True), (2, False)):
        with mock.patch.object(dense_kernel, "inference", wraps=dense_kernel.inference) as kernel:
            plain, fast = train_both(params, act, settings(M, 9), batches(sizes, M, B, False))
        assert kernel.called == kernel_runs
        assert_same(plain, fast)


def test_the_kernel_in_float32_equals_the_plain_step_to_rounding():
    """Case c of benchmarks/peers at a smaller scale: 6 members of a 16-wide 5-layer linear net, T = 64."""
    sizes, M = [16] * 6, 6
    params = packed(sizes, M, False, seed=6)
    params = network.Params([w.float() for w in params.weights], [None] * 5)
    st = pct.PCSettings(T=64, inference_lr=torch.full((M,), 0.1), x_lr_discount=torch.full((M,), 0.5),
                        update_p_at=frozenset([63]))
    data = [(s.float(), t.float()) for s, t in batches(sizes, M, 1, True, n=5)]
    out = []
    for step in (pct.pc_step, fused.fused_pc_step):
        p = params.clone()
        optimizer = optim.SGD(p, torch.full((M, 5), 0.01))
        out.append(([step(p, optimizer, s, t, network.ACTIVATIONS["identity"], st) for s, t in data], p))
    for a, b, initial in zip(out[0][1].weights, out[1][1].weights, params.weights):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
        assert not torch.equal(a, initial)


@pytest.fixture
def fresh_kernel(tmp_path, monkeypatch):
    """dense_kernel built anew into a private cache, its caches cleared before and after."""
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "cache"))
    for cached in (dense_kernel.available, dense_kernel.kernel):
        cached.cache_clear()
    yield tmp_path / "cache" / "dense_kernel"
    for cached in (dense_kernel.available, dense_kernel.kernel):
        cached.cache_clear()


def test_without_a_c_compiler_the_compiled_loop_serves_with_a_note(fresh_kernel, monkeypatch):
    monkeypatch.setenv("CC", str(fresh_kernel / "no-such-compiler"))
    sizes, M = [3, 4, 2], 2
    params = packed(sizes, M, True, seed=8)
    with pytest.warns(RuntimeWarning, match="cannot build the C kernel"):
        plain, fast = train_both(params, network.ACTIVATIONS["tanh"], settings(M, 6), batches(sizes, M, 1, False))
    assert_same(plain, fast)
    assert not dense_kernel.available()


def test_a_kernel_library_others_can_write_is_never_loaded(fresh_kernel):
    assert dense_kernel.available()   # built into the fresh cache
    library = next(fresh_kernel.glob("float-*.so"))
    dense_kernel.kernel.cache_clear()
    library.chmod(0o777)
    with pytest.raises(OSError, match="not private"):
        dense_kernel.kernel(torch.float32)
    library.chmod(0o700)
    fresh_kernel.chmod(0o777)
    with pytest.raises(OSError, match="not private"):
        dense_kernel.kernel(torch.float32)


def test_the_compiled_programs_take_atens_tanh_on_the_cpu():
    """Inductor's own tanh differs from ATen's in the last bit for about 1% of float32 inputs (and
    takes 5x as long): the fused step's programs call ATen's, the plain engine's, bit for bit."""
    fused.call_atens_tanh_on_cpu()
    x = 3 * torch.randn(100_000, generator=torch.Generator().manual_seed(0))
    with torch._inductor.config.patch(fx_graph_cache=False):
        compiled = torch.compile(lambda x: 2 * torch.tanh(x), fullgraph=True)
        assert torch.equal(compiled(x), 2 * torch.tanh(x))


def test_the_loop_multiplies_untransposed_weights_and_computes_the_plain_products():
    params = packed([5, 4, 3, 2], 2, bias=True, seed=0)
    loop = fused.LoopParams.of(params)
    assert loop.transposed[0] is None and all(w.is_contiguous() for w in loop.transposed[1:])
    a = torch.randn(2, 6, 4, dtype=DT)
    torch.testing.assert_close(loop.layer(1, a), params.layer(1, a), rtol=1e-12, atol=0)


def test_fused_step_equals_plain_step_on_a_convolutional_network():
    cfg = {"input_shape": [1, 6, 6], "layers": [{"channels": 2, "kernel": 3, "stride": 1, "padding": 1}]}
    generators = [torch.Generator().manual_seed(m) for m in range(2)]
    params = conv.conv_params(cfg, [72, 5, 3], [{"name": "xavier_normal", "gain": 1.0}] * 2, True, generators,
                              dtype=DT)
    act = network.ACTIVATIONS["relu"]
    plain, fast = train_both(params, act, settings(2, 7), batches([36, 3], 2, 4, True))
    assert_same(plain, fast)


@pytest.mark.parametrize("update_p_at,freeze_x_at", [("all", None), ([1, 3], None), ("last", 2)])
def test_fused_step_runs_pc_step_with_a_note_where_it_does_not_apply(update_p_at, freeze_x_at):
    sizes, M = [3, 4, 2], 2
    params = packed(sizes, M, True, seed=3)
    st = settings(M, 5, update_p_at, freeze_x_at)
    fused.warn_once.cache_clear()
    with pytest.warns(RuntimeWarning, match="runs unfused"):
        plain, fast = train_both(params, network.ACTIVATIONS["tanh"], st, batches(sizes, M, 2, False))
    for a, b in zip(plain[1].tensors, fast[1].tensors):
        assert torch.equal(a, b)   # the same function, so bit for bit


def test_a_traced_step_runs_unfused_and_sees_every_inference_step():
    sizes, M = [3, 4, 2], 2
    params = packed(sizes, M, True, seed=4)
    seen = []
    fused.warn_once.cache_clear()
    with pytest.warns(RuntimeWarning, match="trace"):
        fused.fused_pc_step(params, optim.SGD(params, torch.full((M, 2), 0.01, dtype=DT)),
                            *batches(sizes, M, 2, False, n=1)[0], network.ACTIVATIONS["tanh"], settings(M, 4),
                            trace=lambda k, xs, errors: seen.append(k))
    assert seen == [0, 1, 2, 3]


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_run_with_pc_fused_reports_the_rows_of_a_plain_run(rule):
    """engine.train with pc.fused: true (rows of every metric, incl. a probe whose trace runs
    unfused) equals the plain run; BP is not affected by the key."""
    members = [member_config(rule=rule, seed=seed, optimizer__lr=lr, pc__T=12, pc__inference_lr=0.4,
                             log=["loss", "prediction", "target_alignment"])
               for seed, lr in [(0, 0.05), (1, 0.1)]]
    rows = {}
    for fast in (False, True):
        out = {}
        engine.train([dict(m, pc=dict(m["pc"], fused=fast)) for m in members], 3,
                     lambda r, done: [out.setdefault(k, []).extend(v) for k, v in r.items()])
        rows[fast] = out
    assert rows[True].keys() == rows[False].keys()
    for key in rows[False]:
        torch.testing.assert_close(torch.tensor(rows[True][key], dtype=DT), torch.tensor(rows[False][key], dtype=DT),
                                   **TOL, equal_nan=True)
    learner = engine.build_learner([dict(members[0], pc=dict(members[0]["pc"], fused=True))])
    assert (learner.rule.step is fused.fused_pc_step) == (rule == "pc")


def test_pc_fused_on_a_gpu_keeps_the_plain_step_there():
    assert engine.learning_rule(member_config(pc__fused=True), "cuda").step is pct.pc_step


def fused_and_plain_rows(members, iterations):
    """The tidy rows of `members` run with pc.fused: false and true (test_reversal.train)."""
    from test_reversal import train
    return [train([dict(m, pc=dict(m["pc"], fused=fast)) for m in members], iterations)[0] for fast in (False, True)]


def test_closed_loop_reversal_learning_with_pc_fused_equals_the_plain_run():
    import test_reversal
    members = [test_reversal.member("pc", seed, T=32, std=std) for seed, std in ((0, 0.05), (1, 0.1))]
    plain, fast = fused_and_plain_rows(members, 1)
    pd.testing.assert_frame_equal(fast, plain, rtol=1e-10, atol=1e-12)


def test_closed_loop_deep_q_learning_with_pc_fused_equals_the_plain_run():
    import test_dqn
    members = [test_dqn.member("pc", seed, lr, **test_dqn.SMALL) for seed, lr in ((0, 0.05), (1, 0.01))]
    plain, fast = fused_and_plain_rows(members, 8)
    assert plain["loss"].gt(0).any()   # the members learned
    pd.testing.assert_frame_equal(fast, plain, rtol=1e-10, atol=1e-12)


CACHED_STEP = """
import sys, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
import fused, network, optim
from test_fused import batches, packed, settings
params = packed([2, 3, 2], 2, True, seed=5)
s, t = batches([2, 3, 2], 2, 2, False, n=1)[0]   # 2 examples: the compiled loop, not the C kernel
fused.fused_pc_step(params, optim.SGD(params, torch.full((2, 2), 0.01, dtype=torch.float64)), s, t,
                    network.ACTIVATIONS["tanh"], settings(2, 3))
from torch._dynamo.utils import counters
print(counters["inductor"]["fxgraph_cache_hit"], counters["inductor"]["fxgraph_cache_miss"])
"""


def test_a_later_process_loads_the_compiled_program_from_the_persistent_cache(tmp_path):
    """The compile cache is honoured across processes (as trials and launches are): the first process
    compiles the program and stores it, the second loads it instead of lowering it again."""
    tests = Path(__file__).resolve().parent
    script = CACHED_STEP.format(root=str(tests.parent), tests=str(tests))
    env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=str(tmp_path / "inductor"))
    counts = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                             check=True).stdout.split() for _ in range(2)]
    assert counts == [["0", "1"], ["1", "0"]]   # (hits, misses): compiled, then loaded
