"""Figures of the target-alignment experiment: Fig. 3e and its Extended Data variants."""
from matplotlib.colors import to_rgba
import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label, rule_lineplot

# Median target alignment read off the published Fig. 3e.
PAPER_BP_MEDIAN = {1: "1.0", 4: "≈0.8", 10: "≈0.55", 20: "≈0.3–0.4", 25: "≈0.3–0.4"}
# Mean target alignment read off the published TP panel (3 seeds; L=4 is one near-singular seed).
PAPER_XAVIER = {("BP", 2): "≈0.92", ("BP", 4): "≈0.82", ("BP", 6): "≈0.72", ("BP", 10): "≈0.57",
                ("BP", 15): "≈0.39", ("PC", 15): "≈0.90"}   # the identity/Xavier-uniform line plot
# Means read off the published tanh panel (TA = 1 at L=1 there, which needs a linear output).
PAPER_TANH = {("PC", 1): "1.0", ("PC", 2): "≈0.93", ("PC", 4): "≈0.86", ("PC", 6): "≈0.73", ("PC", 10): "≈0.77", ("PC", 15): "≈0.82",
              ("BP", 1): "1.0", ("BP", 2): "≈0.76", ("BP", 4): "≈0.64", ("BP", 6): "≈0.54", ("BP", 10): "≈0.61", ("BP", 15): "≈0.50"}
YLIM = (0, 1.02)   # the published line plots' y range
PAPER_TP = {("TP", 1): "1.0", ("TP", 2): "1.0", ("TP", 4): "≈0.33 (seed-dependent)", ("TP", 5): "1.0"}


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


def depth_lines(data, hue_panels, title):
    """Mean target alignment with 68% CI over seeds vs depth on y 0-1.02 (as published), one axis per
    value of `hue_panels`; a CI reaching below 0 is written out on its axis, the legend beside the axes."""
    values = list(dict.fromkeys(data[hue_panels]))
    fig, axes = plt.subplots(1, len(values), figsize=(5 * len(values), 4.2), squeeze=False, sharey=True)
    for ax, value in zip(axes[0], values):
        rule_lineplot(data[data[hue_panels] == value], "num_layers", "target_alignment", ax)
        note_below_axis(ax, YLIM[0])
        ax.set(xlabel="number of layers", ylabel="target alignment", ylim=YLIM, title=f"{title} {value}")
        ax.get_legend().remove()
    axes[0, -1].legend(*axes[0, 0].get_legend_handles_labels(), title="Rule", loc="center left",
                       bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def note_below_axis(ax, bottom):
    """Write out each CI bar reaching below `bottom` (rule, depth, mean, 68% CI) in the rule's colour."""
    rules = [(to_rgba(handle.get_color()), label) for handle, label in zip(*ax.get_legend_handles_labels())]
    notes = []
    for bars in (c for c in ax.collections if hasattr(c, "get_segments")):
        colour = bars.get_colors()[0]
        rule = next(label for rgba, label in rules if np.allclose(rgba, colour))
        line = next(l for l in ax.lines if len(l.get_xdata()) and np.allclose(to_rgba(l.get_color()), colour))
        mean = dict(zip(line.get_xdata(), line.get_ydata()))
        notes += [(colour, f"{rule} L={x:g}: mean {mean[x]:.2f}, 68% CI {min(lo, hi):.2f} to {max(lo, hi):.2f}")
                  for (x, lo), (_, hi) in bars.get_segments() if min(lo, hi) < bottom]
    for k, (colour, text) in enumerate(notes):
        ax.text(0.03, 0.04 + 0.07 * k, text, transform=ax.transAxes, fontsize="x-small", color=colour)


def alignment_table(df, by):
    """Seed means of the target alignment per rule, `by` and depth, and the rows plotted."""
    data = rule_label(df.rename(columns={"model.num_layers": "num_layers"}))
    columns = ["rule", "Rule", *by, "num_layers", "seed", "target_alignment", "target_alignment_angle"]
    return data[columns], data.groupby(["Rule", *by, "num_layers"])["target_alignment"].mean()


def ta_depth_tp(df):
    """PC and BP at every depth, target propagation at its four (mean and 68% CI over seeds)."""
    data, means = alignment_table(df.assign(panel="all rules"), ["panel"])
    paper = {**PAPER_XAVIER, **PAPER_TP}   # the same network as the identity line plot
    comparisons = [Comparison(f"{rule} mean at L={depth}", value, paper.get((rule, depth), "–"))
                   for (rule, _, depth), value in means.items()]
    source = data.drop(columns=["Rule", "panel"]).sort_values(["rule", "num_layers", "seed"])
    return [Panel("ta_depth_tp", depth_lines(data, "panel", ""), source.reset_index(drop=True), comparisons)]


def activation_label(df):
    """The activation, with ' (output too)' where it is applied to the output layer as well."""
    return df["model.activation"] + df["model.output_activation"].map({True: " (output too)", False: ""})


def ta_depth_activation(df):
    """Identity vs tanh on every layer vs tanh with a linear output: mean and 68% CI over seeds vs depth."""
    data, means = alignment_table(df.assign(activation=activation_label), ["activation"])
    paper = {"identity": PAPER_XAVIER, "tanh": PAPER_TANH}
    comparisons = [Comparison(f"{rule} {activation} mean at L={depth}", value,
                              paper.get(activation, {}).get((rule, depth), "–"))
                   for (rule, activation, depth), value in means.items()]
    source = data.drop(columns="Rule").sort_values(["rule", "activation", "num_layers", "seed"])
    return [Panel("ta_depth_activation", depth_lines(data, "activation", "activation"),
                  source.reset_index(drop=True), comparisons)]


def ta_depth_init(df):
    """Xavier-uniform vs orthogonal initialisation (lr 0.001), and the orthogonal check at two lrs."""
    df = df.rename(columns={"model.init.name": "init", "optimizer.lr": "lr"})
    data, means = alignment_table(df, ["init", "lr"])
    main = data[data["lr"] == 0.001]
    orthogonal = data[data["init"] == "orthogonal"].assign(panel=lambda d: "lr " + d["lr"].map("{:g}".format))
    figure = depth_lines(main, "init", "init")
    check = depth_lines(orthogonal, "panel", "orthogonal,")
    comparisons = [Comparison(f"{rule} {init} lr {lr:g} mean at L={depth}", value,
                              "1.0" if init == "orthogonal" else PAPER_XAVIER.get((rule, depth), "–"))
                   for (rule, init, lr, depth), value in means.items()]
    source = data.drop(columns="Rule").sort_values(["rule", "init", "lr", "num_layers", "seed"]).reset_index(drop=True)
    return [Panel("ta_depth_init", figure, source[source["lr"] == 0.001].reset_index(drop=True), comparisons),
            Panel("ta_depth_init_orthogonal", check, source[source["init"] == "orthogonal"].reset_index(drop=True))]
