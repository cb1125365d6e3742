"""The claim of the less-erratic panel (FIGURES.md: less_erratic), decided from the rows of less_erratic.yaml."""
import numpy as np

from claims import LR, Claim
from experiments.less_erratic.figures import per_member


def per_seed(rows):
    """Each run's path length and final displacement (layer means), by (quantity, rule, lr, seed)."""
    runs = per_member(rows).set_index(["rule", LR, "seed"])
    return runs[["path", "final"]].stack().rename_axis(["rule", LR, "seed", "quantity"]).reorder_levels(
        ["quantity", "rule", LR, "seed"])


def shorter_path(means):
    """Per batch: how much shorter PC's mean path is than BP's at the same mean displacement (BP's
    path interpolated at PC's displacements inside the range both cover), as a fraction of BP's."""
    pc_final, pc_path, bp_final, bp_path = [means.loc[(part, rule)].to_numpy()
                                            for rule in ("pc", "bp") for part in ("final", "path")]
    out = []
    for b in range(means.shape[1]):
        order = np.argsort(bp_final[:, b])
        inside = (pc_final[:, b] >= bp_final[:, b].min()) & (pc_final[:, b] <= bp_final[:, b].max())
        bp_at = np.interp(pc_final[inside, b], bp_final[order, b], bp_path[order, b])
        out.append(np.mean(1 - pc_path[inside, b] / bp_at) if inside.any() else np.nan)
    return np.array(out)


CLAIMS = [
    Claim("less_erratic.shorter_path", "For the same final displacement PC's weights take a shorter path",
          "PC's path shorter than BP's at matched displacement, as a fraction of BP's", shorter_path, (0, None),
          paper="≈0.03–0.04", seeds=99, config="less_erratic/less_erratic", per_seed=per_seed),
]
