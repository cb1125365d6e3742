"""The claims of Fig. 4f and 4g (FIGURES.md: concept_drift), decided from the rows of drift.yaml."""
from claims import LR, Claim, gap, lr_means
from experiments.concept_drift.figures import CURVE_LR, after_drifts


def smallest_gap_below_lr_01(rows):
    """The smallest BP − PC mean test error (all epochs) over the lrs below 0.1."""
    means = lr_means(rows)
    return min(gap(means, lr) for lr in means["pc"].index if lr < 0.1)


def both_diverge_at_01(rows):
    """The lower of the two rules' mean test error at lr 0.1 (≈1: both diverged)."""
    means = lr_means(rows[rows[LR] == 0.1])
    return min(means) if len(means) else float("nan")


def at_curve_lr(rows):
    return rows[rows[LR] == CURVE_LR]


def late_gap(rows):
    """BP − PC mean test error over the last third of the epochs, at lr 0.01."""
    curve = at_curve_lr(rows)
    last = curve[curve["iteration"] >= curve["iteration"].max() * 2 // 3]
    return gap(last.groupby("rule")["test_error"].mean())


def recovery_gap(rows):
    """BP − PC mean test error in the 8 epochs after each drift (drifts 2 on), at lr 0.01."""
    return gap(after_drifts(at_curve_lr(rows)).groupby("rule")["test_error"].mean())


CLAIMS = [
    Claim("fig4g.every_lr", "Under concept drift PC's error is below BP's at every stable learning rate",
          "smallest BP − PC mean error over all epochs, lrs below 0.1", smallest_gap_below_lr_01, (0, None),
          paper="0.03 (lr 0.001: 0.50 vs 0.53)", config="concept_drift/drift"),
    Claim("fig4g.diverge", "Both rules diverge at lr 0.1", "the lower mean error of the two at lr 0.1",
          both_diverge_at_01, (0.9, None), paper="≈1.0 for both", quick=False,
          note="the quick profile has no lr 0.1", config="concept_drift/drift"),
    Claim("fig4f.keeps_improving", "PC keeps improving across drifts while BP stays high",
          "BP − PC mean error over the last third of the epochs at lr 0.01", late_gap, (0, None),
          paper="≈0.2 (0.2 vs 0.4)", quick=False,
          note="on the easy digits task both reach the same error (0.178 vs 0.179)", config="concept_drift/drift"),
    Claim("fig4f.recovery", "PC recovers faster after a drift",
          "BP − PC mean error in the 8 epochs after a drift (drifts 2 on) at lr 0.01", recovery_gap, (0, None),
          paper="not quantified (the panel's PC spikes fall faster)", config="concept_drift/drift"),
]
