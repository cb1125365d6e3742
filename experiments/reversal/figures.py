"""Figures of the reversal-learning experiment: Fig. 6c, the spread over seed batches, the grid, and the
mechanism (output weights over trials, hidden activity during inference).

A member's cells are its sums over events (task.py): for each cell (at, is_switch) with at in
{at_punish, next_trial} and is_switch in {False (stay), True (switch)}, the sum of values, of squared
values and the event count. From them:
- event-pooled means (the original's estimator): sum over members of the sums / sum of the counts;
- intervals over events (the original's): the pooled standard error of the events (≈ its 68%
  bootstrap over events);
- intervals over seeds (the honest ones): a 68% bootstrap of the pooled mean resampling seeds;
- per-seed means: each seed's own mean per cell, averaged over seeds.
A seed batch "crosses" when, in its pooled means, the stay line falls and the switch line rises from
at punish to next trial, as in the data; "lines cross" additionally asks that stay start above switch
and end below it (the lines intersect).
"""
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis_utils import Comparison, Panel
from fit_data import fit_affine, fit_configs

DATA_FILE = Path(__file__).resolve().parent / "data" / "hampton2006_reversal_value.csv"
LR, STD = "optimizer.lr", "model.init.std"
MEMBER = ["rule", LR, STD, "seed"]
# The cells in a fixed order; each with its columns in the rows (sum, sum of squares, count).
CELLS = [("at_punish", False), ("next_trial", False), ("at_punish", True), ("next_trial", True)]
CELL_COLUMNS = {(at, switch): (f"{prefix}_{kind}", f"{prefix}_sq_{kind}", f"n_{kind}")
                for at, switch in CELLS
                for prefix, kind in [("at" if at == "at_punish" else "next", "switch" if switch else "stay")]}
SUM_COLUMNS = sorted({c for columns in CELL_COLUMNS.values() for c in columns})
COUNT_COLUMNS = ["reversals", "correct_choices", "rewarded"]
WEIGHTS = ["weight_1_0", "weight_2_0", "weight_2_1"]

RULES = {"pc": "PC", "bp": "BP"}
PAPER_CONFIG = {"pc": (0.1, 0.05), "bp": (0.1, 0.1)}          # (lr, init std) of the published panel
PUBLISHED_SEEDS = {"pc": 22, "bp": 40}
PAPER_FIT = {"pc": ("5.06", "-0.30"), "bp": ("33.3", "-0.41")}
# The published panels (≈: read off fig6c.png; PC's also in FIGURES.md).
PAPER_VALUES = {"pc": {CELLS[0]: "≈0.10", CELLS[1]: "≈-0.16", CELLS[2]: "≈-0.08", CELLS[3]: "≈0.00"},
                "bp": {CELLS[0]: "≈0.07", CELLS[1]: "≈-0.10", CELLS[2]: "≈-0.03", CELLS[3]: "≈-0.08"}}
BATCH_SIZES = [5, 10, 22, 40, 100, 200]
STAY_SWITCH = {False: ("stay", "tab:green", "o", "-"), True: ("switch", "tab:red", "X", "--")}
BOOTSTRAP, DRAWS, ANALYSIS_SEED = 2000, 5000, 0


# ---------------------------------------------------------------------------------------------
# Per-member totals and their statistics
# ---------------------------------------------------------------------------------------------
def load_data():
    """The four data points as {(at, is_switch): value} (keys from the CSV, never its row order)."""
    data = pd.read_csv(DATA_FILE)
    return {(row.at, bool(row.is_switch)): float(row.value) for row in data.itertuples()}


def member_totals(df):
    """One row per member: its cell sums and counts over the session, its final weights, and
    whether it diverged (diverged members are dropped by `group_arrays`)."""
    keys = [k for k in MEMBER if k in df]
    ordered = df.sort_values("iteration")
    grouped = ordered.groupby(keys)
    totals = grouped[SUM_COLUMNS + COUNT_COLUMNS].sum()
    totals = totals.join(grouped[[w for w in WEIGHTS if w in df]].last()).join(grouped["diverged"].any())
    return totals.reset_index()


