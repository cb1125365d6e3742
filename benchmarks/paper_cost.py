"""Estimate the paper-scale cost of an experiment on this machine: measured time per training batch
and per evaluation (at the paper's shapes, with random data of those shapes) times the number of
batches and evaluations the YAML asks for. Needs no data set.

    python benchmarks/paper_cost.py experiments/search_depth/fig3fgh.yaml [--repeats 3]
"""
import argparse
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import PackedRun  # noqa: E402
from data_utils import DATASETS  # noqa: E402
from metrics import classification_error  # noqa: E402
from schema import load_experiment  # noqa: E402


class RandomStream:
    """Random batches of the trial's shapes (stands in for the data set when timing)."""

    def __init__(self, data, members, dtype):
        self.info = DATASETS[data["dataset"]]
        self.inputs, self.classes = self.info.dims
        self.outputs = data.get("num_outputs", self.classes)
        self.data, self.members, self.dtype = data, members, dtype

    def batch(self, size):
        s = torch.rand(self.members, size, self.inputs, dtype=self.dtype)
        t = torch.eye(self.outputs, dtype=self.dtype)[torch.randint(self.outputs, (self.members, size))]
        return s, t

    def batches_per_iteration(self):
        data = self.data
        if data["batches_per_iteration"]:
            return data["batches_per_iteration"]
        classes = len(data["tasks"][0]) if "tasks" in data else self.classes
        pool = data["train_per_class"] * classes if data["train_per_class"] else self.info.train_size
        return (pool // data["batch_size"]) if data["drop_last"] else math.ceil(pool / data["batch_size"])

    def eval_size(self):
        data = self.data
        per_class = data["test_per_class"] or self.info.test_size // self.classes
        return min(per_class, self.info.test_size // self.classes) * self.classes


def time_trial(members, iterations, repeats):
    """(seconds per training batch, seconds per evaluation, batches per iteration, iterations)."""
    data = members[0]["data"]
    stream = RandomStream(data, len(members), torch.float32)
    # Build the members with a stream and init that need no files; only the shapes matter here.
    shaped = [dict(m, data={"name": "gaussian_pair", "input_size": stream.inputs,
                            "output_size": stream.outputs, "std": 1.0, "batch_size": 1},
                   model=dict(m["model"], init={"name": "xavier_normal", "gain": 1.0}))
              for m in members]
    learner = PackedRun.build(shaped).learner
    s, t = stream.batch(data["batch_size"])
    learner.learn(s, t)    # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        learner.learn(s, t)
    per_batch = (time.perf_counter() - start) / repeats
    x, y = stream.batch(stream.eval_size())
    start = time.perf_counter()
    classification_error(learner.params, learner.act, x[0], y)
    per_eval = time.perf_counter() - start
    return per_batch, per_eval, stream.batches_per_iteration(), iterations


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--profile")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    experiment = load_experiment(args.config, args.profile)
    iterations = experiment.doc["stop"]["training_iteration"]
    total = 0.0
    for trial in experiment.trials:
        members = trial["members"]
        per_batch, per_eval, batches, evals = time_trial(members, iterations, args.repeats)
        seconds = iterations * (batches * per_batch + per_eval)
        total += seconds
        first = members[0]
        print(f"{first['rule']} sizes={first['model']['sizes']} B={first['data']['batch_size']} "
              f"M={len(members)}: {per_batch * 1e3:.2f} ms/batch x {batches} batches x {iterations} "
              f"+ {per_eval * 1e3:.1f} ms/eval -> {seconds / 60:.1f} min", flush=True)
    print(f"total: {total / 3600:.2f} CPU-hours on one core; ~{total / 3600 / 2:.2f} h wall on 2 cores "
          f"({len(experiment.trials)} trials)")


if __name__ == "__main__":
    main()
