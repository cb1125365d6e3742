"""The paper's claims as data, and how a run's rows decide them.

An experiment declares the claims it tests (`CLAIMS` in its `experiments/<name>/claims.py`): each
names the quantity that decides it, computed from the run's tidy rows, and the band of values in
which it holds. A verdict gives the value on all of the run's seeds and its robustness: the
fraction of random batches of the paper's number of seeds for which the claim still holds (seeds
drawn without replacement where the run has more than the paper, else with replacement, i.e. a
bootstrap). Any selection a quantity makes (e.g. the best learning rate by seed mean) is made
again inside every batch, so the robustness includes it.
"""
from dataclasses import dataclass
import math

import numpy as np
import pandas as pd

HOLDS, FRAGILE, FAILS, NOT_RUN, NOT_EXPECTED = "holds", "fragile", "does not hold", "not run", "not expected here"
ROBUST = 0.9          # a claim that holds in fewer of the paper-sized seed batches than this is fragile
BATCHES = 200         # random seed batches drawn for the robustness


@dataclass(frozen=True)
class Claim:
    """One claim of the paper, decided from a run's rows.

    `measure(rows) -> float` computes the deciding quantity; the claim holds when it lies strictly
    inside `band` = (low, high) (None: unbounded on that side). `paper` is the published value
    where the panel gives one; `seeds` the number of seeds per condition in the paper. `quick`:
    whether the claim is expected to hold on the experiment's quick profile (`note` says why not).
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
    config: str = ""   # the experiment config (<experiment>/<config>) whose runs decide it

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


def seed_batch(by_seed, seeds):
    """The rows of the given seeds (`by_seed`: {seed: its rows}), each drawn seed renumbered 0, 1,
    ... (a seed drawn twice appears twice, as two seeds)."""
    return pd.concat([by_seed[seed].assign(seed=i) for i, seed in enumerate(seeds)], ignore_index=True)


def robustness(claim, rows, batches=BATCHES, rng_seed=0):
    """The fraction of random batches of `claim.seeds` seeds for which the claim holds."""
    by_seed = dict(tuple(rows.groupby("seed")))
    seeds = np.array(sorted(by_seed))
    rng = np.random.default_rng(rng_seed)
    replace = len(seeds) <= claim.seeds
    held = 0
    for _ in range(batches):
        drawn = rng.choice(seeds, size=claim.seeds, replace=replace)
        held += claim.holds(claim.measure(seed_batch(by_seed, drawn)))
    return held / batches


def decide(claim, rows, quick=False, batches=BATCHES):
    """The verdict of `claim` on a run's rows (None or empty: not run). On a quick profile a claim
    not expected there is reported as such, whatever its value."""
    if rows is None or rows.empty:
        return Verdict(claim, math.nan, math.nan, 0, NOT_RUN)
    value = float(claim.measure(rows))
    share = robustness(claim, rows, batches)
    seeds = rows["seed"].nunique()
    if quick and not claim.quick:
        state = NOT_EXPECTED
    elif not claim.holds(value):
        state = FAILS
    else:
        state = HOLDS if share >= ROBUST else FRAGILE
    return Verdict(claim, value, share, seeds, state)


# ---------------------------------------------------------------------------------------------
# Quantities the experiments' claims share
# ---------------------------------------------------------------------------------------------
LR = "optimizer.lr"


def lr_means(rows, metric="test_error", how="mean", by=()):
    """The seed mean of each run's `metric` (aggregated over its iterations by `how`: mean = area
    under the learning curve, min = best), per (rule, *by, lr)."""
    runs = rows.groupby(["rule", *by, LR, "seed"])[metric].agg(how)
    return runs.groupby(["rule", *by, LR]).mean()


def best_lr_means(rows, metric="test_error", how="mean", by=()):
    """Per (rule, *by): the lowest of `lr_means`, i.e. the value at the best lr (chosen by seed mean)."""
    return lr_means(rows, metric, how, by).groupby(["rule", *by]).min()


def gap(means, *where):
    """BP's value minus PC's at `where` (the index levels after the rule): > 0 where PC is better."""
    return means[("bp", *where)] - means[("pc", *where)] if where else means["bp"] - means["pc"]
