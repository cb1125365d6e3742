"""The claims of Fig. 3f, 3g and 3h (FIGURES.md: search_depth), decided from the rows of fig3fgh.yaml."""
from claims import LR, Claim, at_best_lr, best_lr, gap, level, lrs_of, member_means

DEPTH = "model.num_layers"


def per_seed(rows):
    """Each run's mean test error over all epochs (`all`) and at epoch 10 (`epoch_10`)."""
    return member_means(rows, {"all": lambda r: r, "epoch_10": lambda r: r[r["iteration"] == 9]},
                     keys=("rule", DEPTH, LR))


def gap_at_depth(pick):
    """BP − PC mean test error (best lr each) at the shallowest (`pick` = min) or deepest net."""
    return lambda means: gap(best_lr(means.loc["all"], [DEPTH]), getattr(level(means, DEPTH), pick)())


def widening(means):
    """The deepest net's gap minus the gap at L = 2."""
    best = best_lr(means.loc["all"], [DEPTH])
    return gap(best, level(means, DEPTH).max()) - gap(best, 2)


def at_best_lr_deepest(means, part):
    """Per rule, in the deepest net: `part` (a frame like the mean test error's) at the rule's best lr."""
    deepest = means.loc["all"].xs(level(means, DEPTH).max(), level=DEPTH, drop_level=False)
    return at_best_lr(deepest, part.loc[deepest.index])


def early_gap_deepest(means):
    """BP − PC test error at epoch 10 in the deepest net, each rule at its best lr."""
    return gap(at_best_lr_deepest(means, means.loc["epoch_10"]))


def best_lr_ratio_deepest(means):
    """PC's best lr over BP's in the deepest net."""
    best = at_best_lr_deepest(means, lrs_of(means.loc["all"]))
    return best.loc["pc"] / best.loc["bp"]


CONFIG = "search_depth/fig3fgh"
CLAIMS = [
    Claim("fig3h.deepest", "In deep networks PC learns better than BP",
          "BP − PC mean test error at the deepest L, best lr each", gap_at_depth("max"), (0, None),
          paper="0.11 (0.42 vs 0.53 at L = 15)", config=CONFIG, per_seed=per_seed),
    Claim("fig3h.widens", "The gap widens with depth", "the deepest net's gap minus the gap at L = 2",
          widening, (0, None), paper="0.09 (0.11 at L = 15, 0.02 at L = 2)", config=CONFIG, per_seed=per_seed),
    Claim("fig3h.shallow_equal", "With one weight layer the two rules learn alike",
          "|BP − PC| at L = 1 (below 0.01)", lambda means: abs(gap_at_depth("min")(means)), (None, 0.01),
          paper="0 (both ≈0.42)", config=CONFIG, per_seed=per_seed),
    Claim("fig3f.faster", "In the deepest network PC's error falls much faster",
          "BP − PC test error at epoch 10, deepest L, best lr each", early_gap_deepest, (0, None),
          paper="≈0.33 (0.45 vs 0.78 at L = 15)", config=CONFIG, per_seed=per_seed),
    Claim("fig3g.larger_lr", "PC's best learning rate in the deepest network is larger than BP's",
          "PC's best lr / BP's at the deepest L", best_lr_ratio_deepest, (1, None),
          paper="100 (0.5 vs 0.005)", config=CONFIG, per_seed=per_seed),
]
