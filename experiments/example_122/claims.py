"""The claims of the 1-2-2 example (FIGURES.md: example_122), decided from the rows of example_122.yaml."""
import pandas as pd

from analysis_utils import rule_label
from claims import Claim
from experiments.example_122.figures import paths, straightness


def per_seed(rows):
    """Each run's path length over its displacement in weight space, by (rule, seed)."""
    runs = {(rule, seed): straightness(path) for seed, run in rule_label(rows).groupby("seed")
            for rule, path in paths(run).groupby("rule")}
    return pd.Series(runs).rename_axis(["rule", "seed"])


CLAIMS = [
    Claim("example_122.straighter", "With large steps BP zig-zags across the valley and PC goes almost straight",
          "BP − PC path length / displacement in weight space", lambda means: means.loc["bp"] - means.loc["pc"],
          (0, None), paper="PC almost straight, BP zig-zags", seeds=1, config="example_122/example_122",
          per_seed=per_seed),
    Claim("example_122.pc_straight", "PC's path is almost straight", "PC's path length / displacement (below 1.15)",
          lambda means: means.loc["pc"], (None, 1.15), paper="≈1 (drawn almost straight)", seeds=1,
          config="example_122/example_122", per_seed=per_seed),
]
