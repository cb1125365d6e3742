"""Cost of one packed PC inference step, one BP step and the bare batched matmuls they need, for the
paper's MLP shapes and 1..65,536 members, on this machine's CPU and (when present) GPU.

    python benchmarks/step_cost.py [--device cpu|cuda|all] [--max-members 4096] [--out table.csv]

Per row: microseconds per PC inference step (a pc_step of T steps, weights updated at the last one,
divided by T), per BP step, and per bare step (the L forward and L-1 backward batched matmuls of one
inference step on preallocated tensors: the machine's limit for that shape), and the ratios
PC / bare and BP / bare, all measured side by side in one process.
"""
import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bp_trainable as bpt  # noqa: E402
import network  # noqa: E402
import optim  # noqa: E402
import pc_trainable as pct  # noqa: E402

SHAPES = {
    "1-1-2": [1, 1, 2],
    "2-2-2": [2, 2, 2],
    "64-wide linear L=10": [64] * 11,
    "784-32-32-32-5": [784, 32, 32, 32, 5],
    "784-64x14-10": [784] + [64] * 14 + [10],
}
MEMBERS = [1, 16, 256, 4096, 65536]
T = 16


def timed(fn, device, repeats):
    fn()                                                     # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def packed(sizes, members, device):
    g = torch.Generator(device=device).manual_seed(0)
    weights = [torch.randn(members, o, i, generator=g, device=device) / i ** 0.5 for i, o in zip(sizes[:-1], sizes[1:])]
    s = torch.randn(members, 1, sizes[0], generator=g, device=device)
    t = torch.randn(members, 1, sizes[-1], generator=g, device=device)
    return network.Params(weights, [None] * len(weights)), s, t


def bare_step(params, s):
    """The matmuls of one inference step: every layer forward, every hidden layer's error back."""
    a = [s] + [torch.randn(s.shape[0], 1, w.shape[2], device=s.device) for w in params.weights[1:]]
    e = [torch.randn(s.shape[0], 1, w.shape[1], device=s.device) for w in params.weights]
    return lambda: ([torch.matmul(x, w.transpose(1, 2)) for x, w in zip(a, params.weights)],
                    [torch.matmul(err, w) for err, w in zip(e[1:], params.weights[1:])])


def row(name, sizes, members, device, act):
    params, s, t = packed(sizes, members, device)
    lr = torch.full((members, len(sizes) - 1), 1e-3, device=device)
    settings = pct.PCSettings(T=T, inference_lr=torch.full((members,), 0.1, device=device),
                              x_lr_discount=torch.full((members,), 0.5, device=device),
                              update_p_at=frozenset([T - 1]))
    repeats = 3 if members >= 4096 else 10
    pc = timed(lambda: pct.pc_step(params, optim.SGD(params, lr), s, t, act, settings), device, repeats) / T
    bp = timed(lambda: bpt.bp_step(params, optim.SGD(params, lr), s, t, act), device, repeats)
    bare = timed(bare_step(params, s), device, repeats * T)
    return {"device": device, "shape": name, "members": members, "pc_step_us": pc * 1e6, "bp_step_us": bp * 1e6,
            "bare_matmuls_us": bare * 1e6, "pc/bare": pc / bare, "bp/bare": bp / bare}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--max-members", type=int, default=4096)
    parser.add_argument("--out", help="also write the table as CSV here")
    args = parser.parse_args(argv)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    act = network.ACTIVATIONS["tanh"]
    rows = []
    print("| device | shape | members | PC step µs | BP step µs | bare matmuls µs | PC/bare | BP/bare |")
    print("|---|---|---|---|---|---|---|---|")
    for device in devices:
        for name, sizes in SHAPES.items():
            for members in (m for m in MEMBERS if m <= args.max_members):
                try:
                    r = row(name, sizes, members, device, act)
                except torch.OutOfMemoryError:
                    print(f"| {device} | {name} | {members} | out of memory | | | | |", flush=True)
                    torch.cuda.empty_cache()
                    continue
                rows.append(r)
                print(f"| {device} | {name} | {members} | {r['pc_step_us']:.0f} | {r['bp_step_us']:.0f} | "
                      f"{r['bare_matmuls_us']:.0f} | {r['pc/bare']:.1f} | {r['bp/bare']:.1f} |", flush=True)
    if args.out:
        import pandas as pd
        pd.DataFrame(rows).to_csv(args.out, index=False)


if __name__ == "__main__":
    main()
