"""Figures of the target-alignment experiment (Fig. 3e)."""
import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label

# Median target alignment read off the published Fig. 3e.
PAPER_BP_MEDIAN = {1: "1.0", 4: "≈0.8", 10: "≈0.55", 20: "≈0.3–0.4", 25: "≈0.3–0.4"}


def fig3e(df):
    """One dot per seed: target alignment vs number of weight layers, hue and marker = rule."""
    df = rule_label(df.rename(columns={"model.num_layers": "num_layers"}))
    data = df[["rule", "Rule", "num_layers", "seed", "target_alignment"]]
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    sns.scatterplot(data=data, x="num_layers", y="target_alignment", hue="Rule", hue_order=RULE_ORDER,
                    style="Rule", style_order=RULE_ORDER, markers=RULE_MARKERS, alpha=0.8, ax=ax)
    ax.set(xlabel="number of layers", ylabel="target alignment")
    medians = data.groupby(["Rule", "num_layers"])["target_alignment"].median()
    comparisons = [Comparison(f"BP median at L={depth}", medians["BP", depth], paper)
                   for depth, paper in PAPER_BP_MEDIAN.items() if ("BP", depth) in medians]
    deep = data[(data["Rule"] == "PC") & (data["num_layers"] > 1)]["target_alignment"]
    if len(deep):
        comparisons.append(Comparison("PC median over L>1", deep.median(), "mostly 0.8–1.0"))
        comparisons.append(Comparison("PC fraction >= 0.8 over L>1", (deep >= 0.8).mean(), "most"))
    source = data.drop(columns="Rule").sort_values(["rule", "num_layers", "seed"])
    return [Panel("fig3e", fig, source.reset_index(drop=True), comparisons)]
