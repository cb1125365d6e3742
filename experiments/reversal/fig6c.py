"""Fig. 6c and its companions (fig6c.yaml): the fitted stay and switch lines of each rule beside the
data, how often seed batches of the published sizes reproduce the crossing, and the cells split by
the signs of the final output weights. The estimators are in stats.py."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis_utils import Comparison, Panel
from experiments.reversal.stats import (ANALYSIS_SEED, CELLS, DRAWS, PUBLISHED_SEEDS, RULE_COLORS, RULES, batch_means,
                                        crossing, delta_draws, disjoint_batch_means, event_sem, fit_to_data,
                                        group_arrays, load_data, member_totals, paper_rows, pooled, seed_interval,
                                        seed_means)

PAPER_FIT = {"pc": ("5.06", "-0.30"), "bp": ("33.3", "-0.41")}
# The published panels (≈: read off fig6c.png; PC's also in FIGURES.md).
PAPER_VALUES = {"pc": {CELLS[0]: "≈0.10", CELLS[1]: "≈-0.16", CELLS[2]: "≈-0.08", CELLS[3]: "≈0.00"},
                "bp": {CELLS[0]: "≈0.07", CELLS[1]: "≈-0.10", CELLS[2]: "≈-0.03", CELLS[3]: "≈-0.08"}}
PAPER_BATCHES = {("pc", 22): "the published 22-seed batch crosses",
                 ("bp", 40): "published 40 seeds: no crossing; authors' code, random 40-seed batches: ≈85% cross"}
BATCH_SIZES = [5, 10, 22, 40, 100, 200]
SHOWN_BATCHES = 2000                 # the random batches drawn as points (all of them enter the fractions)
STAY_SWITCH = {False: ("stay", "tab:green", "o", "-"), True: ("switch", "tab:red", "X", "--")}


def fig6c(df):
    """Fig. 6c (PC / BP / Data), the seed-batch spread, and the cells split by output-weight signs."""
    totals = member_totals(df)
    data = load_data()
    rng = np.random.default_rng(ANALYSIS_SEED)
    groups = paper_rows(totals)
    stats = {rule: summarise(rows, data, rng) for rule, rows in groups.items()}
    return [fig6c_panel(stats, data), batches_panel(stats, rng), by_sign_panel(groups, rng)]


def summarise(rows, data, rng):
    """Everything Fig. 6c shows for one rule's members."""
    S, Q, N = group_arrays(rows)
    means = pooled(S, N)
    fit = fit_to_data(means, data)
    return {"S": S, "N": N, "means": means, "event_sem": event_sem(S, Q, N),
            "seed_ci": seed_interval(S, N, rng), "seed_means": seed_means(S, N), "fit": fit,
            "seeds": len(S), "events": N.sum(0), "diverged": int(rows["diverged"].sum()),
            "reversals": rows["reversals"].mean(), "correct": rows["correct_choices"].mean() / 128}


def line_cells(switch):
    """The indices in CELLS of the stay (False) or switch (True) line: at punish, then next trial."""
    return [CELLS.index(("at_punish", switch)), CELLS.index(("next_trial", switch))]


# ---------------------------------------------------------------------------------------------
# Fig. 6c: fitted lines beside the data
# ---------------------------------------------------------------------------------------------
def fig6c_panel(stats, data):
    """One axis per rule (its pooled means mapped onto the data by its fit) and one for the data."""
    fig, axes = plt.subplots(1, len(stats) + 1, figsize=(5 * (len(stats) + 1), 4.8), sharey=True)
    rows, comparisons = [], []
    for ax, (rule, s) in zip(axes, stats.items()):
        rule_rows, rule_comparisons = fitted_lines(ax, rule, s)
        rows += rule_rows
        comparisons += rule_comparisons
    ax = axes[-1]
    draw_lines(ax, [data[c] for c in CELLS])
    ax.set_title("Data")
    rows += [{"source": "Data", "at": at, "is_switch": switch, "value": data[(at, switch)]} for at, switch in CELLS]
    axes[0].set_ylabel("value")
    axes[0].legend(title="next choice", loc="upper right", fontsize=11, title_fontsize=11)
    fig.text(0.5, -0.04, "points: event-pooled means mapped by v·w + b fitted to the data; thick bars: "
             "68% bootstrap over seeds; thin bars: ±1 SEM over events (the original's)",
             ha="center", fontsize=10)
    fig.tight_layout()
    return Panel("fig6c", fig, pd.DataFrame(rows), comparisons)


