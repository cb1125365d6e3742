"""The target-alignment Extended Data variants on their quick profiles, through main.py and the analysis."""
import pytest

import results
from quick import assert_quick_claims, run_quick

pytestmark = pytest.mark.slow


def quick_rows(config, tmp_path, monkeypatch):
    """Run a config's quick profile and its analysis, check its quick-profile claims; the rows, with depth as `L`."""
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows = results.load_rows(run_quick(config, tmp_path / "out"))
    assert assert_quick_claims(config, rows) > 0
    return rows.rename(columns={"model.num_layers": "L"})


def test_tp_moves_the_output_straight_to_the_target_at_depths_1_and_2_and_pc_beats_bp_deeper(tmp_path, monkeypatch):
    rows = quick_rows("target_alignment/depth_tp", tmp_path, monkeypatch)
    mean = rows.groupby(["rule", "L"])["target_alignment"].mean()
    assert mean["tp", 1] > 0.999 and mean["tp", 2] > 0.999
    for depth in (2, 4, 5):
        assert mean["pc", depth] > mean["bp", depth]


def test_orthogonal_weights_align_both_rules_at_every_depth_and_xavier_leaves_pc_above_bp(tmp_path, monkeypatch):
    rows = quick_rows("target_alignment/depth_init", tmp_path, monkeypatch)
    orthogonal = rows[rows["model.init.name"] == "orthogonal"]
    assert set(orthogonal["optimizer.lr"]) == {0.01, 0.001} and orthogonal["target_alignment"].min() > 0.999
    xavier = rows[rows["model.init.name"] == "xavier_uniform"].groupby(["rule", "L"])["target_alignment"].mean()
    for depth in sorted(set(rows["L"]) - {1}):
        assert xavier["pc", depth] > xavier["bp", depth]
