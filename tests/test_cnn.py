"""The CNN (Fig. 4i) quick profile through main.py and the analysis: both rules learn the digits."""
import pytest

import results
from quick import assert_quick_claims, run_quick

pytestmark = pytest.mark.slow


def test_both_rules_train_the_cnn_on_the_digits_far_below_chance(tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows = results.load_rows(run_quick("cnn/fig4i", tmp_path / "out"))
    assert set(rows["rule"]) == {"pc", "bp"} and not rows["diverged"].any()
    best = rows.groupby(["rule", "optimizer.lr", "seed"])["test_error"].min().groupby("rule").max()
    assert best["pc"] < 0.3 and best["bp"] < 0.3          # chance is 0.9
    assert (tmp_path / "out" / "fig4i-quick.png").exists()
    assert_quick_claims("cnn/fig4i", rows)      # none expected on the digits: BP's CNN is the better one there
