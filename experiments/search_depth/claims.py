"""The claims of Fig. 3f, 3g and 3h (FIGURES.md: search_depth), decided from the rows of fig3fgh.yaml."""
from claims import LR, Claim, best_lr_means, gap, lr_means

DEPTH = "model.num_layers"


def gap_at_depth(pick):
    """BP − PC mean test error (best lr each) at the shallowest (`pick` = min) or deepest net."""
    return lambda rows: gap(best_lr_means(rows, by=[DEPTH]), getattr(rows[DEPTH], pick)())


def widening(rows):
    """The deepest net's gap minus the gap at L = 2."""
    means = best_lr_means(rows, by=[DEPTH])
    return gap(means, rows[DEPTH].max()) - gap(means, 2)


def early_gap_deepest(rows):
    """BP − PC test error at epoch 10 in the deepest net, each rule at its best lr."""
    deepest = rows[rows[DEPTH] == rows[DEPTH].max()]
    means = lr_means(deepest)
    best = means.groupby("rule").idxmin()
    epoch_10 = deepest[deepest["iteration"] == 9]
    at = {rule: epoch_10[(epoch_10["rule"] == rule) & (epoch_10[LR] == lr)]["test_error"].mean()
          for rule, (_, lr) in best.items()}
    return at["bp"] - at["pc"]


def best_lr_ratio_deepest(rows):
    """PC's best lr over BP's in the deepest net."""
    means = lr_means(rows[rows[DEPTH] == rows[DEPTH].max()])
    best = means.groupby("rule").idxmin()
    return best["pc"][1] / best["bp"][1]


CLAIMS = [
    Claim("fig3h.deepest", "In deep networks PC learns better than BP",
          "BP − PC mean test error at the deepest L, best lr each", gap_at_depth("max"), (0, None),
          paper="0.11 (0.42 vs 0.53 at L = 15)", config="search_depth/fig3fgh"),
    Claim("fig3h.widens", "The gap widens with depth", "the deepest net's gap minus the gap at L = 2",
          widening, (0, None), paper="0.09 (0.11 at L = 15, 0.02 at L = 2)", config="search_depth/fig3fgh"),
    Claim("fig3h.shallow_equal", "With one weight layer the two rules learn alike",
          "|BP − PC| at L = 1 (below 0.01)", lambda rows: abs(gap_at_depth("min")(rows)), (None, 0.01),
          paper="0 (both ≈0.42)", config="search_depth/fig3fgh"),
    Claim("fig3f.faster", "In the deepest network PC's error falls much faster",
          "BP − PC test error at epoch 10, deepest L, best lr each", early_gap_deepest, (0, None),
          paper="≈0.33 (0.45 vs 0.78 at L = 15)", config="search_depth/fig3fgh"),
    Claim("fig3g.larger_lr", "PC's best learning rate in the deepest network is larger than BP's",
          "PC's best lr / BP's at the deepest L", best_lr_ratio_deepest, (1, None),
          paper="100 (0.5 vs 0.005)", config="search_depth/fig3fgh"),
]
