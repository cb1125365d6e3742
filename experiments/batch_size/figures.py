"""Figures of the batch-size experiment: Fig. 4b (best-lr error vs B) and 4c (B = 1, error vs lr)."""
import matplotlib.pyplot as plt

from analysis_utils import (Comparison, Panel, best_by_seed_mean, paper_comparisons, per_member,
                            rule_label, rule_lineplot)

LR, B = "optimizer.lr", "data.batch_size"
PAPER_4B = {64: ("0.183", "0.183"), 32: ("0.186", "0.186"), 16: ("0.193", "0.200"),
            8: ("0.204", "0.207"), 1: ("0.272", "0.288")}


def figures(df):
    return fig4b(df) + fig4c(df)


def fig4b(df):
    """Mean test error over iterations at each rule's best lr, per batch size (x: 64 ... 1)."""
    runs = per_member(rule_label(df), "test_error", ["rule", "Rule", B, LR, "seed"])
    best, _ = best_by_seed_mean(runs, "test_error", ["Rule", B], lr=LR)
    data = best.rename(columns={B: "batch_size", LR: "lr"})
    # Categorical x from the largest batch to the smallest, as in the paper (64, 32, 16, 8, 1).
    data = data.sort_values(["batch_size", "rule", "lr", "seed"], ascending=[False, True, True, True])
    data["batch size"] = data["batch_size"].map(str)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "batch size", "test_error", ax, sort=False)
    ax.set(ylabel="mean test error (best lr)")
    means = data.groupby(["Rule", "batch_size"])["test_error"].mean()
    comparisons = paper_comparisons(means, PAPER_4B, lambda rule, b: f"{rule} at B={b}")
    source = data[["rule", "batch_size", "lr", "seed", "test_error"]].reset_index(drop=True)
    return [Panel("fig4b", fig, source, comparisons)]


def fig4c(df):
    """B = 1: min test error over iterations vs lr, every lr shown (no selection)."""
    runs = per_member(rule_label(df[df[B] == 1]), "test_error", ["rule", "Rule", LR, "seed"], how="min")
    data = runs.rename(columns={LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "lr", "test_error", ax)
    ax.set(xlabel="learning rate", ylabel="min test error (B = 1)")
    means = data.groupby(["Rule", "lr"])["test_error"].mean()
    comparisons = [Comparison(f"{rule} range over lrs (low end)", means[rule].min(), paper)
                   for rule, paper in (("PC", "≈0.196–0.203"), ("BP", "≈0.207–0.222")) if rule in means]
    if {"PC", "BP"} <= set(means.index.get_level_values(0)):
        lower = (means["PC"] < means["BP"]).mean()
        comparisons.append(Comparison("fraction of lrs where PC < BP", lower, "1.0 (every lr)"))
    return [Panel("fig4c", fig, data[["rule", "lr", "seed", "test_error"]], comparisons)]
