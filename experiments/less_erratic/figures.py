"""The less-erratic figure: mean weight path length vs mean final displacement per (rule, lr)."""
import matplotlib.pyplot as plt
import numpy as np

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label


# Ranges read off the published figure: (rule, column) -> (smallest, largest) mean over seeds.
PAPER_RANGES = {("PC", "final"): ("≈2.11", "≈2.93"), ("PC", "path"): ("≈4.87", "≈6.16"),
                ("BP", "final"): ("≈2.10", "≈2.85"), ("BP", "path"): ("≈5.03", "≈6.37")}


def per_member(df):
    """Per (rule, lr, seed): path length sum_k ||W_{k+1} - W_k||_F and final displacement
    ||W_end - W_start||_F, each averaged over the weight layers."""
    steps = [c for c in df if c.startswith("weight_step_")]
    displacements = [c for c in df if c.startswith("weight_displacement_")]
    keys = ["rule", "optimizer.lr", "seed"]
    path = df.assign(path=df[steps].mean(axis=1)).groupby(keys)["path"].sum()
    last = df[df["iteration"] == df["iteration"].max()].set_index(keys)
    return path.to_frame().join(last[displacements].mean(axis=1).rename("final")).reset_index()


def per_lr(runs):
    """Means over seeds and half standard errors (the published error bars) per (rule, lr)."""
    grouped = runs.groupby(["rule", "optimizer.lr"])[["path", "final"]]
    table = grouped.mean().join(grouped.sem() / 2, rsuffix="_half_sem").join(grouped.size().rename("seeds"))
    return table.reset_index()


def shorter_at_matched_displacement(table):
    """How much shorter PC's mean path is than BP's at the same mean displacement (BP's path
    interpolated at PC's displacements inside the range both cover), as a fraction of BP's."""
    pc, bp = (table[table["rule"] == rule].sort_values("final") for rule in ("pc", "bp"))
    inside = pc[(pc["final"] >= bp["final"].min()) & (pc["final"] <= bp["final"].max())]
    if inside.empty:
        return np.nan, 0
    bp_path = np.interp(inside["final"], bp["final"], bp["path"])
    return float(np.mean(1 - inside["path"] / bp_path)), len(inside)


def less_erratic(df):
    """Mean path length vs mean final displacement, one point per (rule, lr), error bars 1/2 SEM."""
    table = rule_label(per_lr(per_member(df)))
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for rule, colour in zip(RULE_ORDER, ("C0", "C1")):
        points = table[table["Rule"] == rule]
        ax.errorbar(points["final"], points["path"], xerr=points["final_half_sem"], yerr=points["path_half_sem"],
                    fmt=RULE_MARKERS[rule], color=colour, ecolor="grey", capsize=2, label=rule, alpha=0.8)
    ax.set(xlabel="final displacement", ylabel="path length", title="means over layers and seeds")
    ax.legend(title="Rule")
    shorter, matched = shorter_at_matched_displacement(table)
    comparisons = [Comparison(f"PC path shorter than BP's at matched displacement ({matched} PC lrs)",
                              shorter, "≈0.03–0.04"),
                   *(Comparison(f"{rule} {end} of {what}", getattr(table[table["Rule"] == rule][column], end)(),
                                PAPER_RANGES[rule, column][end == "max"])
                     for rule in RULE_ORDER for column, what in (("final", "displacement"), ("path", "path length"))
                     for end in ("min", "max"))]
    source = table.drop(columns="Rule").rename(columns={"optimizer.lr": "lr"})
    return [Panel("less_erratic", fig, source, comparisons)]
