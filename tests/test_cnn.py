"""The CNN (Fig. 4i) quick profile through main.py and the analysis: the figure's points and summary are
the rows' per-run minima recomputed here, and both rules learn the digits."""
import numpy as np
import pandas as pd
import pytest

import results
from quick import assert_quick_claims, reported, run_quick

pytestmark = pytest.mark.slow


def test_the_figure_is_each_runs_min_test_error_and_both_rules_learn_the_digits(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    out = tmp_path / "out"
    rows = results.load_rows(run_quick("cnn/fig4i", out))
    assert set(rows["rule"]) == {"pc", "bp"} and not rows["diverged"].any()
    points = pd.read_csv(out / "source_data" / "fig4i-quick.csv").set_index(["rule", "lr", "seed"])["test_error"]
    minima = {}
    for (rule, lr, seed), run in rows.groupby(["rule", "optimizer.lr", "seed"]):   # min over the 8 epochs
        assert len(run) == 8   # the CSV text may round the last of 17 digits
        assert points[rule, lr, seed] == pytest.approx(min(run["test_error"]), rel=1e-12)
        minima.setdefault(rule, {}).setdefault(lr, []).append(min(run["test_error"]))
    assert len(points) == len(rows) // 8
    summary = (out / "fig4i-quick-summary.txt").read_text()
    for rule, by_lr in minima.items():
        best = min(np.mean(errors) for errors in by_lr.values())   # the best lr's seed mean
        assert reported(summary, "fig4i", f"{rule.upper()} best (lowest over lrs)") == pytest.approx(best, abs=5e-4)
        assert best < 0.3                                          # both learn (chance is 0.9)
    assert_quick_claims("cnn/fig4i", rows)      # none expected on the digits: BP's CNN is the better one there
