"""Figure of the small-data experiment (Fig. 4h): best-lr min test error vs images per class."""
import matplotlib.pyplot as plt

from analysis_utils import (Panel, best_by_seed_mean, paper_comparisons, per_member, rule_label,
                            rule_lineplot)

LR, N = "optimizer.lr", "data.train_per_class"
PAPER_4H = {60: ("0.248", "0.268"), 300: ("0.178", "0.182"), 600: ("0.166", "0.166"),
            3000: ("0.150", "0.138"), 6000: ("0.145", "0.128")}


def fig4h(df):
    runs = per_member(rule_label(df), "test_error", ["rule", "Rule", N, LR, "seed"], how="min")
    best, _ = best_by_seed_mean(runs, "test_error", ["Rule", N], lr=LR)
    data = best.rename(columns={N: "train_per_class", LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "train_per_class", "test_error", ax, log_x=True)
    ax.set(xlabel="training images per class", ylabel="min test error (best lr)")
    means = data.groupby(["Rule", "train_per_class"])["test_error"].mean()
    comparisons = paper_comparisons(means, PAPER_4H, lambda rule, n: f"{rule} at N={n}")
    source = data[["rule", "train_per_class", "lr", "seed", "test_error"]]
    return [Panel("fig4h", fig, source.sort_values(["rule", "train_per_class", "seed"]), comparisons)]