def group_arrays(totals):
    """(sums S, squares Q, counts N), each [members, 4 cells] in CELLS order, of the finite members."""
    kept = totals[~totals["diverged"]]
    S = np.stack([kept[CELL_COLUMNS[c][0]].to_numpy() for c in CELLS], 1)
    Q = np.stack([kept[CELL_COLUMNS[c][1]].to_numpy() for c in CELLS], 1)
    N = np.stack([kept[CELL_COLUMNS[c][2]].to_numpy() for c in CELLS], 1)
    return S, Q, N


def pooled(S, N):
    """Event-pooled means [4] (or [..., 4] for stacked batches summed over axis -2)."""
    return S.sum(-2) / N.sum(-2)


def event_sem(S, Q, N):
    """Standard error of the pooled mean over all events, per cell [4]."""
    n, mean = N.sum(0), S.sum(0) / N.sum(0)
    variance = (Q.sum(0) / n - mean ** 2) * n / np.maximum(n - 1, 1)
    return np.sqrt(np.maximum(variance, 0) / n)


def seed_interval(S, N, rng, reps=BOOTSTRAP):
    """68% bootstrap interval (16th, 84th percentiles) of the pooled mean, resampling seeds: [2, 4]."""
    weights = rng.multinomial(len(S), np.full(len(S), 1 / len(S)), size=reps)        # [reps, members]
    means = (weights @ S) / (weights @ N)
    return np.nanpercentile(means, [16, 84], axis=0)


def seed_means(S, N):
    """Each seed's own mean per cell, averaged over the seeds that have events in it, and its SEM."""
    with np.errstate(invalid="ignore", divide="ignore"):
        own = np.where(N > 0, S / np.where(N > 0, N, 1), np.nan)
    count = np.sum(~np.isnan(own), 0)
    return np.nanmean(own, 0), np.nanstd(own, 0, ddof=1) / np.sqrt(count)


def crossing(means):
    """(stay falls and switch rises, the lines intersect) for pooled means [..., 4] in CELLS order."""
    falls_rises = (means[..., 1] < means[..., 0]) & (means[..., 3] > means[..., 2])
    lines = falls_rises & (means[..., 0] > means[..., 2]) & (means[..., 1] < means[..., 3])
    return falls_rises, lines


def batch_means(S, N, size, rng, draws=DRAWS, chunk=500):
    """Pooled means of `draws` random batches of `size` distinct seeds: [draws, 4]."""
    out = []
    for start in range(0, draws, chunk):
        picks = np.argpartition(rng.random((min(chunk, draws - start), len(S))), size - 1, axis=1)[:, :size]
        out.append(S[picks].sum(1) / N[picks].sum(1))
    return np.concatenate(out)


def disjoint_batch_means(S, N, size):
    """Pooled means of consecutive disjoint batches of `size` seeds (in seed order): [batches, 4]."""
    batches = len(S) // size
    if batches == 0:
        return np.empty((0, 4))
    return pooled(S[:batches * size].reshape(batches, size, 4), N[:batches * size].reshape(batches, size, 4))


def fit_to_data(means, data):
    """The least-squares v * w + b mapping the model's 4 cells onto the data's, keys matched."""
    keys = list(data)
    return fit_affine([means[CELLS.index(k)] for k in keys], [data[k] for k in keys])


def paper_rows(totals):
    """Per rule, the members of the published configuration (or all, when the run has only one)."""
    out = {}
    for rule, label in RULES.items():
        rows = totals[totals["rule"] == rule]
        if rows.empty:
            continue
        configs = rows[[LR, STD]].drop_duplicates()
        if len(configs) > 1:
            lr, std = PAPER_CONFIG[rule]
            rows = rows[np.isclose(rows[LR], lr) & np.isclose(rows[STD], std)]
        out[rule] = rows
    return out


def summarise(rows, data, rng):
    """Everything Fig. 6c shows for one rule's members."""
    S, Q, N = group_arrays(rows)
    means = pooled(S, N)
    fit = fit_to_data(means, data)
    return {"S": S, "N": N, "means": means, "event_sem": event_sem(S, Q, N),
            "seed_ci": seed_interval(S, N, rng), "seed_means": seed_means(S, N), "fit": fit,
            "seeds": len(S), "events": N.sum(0), "diverged": int(rows["diverged"].sum()),
            "reversals": rows["reversals"].mean(), "correct": rows["correct_choices"].mean() / 128}


