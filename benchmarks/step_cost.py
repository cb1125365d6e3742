"""Cost of one packed PC inference step, one BP step and the bare batched matmuls each needs, for the
paper's network shapes and 1..65,536 members, on this machine's CPU and (when present) GPU.

    python benchmarks/step_cost.py [--device cpu|cuda|all] [--max-members 4096] [--shapes NAME ...]
                                   [--threads 1] [--out table.csv]

Per row, all measured side by side in one process: microseconds per PC inference step (a pc_step of
T steps, weights updated at the last one, divided by T), per BP step, and per bare step of each rule:
the batched matmuls alone, on preallocated tensors (the machine's limit for that shape):
  - PC, per inference step: layers 2..L forward and layers 2..L back at every step (mu_1 = W_1 s is
    computed once per batch), plus a T-th of what pc_step does once per batch: the feed-forward pass
    (every layer) and every layer's weight gradient;
  - BP step: every layer forward, layers 2..L back, and every layer's weight gradient.
On a GPU also the PC step replayed from a CUDA graph of the whole pc_step (what launch overhead costs).
"""
import argparse
from dataclasses import dataclass
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bp_trainable as bpt  # noqa: E402
import engine  # noqa: E402
import network  # noqa: E402
import optim  # noqa: E402
import pc_trainable as pct  # noqa: E402


@dataclass(frozen=True)
class Shape:
    sizes: list
    batch: int = 1
    activation: str = "tanh"
    bias: bool = False


SHAPES = {
    "1-1-2": Shape([1, 1, 2]),                                              # Fig. 3a
    "2-2-2": Shape([2, 2, 2]),                                              # Fig. 3b
    "64-wide linear L=1": Shape([64] * 2, activation="identity"),           # Fig. 3e
    "64-wide linear L=10": Shape([64] * 11, activation="identity"),
    "64-wide linear L=25": Shape([64] * 26, activation="identity"),
    "784-32-32-32-5": Shape([784, 32, 32, 32, 5], batch=32, activation="sigmoid"),   # Fig. 4
    "784-64x14-10": Shape([784] + [64] * 14 + [10], batch=32, activation="sigmoid", bias=True),
    "DQN 4-128-128-2": Shape([4, 128, 128, 2], batch=60, activation="sigmoid", bias=True),   # Fig. 4k
}
MEMBERS = [1, 16, 256, 4096, 65536]
T = 16


def timed(fn, device, repeats):
    """Seconds per call of fn (after one warm-up call)."""
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def packed(shape, members, device):
    g = torch.Generator(device=device).manual_seed(0)
    sizes = shape.sizes
    weights = [torch.randn(members, o, i, generator=g, device=device) / i ** 0.5 for i, o in zip(sizes[:-1], sizes[1:])]
    biases = [torch.zeros(members, 1, o, device=device) if shape.bias else None for o in sizes[1:]]
    s = torch.randn(members, shape.batch, sizes[0], generator=g, device=device)
    t = torch.randn(members, shape.batch, sizes[-1], generator=g, device=device)
    return network.Params(weights, biases), s, t


def bare_matmuls(params, s, rule):
    """The batched matmuls of one pc_step (T inference steps) or of one BP step, on preallocated
    activities and transposes (bmm: nothing but the products)."""
    weights = params.weights
    a = [s] + [torch.randn(s.shape[0], s.shape[1], w.shape[2], device=s.device) for w in weights[1:]]
    e = [torch.randn(s.shape[0], s.shape[1], w.shape[1], device=s.device) for w in weights]
    transposed = [w.transpose(1, 2) for w in weights]
    errors_t = [err.transpose(1, 2) for err in e]

    def once_per_batch():   # forward through every layer, every layer's weight gradient
        for x, w_t in zip(a, transposed):
            torch.bmm(x, w_t)
        for x, err_t in zip(a, errors_t):
            torch.bmm(err_t, x)

    def back():   # layers 2..L's errors to their inputs
        for err, w in zip(e[1:], weights[1:]):
            torch.bmm(err, w)

    def pc_step():
        once_per_batch()
        for _ in range(T):   # an inference step: layers 2..L forward and back
            for x, w_t in zip(a[1:], transposed[1:]):
                torch.bmm(x, w_t)
            back()

    def bp_step():
        once_per_batch()
        back()
    return pc_step if rule == "pc" else bp_step


