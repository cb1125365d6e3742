"""Figures of the concept-drift experiment: Fig. 4f (error vs epoch at lr 0.01) and 4g (error vs lr)."""
import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import (RULE_ORDER, Comparison, Panel, paper_comparisons, per_member, rule_label,
                            rule_lineplot)

LR = "optimizer.lr"
CURVE_LR = 0.01
RECOVERY = 8   # epochs after a drift in which recovery is measured
PAPER_4G = {0.001: ("0.50", "0.53"), 0.005: ("0.37", "0.45"), 0.01: ("0.29", "0.41"),
            0.05: ("0.37", "0.43"), 0.1: ("≈1.0 (diverges)", "≈1.0 (diverges)")}


def figures(df):
    return fig4f(df) + fig4g(df)


def fig4f(df):
    """Test error vs epoch at lr 0.01 (mean over seeds, 68% CI): spikes at each drift, then recovery."""
    curves = rule_label(df[df[LR] == CURVE_LR])
    fig, ax = plt.subplots(figsize=(9, 4.5))
    sns.lineplot(data=curves, x="iteration", y="test_error", hue="Rule", hue_order=RULE_ORDER,
                 errorbar=("ci", 68), seed=0, ax=ax, linewidth=0.8)
    ax.set(xlabel="epoch", ylabel=f"test error (lr {CURVE_LR})")
    last = curves[curves["iteration"] >= curves["iteration"].max() * 2 // 3]
    means = last.groupby("Rule")["test_error"].mean()
    comparisons = [Comparison(f"{rule} mean error over the last third", means[rule], paper)
                   for rule, paper in (("PC", "≈0.2 (epochs 2000–3000)"), ("BP", "≈0.38–0.42"))
                   if rule in means]
    after = after_drifts(curves).groupby("Rule")["test_error"].mean()
    comparisons += [Comparison(f"{rule} mean error in the {RECOVERY} epochs after a drift (drifts 2 on)",
                               after[rule], "not given (PC's spikes recover faster in the panel)")
                    for rule in RULE_ORDER if rule in after]
    source = curves.rename(columns={LR: "lr", "iteration": "epoch"})
    return [Panel("fig4f", fig, source[["rule", "lr", "seed", "epoch", "test_error"]], comparisons)]


def after_drifts(curves):
    """The rows of the first RECOVERY epochs after every drift but the first (epoch 0): how fast the
    error comes down again (lower: faster recovery)."""
    every = curves["data.drift_every"]
    since = curves["iteration"] % every
    return curves[(curves["iteration"] >= every) & (since < RECOVERY)]


def fig4g(df):
    """Mean test error over all epochs vs lr (diverged runs count as 1.0)."""
    data = per_member(rule_label(df), "test_error", ["rule", "Rule", LR, "seed"]).rename(columns={LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "lr", "test_error", ax, log_x=True)
    ax.set(xlabel="learning rate", ylabel="mean test error")
    means = data.groupby(["Rule", "lr"])["test_error"].mean()
    comparisons = paper_comparisons(means, PAPER_4G, lambda rule, lr: f"{rule} at lr {lr:g}")
    return [Panel("fig4g", fig, data[["rule", "lr", "seed", "test_error"]], comparisons)]
