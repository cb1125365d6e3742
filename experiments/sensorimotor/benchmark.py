"""Where the time of a fig5f trial goes: one learn() (a trial step) at M members, per rule.

    python -m experiments.sensorimotor.benchmark [--config experiments/sensorimotor/fig5f.yaml]
                                                 [--members 1 576 5184] [--trials 40]

Builds each rule's first trial of the YAML (cut to M members) exactly as a run does, times `trials`
learning steps of the session on one thread, and prints the time per learn() and per PC inference
step, and the session's projected time (learn() x trials per session; the task's own loop, the
test-phase reads and the reporting add little). The per-step cost at M = 1 is the fixed Python and
dispatch overhead; what grows with M is tensor work.
"""
import argparse
import time

import torch

import engine
from loader import load_experiment


def time_learn(members, trials):
    """Seconds per learn() over `trials` session trials, and the session length."""
    training = engine.PackedTraining.build(members)
    task, learner = training.task, training.learner
    learner.begin()
    learner.learn(*task.trial(0))                                # warm-up
    start = time.perf_counter()
    for i in range(1, trials + 1):
        learner.learn(*task.trial(i))
    return (time.perf_counter() - start) / trials, task.length


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="experiments/sensorimotor/fig5f.yaml")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 576, 5184])
    parser.add_argument("--trials", type=int, default=40)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    experiment = load_experiment(args.config)
    for rule in ("pc", "bp"):
        trial = next(t for t in experiment.trials if t["members"][0]["rule"] == rule)
        steps = trial["members"][0]["pc"]["T"] if rule == "pc" else 1
        for m in args.members:
            per_learn, length = time_learn(trial["members"][:m], args.trials)
            print(f"{rule} M={m:5d}: learn() {per_learn * 1e3:8.3f} ms = {steps} steps x "
                  f"{per_learn / steps * 1e6:7.1f} us; session of {length} trials ~{per_learn * length:6.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