# ---------------------------------------------------------------------------------------------
# Fig. 6c and its companions (fig6c.yaml)
# ---------------------------------------------------------------------------------------------
def fig6c(df):
    """Fig. 6c (PC / BP / Data), the seed-batch spread, and the cells split by output-weight signs."""
    totals = member_totals(df)
    data = load_data()
    rng = np.random.default_rng(ANALYSIS_SEED)
    groups = paper_rows(totals)
    stats = {rule: summarise(rows, data, rng) for rule, rows in groups.items()}
    return [fig6c_panel(stats, data), batches_panel(stats, rng), by_sign_panel(groups, rng)]


def draw_lines(ax, values, low=None, high=None, sem=None):
    """Stay and switch lines at x = 0 (at punish) and 1 (next trial); bars: seeds (thick), events (thin)."""
    for switch, (name, color, marker, style) in STAY_SWITCH.items():
        idx = [CELLS.index(("at_punish", switch)), CELLS.index(("next_trial", switch))]
        y = np.asarray(values)[idx]
        ax.plot([0, 1], y, color=color, marker=marker, linestyle=style, label=name, markersize=9, lw=2)
        if low is not None:
            ax.errorbar([0, 1], y, yerr=[y - low[idx], high[idx] - y], fmt="none", ecolor=color,
                        capsize=7, lw=2.5)
        if sem is not None:
            ax.errorbar([0.07, 1.07], y, yerr=sem[idx], fmt="none", ecolor=color, capsize=3, lw=1,
                        alpha=0.6)
    ax.set_xticks([0, 1], ["at punish", "next trial"])
    ax.set_xlim(-0.3, 1.3)


def fig6c_panel(stats, data):
    fig, axes = plt.subplots(1, len(stats) + 1, figsize=(5 * (len(stats) + 1), 4.8), sharey=True)
    rows, comparisons = [], []
    for ax, (rule, s) in zip(axes, stats.items()):
        fit, label = s["fit"], RULES[rule]
        mapped = fit.apply(s["means"])
        low, high = sorted_interval(fit.apply(s["seed_ci"]))
        sem = abs(fit.scale) * s["event_sem"]
        draw_lines(ax, mapped, low, high, sem)
        ax.set_title(f"{label} ({s['seeds']} seeds)")
        ax.text(0.03, 0.03, f"v·{fit.scale:.3g} {fit.offset:+.3f}", transform=ax.transAxes, fontsize=11)
        for i, (at, switch) in enumerate(CELLS):
            rows.append({"source": label, "at": at, "is_switch": switch, "value": mapped[i],
                         "seed_ci_low": low[i], "seed_ci_high": high[i], "event_sem": sem[i],
                         "raw_pooled": s["means"][i], "raw_seed_mean": s["seed_means"][0][i],
                         "raw_seed_mean_sem": s["seed_means"][1][i], "events": s["events"][i],
                         "seeds": s["seeds"], "scale": fit.scale, "offset": fit.offset})
            comparisons.append(Comparison(f"{label} {at} {'switch' if switch else 'stay'} (fitted; seed "
                                          f"68% CI {low[i]:.3f}..{high[i]:.3f})", mapped[i],
                                          PAPER_VALUES[rule][(at, switch)]))
        comparisons += [Comparison(f"{label} fitted w", fit.scale, PAPER_FIT[rule][0]),
                        Comparison(f"{label} fitted b", fit.offset, PAPER_FIT[rule][1]),
                        Comparison(f"{label} fit RMS residual (4 points, data units)", np.sqrt(fit.sse / 4), "–"),
                        Comparison(f"{label} reversals per run", s["reversals"], "≈3.9 (≈4.9 original rule)"),
                        Comparison(f"{label} fraction of correct choices", s["correct"], "–"),
                        Comparison(f"{label} diverged members", s["diverged"], "–")]
        comparisons += delta_comparisons(label, s)
    ax = axes[-1]
    draw_lines(ax, [data[c] for c in CELLS])
    ax.set_title("Data")
    for at, switch in CELLS:
        rows.append({"source": "Data", "at": at, "is_switch": switch, "value": data[(at, switch)]})
    axes[0].set_ylabel("value")
    axes[0].legend(title="next choice", loc="upper right", fontsize=11, title_fontsize=11)
    fig.text(0.5, -0.04, "points: event-pooled means mapped by v·w + b fitted to the data; thick bars: "
             "68% bootstrap over seeds; thin bars: ±1 SEM over events (the original's)",
             ha="center", fontsize=10)
    fig.tight_layout()
    return Panel("fig6c", fig, pd.DataFrame(rows), comparisons)


