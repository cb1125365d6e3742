"""The project side of the peer benchmark: one case trained with the project's PC step.

    python benchmarks/peers/project_side.py WORK.npz OUT.json [--step plain|fused] [--weights OUT.npz]

WORK.npz is the case as run.py writes it (pcx_side.py's docstring lists its contents). The members
are one packed network (network.Params), trained batch by batch with `pc_trainable.pc_step` (plain)
or `fused.fused_pc_step` (fused), SGD with each member's lr, one thread. Before the clock starts a
throwaway copy of the network takes the first two batches (`compile_s`: for the fused step the
compilation, from the persistent cache when it holds these shapes); then the whole case is timed.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import fused  # noqa: E402
import network  # noqa: E402
import optim  # noqa: E402
import pc_trainable as pct  # noqa: E402

STEPS = {"plain": pct.pc_step, "fused": fused.fused_pc_step}


def build(work):
    """(params, optimizer, settings, activation) of the work file's members."""
    layers = len([k for k in work if k.startswith("W")])
    weights = [torch.from_numpy(work[f"W{l}"]).clone() for l in range(layers)]
    biases = [torch.from_numpy(work[f"b{l}"])[:, None, :].clone() if f"b{l}" in work else None
              for l in range(layers)]
    params = network.Params(weights, biases)
    lr = torch.from_numpy(work["lr"])
    settings = pct.PCSettings(T=int(work["T"]), inference_lr=torch.from_numpy(work["inference_lr"]),
                              x_lr_discount=torch.from_numpy(work["x_lr_discount"]),
                              update_p_at=frozenset([int(work["T"]) - 1]))
    optimizer = optim.SGD(params, lr[:, None].expand(-1, layers).contiguous())
    return params, optimizer, settings, network.ACTIVATIONS[str(work["activation"])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work")
    parser.add_argument("out")
    parser.add_argument("--step", choices=list(STEPS), default="fused")
    parser.add_argument("--weights", help="write the final weights here (.npz)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    work = dict(np.load(args.work))
    step = STEPS[args.step]
    s, t = torch.from_numpy(work["s"]), torch.from_numpy(work["t"])

    start = time.perf_counter()
    warm = build(work)
    for i in range(2):
        step(warm[0], warm[1], s[i], t[i], warm[3], warm[2])
    compile_s = time.perf_counter() - start

    params, optimizer, settings, act = build(work)
    wall, cpu = time.perf_counter(), time.process_time()
    for i in range(s.shape[0]):
        step(params, optimizer, s[i], t[i], act, settings)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if args.weights:
        np.savez(args.weights, **{f"W{l}": w.numpy() for l, w in enumerate(params.weights)},
                 **{f"b{l}": b[:, 0].numpy() for l, b in enumerate(params.biases) if b is not None})
    json.dump({"side": f"project ({args.step})", "cpu_s": cpu, "wall_s": wall, "compile_s": compile_s,
               "versions": {"torch": torch.__version__}}, open(args.out, "w"))


if __name__ == "__main__":
    sys.exit(main())
