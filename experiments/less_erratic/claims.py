"""The claim of the less-erratic panel (FIGURES.md: less_erratic), decided from the rows of less_erratic.yaml."""
import numpy as np

from claims import LR, Claim
from experiments.less_erratic.figures import per_run


def per_seed(rows):
    """Each run's path length and final displacement (layer means), by (quantity, rule, lr, seed)."""
    runs = per_run(rows).set_index(["rule", LR, "seed"])
    return runs[["path", "final"]].stack().rename_axis(["rule", LR, "seed", "quantity"]).reorder_levels(
        ["quantity", "rule", LR, "seed"])


def shorter_path(means):
    """Per batch: how much shorter PC's mean path is than BP's at the same mean displacement (BP's
    path interpolated at PC's displacements inside the range both cover), as a fraction of BP's."""
    out = []
    for column in means.columns:
        pc, bp = ((means.loc[("final", rule), column].to_numpy(), means.loc[("path", rule), column].to_numpy())
                  for rule in ("pc", "bp"))
        order = np.argsort(bp[0])
        inside = (pc[0] >= bp[0].min()) & (pc[0] <= bp[0].max())
        out.append(np.mean(1 - pc[1][inside] / np.interp(pc[0][inside], bp[0][order], bp[1][order]))
                   if inside.any() else np.nan)
    return np.array(out)


CLAIMS = [
    Claim("less_erratic.shorter_path", "For the same final displacement PC's weights take a shorter path",
          "PC's path shorter than BP's at matched displacement, as a fraction of BP's", shorter_path, (0, None),
          paper="≈0.03–0.04", seeds=99, config="less_erratic/less_erratic", per_seed=per_seed),
]