def draw_lines(ax, values, low=None, high=None, sem=None):
    """Stay and switch lines at x = 0 (at punish) and 1 (next trial); bars: seeds (thick), events (thin)."""
    for switch, (name, color, marker, style) in STAY_SWITCH.items():
        idx = line_cells(switch)
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


def fitted_lines(ax, rule, s):
    """Draw one rule's fitted lines; returns its source-data rows and comparisons."""
    fit, label = s["fit"], RULES[rule]
    mapped = fit.apply(s["means"])
    low, high = sorted_interval(fit.apply(s["seed_ci"]))
    sem = abs(fit.scale) * s["event_sem"]
    draw_lines(ax, mapped, low, high, sem)
    ax.set_title(f"{label} ({s['seeds']} seeds)")
    ax.text(0.03, 0.03, f"v·{fit.scale:.3g} {fit.offset:+.3f}", transform=ax.transAxes, fontsize=11)
    rows, comparisons = [], []
    for i, (at, switch) in enumerate(CELLS):
        rows.append({"source": label, "at": at, "is_switch": switch, "value": mapped[i],
                     "seed_ci_low": low[i], "seed_ci_high": high[i], "event_sem": sem[i],
                     "raw_pooled": s["means"][i], "raw_seed_mean": s["seed_means"][0][i],
                     "raw_seed_mean_sem": s["seed_means"][1][i], "events": s["events"][i],
                     "seeds": s["seeds"], "scale": fit.scale, "offset": fit.offset})
        comparisons.append(Comparison(f"{label} {at} {'switch' if switch else 'stay'} (fitted; seed "
                                      f"68% CI {low[i]:.3f}..{high[i]:.3f})", mapped[i],
                                      PAPER_VALUES[rule][(at, switch)]))
    return rows, comparisons + fit_comparisons(rule, s) + delta_comparisons(label, s)


def sorted_interval(ci):
    """An interval mapped by a negative scale comes out reversed; put the low end first."""
    return np.minimum(ci[0], ci[1]), np.maximum(ci[0], ci[1])


def fit_comparisons(rule, s):
    """The fitted map beside the paper's, and the run's own counts."""
    fit, label = s["fit"], RULES[rule]
    return [Comparison(f"{label} fitted w", fit.scale, PAPER_FIT[rule][0]),
            Comparison(f"{label} fitted b", fit.offset, PAPER_FIT[rule][1]),
            Comparison(f"{label} fit RMS residual (4 points, data units)", np.sqrt(fit.sse / 4), "–"),
            Comparison(f"{label} reversals per run", s["reversals"], "≈3.9 (≈4.9 original rule)"),
            Comparison(f"{label} fraction of correct choices", s["correct"], "–"),
            Comparison(f"{label} diverged members", s["diverged"], "–")]


def delta_comparisons(label, s):
    """The raw pooled change from at punish to next trial per line, with its seed interval."""
    out = []
    for switch, name in ((False, "stay"), (True, "switch")):
        a, b = line_cells(switch)
        draws = delta_draws(s["S"], s["N"], a, b)
        delta = s["means"][b] - s["means"][a]
        lo, hi = np.percentile(draws, [16, 84])
        out.append(Comparison(f"{label} raw change of the {name} line (seed 68% CI {lo:.4f}..{hi:.4f}; "
                              f"P(change {'<' if not switch else '>'} 0) over seed resamples "
                              f"{np.mean(draws < 0 if not switch else draws > 0):.3f})", delta,
                              "data: falls" if not switch else "data: rises"))
    return out


# ---------------------------------------------------------------------------------------------
# Seed batches: how often a batch of the published size crosses
# ---------------------------------------------------------------------------------------------
def batches_panel(stats, rng):
    """How often a random batch of seeds reproduces the crossing, per rule and batch size."""
    fig, axes = plt.subplots(1, len(stats) + 1, figsize=(5.2 * (len(stats) + 1), 4.8))
    for ax, (rule, s) in zip(axes, stats.items()):
        batch_scatter(ax, rule, s, rng)
    table = crossing_table(stats, rng)
    crossing_curves(axes[-1], stats, table)
    fig.tight_layout()
    return Panel("fig6c_batches", fig, table, batch_comparisons(stats, table))


def batch_scatter(ax, rule, s, rng):
    """The line changes of random batches of the published size, coloured by whether they cross."""
    label, size = RULES[rule], PUBLISHED_SEEDS[rule]
    if s["seeds"] < 2 * size:
        ax.set_title(f"{label}: fewer than {2 * size} seeds")
        return
    means = batch_means(s["S"], s["N"], size, rng)
    d_stay, d_switch = means[:, 1] - means[:, 0], means[:, 3] - means[:, 2]
    crosses, _ = crossing(means)
    shown = slice(0, SHOWN_BATCHES)
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


