"""Estimate what an experiment costs on this machine: the measurement of `main.py --dry-run`
(cost.py: each kind of trial built with its data and run briefly, learning steps timed, the rest of
an iteration run for real), with every trial listed. Needs the experiment's data, as a run does.

    python benchmarks/paper_cost.py experiments/search_depth/fig3fgh.yaml [--profile quick] [--budget 0.25]
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cost  # noqa: E402
from loader import load_experiment  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config")
    parser.add_argument("--profile")
    parser.add_argument("--budget", type=float, default=0.25,
                        help="seconds of learning steps timed for each kind of trial")
    args = parser.parse_args(argv)
    experiment = load_experiment(args.config, args.profile)
    estimate = cost.estimate(experiment, args.budget)
    print("\n".join(cost.preview(experiment, estimate, shown=len(experiment.trials))))


if __name__ == "__main__":
    main()
