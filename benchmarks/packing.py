"""Packed members vs the same runs one by one, measured side by side in one process.

    python benchmarks/packing.py

For each case it trains M members as one tensor program, then each member alone, and prints both
wall times and their ratio (single thread, as a Ray trial with cpu: 1 runs).
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import train  # noqa: E402
from loader import load_experiment  # noqa: E402

CASES = [   # (name, config, profile, overrides, trial index)
    ("Fig. 3e, L=10, 27 seeds, T=512", "target_alignment/fig3e", None,
     ["config.model.num_layers=10"], 0),
    ("Fig. 3d, 5 lrs, 256 iterations", "interference/fig3d", None,
     ["stop.training_iteration=256"], 0),
    ("Fig. 3g quick, digits, L=8, 16 members, 2 epochs", "search_depth/fig3fgh", "quick",
     ["stop.training_iteration=2", "config.model.num_layers=8"], 0),
]


def seconds(members, iterations):
    start = time.perf_counter()
    train(members, iterations, lambda rows, done: None)
    return time.perf_counter() - start


def main():
    torch.set_num_threads(1)
    for name, config, profile, overrides, index in CASES:
        experiment = load_experiment(config, profile, overrides)
        members = experiment.trials[index]["members"]
        iterations = experiment.doc["stop"]["training_iteration"]
        packed = seconds(members, iterations)
        alone = sum(seconds([m], iterations) for m in members)
        print(f"{name}: M={len(members)} packed {packed:.2f} s, one by one {alone:.2f} s, "
              f"speed-up x{alone / packed:.1f}", flush=True)


if __name__ == "__main__":
    main()