def sorted_interval(ci):
    """An interval mapped by a negative scale comes out reversed; put the low end first."""
    return np.minimum(ci[0], ci[1]), np.maximum(ci[0], ci[1])


def delta_comparisons(label, s):
    """The raw pooled change from at punish to next trial per line, with its seed interval."""
    out = []
    for switch, name in ((False, "stay"), (True, "switch")):
        a, b = CELLS.index(("at_punish", switch)), CELLS.index(("next_trial", switch))
        draws = delta_draws(s["S"], s["N"], a, b)
        delta = s["means"][b] - s["means"][a]
        lo, hi = np.percentile(draws, [16, 84])
        out.append(Comparison(f"{label} raw change of the {name} line (seed 68% CI {lo:.4f}..{hi:.4f}; "
                              f"P(change {'<' if not switch else '>'} 0) over seed resamples "
                              f"{np.mean(draws < 0 if not switch else draws > 0):.3f})", delta,
                              "data: falls" if not switch else "data: rises"))
    return out


def delta_draws(S, N, a, b, reps=BOOTSTRAP):
    """Seed-bootstrap draws of the pooled change from cell a to cell b."""
    rng = np.random.default_rng(ANALYSIS_SEED + 1)
    weights = rng.multinomial(len(S), np.full(len(S), 1 / len(S)), size=reps)
    means = (weights @ S) / (weights @ N)
    return means[:, b] - means[:, a]


