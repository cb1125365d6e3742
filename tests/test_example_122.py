"""The 1-2-2 example (weight trajectories): hand-derived first steps and PC's straighter path."""
import numpy as np
import pandas as pd
import pytest

import results
from quick import assert_quick_claims, run_quick

CONFIG = "example_122/example_122"


@pytest.mark.slow
def test_pc_goes_almost_straight_where_bp_zig_zags_and_both_first_steps_are_the_hand_derived_ones(
        tmp_path, monkeypatch):
    """BP from w = 0: dL/dw = -(1, 2) * (t - o) = -(1, 2), so w_1 = 0.4 (1, 2). PC: with w = 0 the
    energy 0.5 |x|^2 + 0.5 (x_1 - 1)^2 + 0.5 (2 x_2 - 1)^2 is least at x = (0.5, 0.4), so its first step
    is lr (0.5, 0.4) = 1.3969543 (0.5, 0.4) (as long as BP's: |(0.4, 0.8)| = 1.397 |(0.5, 0.4)|)."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    run = run_quick(CONFIG, tmp_path / "out")
    source = pd.read_csv(tmp_path / "out" / "source_data" / "example_122-quick.csv")
    first = source[source["step"] == 1].set_index("rule")
    assert (first.loc["bp", "w_1"], first.loc["bp", "w_2"]) == pytest.approx((0.4, 0.8), abs=1e-12)
    assert (first.loc["pc", "w_1"], first.loc["pc", "w_2"]) == pytest.approx(
        (1.3969543 * 0.5, 1.3969543 * 0.4), abs=1e-3)
    ratios = {}
    for rule, path in source.groupby("rule"):
        w = path.sort_values("step")[["w_1", "w_2"]].to_numpy()
        ratios[rule] = np.linalg.norm(np.diff(w, axis=0), axis=1).sum() / np.linalg.norm(w[-1] - w[0])
    assert ratios["pc"] < 1.15 < 1.5 < ratios["bp"]
    assert len(results.load_rows(run)) == 2 * 15
    assert assert_quick_claims(CONFIG, results.load_rows(run)) == 2
