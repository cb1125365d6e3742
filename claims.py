"""The paper's claims as data, and how a run's rows decide them.

An experiment declares the claims it tests (`CLAIMS` in its `experiments/<name>/claims.py`). A claim
reduces a run's rows once to per-seed quantities (`per_seed`: a Series whose last index level is
the seed, e.g. each run's mean test error per (rule, lr, seed)); its `measure` computes the deciding
quantity from the seed means of those quantities (the same Series without the seed level), and it
holds when that value lies inside `band`. A verdict gives the value on all of the run's seeds and its
robustness: the fraction of random batches of the paper's number of seeds for which the claim still
holds (seeds drawn without replacement where the run has more than the paper, else with
replacement, i.e. a bootstrap). Any selection a measure makes (e.g. the best learning rate by seed
mean) is made again inside every batch, so the robustness includes it. The batches' seed means are
one matrix product, so a claim is decided in milliseconds however large the run.
"""
from dataclasses import dataclass
import math

import numpy as np
import pandas as pd

HOLDS, FRAGILE, FAILS, NOT_RUN, NOT_EXPECTED = "holds", "fragile", "does not hold", "not run", "not expected here"
ROBUST = 0.9          # a claim that holds in fewer of the paper-sized seed batches than this is fragile
BATCHES = 200         # random seed batches drawn for the robustness
LR = "optimizer.lr"


@dataclass(frozen=True)
class PerRun:
    """One value per run: `metric` aggregated over its iterations by `how` (mean = area under the
    learning curve, min = best, last = the end), indexed by `keys` and the seed."""
    metric: str = "test_error"
    how: str = "mean"
    keys: tuple = ("rule", LR)

    def __call__(self, rows):
        return rows.groupby([*self.keys, "seed"])[self.metric].agg(self.how)


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, decided from a run's rows.

    `per_seed(rows) -> Series` (last index level: seed) and `measure(seed means) -> float` compute the
    deciding quantity; the claim holds when it lies strictly inside `band` = (low, high) (None:
    unbounded on that side). `paper` is the published value where the panel gives one; `seeds` the
    number of seeds per condition in the paper. `quick`: whether the claim is expected to hold on the
    experiment's quick profile (`note` says why not). `config`: the experiment config
    (<experiment>/<config>) whose runs decide it. The id starts with the panel's name.
    """
    id: str
    text: str
    quantity: str
    measure: object
    band: tuple
    paper: str = "–"
    seeds: int = 3
    quick: bool = True
    note: str = ""
    config: str = ""
    per_seed: object = PerRun()

    @property
    def panel(self):
        return self.id.split(".")[0]

    def holds(self, value):
        low, high = self.band
        return (value is not None and not math.isnan(value)
                and (low is None or value > low) and (high is None or value < high))

    def band_text(self):
        low, high = self.band
        if low is not None and high is not None:
            return f"in ({low:g}, {high:g})"
        return f"> {low:g}" if low is not None else f"< {high:g}"


@dataclass(frozen=True)
class Verdict:
    """A claim decided on one run: the value on all seeds, the robustness, the verdict."""
    claim: Claim
    value: float
    robustness: float
    seeds: int
    state: str


class SeedTable:
    """A claim's per-seed quantities as a matrix (conditions × seeds, NaN where a condition lacks a
    seed), and the seed means of batches of its seeds."""

    def __init__(self, per_seed):
        table = per_seed.unstack("seed")
        self.index, self.seeds = table.index, np.asarray(table.columns)
        self.values = table.to_numpy(dtype=float)

    def means(self, counts=None):
        """Seed means per condition, one column per batch, each seed weighted by its count in the
        batch (`counts`: seeds × batches; None: one batch of every seed once)."""
        counts = np.ones((len(self.seeds), 1)) if counts is None else counts
        present = ~np.isnan(self.values)
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (np.where(present, self.values, 0) @ counts) / (present @ counts)
        return pd.DataFrame(means, index=self.index)

    def batch_counts(self, size, batches, rng):
        """How often each seed is drawn in each of `batches` random batches of `size` seeds (without
        replacement where there are more seeds than `size`, else with)."""
        replace = len(self.seeds) <= size
        counts = np.zeros((len(self.seeds), batches))
        for b in range(batches):
            np.add.at(counts[:, b], rng.choice(len(self.seeds), size=size, replace=replace), 1)
        return counts


def measured(claim, means):
    """The claim's quantity for each batch (column) of `means`, as an array."""
    return np.broadcast_to(np.asarray(claim.measure(means), dtype=float).reshape(-1), (means.shape[1],))


