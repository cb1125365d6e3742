"""Figures of the fear-conditioning experiment: overshadowing and its recovery (FIGURES.md
`fear_conditioning`), and its robustness to the spread of the initial output weights.

Per rule and per init_std, every learning-rate triple's seed means of the fear to N are mapped to the
rats' group means by fear ≈ k v + b (fit_data.fit_configs, fit="affine", groups matched by name); the
triple with the least squared error is kept. The panels show that triple's seeds (one dot per seed,
mapped by its fit) beside the rats.

    python -m experiments.fear_conditioning.figures [--profile quick]   # the markdown table of the fits
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis_utils import RULE_ORDER, Comparison, Panel
import fit_data

DATA_FILE = Path(__file__).resolve().parent / "data" / "fear_conditioning_overshadowing.csv"
GROUPS = ["N+", "LN+", "LN+,L-"]
SOURCES = ["Data", "PC", "BP"]
COLOURS = {"Data": "#c98a5e", "PC": "#4c72b0", "BP": "#c44e52"}
LRS = ["lr_perception", "lr_m_L", "lr_m_N"]
MAIN_INIT_STD = 0.01          # m ~ |N(0.1, 0.01^2)|: the main figure
# Read off the published panel (FIGURES.md); BP's values are the authors' printed fit.
PAPER = {("PC", "N+"): "≈45", ("PC", "LN+"): "≈26", ("PC", "LN+,L-"): "≈42",
         ("BP", "N+"): "≈44 (44.36)", ("BP", "LN+"): "≈34.5 (34.49)", ("BP", "LN+,L-"): "≈34.5 (34.49)"}
DATA_MEANS = {"N+": "44.4", "LN+": "25.9", "LN+,L-": "43.1"}     # the rats' means, as FIGURES.md quotes them
PAPER_LRS = {"PC": "re-simulation: m_L lr 0.001, m_N lr 1.0, perception lr nearly irrelevant",
             "BP": "all lr triples tie"}


def load_data():
    """The rats: one row per animal, columns group and fear_to_N."""
    return pd.read_csv(DATA_FILE)


def learning_rates(lr):
    """(perception, m_L, m_N) rates from a row's optimizer.lr (JSON of [w lr, [[m_L lr, m_N lr]]],
    or one number for every weight)."""
    value = json.loads(lr) if isinstance(lr, str) else lr
    if not isinstance(value, list):
        return value, value, value
    first, second = value
    m_l, m_n = second[0] if isinstance(second, list) else (second, second)
    return first, m_l, m_n


def init_std(init):
    """The std of the output weights' abs-normal init (model.init's second layer)."""
    value = json.loads(init) if isinstance(init, str) else init
    layer = value[1] if isinstance(value, list) else value
    return layer.get("std", np.nan)


def tidy(df):
    """One row per (rule, init_std, lr triple, seed, group): the fear to N after conditioning and at test."""
    lrs = pd.DataFrame([learning_rates(v) for v in df["optimizer.lr"]], columns=LRS, index=df.index)
    out = pd.concat([df[["rule", "seed"]], lrs], axis=1).assign(
        init_std=df["model.init"].map(init_std), group=df["data.group"],
        fear_to_N=df["fear_to_N"], fear_to_N_conditioned=df["fear_to_N_conditioned"])
    return out.reset_index(drop=True)


def fits_per_init_std(model, data):
    """{init_std: ConfigFits}: the affine fit of every lr triple per rule, refitted per init_std."""
    return {std: fit_data.fit_configs(runs, data, key="group", value="fear_to_N", configs=LRS,
                                      fit="affine")
            for std, runs in model.groupby("init_std")}


def fitted_points(fits, model):
    """The best triple's seeds mapped by its fit, beside the data: source, group, value, seed and
    the fit (init_std, lrs, scale, offset, sse)."""
    frames = []
    for std, fit in fits.items():
        points = fit.points.rename(columns={"value": "fear_to_N_fitted"}).assign(init_std=std)
        best = fit.best.assign(source=fit.best["rule"].str.upper())[["source", *LRS, "scale", "offset", "sse"]]
        frames.append(points.merge(best, on="source", how="left"))
    out = pd.concat(frames, ignore_index=True)
    out["seed"] = out["seed"].astype("Int64")                       # empty for the rats
    columns = ["init_std", "source", "group", "seed", "fear_to_N_fitted", *LRS, "scale", "offset", "sse"]
    return out[columns].sort_values(["init_std", "source", "group", "seed"], kind="stable").reset_index(drop=True)


def interval(values):
    """(mean, SEM, 68% bootstrap CI of the mean) across seeds."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(0)
    boots = rng.choice(values, size=(2000, values.size)).mean(axis=1)
    sem = values.std(ddof=1) / np.sqrt(values.size) if values.size > 1 else 0.0
    return values.mean(), sem, np.percentile(boots, [16, 84])


