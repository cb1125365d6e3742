"""The claims of the prospective-index panels (FIGURES.md: prospective_index), decided from the rows
of layers.yaml (the published panel) and depth.yaml (every depth and both rules)."""
from claims import Claim, gap, level, lowest
from experiments.prospective_index.figures import by_layer, schedule_of

DEPTH = "model.num_layers"


def per_layer(rows):
    """Each run's PI per hidden layer, by (schedule, layer, seed)."""
    data = by_layer(rows.assign(schedule=schedule_of), ["schedule", "seed"])
    return data.set_index(["schedule", "layer", "seed"])["prospective_index"]


def per_net(rows):
    """Each run's PI averaged over its hidden layers, by (rule, L, seed)."""
    data = by_layer(rows, ["rule", DEPTH, "seed"])
    return data.groupby(["rule", DEPTH, "seed"])["prospective_index"].mean()


def depths(means):
    return sorted(set(level(means, DEPTH)))


CLAIMS = [
    Claim("prospective_index_layers.w_star", "Weights learnt on the frozen inferred state reproduce it exactly",
          "smallest mean PI of w* over the hidden layers", lambda means: means.loc["w*"].min(), (0.999, None),
          paper="≈1.00 at every layer", seeds=5, config="prospective_index/layers", per_seed=per_layer),
    Claim("prospective_index_layers.w_prime", "One weight step at the inferred state nearly reproduces it",
          "smallest mean PI of w′ over the hidden layers", lambda means: means.loc["w'"].min(), (0.95, None),
          paper="≥0.97 (≈0.969–0.99 at layer 4)", seeds=5, config="prospective_index/layers", per_seed=per_layer),
    Claim("prospective_index_depth.pc_high", "PC's update reproduces its inferred activity at every depth",
          "smallest PC mean PI over the depths", lambda means: lowest(means.loc[("pc", d)] for d in depths(means)),
          (0.95, None), paper="– (no published panel)", seeds=27, config="prospective_index/depth", per_seed=per_net),
    Claim("prospective_index_depth.pc_above_bp", "BP's activity change drifts away from PC's inferred one at depth",
          "smallest PC − BP mean PI over the depths", lambda means: lowest(-gap(means, d) for d in depths(means)),
          (0, None), paper="– (no published panel)", seeds=27, config="prospective_index/depth", per_seed=per_net),
]
