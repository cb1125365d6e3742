"""Figures of the depth experiment: Fig. 3f (curves), 3g (lr sweep at L=15), 3h (best error vs depth)."""
import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import (RULE_ORDER, Comparison, Panel, best_by_seed_mean, paper_comparisons,
                            per_member, rule_label, rule_lineplot)

LR, DEPTH = "optimizer.lr", "model.num_layers"
# Best-lr mean test error (PC, BP) read off the published Fig. 3h.
PAPER_3H = {1: ("0.42", "0.42"), 2: ("0.30", "0.32"), 4: ("0.28", "0.29"), 10: ("0.33", "0.35"),
            12: ("0.36", "0.40"), 14: ("0.41", "0.50"), 15: ("0.42", "0.53")}


def figures(df):
    """All three panels from one run of fig3fgh.yaml."""
    df = rule_label(df)
    runs = per_member(df, "test_error", ["rule", "Rule", DEPTH, LR, "seed"])   # mean over epochs
    best, chosen = best_by_seed_mean(runs, "test_error", ["Rule", DEPTH], lr=LR)
    return [_fig3f(df, chosen), _fig3g(runs), _fig3h(best, chosen)]


def _fig3f(df, chosen):
    """Test error vs epoch at each rule's best lr, one panel per depth."""
    curves = df.merge(chosen, on=["Rule", DEPTH, LR])
    depths = curves[DEPTH].nunique()
    grid = sns.relplot(data=curves.rename(columns={DEPTH: "L"}), x="iteration", y="test_error",
                       hue="Rule", hue_order=RULE_ORDER, col="L", col_wrap=min(5, depths),
                       kind="line", errorbar=("ci", 68), seed=0, height=2.8)
    grid.set_axis_labels("epoch", "test error").set_titles("L = {col_name}")
    late = curves[curves["iteration"] == 9].groupby(["Rule", DEPTH])["test_error"].mean()
    deepest = curves[DEPTH].max()
    comparisons = [Comparison(f"{rule} test error at epoch 10, L={deepest}", late.get((rule, deepest)),
                              paper) for rule, paper in (("PC", "≈0.45"), ("BP", "≈0.78"))]
    source = curves[["rule", DEPTH, LR, "seed", "iteration", "test_error"]].rename(
        columns={DEPTH: "num_layers", LR: "lr", "iteration": "epoch"})
    return Panel("fig3f", grid.figure, source, comparisons)


def _fig3g(runs):
    """Mean test error vs lr at the largest depth (no selection)."""
    deepest = runs[DEPTH].max()
    data = runs[runs[DEPTH] == deepest].rename(columns={LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "lr", "test_error", ax, log_x=True)
    ax.set(xlabel="learning rate", ylabel=f"mean test error (L={deepest})")
    means = data.groupby(["Rule", "lr"])["test_error"].mean()
    comparisons = [Comparison(f"{rule} best mean error at L={deepest} (lr {means[rule].idxmin():g})",
                              means[rule].min(), paper)
                   for rule, paper in (("PC", "≈0.42 at lr 0.5"), ("BP", "≈0.55 at lr 0.005"))
                   if rule in means]
    source = data[["rule", "lr", "seed", "test_error"]].assign(num_layers=deepest)
    return Panel("fig3g", fig, source, comparisons)


def _fig3h(best, chosen):
    """Best-lr mean test error vs depth."""
    data = best.rename(columns={DEPTH: "num_layers", LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "num_layers", "test_error", ax)
    ax.set(xlabel="number of layers", ylabel="mean test error (best lr)")
    means = data.groupby(["Rule", "num_layers"])["test_error"].mean()
    comparisons = paper_comparisons(means, PAPER_3H, lambda rule, depth: f"{rule} at L={depth}")
    source = data[["rule", "num_layers", "lr", "seed", "test_error"]]
    return Panel("fig3h", fig, source, comparisons)
