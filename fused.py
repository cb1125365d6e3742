"""PC's inference loop as fused code: the T-1 value-node moves of a pc_step compiled once per shape.

`fused_pc_step` computes what `pc_trainable.pc_step` computes, with the same functions
(prediction_errors, value_gradients, sum_of_squares), but its inference loop is one
`torch.compile`d program instead of ~10 PyTorch operations per layer and step:

    x = feed-forward;  for k = 0..T-2:  x <- x - gamma dE/dx;  gamma <- gamma * where(E_k >= E_(k-1), d, 1)

with E_(-1) = NaN (so step 0 never discounts, as in pc_step), the energy E_k summed from the errors
the step already has (inside the fused kernels, no second pass), and no Python branch on a tensor.
Dense networks keep a contiguous W^T beside each W for the loop (`LoopParams`), and on the CPU the
programs call ATen's tanh, not inductor's slower one (`call_atens_tanh_on_cpu`).
The loop is `torch._higher_order_ops.while_loop` over UNROLL steps at a time, then over single
steps; the counts are tensors, so one compiled program serves every T. Then, at k = T-1, the
weights take the optimizer's step on dE/dW at that state, outside the compiled program (so every
optimizer works).

Dense networks with a batch of one example run dense_kernel.py's C kernel instead (the same moves,
member by member while each member's weights are in the cache), where it can be built. Otherwise,
with a batch of one, the batched products ([M, 1, n] x [M, n, n]) are fused multiply-and-sum
kernels instead of calls to the BLAS (inductor's `decompose_mm_pass`): the BLAS pays a call per
member, which is where most of such a step goes otherwise.

Results equal pc_step's to float32 rounding: the fused kernels sum in another order, so E_k and
E_(k-1) can tie differently near convergence and flip a discount (tests/test_fused.py compares
both paths in float64, where they agree to 1e-10).

Supported: the PC rule on dense or convolutional packed networks with `update_p_at: last` and value
nodes moving at every step but the last (the default); otherwise, and when a trace of the
inference is asked for, `fused_pc_step` runs pc_step (and says once why, `fallback_reason`).

Compilation costs tens of CPU-seconds per network shape the first time on this machine (24 for a
10-layer net, besides the C++ compiler's); the compiled program is kept in a persistent cache
(`compile_cache_dir`), so a later trial or launch of the same shapes pays only the tracing and the
load (4 CPU-seconds for that net). The C kernel compiles once per machine (about a CPU-second per
dtype), into the same cache, for every shape.
"""
import dataclasses
import functools
import os
import warnings

import torch
from torch._higher_order_ops.while_loop import while_loop

import dense_kernel
from dense_kernel import compile_cache_dir
from network import Params, feedforward, output_errors, output_loss, per_member
from pc_trainable import pc_step, prediction_errors, sum_of_squares, value_gradients

UNROLL = 4   # inference steps per iteration of the compiled loop (then single steps to T-1)
MAX_VECTOR_BATCH = 1   # batches up to this size multiply as fused kernels, larger ones call the BLAS
MAX_SHAPES = 64        # compiled programs (network shapes, activations, ...) per process


def fallback_reason(settings, trace=None):
    """Why a step cannot run fused (None when it can)."""
    if trace is not None:
        return "a trace of the inference was asked for"
    if settings.update_p_at != frozenset([settings.T - 1]):
        return "update_p_at is not 'last'"
    if settings.x_steps is not None and settings.x_steps < settings.T - 1:
        return "freeze_x_at stops the value nodes early"
    return None


def inference_move(params, s, t, act, output_mask, mu_1, discount, gamma, previous, xs):
    """One inference step k < T-1: (gamma, E_k, xs) -> (gamma', 2 E_k, x - gamma dE/dx)."""
    acts, errors, residual = prediction_errors(params, s, xs, t, act, output_mask, mu_1)
    grads = value_gradients(params, xs, errors, act, acts)
    moved = [x - per_member(gamma, x) * g for x, g in zip(xs, grads)]
    current = sum_of_squares(errors[:-1] + [residual])   # 2 E_k, as pc_step compares it
    gamma = gamma * torch.where(current >= previous, discount, torch.ones_like(discount))
    return gamma, current, moved


def inference(params, s, t, act, output_mask, gamma, discount, loops, rest, unroll=UNROLL):
    """The value nodes after loops * unroll + rest inference steps from the feed-forward state (the
    counts are tensors, so one compiled program serves every T), and the loss there: (xs, mu_1, loss [M])."""
    mus = feedforward(params, s, act)
    xs, mu_1 = [mu.clone() for mu in mus[:-1]], mus[0]   # the loop's state may not alias its inputs
    loss = output_loss(output_errors(t, mus[-1], act, output_mask)[0])
    previous = torch.full_like(gamma, float("nan"))
    if type(params) is Params and s.shape[-2] > MAX_VECTOR_BATCH:
        params = LoopParams.of(params)

    def steps(n):
        def body(i, gamma, previous, *xs):
            xs = list(xs)
            for _ in range(n):
                gamma, previous, xs = inference_move(params, s, t, act, output_mask, mu_1, discount,
                                                     gamma, previous, xs)
            return (i + 1, gamma, previous, *xs)
        return body

    state = (torch.zeros_like(loops), gamma, previous, *xs)
    state = while_loop(lambda i, *_: i < loops, steps(unroll), state)
    state = while_loop(lambda i, *_: i < rest, steps(1), (torch.zeros_like(rest), *state[1:]))
    return list(state[3:]), mu_1, loss