def batches_panel(stats, rng):
    """How often a random batch of seeds reproduces the crossing, per rule and batch size."""
    fig, axes = plt.subplots(1, len(stats) + 1, figsize=(5.2 * (len(stats) + 1), 4.8))
    rows, comparisons = [], []
    for ax, (rule, s) in zip(axes, stats.items()):
        label, size = RULES[rule], PUBLISHED_SEEDS[rule]
        if s["seeds"] < 2 * size:
            ax.set_title(f"{label}: fewer than {2 * size} seeds")
            continue
        means = batch_means(s["S"], s["N"], size, rng)
        d_stay, d_switch = means[:, 1] - means[:, 0], means[:, 3] - means[:, 2]
        crosses, _ = crossing(means)
        shown = slice(0, 2000)
        ax.scatter(d_stay[shown], d_switch[shown], s=6, alpha=0.4,
                   c=np.where(crosses[shown], "tab:purple", "tab:gray"), edgecolors="none")
        full = s["means"]
        ax.scatter([full[1] - full[0]], [full[3] - full[2]], marker="*", s=250, c="k", zorder=3,
                   label=f"all {s['seeds']} seeds")
        ax.axhline(0, color="k", lw=0.8)
        ax.axvline(0, color="k", lw=0.8)
        ax.xaxis.set_major_locator(plt.MaxNLocator(4))
        ax.set(xlabel="stay: next − at punish", ylabel="switch: next − at punish",
               title=f"{label}: {size}-seed batches, {crosses.mean():.0%} cross")
        ax.legend(loc="lower left", fontsize=10)
    ax = axes[-1]
    for rule, s in stats.items():
        label = RULES[rule]
        for size in BATCH_SIZES:
            if size > s["seeds"] // 4:          # batches well below the population they are drawn from
                continue
            falls_rises, lines = crossing(batch_means(s["S"], s["N"], size, rng))
            disjoint = crossing(disjoint_batch_means(s["S"], s["N"], size))
            rows.append({"rule": label, "batch_size": size, "random_batches": DRAWS,
                         "crosses": falls_rises.mean(), "lines_cross": lines.mean(),
                         "disjoint_batches": len(disjoint[0]), "disjoint_crosses": disjoint[0].mean(),
                         "disjoint_lines_cross": disjoint[1].mean()})
    table = pd.DataFrame(rows)
    for rule, s in stats.items():
        label = RULES[rule]
        part = table[table["rule"] == label] if len(table) else table
        if part.empty:
            continue
        color = "tab:blue" if rule == "pc" else "tab:orange"
        ax.plot(part["batch_size"], part["crosses"], marker="o", color=color, label=f"{label}: cross")
        ax.plot(part["batch_size"], part["lines_cross"], marker="o", color=color, ls=":",
                label=f"{label}: cross, lines intersect")
        for size in sorted(set(PUBLISHED_SEEDS.values())):
            row = part[part["batch_size"] == size]
            if row.empty:
                continue
            row = row.iloc[0]
            paper = {("pc", 22): "the published 22-seed batch crosses",
                     ("bp", 40): "published 40 seeds: no crossing; authors' code, random 40-seed "
                                 "batches: ≈85% cross"}.get((rule, size), "–")
            comparisons += [
                Comparison(f"{label} fraction of random {size}-seed batches that cross (stay falls, "
                           f"switch rises)", row["crosses"], paper),
                Comparison(f"{label} fraction of random {size}-seed batches that cross with intersecting lines",
                           row["lines_cross"], "–"),
                Comparison(f"{label} fraction of {row['disjoint_batches']} disjoint {size}-seed batches "
                           f"that cross", row["disjoint_crosses"], "–")]
    ax.set_xscale("log")
    ax.set(xlabel="seeds per batch", ylabel="fraction of batches", ylim=(0, 1.02),
           title="batches that reproduce the data's pattern")
    ax.legend(fontsize=10, loc="lower right")
    fig.tight_layout()
    return Panel("fig6c_batches", fig, table, comparisons)


def by_sign_panel(groups, rng):
    """The raw cells of members whose final output weights have opposite vs the same signs."""
    fig, axes = plt.subplots(1, len(groups), figsize=(5.2 * len(groups), 4.8), squeeze=False)
    rows, comparisons = [], []
    for ax, (rule, members) in zip(axes[0], groups.items()):
        label = RULES[rule]
        opposite = members["weight_2_0"] * members["weight_2_1"] < 0
        comparisons.append(Comparison(f"{label} fraction of members with opposite output weights at the end",
                                      opposite.mean(), "PC: opposite (the hidden unit encodes which "
                                                       "option is correct)"))
        for name, part, style in (("opposite", members[opposite], "-"), ("same sign", members[~opposite], ":")):
            if part.empty:
                continue
            S, Q, N = group_arrays(part)
            means, (low, high) = pooled(S, N), seed_interval(S, N, rng)
            for switch, (line, color, marker, _) in STAY_SWITCH.items():
                idx = [CELLS.index(("at_punish", switch)), CELLS.index(("next_trial", switch))]
                ax.errorbar([0, 1], means[idx], yerr=[means[idx] - low[idx], high[idx] - means[idx]],
                            color=color, marker=marker, ls=style, capsize=5, lw=2,
                            label=f"{line}, {name} ({len(S)})")
            for i, (at, switch) in enumerate(CELLS):
                rows.append({"rule": label, "output_weights": name, "at": at, "is_switch": switch,
                             "raw_pooled": means[i], "seed_ci_low": low[i], "seed_ci_high": high[i],
                             "members": len(S), "events": N.sum(0)[i]})
            falls_rises, _ = crossing(means)
            comparisons.append(Comparison(f"{label} {name}: switch-line change (raw; stay-line "
                                          f"change {means[1] - means[0]:.4f}; crosses: {bool(falls_rises)})",
                                          means[3] - means[2], "–"))
        ax.set_xticks([0, 1], ["at punish", "next trial"])
        ax.set(title=f"{label}: by final output-weight signs", ylabel="raw value")
        ax.legend(fontsize=9)
    fig.tight_layout()
    return Panel("fig6c_by_sign", fig, pd.DataFrame(rows), comparisons)


