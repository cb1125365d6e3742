"""Figures of the interference experiment: output-space paths of the 1-1-2 network (Fig. 3a, 3d)."""
import matplotlib.pyplot as plt
from matplotlib.colors import LogNorm
import seaborn as sns

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label

PAPER_DIP = {"fig3a": {"PC": "≈0.93", "BP": "≈0.76"}, "fig3d": {"PC": "≈0.94", "BP": "≈0.79–0.80"}}


def source_data(df):
    """The plotted numbers: rule, lr, iteration, output_0, output_1."""
    out = df.rename(columns={"optimizer.lr": "lr"})[["rule", "lr", "iteration", "output_0", "output_1"]]
    return out.sort_values(["rule", "lr", "iteration"]).reset_index(drop=True)


def output_space(data, hue, palette, hue_norm=None):
    """Scatter of the output (x = output 0, y = output 1), marker = rule."""
    fig, ax = plt.subplots(figsize=(4.5, 5))
    sns.scatterplot(data=data, x="output_0", y="output_1", hue=hue, hue_norm=hue_norm,
                    palette=palette, style="Rule", style_order=RULE_ORDER, markers=RULE_MARKERS,
                    edgecolor="none", ax=ax)
    ax.set(xlabel="output 0", ylabel="output 1")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    return fig


def dips(df, panel, by=()):
    """The lowest output 1 reached (the interference) per rule, and per lr when `by` names it."""
    lows = df.groupby(["Rule", *by])["output_1"].min()
    return [Comparison(f"{rule} min output 1" + (f" (lr {key[1]:g})" if by else ""), value,
                       PAPER_DIP[panel][rule])
            for key, value in lows.items() for rule in [key[0] if by else key]]


def fig3a(df):
    """First 24 iterations in output space, colour = iteration (Fig. 3a)."""
    df = rule_label(df[df["iteration"] < 24])
    fig = output_space(df, "iteration", "rocket")
    return [Panel("fig3a", fig, source_data(df), dips(df, "fig3a"))]


def fig3d(df):
    """All iterations for lr in {0.1, 0.05, 0.01, 0.005}, colour = lr on a log scale (Fig. 3d)."""
    df = rule_label(df[df["optimizer.lr"] < 0.5])
    fig = output_space(df.rename(columns={"optimizer.lr": "lr"}), "lr", "rocket_r", LogNorm())
    return [Panel("fig3d", fig, source_data(df), dips(df, "fig3d", by=("optimizer.lr",)))]
