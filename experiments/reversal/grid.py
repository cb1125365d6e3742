"""The exploratory grid of Fig. 6c (grid.yaml): per rule, lr and init std, how often seed batches of the
published sizes cross and how well the pooled means fit the data. The estimators are in stats.py."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis_utils import Comparison, Panel
from experiments.reversal.stats import (ANALYSIS_SEED, LR, PAPER_CONFIG, PUBLISHED_SEEDS, RULES, STD, batch_means,
                                        config_fits, crossing, fit_to_data, group_arrays, load_data, member_totals,
                                        pooled)

GRID_DRAWS = 2000                    # random batches per configuration and batch size
PICKED_BY_EYE = "picked by eye: PC lr 0.1 std 0.05, BP lr 0.1 std 0.1"


def fig6c_grid(df):
    """Per rule, lr and init std: crossing fractions over seed batches of both published sizes, and
    the affine fit of the pooled means to the data; plus fit_configs' best configuration per rule
    (affine fit of the seed means)."""
    totals = member_totals(df)
    data = load_data()
    table = grid_table(totals, data, np.random.default_rng(ANALYSIS_SEED))
    best = config_fits(totals, data)
    fig = heatmaps(table)
    comparisons = crossing_comparisons(table) + best_config_comparisons(best.best)
    return [Panel("fig6c_grid", fig, with_seed_mean_fits(table, best.all), comparisons)]


def grid_table(totals, data, rng):
    """One row per (rule, lr, init std): the line changes, whether all seeds cross, the affine fit of
    the pooled means, and the fraction of batches of each published size (`cross_<size>`) that cross."""
    rows = []
    for (rule, lr, std), members in totals.groupby(["rule", LR, STD]):
        S, _, N = group_arrays(members)
        means = pooled(S, N)
        fit = fit_to_data(means, data)
        row = {"rule": RULES.get(rule, rule), "lr": lr, "init_std": std, "seeds": len(S),
               "stay_change": means[1] - means[0], "switch_change": means[3] - means[2],
               "all_seeds_cross": bool(crossing(means)[0]), "scale": fit.scale, "offset": fit.offset,
               "sse": fit.sse, "rms": np.sqrt(fit.sse / 4)}
        for size in sorted(set(PUBLISHED_SEEDS.values())):
            if 2 * size <= len(S):
                row[f"cross_{size}"] = crossing(batch_means(S, N, size, rng, draws=GRID_DRAWS))[0].mean()
        rows.append(row)
    return pd.DataFrame(rows)


def size_columns(table):
    """The table's crossing-fraction columns, cross_<size>."""
    return [c for c in table.columns if c.startswith("cross_")]


def heatmaps(table):
    """One row of heatmaps over (lr, init std) per rule: the crossing fractions and the fit's RMS."""
    columns = size_columns(table) + ["rms"]
    labels = [label for label in RULES.values() if label in set(table["rule"])]
    fig, axes = plt.subplots(len(labels), len(columns), figsize=(4.6 * len(columns), 4 * len(labels)),
                             squeeze=False)
    for r, label in enumerate(labels):
        part = table[table["rule"] == label]
        for c, column in enumerate(columns):
            heatmap(axes[r, c], part.pivot(index="init_std", columns="lr", values=column).sort_index(ascending=False),
                    column, label)
    fig.tight_layout()
    return fig


def heatmap(ax, grid, column, label):
    """A (init std × lr) grid of one column, each cell labelled: fractions on [0, 1], the RMS on a log scale."""
    rms = column == "rms"
    values = np.log10(grid.to_numpy()) if rms else grid.to_numpy()
    ax.imshow(values, cmap="viridis", vmin=None if rms else 0, vmax=None if rms else 1, aspect="auto")
    finite = values[np.isfinite(values)]
    middle = (finite.min() + finite.max()) / 2 if rms else 0.5
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            text = f"{grid.iloc[i, j]:.3f}" if rms else f"{grid.iloc[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=11, color="k" if values[i, j] > middle else "w")
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
    title = f"{label}: affine-fit RMS residual" if rms else f"{label}: {column.split('_')[1]}-seed batches crossing"
    ax.set(xlabel="lr", ylabel="init std", title=title)
    ax.grid(False)


def crossing_comparisons(table):
    """The crossing fraction of every configuration and batch size; the published configs tagged."""
    comparisons = []
    for _, row in table.iterrows():
        lr, std = PAPER_CONFIG.get({"PC": "pc", "BP": "bp"}.get(row["rule"]), (-1, -1))
        published = np.isclose(row["lr"], lr) and np.isclose(row["init_std"], std)
        tag = " (published config)" if published else ""
        for size in size_columns(table):
            comparisons.append(Comparison(f"{row['rule']} lr {row['lr']:g} std {row['init_std']:g}{tag}: "
                                          f"fraction of {size.split('_')[1]}-seed batches crossing",
                                          row[size], "–"))
    return comparisons


def best_config_comparisons(best):
    """fit_configs' best configuration per rule beside the authors' choice."""
    return [Comparison(f"{RULES[row['rule']]} best config by affine fit of seed means: lr {row[LR]:g}, "
                       f"std {row[STD]:g} (w {row['scale']:.3g}, b {row['offset']:.3f}); RMS residual",
                       np.sqrt(row["sse"] / 4), PICKED_BY_EYE)
            for _, row in best.iterrows()]


def with_seed_mean_fits(table, fits):
    """The grid table joined with every configuration's affine fit of the seed means (fit_configs)."""
    renamed = fits.rename(columns={LR: "lr", STD: "init_std", "scale": "seed_mean_scale",
                                   "offset": "seed_mean_offset", "sse": "seed_mean_sse"})
    return table.merge(renamed.assign(rule=lambda d: d["rule"].map(RULES)), on=["rule", "lr", "init_std"])
