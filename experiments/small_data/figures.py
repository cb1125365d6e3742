"""Figure of the small-data experiment (Fig. 4h): best-lr min test error vs images per class."""
import matplotlib.pyplot as plt

from analysis_utils import Comparison, Panel, best_by_seed_mean, per_run, rule_label, rule_lineplot

LR, N = "optimizer.lr", "data.train_per_class"
PAPER_4H = {60: ("0.248", "0.268"), 300: ("0.178", "0.182"), 600: ("0.166", "0.166"),
            3000: ("0.150", "0.138"), 6000: ("0.145", "0.128")}


def fig4h(df):
    runs = per_run(rule_label(df), "test_error", ["rule", "Rule", N, LR, "seed"], how="min")
    best, _ = best_by_seed_mean(runs, "test_error", ["Rule", N], lr=LR)
    data = best.rename(columns={N: "train_per_class", LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "train_per_class", "test_error", ax, log_x=True)
    ax.set(xlabel="training images per class", ylabel="min test error (best lr)")
    means = data.groupby(["Rule", "train_per_class"])["test_error"].mean()
    comparisons = [Comparison(f"{rule} at N={n}", means[rule, n], paper[i])
                   for n, paper in PAPER_4H.items() for i, rule in enumerate(("PC", "BP"))
                   if (rule, n) in means]
    if not comparisons:   # other data sets (quick profile): report what was measured
        comparisons = [Comparison(f"{rule} at N={n}", value, "(FashionMNIST only)")
                       for (rule, n), value in means.items()]
    source = data[["rule", "train_per_class", "lr", "seed", "test_error"]]
    return [Panel("fig4h", fig, source.sort_values(["rule", "train_per_class", "seed"]), comparisons)]
