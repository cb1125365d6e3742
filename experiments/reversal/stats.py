"""Statistics of the reversal-learning experiment: the data, each member's event sums (and the members
of the published configurations), the estimators the figures and claims draw from them, and the fits
to the data.

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

Arrays S (sums), Q (sums of squares) and N (counts) are [members, 4 cells] in CELLS order.
"""
from pathlib import Path

import numpy as np
import pandas as pd

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

RULES = {"pc": "PC", "bp": "BP"}                              # the labels of the figures
RULE_COLORS = {"pc": "tab:blue", "bp": "tab:orange"}
PAPER_CONFIG = {"pc": (0.1, 0.05), "bp": (0.1, 0.1)}          # (lr, init std) of the published panel
PUBLISHED_SEEDS = {"pc": 22, "bp": 40}
BOOTSTRAP, DRAWS, ANALYSIS_SEED = 2000, 5000, 0


# ---------------------------------------------------------------------------------------------
# The data and the members' totals
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


def paper_rows(totals):
    """Per rule, the members of the published configuration (or all, when the run has only one)."""
    out = {}
    for rule in RULES:
        rows = totals[totals["rule"] == rule]
        if rows.empty:
            continue
        configs = rows[[LR, STD]].drop_duplicates()
        if len(configs) > 1:
            lr, std = PAPER_CONFIG[rule]
            rows = rows[np.isclose(rows[LR], lr) & np.isclose(rows[STD], std)]
        out[rule] = rows
    return out


# ---------------------------------------------------------------------------------------------
# Estimators
# ---------------------------------------------------------------------------------------------
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


def delta_draws(S, N, a, b, reps=BOOTSTRAP):
    """Seed-bootstrap draws of the pooled change from cell a to cell b (a generator of their own)."""
    rng = np.random.default_rng(ANALYSIS_SEED + 1)
    weights = rng.multinomial(len(S), np.full(len(S), 1 / len(S)), size=reps)
    means = (weights @ S) / (weights @ N)
    return means[:, b] - means[:, a]


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


# ---------------------------------------------------------------------------------------------
# Fits to the data
# ---------------------------------------------------------------------------------------------
def fit_to_data(means, data):
    """The least-squares v * w + b mapping the model's 4 cells onto the data's, keys matched."""
    keys = list(data)
    return fit_affine([means[CELLS.index(k)] for k in keys], [data[k] for k in keys])


def cell_name(at, switch):
    """A cell as one string, e.g. 'at_punish/stay'."""
    return f"{at}/{'switch' if switch else 'stay'}"


def config_fits(totals, data):
    """fit_data.fit_configs on per-seed means (affine), keyed by the cell name."""
    kept = totals[~totals["diverged"]]
    long = []
    for at, switch in CELLS:
        total, _, count = CELL_COLUMNS[(at, switch)]
        with np.errstate(invalid="ignore", divide="ignore"):
            value = kept[total] / kept[count].where(kept[count] > 0)
        long.append(kept[["rule", LR, STD, "seed"]].assign(cell=cell_name(at, switch), value=value))
    model = pd.concat(long, ignore_index=True).dropna(subset=["value"])
    data_df = pd.DataFrame([{"cell": cell_name(at, switch), "value": v} for (at, switch), v in data.items()])
    return fit_configs(model, data_df, "cell", "value", [LR, STD], fit="affine")