@dataclasses.dataclass
class LoopParams(Params):
    """Dense weights with a contiguous copy of each W^T besides W (not the first layer's: mu_1 stays),
    so that both products of an inference step, a W^T forward and e W back, multiply untransposed
    matrices (the BLAS's fastest case: 4% less time in case a's loop, benchmarks/peers)."""
    transposed: list = None

    @classmethod
    def of(cls, params):
        return cls(params.weights, params.biases, transposed=[None] + [w.transpose(1, 2).contiguous()
                                                                       for w in params.weights[1:]])

    def layer(self, l, a):
        mu = torch.bmm(a, self.transposed[l])
        return mu if self.biases[l] is None else mu + self.biases[l]


@functools.cache
def compiled_inference(vector_products):
    """`inference` compiled (once per process and kind of product; per shape inside). With
    `vector_products` every batched product becomes a fused multiply-and-sum kernel (inductor's
    decompose_mm_pass, told to apply to any number of members: its default is one); without, each
    stays a BLAS call."""
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
    # torch does not mark while_loop cacheable, so inductor's graph cache would pass the program by and
    # every process would lower it and generate its kernels again (tens of seconds); the key holds the
    # loop's subgraphs' code, so caching it is sound: keyed by torch's version too.
    torch._inductor.config.unsafe_marked_cacheable_functions = {
        **torch._inductor.config.unsafe_marked_cacheable_functions,
        "torch.ops.higher_order.while_loop": f"{torch.__version__} {ATEN_TANH_ON_CPU}"}   # the lowering below too
    call_atens_tanh_on_cpu()
    # one program per network shape: a process may meet more than dynamo's default 8 (then it would
    # run the loop uncompiled)
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, MAX_SHAPES)
    # no checks of every buffer's size and alignment at every step (9% of case a's loop): dynamo's guards
    # check the inputs' shapes and strides as the program is entered, inside it the loop carries its own
    options = {"size_asserts": False, "alignment_asserts": False}
    if vector_products:
        from torch._inductor.fx_passes import decompose_mem_bound_mm
        decompose_mem_bound_mm.cpu_max_first_dimension_decomposition = 1 << 30   # read when a product is matched
        options["post_grad_fusion_options"] = {"decompose_mm_pass": {}}
    return torch.compile(inference, fullgraph=True, dynamic=False, options=options)


ATEN_TANH_ON_CPU = "tanh on CPU: ATen's"   # part of the compiled programs' cache key


@functools.cache
def call_atens_tanh_on_cpu():
    """Compiled programs on CPU call ATen's tanh (the plain engine's) instead of generating their own:
    inductor's C++ tanh (Sleef's, 1 ULP) takes 1.9 ns per float32 element on this machine, ATen's
    (MKL's vector tanh, 1 ULP) 0.35 ns; case a's inference loop (benchmarks/peers) takes 18% less
    time with ATen's. Other devices keep inductor's fused tanh. For the whole process: inductor's
    lowerings are global."""
    from torch._inductor import lowering
    tanh = torch.ops.aten.tanh.default
    fused_tanh = lowering.lowerings[tanh]
    atens_tanh = lowering.fallback_handler(tanh, add_to_fallback_set=False)
    lowering.lowerings[tanh] = lambda x: atens_tanh(x) if x.get_device().type == "cpu" else fused_tanh(x)


def fused_pc_step(params, optimizer, s, t, act, settings, output_mask=None, trace=None):
    """pc_step (same arguments, same result to float32 rounding) with the inference loop compiled."""
    reason = fallback_reason(settings, trace)
    if reason is not None:
        warn_once(reason)
        return pc_step(params, optimizer, s, t, act, settings, output_mask, trace)
    if dense_kernel.applies(params, s, act) and dense_kernel.available():
        xs, mu_1, loss = dense_kernel.inference(params, s, t, act, output_mask, settings.inference_lr,
                                                settings.x_lr_discount, settings.T - 1)
    else:
        loops, rest = divmod(settings.T - 1, UNROLL)
        infer = compiled_inference(s.shape[-2] <= MAX_VECTOR_BATCH)
        xs, mu_1, loss = infer(params, s, t, act, output_mask, settings.inference_lr, settings.x_lr_discount,
                               torch.tensor(loops), torch.tensor(rest))
    acts, errors, _ = prediction_errors(params, s, xs, t, act, output_mask, mu_1)
    optimizer.step(params, params.gradients(acts, errors))
    return loss


FUSED_STEPS = {"pc": fused_pc_step}   # rule name -> its fused step


@functools.cache
def warn_once(reason):
    warnings.warn(f"fused PC step: {reason}, so this step runs unfused (pc_step)", RuntimeWarning, stacklevel=3)