def robustness(claim, table, batches=BATCHES, rng_seed=0):
    """The fraction of random batches of `claim.seeds` seeds (a SeedTable's) for which the claim holds."""
    means = table.means(table.batch_counts(claim.seeds, batches, np.random.default_rng(rng_seed)))
    return sum(map(claim.holds, measured(claim, means))) / batches


def decide(claim, rows, quick=False, batches=BATCHES, reduced=None):
    """The verdict of `claim` on a run's rows (None or empty: not run). On a quick profile a claim
    not expected there is reported as such, whatever its value. `reduced`: its per-seed quantities,
    if already computed (claims that share a `per_seed` reduce the rows once)."""
    if rows is None or rows.empty:
        return Verdict(claim, math.nan, math.nan, 0, NOT_RUN)
    table = SeedTable(claim.per_seed(rows) if reduced is None else reduced)
    value = float(measured(claim, table.means())[0])
    share = robustness(claim, table, batches)
    if quick and not claim.quick:
        state = NOT_EXPECTED
    elif not claim.holds(value):
        state = FAILS
    else:
        state = HOLDS if share >= ROBUST else FRAGILE
    return Verdict(claim, value, share, len(table.seeds), state)


def value(claim, rows):
    """The claim's quantity on all of the run's seeds."""
    return float(measured(claim, SeedTable(claim.per_seed(rows)).means())[0])


# ---------------------------------------------------------------------------------------------
# Quantities the experiments' claims share (on seed means indexed by rule, ..., lr)
# ---------------------------------------------------------------------------------------------
def best_lr(means, by=()):
    """Per (rule, *by): the lowest seed mean over the lrs, i.e. the value at the best lr."""
    return means.groupby(level=["rule", *by]).min()


def at_best_lr(score, value, by=()):
    """Per (rule, *by) and batch: `value` at the lr whose `score` is least (both indexed alike,
    by rule, *by, lr)."""
    names = ["rule", *by]
    picked = {}
    for key, group in score.groupby(level=names if by else "rule"):
        scores = group.to_numpy()
        best = np.argmin(np.where(np.isnan(scores), np.inf, scores), axis=0)
        picked[key] = value.loc[group.index].to_numpy()[best, np.arange(scores.shape[1])]
    index = pd.MultiIndex.from_tuples(list(picked), names=names) if by else pd.Index(list(picked), name="rule")
    return pd.DataFrame(list(picked.values()), index=index)


def lrs_of(means):
    """A frame like `means` holding each row's lr."""
    return pd.DataFrame(np.repeat(level(means, LR).to_numpy()[:, None], means.shape[1], axis=1), index=means.index)


def gap(means, *where):
    """BP's value minus PC's at `where` (the index levels after the rule): > 0 where PC is better."""
    return means.loc[("bp", *where) if where else "bp"] - means.loc[("pc", *where) if where else "pc"]


def lowest(values):
    """The elementwise least of several per-batch values."""
    return np.min(np.vstack([np.asarray(v, dtype=float) for v in values]), axis=0)


def by_key(means, name, keys):
    """The seed means as an array [other conditions, batches, keys]: index level `name` moved to the
    last axis, in the order of `keys`."""
    parts = [means.xs(key, level=name) for key in keys]
    return np.stack([part.reindex(parts[0].index).to_numpy() for part in parts], axis=-1)


def level(means, name):
    """The values of one index level."""
    return means.index.get_level_values(name)


def member_means(rows, selections, keys=("rule", LR), metric="test_error"):
    """Per member (`keys` and seed), the mean of `metric` over each selection of its rows
    ({name: rows -> the selected rows}), under a first index level `part` naming the selection."""
    return pd.concat({name: select(rows).groupby([*keys, "seed"])[metric].mean()
                      for name, select in selections.items()}, names=["part"])
