"""Selection helpers, the figure style, and what a figure function returns (a list of Panel).

A figure function takes the run's tidy rows (results.load_rows) and returns a list of Panel.
"""
from dataclasses import dataclass, field

import pandas as pd

RULE_ORDER = ["PC", "BP"]
RULE_MARKERS = {"PC": "o", "BP": "X", "TP": "s"}


def rule_label(df):
    """'pc'/'bp' -> 'PC'/'BP', the labels the paper's legends use."""
    return df.assign(Rule=df["rule"].str.upper())


def best_by_seed_mean(df, metric, by, lr="optimizer.lr", lower_is_better=True):
    """Keep the rows of the lr whose seed-averaged `metric` is best, separately for each `by` group.

    `df` must hold one value of `metric` per (by..., lr, seed) row (aggregate over iterations first).
    Returns those rows and a table of the chosen lr per group.
    """
    means = df.groupby(by + [lr], dropna=False)[metric].mean().reset_index()
    pick = means.loc[means.groupby(by, dropna=False)[metric].idxmin() if lower_is_better
                     else means.groupby(by, dropna=False)[metric].idxmax()]
    chosen = pick[by + [lr]]
    return df.merge(chosen, on=by + [lr]), chosen


def set_style():
    """The published look: seaborn's darkgrid with large type."""
    import seaborn as sns
    sns.set_theme(style="darkgrid", context="talk")


@dataclass
class Comparison:
    """One number of the figure beside the paper's value ('≈' read off the published figure)."""
    quantity: str
    ours: float
    paper: str


@dataclass
class Panel:
    """What a figure function returns for one paper panel."""
    name: str
    figure: object
    source_data: pd.DataFrame
    comparisons: list = field(default_factory=list)


def per_member(df, metric, keys, how="mean"):
    """One row per member (the `keys` that identify it): `metric` aggregated over its iterations
    (`how`: mean = area under the learning curve, min = best)."""
    return df.groupby(keys, dropna=False)[metric].agg(how).reset_index()


def rule_lineplot(data, x, y, ax, log_x=False, **kwargs):
    """Mean of `y` vs `x` with 68% bootstrap CI bars over seeds; hue and marker = rule."""
    import seaborn as sns
    order = [r for r in RULE_ORDER if r in set(data["Rule"])] + sorted(set(data["Rule"]) - set(RULE_ORDER))
    sns.lineplot(data=data, x=x, y=y, hue="Rule", hue_order=order, style="Rule", style_order=order,
                 markers=RULE_MARKERS, dashes=False, errorbar=("ci", 68), seed=0, err_style="bars", ax=ax,
                 **kwargs)
    if log_x:
        ax.set_xscale("log")
    return ax


def paper_comparisons(means, paper, label):
    """A Comparison for every (rule, x) the run measured, beside the paper's value for x from a
    {x: (PC value, BP value)} table ('–' where the paper shows none, e.g. in quick profiles)."""
    rows = sorted(means.items(), key=lambda item: (RULE_ORDER.index(item[0][0]), item[0][1]))
    return [Comparison(label(rule, x), value, paper.get(x, ("–", "–"))[RULE_ORDER.index(rule)])
            for (rule, x), value in rows]
