"""The mechanism figures on their quick profiles, through main.py and the analysis: the claims of
issue 8 asserted on what the runs measured."""
import pytest

import results
from experiments.less_erratic.figures import per_lr, per_member, shorter_at_matched_displacement
from experiments.prospective_index.figures import by_layer, schedule_of
from quick import assert_quick_claims, run_quick

pytestmark = pytest.mark.slow


def quick_rows(config, tmp_path, monkeypatch):
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows = results.load_rows(run_quick(config, tmp_path / "out"))
    assert assert_quick_claims(config, rows) > 0
    return rows


def test_pc_aligns_better_than_bp_at_every_depth_with_identity_and_tanh(tmp_path, monkeypatch):
    rows = quick_rows("target_alignment/depth_activation", tmp_path, monkeypatch)
    keys = ["model.activation", "model.output_activation", "rule", "model.num_layers"]
    mean = rows.groupby(keys)["target_alignment"].mean()
    settings = rows[keys[:2]].drop_duplicates().itertuples(index=False)
    assert len(rows[keys[:2]].drop_duplicates()) == 3
    for activation, on_output in settings:
        for depth in sorted(set(rows["model.num_layers"]) - {1}):
            assert mean[activation, on_output, "pc", depth] > mean[activation, on_output, "bp", depth]


def test_weights_learnt_on_the_frozen_inferred_state_reproduce_it(tmp_path, monkeypatch):
    rows = quick_rows("prospective_index/layers", tmp_path, monkeypatch)
    data = by_layer(rows.assign(schedule=schedule_of), ["schedule", "seed"])
    assert sorted(set(data["layer"])) == [0, 1, 2, 3, 4]
    pi = data.groupby("schedule")["prospective_index"]
    assert pi.min()["w*"] > 0.999 and pi.min()["w'"] >= 0.95


def test_pc_s_update_reproduces_its_inferred_activity_and_bp_s_does_not_at_depth(tmp_path, monkeypatch):
    rows = quick_rows("prospective_index/depth", tmp_path, monkeypatch)
    data = by_layer(rows, ["rule", "model.num_layers", "seed"])
    mean = data.groupby(["rule", "model.num_layers"])["prospective_index"].mean()
    for depth in sorted(set(data["model.num_layers"])):
        assert mean["pc", depth] > 0.95 and mean["pc", depth] > mean["bp", depth]


def test_pc_s_weights_take_a_shorter_path_for_the_same_displacement(tmp_path, monkeypatch):
    rows = quick_rows("less_erratic/less_erratic", tmp_path, monkeypatch)
    shorter, matched = shorter_at_matched_displacement(per_lr(per_member(rows)))
    assert matched >= 3 and shorter > 0
