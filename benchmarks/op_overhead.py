"""Where a tiny network's PC inference step spends its time on the CPU: the tensor operations per step,
what one operation costs at that size, and the rest (Python).

    python benchmarks/op_overhead.py [--shape 1-1-2] [--members 1]

Counts the ATen operations of one pc_step (T steps) with the profiler, divides by T, and times a
bare elementwise operation on tensors of the step's size; the step's time minus operations x that
cost is the interpreter's share.
"""
import argparse

import torch

import step_cost

T = 16


def ops_per_step(fn):
    """Top-level ATen operations per inference step (views included: each is dispatched too)."""
    with torch.profiler.profile() as profile:
        fn()
    events = [e for e in profile.events() if e.name.startswith("aten::") and e.cpu_parent is None]
    return len(events) / T


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", default="1-1-2", choices=list(step_cost.SHAPES))
    parser.add_argument("--members", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    shape = step_cost.SHAPES[args.shape]
    r = step_cost.row(args.shape, shape, args.members, "cpu")
    x = torch.randn(args.members, shape.batch, shape.sizes[1])
    one_op = step_cost.timed(lambda: torch.add(x, x), "cpu", 20000)
    empty_loop = step_cost.timed(lambda: None, "cpu", 20000)
    ops = ops_per_step(step_cost.steps(shape, args.members, "cpu")[2])
    step = r["pc_step_us"]
    in_ops = ops * (one_op - empty_loop) * 1e6
    print(f"| shape | members | PC step µs | ATen ops per step | one op µs | ops x one op µs | the rest µs |")
    print(f"|---|---|---|---|---|---|---|")
    print(f"| {args.shape} | {args.members} | {step:.1f} | {ops:.1f} | {(one_op - empty_loop) * 1e6:.2f} | "
          f"{in_ops:.1f} | {step - in_ops:.1f} |")


if __name__ == "__main__":
    step_cost.engine.keep_freed_memory()
    main()