def strip_panel(points):
    """Columns = groups; x = Data / PC / BP; one dot per rat or seed, mean and 68% CI in black."""
    fig, axes = plt.subplots(1, len(GROUPS), figsize=(11, 4.6), sharey=True)
    for ax, group in zip(axes, GROUPS):
        sub = points[points["group"] == group]
        sns.stripplot(data=sub, x="source", y="fear_to_N_fitted", hue="source", order=SOURCES,
                      hue_order=SOURCES, palette=COLOURS, alpha=0.6, jitter=0.15, size=6, legend=False, ax=ax)
        sns.pointplot(data=sub, x="source", y="fear_to_N_fitted", order=SOURCES, color="black",
                      errorbar=("ci", 68), seed=0, linestyle="none", markers="_", markersize=18, capsize=0.15,
                      err_kws={"linewidth": 1.5}, ax=ax)
        ax.set(title=f"group = {group}", xlabel="", ylabel="fear to N (fitted)" if ax is axes[0] else "")
    fig.tight_layout()
    return fig


def main_comparisons(points, fit):
    """Per rule and group the fitted mean with its seed interval; the paired recovery; the chosen lrs."""
    comparisons = []
    for source in ["Data", *RULE_ORDER]:
        for group in GROUPS:
            values = points.loc[(points["source"] == source) & (points["group"] == group), "fear_to_N_fitted"]
            mean, sem, (lo, hi) = interval(values)
            who = "rats" if source == "Data" else "seeds"
            paper = DATA_MEANS[group] if source == "Data" else PAPER[source, group]
            comparisons.append(Comparison(
                f"{source} {group} fear to N (mean of {len(values)} {who}, ±SEM {sem:.2f}, 68% CI "
                f"[{lo:.2f}, {hi:.2f}])", mean, paper))
    model = points[points["source"] != "Data"]
    for source in RULE_ORDER:
        wide = model[model["source"] == source].pivot(index="seed", columns="group", values="fear_to_N_fitted")
        for name, gap, paper in [("overshadowing N+ - LN+", wide["N+"] - wide["LN+"],
                                  {"PC": "≈19", "BP": "≈10"}[source]),
                                 ("recovery (LN+,L-) - LN+", wide["LN+,L-"] - wide["LN+"],
                                  {"PC": "≈16", "BP": "0 (no recovery)"}[source])]:
            mean, sem, (lo, hi) = interval(gap)
            comparisons.append(Comparison(f"{source} {name}, paired by seed (±SEM {sem:.2f}, 68% CI "
                                          f"[{lo:.2f}, {hi:.2f}])", mean, paper))
    for _, row in fit.best.iterrows():
        source = row["rule"].upper()
        rules = fit.all[fit.all["rule"] == row["rule"]]
        lrs = ", ".join(f"{row[c]:g}" for c in LRS)
        comparisons.append(Comparison(
            f"{source} best lr triple (perception, m_L, m_N) = ({lrs}), k {row['scale']:.4g}, "
            f"b {row['offset']:.4g}: squared error (over {len(rules)} triples: min {rules['sse'].min():.4g}, "
            f"max {rules['sse'].max():.4g})", row["sse"], PAPER_LRS[source]))
    return comparisons


