"""Claims decided from rows: bands, verdicts, and robustness over paper-sized seed batches, on
synthetic rows whose answers are known by construction."""
import math

import pandas as pd
import pytest

import claims
from claims import Claim


def gap(rows):
    """Mean BP error minus mean PC error."""
    means = rows.groupby("rule")["error"].mean()
    return means["bp"] - means["pc"]


def rows_with_gaps(gaps):
    """One PC and one BP row per seed; seed i has BP - PC = gaps[i]."""
    return pd.DataFrame([{"seed": i, "rule": rule, "error": 0.5 + (g if rule == "bp" else 0)}
                         for i, g in enumerate(gaps) for rule in ("pc", "bp")])


PC_BETTER = Claim("x.pc_better", "PC learns better", "BP - PC error", gap, (0, None), seeds=3)


def test_the_band_is_open_and_either_side_may_be_unbounded():
    assert PC_BETTER.holds(0.01) and not PC_BETTER.holds(0.0) and not PC_BETTER.holds(-1)
    assert not PC_BETTER.holds(math.nan) and not PC_BETTER.holds(None)
    inside = Claim("x", "", "", gap, (0.1, 0.2))
    assert inside.holds(0.15) and not inside.holds(0.2) and not inside.holds(0.05)
    assert inside.band_text() == "in (0.1, 0.2)" and PC_BETTER.band_text() == "> 0"


def test_a_seed_batch_renumbers_seeds_so_a_seed_drawn_twice_counts_twice():
    rows = rows_with_gaps([0.1, 0.2, 0.3])
    batch = claims.seed_batch(dict(tuple(rows.groupby("seed"))), [2, 2, 0])
    assert sorted(batch["seed"].unique()) == [0, 1, 2]
    assert gap(batch) == pytest.approx((0.3 + 0.3 + 0.1) / 3)


def test_a_claim_every_seed_supports_holds_in_every_batch():
    verdict = claims.decide(PC_BETTER, rows_with_gaps([0.1, 0.2, 0.05, 0.3]))
    assert verdict.state == claims.HOLDS and verdict.robustness == 1.0 and verdict.seeds == 4
    assert verdict.value == pytest.approx(0.1625)


def test_a_claim_carried_by_one_seed_is_fragile():
    # the mean over all 10 seeds is positive, but most batches of 3 miss the one large seed
    verdict = claims.decide(PC_BETTER, rows_with_gaps([1.0] + [-0.05] * 9))
    assert verdict.value > 0 and verdict.state == claims.FRAGILE
    # a batch holds iff it contains seed 0: 1 - C(9,3)/C(10,3) = 0.3 of the batches
    assert verdict.robustness == pytest.approx(0.3, abs=0.1)


def test_a_claim_against_the_rows_does_not_hold_and_one_not_expected_on_quick_says_so():
    rows = rows_with_gaps([-0.1, -0.2, -0.1])
    assert claims.decide(PC_BETTER, rows).state == claims.FAILS
    not_on_quick = Claim("x", "", "", gap, (0, None), quick=False, note="too small a task")
    assert claims.decide(not_on_quick, rows, quick=True).state == claims.NOT_EXPECTED
    assert claims.decide(PC_BETTER, pd.DataFrame()).state == claims.NOT_RUN


def test_with_as_many_seeds_as_the_paper_the_batches_are_bootstrap_draws():
    # 3 seeds, paper 3: drawn with replacement, so batches of only the negative seed occur
    verdict = claims.decide(PC_BETTER, rows_with_gaps([0.3, 0.3, -0.5]))
    assert verdict.state == claims.FRAGILE and 0.3 < verdict.robustness < 0.9
