"""Figures of the sensorimotor experiment: single-trial learning per triplet type, fitted to the
Heald et al. (2021) participants (Fig. 5f, and the fully connected variant).

Per rule, every hyperparameter configuration's seed means of the four triplet types are scaled by one
factor k (least squares, no offset) to the data's group means; the configuration with the least
squared error is kept (ties: the smaller mean SEM, then the first), and its seeds are plotted times
its k beside the participants (fit_data.fit_configs). Configurations in which any seed diverged are
left out of the fit (a mean over the surviving seeds would favour unstable settings).
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from analysis_utils import Comparison, Panel
from fit_data import fit_configs

# The triplet types in the order of the task's logged columns single_trial_learning_0..3
# (task.TYPES; a test checks the two agree).
TYPES = ("1+", "2+", "1-", "2-")
# The data CSV's rounded first column -> type, checked against FIGURES.md's group means
# 0.227, 0.180, 0.099, 0.057 for 1+, 2+, 1-, 2- (data/README.md; a test checks it).
DATA_TYPES = {0: "1+", 1: "2+", 2: "1-", 3: "2-"}
DATA_FILE = Path(__file__).resolve().parent / "data" / "heald2021_single_trial_learning.csv"
CONFIGS = ["init_std", "lr", "memory_lr"]
SOURCES = ["BP", "PC", "Data"]

PAPER = {"PC": {"1+": "≈0.22", "2+": "≈0.19", "1-": "≈0.10", "2-": "≈0.04"},
         "BP": {"1+": "–", "2+": "≈0", "1-": "–", "2-": "≈0"}}
PAPER_SSE = {"BP": "≈0.036 (floor 0.180²+0.057² = 0.0357)",
             "PC": "≈0.00024 (min of 432 noisy configs; re-simulated ≈0.001, other init draws 0.001–0.011)"}

# The paper gives no numbers for the fully connected variant: the cue-specific panel's, for reference.
FC_PAPER = ({rule: {name: "–" if value == "–" else f"– (5f: {value})" for name, value in values.items()}
             for rule, values in PAPER.items()},
            {rule: f"– (5f: {value.split(' ')[0]})" for rule, value in PAPER_SSE.items()})


def load_data(path=DATA_FILE):
    """The participants: one row per point with its `type` and `value`."""
    raw = pd.read_csv(path)
    index = raw.iloc[:, 0].round().astype(int)
    if not set(index) <= set(DATA_TYPES):
        raise ValueError(f"{path}: unexpected triplet indices {sorted(set(index) - set(DATA_TYPES))}")
    return pd.DataFrame({"type": index.map(DATA_TYPES), "value": raw["single_trial_learning"]})


def model_table(df):
    """Tidy model rows: rule, seed, the configuration (init_std, lr, memory_lr, hidden), type, value
    and diverged; one row per (member, type)."""
    rates = df["optimizer.lr"].map(json.loads)
    runs = pd.DataFrame({
        "rule": df["rule"].to_numpy(), "seed": df["seed"].to_numpy(),
        "init_std": df["model.init.std"].to_numpy(),
        "lr": rates.str[0].to_numpy(), "memory_lr": rates.str[1].to_numpy(),
        "hidden": df["model.sizes"].map(lambda sizes: json.loads(sizes)[1]).to_numpy(),
        "diverged": df["diverged"].to_numpy()})
    values = df[[f"single_trial_learning_{i}" for i in range(len(TYPES))]].to_numpy()
    tidy = pd.concat([runs.assign(type=name, value=values[:, i]) for i, name in enumerate(TYPES)],
                     ignore_index=True)
    return tidy


def stable_only(tidy, configs=CONFIGS):
    """Drop every (rule, configuration) in which any seed diverged or measured a non-finite value;
    returns the kept rows and the number of configurations dropped per rule."""
    bad = tidy["diverged"].astype(bool) | ~np.isfinite(tidy["value"])
    broken = tidy.assign(bad=bad).groupby(["rule", *configs])["bad"].transform("any")
    configs_of = tidy[broken].drop_duplicates(["rule", *configs])
    dropped = configs_of.groupby("rule").size().reindex(sorted(tidy["rule"].unique()), fill_value=0)
    return tidy[~broken], dropped


def bootstrap_ci(values, level=0.68, draws=2000, seed=0):
    """(low, high) of the mean of `values` over bootstrap resamples (a fixed generator)."""
    values = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (draws, len(values)))].mean(1)
    return tuple(np.quantile(means, [(1 - level) / 2, (1 + level) / 2]))


def fit(tidy, data, configs=CONFIGS):
    """fit_data.fit_configs on seed means, keys = triplet types (matched by name)."""
    return fit_configs(tidy, data, key="type", value="value", configs=configs, fit="scale")


def strip_row(points, axes, title=""):
    """Dots = seeds (times k) or participants per type; black bar = mean and 68% bootstrap CI."""
    for ax, source in zip(axes, SOURCES):
        sub = points[points["source"] == source]
        sns.stripplot(data=sub, x="type", y="value", order=list(TYPES), hue="type", hue_order=list(TYPES),
                      palette="rocket", alpha=0.6, jitter=0.2, size=5, legend=False, ax=ax)
        sns.pointplot(data=sub, x="type", y="value", order=list(TYPES), errorbar=("ci", 68),
                      color="black", markers="_", markersize=14, linestyles="none", capsize=0.1,
                      err_kws={"linewidth": 1.5}, seed=0, ax=ax)
        ax.axhline(0, color="grey", lw=1, zorder=0)
        ax.set(title=f"{title}{source}", xlabel="triplet", ylabel="")
    axes[0].set_ylabel("single-trial learning\n(model: fitted)")


def comparisons(fits, label="", paper=PAPER, paper_sse=PAPER_SSE):
    """Per rule: the fitted seed mean of each type with its 68% CI, the chosen configuration, SSE."""
    out = []
    points = fits.points
    for _, best in fits.best.iterrows():
        rule = best["rule"].upper()
        mine = points[points["source"] == rule]
        for name in TYPES:
            values = mine.loc[mine["type"] == name, "value"]
            low, high = bootstrap_ci(values)
            out.append(Comparison(f"{label}{rule} {name} (seed mean × k; 68% CI {low:.3f} to {high:.3f}, "
                                  f"{len(values)} seeds)", float(values.mean()), paper[rule][name]))
        config = ", ".join(f"{c} {best[c]:g}" for c in CONFIGS)
        out.append(Comparison(f"{label}{rule} SSE of the best config ({config}; k {best['scale']:.4g})",
                              float(best["sse"]), paper_sse[rule]))
    data = points[points["source"] == "Data"]
    for name in TYPES:
        out.append(Comparison(f"{label}Data {name} mean", float(data.loc[data["type"] == name, "value"].mean()),
                              {"1+": "0.227", "2+": "0.180", "1-": "0.099", "2-": "0.057"}[name]))
    return out


def source_data(fits, **columns):
    """The plotted points: source (BP, PC, Data), type, value (model: seed value times k), seed."""
    return fits.points.assign(**columns)[[*columns, "source", "type", "value", "seed"]]


def fig5f(df):
    """Strip plots per triplet type, panels BP / PC / Data (Fig. 5f)."""
    tidy, dropped = stable_only(model_table(df))
    fits = fit(tidy, load_data())
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.5), sharey=True)
    strip_row(fits.points, axes)
    fig.tight_layout()
    notes = [Comparison(f"{rule.upper()} configs left out (a seed diverged)", float(n), "–")
             for rule, n in dropped.items()]
    return [Panel("fig5f", fig, source_data(fits), comparisons(fits) + notes)]


def fig5f_fc(df):
    """The fully connected variant: one row of BP / PC / Data per hidden width, fitted per width."""
    tidy, dropped = stable_only(model_table(df), ["hidden", *CONFIGS])
    data = load_data()
    widths = sorted(tidy["hidden"].unique())
    fig, axes = plt.subplots(len(widths), 3, figsize=(13, 4.5 * len(widths)), sharey=True, squeeze=False)
    sources, notes = [], []
    for row, width in zip(axes, widths):
        fits = fit(tidy[tidy["hidden"] == width], data)
        strip_row(fits.points, row, f"hidden {width}: ")
        sources.append(source_data(fits, hidden=width))
        notes += comparisons(fits, f"hidden {width}: ", *FC_PAPER)
    notes += [Comparison(f"{rule.upper()} configs left out (a seed diverged)", float(n), "–")
              for rule, n in dropped.items()]
    fig.tight_layout()
    return [Panel("fig5f_fc", fig, pd.concat(sources, ignore_index=True), notes)]


def fit_tables(df):
    """The chosen hyperparameters and errors as markdown (per hidden width where there are several),
    for the README: `python -m experiments.sensorimotor.figures <rows.parquet>`."""
    tidy, _ = stable_only(model_table(df), ["hidden", *CONFIGS])
    data = load_data()
    return "\n\n".join(f"hidden {width}:\n\n" + fit(tidy[tidy["hidden"] == width], data).markdown()
                       for width in sorted(tidy["hidden"].unique()))


if __name__ == "__main__":
    import sys
    print(fit_tables(pd.read_parquet(sys.argv[1])))