def cuda_graph(fn):
    """fn captured in a CUDA graph (after warm-up on a side stream); returns its replay."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(2):
            fn()
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        fn()
    return graph.replay


def steps(shape, members, device):
    """(params, s, the packed PC step, the packed BP step) of `members` nets of `shape`, with SGD."""
    params, s, t = packed(shape, members, device)
    act = network.ACTIVATIONS[shape.activation]
    settings = pct.PCSettings(T=T, inference_lr=torch.full((members,), 0.1, device=device),
                              x_lr_discount=torch.full((members,), 0.5, device=device),
                              update_p_at=frozenset([T - 1]))
    sgd = optim.SGD(params, torch.full((members, len(shape.sizes) - 1), 1e-3, device=device))
    return (params, s, lambda: pct.pc_step(params, sgd, s, t, act, settings),
            lambda: bpt.bp_step(params, sgd, s, t, act))


def row(name, shape, members, device):
    params, s, pc_fn, bp_fn = steps(shape, members, device)
    repeats = 3 if members >= 4096 else 10
    pc = timed(pc_fn, device, repeats) / T
    bp = timed(bp_fn, device, repeats)
    bare_pc = timed(bare_matmuls(params, s, "pc"), device, repeats) / T
    bare_bp = timed(bare_matmuls(params, s, "bp"), device, repeats)
    r = {"device": device, "shape": name, "batch": shape.batch, "members": members, "pc_step_us": pc * 1e6,
         "bp_step_us": bp * 1e6, "bare_pc_us": bare_pc * 1e6, "bare_bp_us": bare_bp * 1e6,
         "pc/bare": pc / bare_pc, "bp/bare": bp / bare_bp}
    if device == "cuda":
        try:
            r["pc_graph_us"] = timed(cuda_graph(pc_fn), device, repeats) / T * 1e6
        except RuntimeError as error:   # a capture the step does not allow: say so, keep the row
            print(f"CUDA graph of {name}, {members} members: {str(error).splitlines()[0]}", flush=True)
            r["pc_graph_us"] = float("nan")
    return r


def markdown_row(r):
    graph = f" {r['pc_graph_us']:.0f} |" if "pc_graph_us" in r else " |"
    return (f"| {r['device']} | {r['shape']} | {r['batch']} | {r['members']} | {r['pc_step_us']:.0f} | "
            f"{r['bare_pc_us']:.0f} | {r['pc/bare']:.2f} | {r['bp_step_us']:.0f} | {r['bare_bp_us']:.0f} | "
            f"{r['bp/bare']:.2f} |{graph}")


HEADER = ("| device | shape | batch | members | PC step µs | bare µs | PC/bare | BP step µs | bare µs | BP/bare "
          "| PC step in a CUDA graph µs |\n|---|---|---|---|---|---|---|---|---|---|---|")


def measure(devices, max_members, shapes=None, say=print):
    """The table's rows (dicts), each also said as a markdown row as soon as it is measured."""
    rows = []
    say(HEADER)
    for device in devices:
        for name, shape in SHAPES.items():
            if shapes and name not in shapes:
                continue
            for members in (m for m in MEMBERS if m <= max_members):
                try:
                    r = row(name, shape, members, device)
                except torch.OutOfMemoryError:
                    say(f"| {device} | {name} | {shape.batch} | {members} | out of memory |||||||")
                    torch.cuda.empty_cache()
                    continue
                rows.append(r)
                say(markdown_row(r))
    return rows


def available(device):
    """The devices `--device` names that this machine has."""
    return [d for d in (["cpu", "cuda"] if device == "all" else [device]) if d == "cpu" or torch.cuda.is_available()]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--max-members", type=int, default=4096)
    parser.add_argument("--shapes", nargs="*", help=f"some of: {', '.join(SHAPES)}")
    parser.add_argument("--out", help="also write the table as CSV here")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: a trial of one CPU)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    devices = available(args.device)
    engine.keep_freed_memory()   # as every trial does
    rows = measure(devices, args.max_members, args.shapes, say=lambda line: print(line, flush=True))
    if args.out:
        import pandas as pd
        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
