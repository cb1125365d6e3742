"""Claims decided from rows: bands, verdicts, and robustness over paper-sized seed batches, on
synthetic rows whose answers are known by construction."""
import math

import numpy as np
import pandas as pd
import pytest

import claims
from claims import Claim


def per_seed(rows):
    """Each seed's error per rule."""
    return rows.set_index(["rule", "seed"])["error"]


def rows_with_gaps(gaps):
    """One PC and one BP row per seed; seed i has BP - PC = gaps[i]."""
    return pd.DataFrame([{"seed": i, "rule": rule, "error": 0.5 + (g if rule == "bp" else 0)}
                         for i, g in enumerate(gaps) for rule in ("pc", "bp")])


PC_BETTER = Claim("x.pc_better", "PC learns better", "BP - PC error", claims.gap, (0, None), seeds=3,
                  per_seed=per_seed)


def test_the_band_is_open_and_either_side_may_be_unbounded():
    assert PC_BETTER.holds(0.01) and not PC_BETTER.holds(0.0) and not PC_BETTER.holds(-1)
    assert not PC_BETTER.holds(math.nan) and not PC_BETTER.holds(None)
    inside = Claim("x", "", "", claims.gap, (0.1, 0.2))
    assert inside.holds(0.15) and not inside.holds(0.2) and not inside.holds(0.05)
    assert inside.band_text() == "in (0.1, 0.2)" and PC_BETTER.band_text() == "> 0"
    assert PC_BETTER.panel == "x"


def test_batch_means_weigh_a_seed_drawn_twice_twice_and_skip_conditions_a_seed_lacks():
    table = claims.SeedTable(per_seed(rows_with_gaps([0.1, 0.2, 0.3]).drop(index=[5])))  # seed 2 has no BP row
    counts = np.array([[1, 0], [0, 1], [2, 2]], dtype=float)          # batches {0, 2, 2} and {1, 2, 2}
    means = table.means(counts)
    assert means.loc["pc"].tolist() == pytest.approx([0.5, 0.5])
    assert means.loc["bp"].tolist() == pytest.approx([0.6, 0.7])     # seed 2 missing: only seeds 0 and 1
    assert table.means().loc["bp", 0] == pytest.approx(0.65)


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
    not_on_quick = Claim("x", "", "", claims.gap, (0, None), quick=False, note="too small a task", per_seed=per_seed)
    assert claims.decide(not_on_quick, rows, quick=True).state == claims.NOT_EXPECTED
    assert claims.decide(PC_BETTER, pd.DataFrame()).state == claims.NOT_RUN


def test_with_as_many_seeds_as_the_paper_the_batches_are_bootstrap_draws():
    # 3 seeds, paper 3: drawn with replacement, so batches of only the negative seed occur
    verdict = claims.decide(PC_BETTER, rows_with_gaps([0.3, 0.3, -0.5]))
    assert verdict.state == claims.FRAGILE and 0.3 < verdict.robustness < 0.9


def test_the_selection_of_the_best_lr_is_made_again_in_every_batch():
    # lr 0.1 is best for BP on seed 0, lr 0.01 on seed 1; PC is flat at 0.5
    rows = pd.DataFrame([{"rule": rule, claims.LR: lr, "seed": seed, "test_error": error}
                         for seed, errors in enumerate([(0.2, 0.9), (0.9, 0.4)])
                         for rule in ("pc", "bp") for lr, e in zip((0.1, 0.01), errors)
                         for error in ([0.5] if rule == "pc" else [e])])
    table = claims.SeedTable(claims.PerRun()(rows))
    means = table.means(np.array([[2, 0, 1], [0, 2, 1]], dtype=float))   # {0, 0}, {1, 1}, {0, 1}
    assert claims.best_lr(means).loc["bp"].tolist() == pytest.approx([0.2, 0.4, 0.55])
    lrs = claims.at_best_lr(means, claims.lrs_of(means))
    assert lrs.loc["bp"].tolist() == [0.1, 0.01, 0.1] and claims.gap(claims.best_lr(means)).tolist() == pytest.approx([-0.3, -0.1, 0.05])
    assert claims.lowest([[1, 5], [3, 2]]).tolist() == [1, 2]


def test_run_means_average_each_selection_of_a_runs_rows():
    rows = pd.DataFrame({"rule": "pc", claims.LR: 0.1, "seed": 0, "iteration": range(4), "test_error": [4, 3, 2, 1.0]})
    means = claims.member_means(rows, {"all": lambda r: r, "late": lambda r: r[r["iteration"] >= 2]})
    assert means["all", "pc", 0.1, 0] == 2.5 and means["late", "pc", 0.1, 0] == 1.5