def robustness_panel(points):
    """Columns = rules; x = init_std; box per group over the seeds of that init_std's best fit; the
    rats' group means as dashed lines."""
    model = points[points["source"] != "Data"]
    data_means = points[points["source"] == "Data"].groupby("group")["fear_to_N_fitted"].mean()
    palette = dict(zip(GROUPS, sns.color_palette("deep", 3)))
    stds = sorted(model["init_std"].unique())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, source in zip(axes, RULE_ORDER):
        sub = model[model["source"] == source]
        sns.boxplot(data=sub, x="init_std", y="fear_to_N_fitted", hue="group", order=stds,
                    hue_order=GROUPS, palette=palette, ax=ax, legend=ax is axes[-1])
        for group in GROUPS:
            ax.axhline(data_means[group], color=palette[group], linestyle="--", linewidth=1.2)
        ax.set(title=source, xlabel="", ylabel="fear to N (fitted)" if ax is axes[0] else "")
    axes[-1].legend(title="group (dashed: rats' mean)", loc="center left", bbox_to_anchor=(1.02, 0.5),
                    frameon=False)
    fig.supxlabel("init_std: m ~ |N(0.1, init_std²)|, refitted per init_std", fontsize="medium")
    fig.tight_layout()
    return fig


def robustness_comparisons(points):
    """Per rule and init_std: the paired recovery and overshadowing of the refitted model."""
    comparisons = []
    model = points[points["source"] != "Data"]
    for (source, std), sub in sorted(model.groupby(["source", "init_std"]),
                                     key=lambda item: (RULE_ORDER.index(item[0][0]), item[0][1])):
        wide = sub.pivot(index="seed", columns="group", values="fear_to_N_fitted")
        lrs = ", ".join(f"{sub[c].iloc[0]:g}" for c in LRS)
        for name, gap in [("recovery (LN+,L-) - LN+", wide["LN+,L-"] - wide["LN+"]),
                          ("overshadowing N+ - LN+", wide["N+"] - wide["LN+"])]:
            mean, sem, (lo, hi) = interval(gap)
            paper = {"PC": "recovery and overshadowing at every init_std",
                     "BP": "no recovery at any init_std"}[source]
            comparisons.append(Comparison(
                f"{source} init_std {std:g} (lrs {lrs}): {name}, paired by seed (±SEM {sem:.2f}, "
                f"68% CI [{lo:.2f}, {hi:.2f}])", mean, paper))
    return comparisons


def analyse(df):
    """(tidy model rows, {init_std: ConfigFits}, fitted points) of a run's rows."""
    model = tidy(df)
    fits = fits_per_init_std(model, load_data())
    return model, fits, fitted_points(fits, model)


def fear_conditioning(df):
    """The panel `fear_conditioning` (init_std 0.01) and the init_std robustness panel."""
    model, fits, points = analyse(df)
    std = MAIN_INIT_STD if MAIN_INIT_STD in fits else min(fits)
    main = points[points["init_std"] == std].drop(columns="init_std").reset_index(drop=True)
    panels = [Panel("fear_conditioning", strip_panel(main), main, main_comparisons(main, fits[std]))]
    if len(fits) > 1:
        panels.append(Panel("fear_conditioning_init_std", robustness_panel(points), points,
                            robustness_comparisons(points)))
    return panels


def markdown(df):
    """The chosen lr triple, fit and error per rule and init_std, as markdown tables."""
    _, fits, _ = analyse(df)
    tables = []
    for std, fit in fits.items():
        best = fit.best.sort_values("rule", key=lambda r: r.str.upper().map(RULE_ORDER.index))
        tables.append(f"init_std {std:g}:\n\n" + fit_data.ConfigFits(best, fit.all, fit.points).markdown())
    return "\n\n".join(tables)


if __name__ == "__main__":
    import argparse

    import results
    from utils import resolve_config_path

    parser = argparse.ArgumentParser(description="the markdown table of the fits of the current run")
    parser.add_argument("-c", "--config", default="experiments/fear_conditioning/fear_conditioning.yaml")
    parser.add_argument("--profile")
    args = parser.parse_args()
    run = results.current_run(results.run_home(resolve_config_path(args.config), args.profile))
    if run is None:
        raise SystemExit("no complete run; run main.py first")
    print(markdown(results.load_rows(run)))