# ---------------------------------------------------------------------------------------------
# The exploratory grid (grid.yaml)
# ---------------------------------------------------------------------------------------------
def fig6c_grid(df):
    """Per rule, lr and init std: crossing fractions over seed batches of both published sizes, and
    the affine fit of the pooled means to the data; plus fit_configs' best configuration per rule
    (affine fit of the seed means)."""
    totals = member_totals(df)
    data = load_data()
    rng = np.random.default_rng(ANALYSIS_SEED)
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
                row[f"cross_{size}"] = crossing(batch_means(S, N, size, rng, draws=2000))[0].mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    best = config_fits(totals, data)
    sizes = [c for c in table.columns if c.startswith("cross_")]
    columns = sizes + ["rms"]
    labels = [label for label in RULES.values() if label in set(table["rule"])]
    fig, axes = plt.subplots(len(labels), len(columns), figsize=(4.6 * len(columns), 4 * len(labels)),
                             squeeze=False)
    for r, label in enumerate(labels):
        part = table[table["rule"] == label]
        for c, column in enumerate(columns):
            grid = part.pivot(index="init_std", columns="lr", values=column).sort_index(ascending=False)
            ax = axes[r, c]
            values = np.log10(grid.to_numpy()) if column == "rms" else grid.to_numpy()
            ax.imshow(values, cmap="viridis", vmin=None if column == "rms" else 0,
                      vmax=None if column == "rms" else 1, aspect="auto")
            finite = values[np.isfinite(values)]
            middle = (finite.min() + finite.max()) / 2 if column == "rms" else 0.5
            for i in range(grid.shape[0]):
                for j in range(grid.shape[1]):
                    text = f"{grid.iloc[i, j]:.3f}" if column == "rms" else f"{grid.iloc[i, j]:.2f}"
                    ax.text(j, i, text, ha="center", va="center", fontsize=11,
                            color="k" if values[i, j] > middle else "w")
            ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
            ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
            title = (f"{label}: {column.split('_')[1]}-seed batches crossing" if column != "rms"
                     else f"{label}: affine-fit RMS residual")
            ax.set(xlabel="lr", ylabel="init std", title=title)
            ax.grid(False)
    fig.tight_layout()
    comparisons = []
    for _, row in table.iterrows():
        lr, std = PAPER_CONFIG.get({"PC": "pc", "BP": "bp"}.get(row["rule"]), (-1, -1))
        published = np.isclose(row["lr"], lr) and np.isclose(row["init_std"], std)
        tag = " (published config)" if published else ""
        for size in sizes:
            comparisons.append(Comparison(f"{row['rule']} lr {row['lr']:g} std {row['init_std']:g}{tag}: "
                                          f"fraction of {size.split('_')[1]}-seed batches crossing",
                                          row[size], "–"))
    for _, row in best.best.iterrows():
        comparisons.append(Comparison(
            f"{RULES[row['rule']]} best config by affine fit of seed means: lr {row[LR]:g}, std {row[STD]:g} "
            f"(w {row['scale']:.3g}, b {row['offset']:.3f}); RMS residual", np.sqrt(row["sse"] / 4),
            "picked by eye: PC lr 0.1 std 0.05, BP lr 0.1 std 0.1"))
    table = table.merge(best.all.rename(columns={LR: "lr", STD: "init_std", "scale": "seed_mean_scale",
                                                 "offset": "seed_mean_offset", "sse": "seed_mean_sse"})
                        .assign(rule=lambda d: d["rule"].map(RULES)), on=["rule", "lr", "init_std"])
    return [Panel("fig6c_grid", fig, table, comparisons)]


