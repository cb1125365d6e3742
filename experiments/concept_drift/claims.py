"""The claims of Fig. 4f and 4g (FIGURES.md: concept_drift), decided from the rows of drift.yaml."""
from claims import LR, Claim, gap, level, lowest, member_means
from experiments.concept_drift.figures import CURVE_LR, after_drifts


def last_third(rows):
    return rows[rows["iteration"] >= rows["iteration"].max() * 2 // 3]


def per_seed(rows):
    """Each run's mean test error over all epochs, over the last third, and in the epochs after the drifts."""
    return member_means(rows, {"all": lambda r: r, "last_third": last_third, "recovery": after_drifts})


def smallest_gap_below_lr_01(means):
    """The smallest BP − PC mean test error (all epochs) over the lrs below 0.1."""
    return lowest(gap(means.loc["all"], lr) for lr in level(means.loc[("all", "pc")], LR) if lr < 0.1)


def both_diverge_at_01(means):
    """The lower of the two rules' mean test error at lr 0.1 (≈1: both diverged)."""
    return means.loc["all"].xs(0.1, level=LR).min() if 0.1 in level(means, LR) else float("nan")


CONFIG = "concept_drift/drift"
CLAIMS = [
    Claim("fig4g.every_lr", "Under concept drift PC's error is below BP's at every stable learning rate",
          "smallest BP − PC mean error over all epochs, lrs below 0.1", smallest_gap_below_lr_01, (0, None),
          paper="0.03 (lr 0.001: 0.50 vs 0.53)", config=CONFIG, per_seed=per_seed),
    Claim("fig4g.diverge", "Both rules diverge at lr 0.1", "the lower mean error of the two at lr 0.1",
          both_diverge_at_01, (0.9, None), paper="≈1.0 for both", quick=False,
          note="the quick profile has no lr 0.1", config=CONFIG, per_seed=per_seed),
    Claim("fig4f.keeps_improving", "PC keeps improving across drifts while BP stays high",
          "BP − PC mean error over the last third of the epochs at lr 0.01",
          lambda means: gap(means.loc["last_third"], CURVE_LR), (0, None), paper="≈0.2 (0.2 vs 0.4)", quick=False,
          note="on the easy digits task both reach the same error (0.178 vs 0.179)", config=CONFIG,
          per_seed=per_seed),
    Claim("fig4f.recovery", "PC recovers faster after a drift",
          "BP − PC mean error in the 8 epochs after a drift (drifts 2 on) at lr 0.01",
          lambda means: gap(means.loc["recovery"], CURVE_LR), (0, None),
          paper="not quantified (the panel's PC spikes fall faster)", config=CONFIG, per_seed=per_seed),
]