def crossing_table(stats, rng):
    """Per rule and batch size: the fractions of random and of disjoint batches that cross."""
    rows = []
    for rule, s in stats.items():
        for size in BATCH_SIZES:
            if size > s["seeds"] // 4:          # batches well below the population they are drawn from
                continue
            falls_rises, lines = crossing(batch_means(s["S"], s["N"], size, rng))
            disjoint = crossing(disjoint_batch_means(s["S"], s["N"], size))
            rows.append({"rule": RULES[rule], "batch_size": size, "random_batches": DRAWS,
                         "crosses": falls_rises.mean(), "lines_cross": lines.mean(),
                         "disjoint_batches": len(disjoint[0]), "disjoint_crosses": disjoint[0].mean(),
                         "disjoint_lines_cross": disjoint[1].mean()})
    return pd.DataFrame(rows)


def rule_part(table, rule):
    """The rows of `table` of one rule (an empty table stays as it is)."""
    return table[table["rule"] == RULES[rule]] if len(table) else table


def crossing_curves(ax, stats, table):
    """The fraction of batches that cross against the batch size, per rule."""
    for rule in stats:
        part = rule_part(table, rule)
        if part.empty:
            continue
        label, color = RULES[rule], RULE_COLORS[rule]
        ax.plot(part["batch_size"], part["crosses"], marker="o", color=color, label=f"{label}: cross")
        ax.plot(part["batch_size"], part["lines_cross"], marker="o", color=color, ls=":",
                label=f"{label}: cross, lines intersect")
    ax.set_xscale("log")
    ax.set(xlabel="seeds per batch", ylabel="fraction of batches", ylim=(0, 1.02),
           title="batches that reproduce the data's pattern")
    ax.legend(fontsize=10, loc="lower right")


def batch_comparisons(stats, table):
    """The crossing fractions at the published batch sizes."""
    comparisons = []
    for rule in stats:
        part, label = rule_part(table, rule), RULES[rule]
        if part.empty:
            continue
        for size in sorted(set(PUBLISHED_SEEDS.values())):
            row = part[part["batch_size"] == size]
            if row.empty:
                continue
            row = row.iloc[0]
            comparisons += [
                Comparison(f"{label} fraction of random {size}-seed batches that cross (stay falls, "
                           f"switch rises)", row["crosses"], PAPER_BATCHES.get((rule, size), "–")),
                Comparison(f"{label} fraction of random {size}-seed batches that cross with intersecting lines",
                           row["lines_cross"], "–"),
                Comparison(f"{label} fraction of {row['disjoint_batches']} disjoint {size}-seed batches "
                           f"that cross", row["disjoint_crosses"], "–")]
    return comparisons


# ---------------------------------------------------------------------------------------------
# The cells by the signs of the final output weights
# ---------------------------------------------------------------------------------------------
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
            part_rows, comparison = sign_group_lines(ax, label, name, part, style, rng)
            rows += part_rows
            comparisons.append(comparison)
        ax.set_xticks([0, 1], ["at punish", "next trial"])
        ax.set(title=f"{label}: by final output-weight signs", ylabel="raw value")
        ax.legend(fontsize=9)
    fig.tight_layout()
    return Panel("fig6c_by_sign", fig, pd.DataFrame(rows), comparisons)


def sign_group_lines(ax, label, name, part, style, rng):
    """Draw the raw lines of one sign group with seed intervals; returns its rows and its comparison."""
    S, Q, N = group_arrays(part)
    means, (low, high) = pooled(S, N), seed_interval(S, N, rng)
    for switch, (line, color, marker, _) in STAY_SWITCH.items():
        idx = line_cells(switch)
        ax.errorbar([0, 1], means[idx], yerr=[means[idx] - low[idx], high[idx] - means[idx]],
                    color=color, marker=marker, ls=style, capsize=5, lw=2,
                    label=f"{line}, {name} ({len(S)})")
    rows = [{"rule": label, "output_weights": name, "at": at, "is_switch": switch,
             "raw_pooled": means[i], "seed_ci_low": low[i], "seed_ci_high": high[i],
             "members": len(S), "events": N.sum(0)[i]} for i, (at, switch) in enumerate(CELLS)]
    falls_rises, _ = crossing(means)
    return rows, Comparison(f"{label} {name}: switch-line change (raw; stay-line "
                            f"change {means[1] - means[0]:.4f}; crosses: {bool(falls_rises)})",
                            means[3] - means[2], "–")