def config_fits(totals, data):
    """fit_data.fit_configs on per-seed means (affine), keyed by the cell name."""
    kept = totals[~totals["diverged"]]
    long = []
    for at, switch in CELLS:
        total, _, count = CELL_COLUMNS[(at, switch)]
        with np.errstate(invalid="ignore", divide="ignore"):
            value = kept[total] / kept[count].where(kept[count] > 0)
        long.append(kept[["rule", LR, STD, "seed"]].assign(cell=f"{at}/{'switch' if switch else 'stay'}",
                                                           value=value))
    model = pd.concat(long, ignore_index=True).dropna(subset=["value"])
    data_df = pd.DataFrame([{"cell": f"{at}/{'switch' if switch else 'stay'}", "value": v}
                            for (at, switch), v in data.items()])
    return fit_configs(model, data_df, "cell", "value", [LR, STD], fit="affine")


# ---------------------------------------------------------------------------------------------
# The mechanism (mechanism.yaml): one row per trial
# ---------------------------------------------------------------------------------------------
def mechanism(df):
    """Output weights over the session, and the option values during inference on punished trials."""
    df = df.assign(trial=df["iteration"] + 1)
    return [weights_panel(df), inference_panel(df)]


def final_signs(df):
    """Per (rule, seed): True where the output weights end with opposite signs."""
    last = df[df["trial"] == df["trial"].max()]
    return last.set_index(["rule", "seed"]).eval("weight_2_0 * weight_2_1 < 0").rename("opposite")


def weights_panel(df, examples=4):
    rules = [r for r in RULES if r in set(df["rule"])]
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(5.2 * (len(rules) + 1), 4.8))
    seeds = sorted(df["seed"].unique())[:examples]
    colors = plt.get_cmap("tab10")
    for ax, rule in zip(axes, rules):
        for i, seed in enumerate(seeds):
            member = df[(df["rule"] == rule) & (df["seed"] == seed)].sort_values("trial")
            ax.plot(member["trial"], member["weight_2_0"], color=colors(i), lw=1.5,
                    label=f"seed {seed}" if rule == rules[0] else None)
            ax.plot(member["trial"], member["weight_2_1"], color=colors(i), lw=1.5, ls="--")
        ax.axhline(0, color="k", lw=0.8)
        ax.set(xlabel="trial", ylabel="output weight after the trial",
               title=f"{RULES[rule]}, seeds {seeds[0]}–{seeds[-1]}\n(solid: option 0, dashed: option 1)")
    axes[0].legend(fontsize=9)
    shared = (min(ax.get_ylim()[0] for ax in axes[:-1]), max(ax.get_ylim()[1] for ax in axes[:-1]))
    for ax in axes[:-1]:
        ax.set_ylim(shared)
    ax = axes[-1]
    summary = (df.assign(size=np.sqrt((df["weight_2_0"] ** 2 + df["weight_2_1"] ** 2) / 2),
                         opposite=df["weight_2_0"] * df["weight_2_1"] < 0)
               .groupby(["rule", "trial"])
               .agg(median=("size", "median"), q25=("size", lambda v: v.quantile(0.25)),
                    q75=("size", lambda v: v.quantile(0.75)), opposite=("opposite", "mean"),
                    members=("size", "size"))
               .reset_index())
    first, last = df["trial"].min(), df["trial"].max()
    pattern = (df[df["trial"].isin([first, last])].assign(opposite=lambda d: d["weight_2_0"] * d["weight_2_1"] < 0)
               .pivot_table(index=["rule", "seed"], columns="trial", values="opposite"))
    changed = (pattern[first] != pattern[last]).groupby("rule").mean()
    comparisons = []
    for rule in rules:
        part = summary[summary["rule"] == rule]
        color = "tab:blue" if rule == "pc" else "tab:orange"
        ax.plot(part["trial"], part["median"], color=color, label=RULES[rule])
        ax.fill_between(part["trial"], part["q25"], part["q75"], color=color, alpha=0.25)
        end = part.iloc[-1]
        comparisons += [
            Comparison(f"{RULES[rule]} median output-weight size (rms of the two) after trial 128 "
                       f"(IQR {end['q25']:.3f}..{end['q75']:.3f})", end["median"],
                       "PC: large" if rule == "pc" else "BP: near 0"),
            Comparison(f"{RULES[rule]} median output-weight size after trial 1", part.iloc[0]["median"], "–"),
            Comparison(f"{RULES[rule]} fraction of members with opposite output weights after trial 1",
                       part.iloc[0]["opposite"], "–"),
            Comparison(f"{RULES[rule]} fraction of members with opposite output weights after trial 128",
                       end["opposite"], "PC: opposite" if rule == "pc" else "–"),
            Comparison(f"{RULES[rule]} fraction of members whose output-weight sign pattern differs "
                       f"between trials 1 and 128", changed[rule], "–")]
    ax.set_yscale("log")
    ax.set(xlabel="trial", ylabel="output-weight size (median, IQR)", title="all seeds")
    ax.legend(fontsize=10)
    fig.tight_layout()
    return Panel("fig6c_weights", fig, summary.assign(rule=summary["rule"].map(RULES)), comparisons)


