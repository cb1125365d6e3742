"""Measured cost of the Fig. 4i CNN (CIFAR-10 shapes, batch 200) per batch and per epoch, PC and BP,
on this machine's CPU and, when present, its GPU; and the paper-scale estimate from it.

    python benchmarks/cnn_cost.py [--members 3] [--batches 3] [--device cpu|cuda|all]

CIFAR-10 itself is not needed: the inputs and targets are random tensors of its shapes (the cost
does not depend on the pixel values). A trial packs the 3 seeds of one (rule, lr); the paper's grid
is 2 rules x 6 lrs = 12 such trials of 80 epochs of 250 batches.
"""
import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import engine  # noqa: E402
from loader import load_experiment  # noqa: E402
from step_cost import timed  # noqa: E402

EPOCH_BATCHES, EPOCHS, TRIALS = 250, 80, 12


def trial_learner(rule, members, device):
    """The Learner of the paper config's first trial of `rule`, on `device`, with `members` members."""
    experiment = load_experiment("cnn/fig4i")
    trial = next(t for t in experiment.trials if t["members"][0]["rule"] == rule)
    member = {**trial["members"][0], "device": device}
    return engine.build_learner([{**member, "seed": seed} for seed in range(members)])


def seconds_per_batch(rule, members, device, batches):
    learner = trial_learner(rule, members, device)
    g = torch.Generator().manual_seed(0)
    s = torch.rand(members, 200, 3072, generator=g).to(device)
    t = torch.nn.functional.one_hot(torch.randint(10, (members, 200), generator=g), 10).float().to(device)
    return timed(lambda: learner.learn(s, t), device, batches)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    args = parser.parse_args(argv)
    devices = ["cpu", "cuda"] if args.device == "all" else [args.device]
    devices = [d for d in devices if d == "cpu" or torch.cuda.is_available()]
    print(f"| device | rule | members | s per batch | s per epoch ({EPOCH_BATCHES} batches) | "
          f"paper grid ({TRIALS} trials x {EPOCHS} epochs), hours on one device |")
    print("|---|---|---|---|---|---|")
    for device in devices:
        name = torch.cuda.get_device_name() if device == "cuda" else f"CPU, {torch.get_num_threads()} threads"
        for rule in ("pc", "bp"):
            per_batch = seconds_per_batch(rule, args.members, device, args.batches)
            hours = per_batch * EPOCH_BATCHES * EPOCHS * TRIALS / 2 / 3600   # half the trials are this rule's
            print(f"| {name} | {rule} | {args.members} | {per_batch:.3f} | {per_batch * EPOCH_BATCHES:.1f} | "
                  f"{hours:.1f} (this rule's 6 trials) |", flush=True)


if __name__ == "__main__":
    main()
