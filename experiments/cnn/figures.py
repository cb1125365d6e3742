"""Fig. 4i: the CIFAR-10 CNN's min test error over epochs vs lr, for both rules (no selection)."""
import matplotlib.pyplot as plt

from analysis_utils import Comparison, Panel, per_member, rule_label, rule_lineplot

LR = "optimizer.lr"


def fig4i(df):
    """Min test error over epochs vs lr, mean and 68% CI over seeds; every lr shown."""
    runs = per_member(rule_label(df), "test_error", ["rule", "Rule", LR, "seed"], how="min")
    data = runs.rename(columns={LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "lr", "test_error", ax, log_x=True)
    ax.set(xlabel="learning rate", ylabel="min test error")
    means = data.groupby(["Rule", "lr"])["test_error"].mean()
    comparisons = [Comparison(f"{rule} best (lowest over lrs)", means[rule].min(), paper)
                   for rule, paper in (("PC", "≈0.287"), ("BP", "≈0.31")) if rule in means]
    comparisons += [Comparison(f"{rule} worst (highest over lrs)", means[rule].max(), paper)
                    for rule, paper in (("PC", "≈0.31"), ("BP", "≈0.326")) if rule in means]
    if {"PC", "BP"} <= set(means.index.get_level_values(0)):
        comparisons.append(Comparison("fraction of lrs where PC < BP", (means["PC"] < means["BP"]).mean(),
                                      "1.0 (every lr)"))
    return [Panel("fig4i", fig, data[["rule", "lr", "seed", "test_error"]], comparisons)]