def trace_steps(df):
    """The inference steps the trace columns stand for (from the config column data.trace_steps)."""
    steps = json.loads(df["data.trace_steps"].iloc[0])
    return np.asarray(steps)


def inference_panel(df):
    """Option values predicted from the hidden node during inference on punished trials 64-127,
    relative to the feed-forward values (step 0): chosen vs unchosen option, split by whether the
    member's output weights end with opposite signs."""
    steps = trace_steps(df)
    signs = final_signs(df)
    punished = df[(df["reward"] < 0) & (df["trial"] >= 64) & (df["trial"] <= 127)]
    punished = punished.join(signs, on=["rule", "seed"])
    chosen_one = punished["choice"].to_numpy()[:, None] == 1
    v0 = punished[[f"trace_value0_{j}" for j in range(len(steps))]].to_numpy()
    v1 = punished[[f"trace_value1_{j}" for j in range(len(steps))]].to_numpy()
    chosen, unchosen = np.where(chosen_one, v1, v0), np.where(chosen_one, v0, v1)
    chosen, unchosen = chosen - chosen[:, :1], unchosen - unchosen[:, :1]
    rules = [r for r in RULES if r in set(df["rule"])]
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(5.2 * (len(rules) + 1), 4.8))
    rows, comparisons = [], []
    for ax, rule in zip(axes[1:], rules):
        for opposite, color in ((True, "tab:purple"), (False, "tab:gray")):
            pick = ((punished["rule"] == rule) & (punished["opposite"] == opposite)).to_numpy()
            if not pick.any():
                continue
            name = "opposite" if opposite else "same sign"
            for option, values, style in (("chosen", chosen, "-"), ("unchosen", unchosen, "--")):
                mean = values[pick].mean(0)
                ax.plot(steps + 1, mean, color=color, ls=style, marker=".",
                        label=f"{option}, {name} ({pick.sum()} trials)")
                rows += [{"rule": RULES[rule], "output_weights": name, "option": option, "step": int(k),
                          "value_change": float(v), "trials": int(pick.sum())} for k, v in zip(steps, mean)]
                comparisons.append(Comparison(
                    f"{RULES[rule]} {name}: mean change of the {option} option's value by the end of "
                    f"inference on punished trials 64-127", mean[-1],
                    "PC opposite: unchosen rises" if option == "unchosen" and rule == "pc" and opposite else "–"))
        ax.axhline(0, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set(xlabel="inference step + 1", ylabel="value − feed-forward value",
               title=f"{RULES[rule]}: punished trials 64–127")
        ax.legend(fontsize=8)
    ax = axes[0]
    example = df[(df["rule"] == rules[0]) & (df["seed"] == df["seed"].min())]
    example = example[(example["reward"] < 0) & (example["trial"] >= 64)]
    hidden = example[[f"trace_hidden_{j}" for j in range(len(steps))]].to_numpy()
    for trace, choice in zip(hidden, example["choice"]):
        ax.plot(steps + 1, trace, color="tab:blue" if choice == 0 else "tab:red", lw=1, alpha=0.7)
    ax.set_xscale("log")
    ax.set(xlabel="inference step + 1", ylabel="hidden value node",
           title=f"{RULES[rules[0]]} seed {df['seed'].min()}: punished trials ≥ 64\n(blue: chose 0, red: chose 1)")
    fig.tight_layout()
    return Panel("fig6c_inference", fig, pd.DataFrame(rows), comparisons)
