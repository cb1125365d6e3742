"""The fear-conditioning experiment (FIGURES.md `fear_conditioning`): the groups' schedules, the
model's set-up, BP's hand-derived lack of recovery, and the quick profile end to end."""
from collections import defaultdict
import json

import numpy as np
import pandas as pd
import pytest
import torch

import engine
from loader import load_experiment
from utils import ConfigError
from experiments.fear_conditioning import figures
from experiments.fear_conditioning.task import GROUPS, Overshadowing, schedule

CONFIG = "experiments/fear_conditioning/fear_conditioning.yaml"
DT = torch.float64


# ---------------------------------------------------------------------------------------------
# The schedules
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group, conditioning, extinction", [
    ("N+", (0.0, 1.0), (0.0, 0.0)), ("LN+", (1.0, 1.0), (0.0, 0.0)), ("LN+,L-", (1.0, 1.0), (1.0, 0.0))])
def test_each_group_has_32_conditioning_then_32_extinction_trials(group, conditioning, extinction):
    inputs, targets, phases = schedule(group)
    assert inputs.shape == (64, 2) and targets.shape == (64, 1) and len(phases) == 64
    assert phases == ["conditioning"] * 32 + ["extinction"] * 32
    assert (inputs[:32] == torch.tensor(conditioning, dtype=DT)).all()      # (L, N), target 1
    assert (targets[:32] == 1).all()
    assert (inputs[32:] == torch.tensor(extinction, dtype=DT)).all()        # target 0
    assert (targets[32:] == 0).all()


class RecordingLearner:
    """Records what a task asks of a learner; predicts a constant."""
    def __init__(self, members):
        self.members, self.calls = members, []

    def learn(self, s, t, mask=None, trace=None):
        self.calls.append(("learn", s.clone(), t.clone()))
        return torch.zeros(self.members, dtype=DT)

    def predict(self, s):
        self.calls.append(("predict", s.clone(), None))
        return torch.full((self.members, s.shape[-2], 1), float(len(self.calls)), dtype=DT)


@pytest.mark.parametrize("group", GROUPS)
def test_a_session_learns_every_trial_for_every_member_and_only_reads_the_test(group):
    cfg = Overshadowing.Config.model_validate({"group": group}).model_dump()
    task = Overshadowing(cfg, seeds=[3, 4, 5], device="cpu", dtype=DT)
    learner = RecordingLearner(3)
    columns = task.play(0, learner)
    kinds = [kind for kind, _, _ in learner.calls]
    assert kinds == ["learn"] * 32 + ["predict"] + ["learn"] * 32 + ["predict"]
    inputs, targets, _ = schedule(group)
    learned = [(s, t) for kind, s, t in learner.calls if kind == "learn"]
    for k, (s, t) in enumerate(learned):
        assert s.shape == (3, 1, 2) and t.shape == (3, 1, 1)
        assert (s == inputs[k]).all() and (t == targets[k]).all()              # the same for every member
    for kind, s, _ in learner.calls:
        if kind == "predict":
            assert s.tolist() == [[0.0, 1.0]]                                  # N alone
    # The test is read after extinction, the other column after conditioning.
    assert columns["fear_to_N"].tolist() == [66.0] * 3
    assert columns["fear_to_N_conditioned"].tolist() == [33.0] * 3


def test_the_group_must_be_one_of_the_three():
    with pytest.raises(ConfigError, match="group"):
        load_experiment(CONFIG, overrides=["config.data.group=L+"])


# ---------------------------------------------------------------------------------------------
# The model and the grid
# ---------------------------------------------------------------------------------------------
def members_of(profile=None, overrides=()):
    return [m for trial in load_experiment(CONFIG, profile, overrides).trials for m in trial["members"]]


def test_the_full_grid_is_3_groups_by_64_lr_triples_by_8_seeds_by_2_rules_per_init_std():
    experiment = load_experiment(CONFIG)
    members = [m for trial in experiment.trials for m in trial["members"]]
    assert len(members) == 3 * 64 * 8 * 2 * 4
    lrs = {json.dumps(m["optimizer"]["lr"]) for m in members}
    assert len(lrs) == 64
    rates = {1.0, 0.1, 0.01, 0.001}
    assert {(lr[0], lr[1][0][0], lr[1][0][1]) for lr in map(json.loads, lrs)} == {
        (a, b, c) for a in rates for b in rates for c in rates}
    stds = {m["model"]["init"][1]["std"] for m in members}
    assert stds == {0.01, 0.05, 0.1, 0.5}
    first = members[0]
    assert first["pc"] == {"T": 200, "inference_lr": 0.5, "x_lr_discount": 0.5, "update_p_at": "last",
                            "freeze_x_at": None, "fused": False}
    assert first["model"]["init"][0] == {"name": "constant", "value": 1.0}
    assert {m["seed"] for m in members} == set(range(8))
    assert len(experiment.trials) == 6                          # one per (rule, group)


def test_the_network_is_cue_specific_perception_then_a_positive_linear_readout():
    member = members_of("quick")[0]
    params = engine.initial_params([member], DT, "cpu")
    assert torch.equal(params.weights[0][0], torch.eye(2, dtype=DT))           # w_L = w_N = 1, no crossing
    m = params.weights[1][0]
    assert m.shape == (1, 2) and (m > 0).all() and (m - 0.1).abs().max() < 0.1
    s = torch.tensor([[0.3, 0.7]], dtype=DT)
    out = engine.predict(params, s, engine.ACTIVATIONS["identity"])            # fear = m_L L w_L + m_N N w_N
    assert out[0, 0, 0].item() == pytest.approx(0.3 * m[0, 0].item() + 0.7 * m[0, 1].item(), rel=1e-12)


def test_a_seed_gives_the_same_initial_weights_in_every_group_lr_triple_and_rule():
    """The groups are the same animals' networks under different schedules (FIGURES.md)."""
    by_seed = defaultdict(list)
    for trial in load_experiment(CONFIG).trials:
        members = trial["members"]
        params = engine.initial_params(members, DT, "cpu")
        for i, member in enumerate(members):
            key = (member["seed"], member["model"]["init"][1]["std"])
            by_seed[key].append([w[i] for w in params.weights])
    assert len(by_seed) == 8 * 4
    for key, weights in by_seed.items():
        assert len(weights) == 3 * 64 * 2
        for other in weights[1:]:
            assert all(torch.equal(a, b) for a, b in zip(weights[0], other)), key
    # ... while different seeds differ.
    m = [by_seed[(seed, 0.01)][0][1] for seed in range(8)]
    assert len({tuple(w.flatten().tolist()) for w in m}) == 8


# ---------------------------------------------------------------------------------------------
# Hand-derived properties of the two rules on this model
# ---------------------------------------------------------------------------------------------
LRS = [[1.0, [[1.0, 1.0]]], [0.1, [[0.001, 1.0]]], [0.001, [[0.1, 0.01]]]]


def session(rule, group, lrs=LRS, seeds=(0, 1, 2), **data):
    """Train one session of the packed members; returns (columns, final weights [w, m])."""
    base = members_of(overrides=[f"config.rule={rule}", f'config.data.group="{group}"', "config.seed=0",
                                 "config.optimizer.lr=0.1", "config.model.init.1.std=0.01"])[0]
    members = [{**base, "seed": seed, "optimizer": {**base["optimizer"], "lr": lr},
                "data": {**base["data"], **data}} for seed in seeds for lr in lrs]
    rows = {}
    run = engine.train(members, 1, lambda r, done: rows.update(r))
    return rows, [w.clone() for w in run.params.weights]


def test_bp_extinction_of_L_alone_leaves_the_N_pathway_unchanged_so_there_is_no_recovery():
    """BP on (L, N) = (1, 0), target 0: h_N = N w_N = 0, so dLoss/dm_N = -e h_N = 0 and
    dLoss/dw_N = -e m_N N = 0; extinction on (0, 0) (group LN+) has zero error. Hence after either
    extinction N's pathway is the one conditioning left, and the fear to N is the same exactly."""
    light, light_w = session("bp", "LN+,L-")
    none, none_w = session("bp", "LN+")
    conditioned, conditioned_w = session("bp", "LN+,L-", extinction_trials=0)
    assert light["fear_to_N"] == none["fear_to_N"] == conditioned["fear_to_N"]     # bit for bit
    for weights in (light_w, none_w):
        assert torch.equal(weights[0][:, 1, 1], conditioned_w[0][:, 1, 1])       # w_N
        assert torch.equal(weights[1][:, 0, 1], conditioned_w[1][:, 0, 1])       # m_N
    assert torch.equal(none_w[1], conditioned_w[1])                              # (0, 0) changes nothing
    assert (light_w[1][:, 0, 0] < conditioned_w[1][:, 0, 0]).all()               # L's own pathway is extinguished


@pytest.mark.parametrize("rule", ["pc", "bp"])
@pytest.mark.parametrize("group", ["N+", "LN+"])
def test_extinction_without_cues_changes_nothing(rule, group):
    rows, _ = session(rule, group)
    assert rows["fear_to_N"] == rows["fear_to_N_conditioned"]


def test_pc_extinction_of_L_raises_m_N_but_not_w_N_so_fear_to_N_recovers():
    """PC: with the output clamped to 0 the inferred h_N goes negative although N = 0, so m_N takes
    a step -lr (mu_out - t) h_N > 0; w_N's step (x_N - mu_N) N is 0."""
    light, light_w = session("pc", "LN+,L-")
    _, conditioned_w = session("pc", "LN+,L-", extinction_trials=0)
    assert torch.equal(light_w[0][:, 1, 1], conditioned_w[0][:, 1, 1])           # w_N
    assert (light_w[1][:, 0, 1] > conditioned_w[1][:, 0, 1]).all()               # m_N grows
    assert all(a > b for a, b in zip(light["fear_to_N"], light["fear_to_N_conditioned"]))


# ---------------------------------------------------------------------------------------------
# The figure's reading of the rows
# ---------------------------------------------------------------------------------------------
def test_learning_rates_and_init_std_are_read_from_the_flattened_config():
    assert figures.learning_rates("[0.1, [[0.001, 1.0]]]") == (0.1, 0.001, 1.0)
    assert figures.learning_rates(0.5) == (0.5, 0.5, 0.5)
    init = '[{"name": "constant", "value": 1.0}, {"name": "abs_normal", "mean": 0.1, "std": 0.05}]'
    assert figures.init_std(init) == 0.05


def test_the_data_are_five_rats_per_group_under_the_csv_names():
    data = figures.load_data()
    assert data.groupby("group").size().to_dict() == {"N+": 5, "LN+": 5, "LN+,L-": 5}
    means = data.groupby("group")["fear_to_N"].mean()
    assert means.round(1).to_dict() == {"N+": 44.4, "LN+": 25.8, "LN+,L-": 43.1}


# ---------------------------------------------------------------------------------------------
# End to end: the quick profile through main.py and analysis_v1.py
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_quick_profile_shows_pc_recovery_and_no_bp_recovery(tmp_path, monkeypatch):
    from quick import reported
    from test_end_to_end import run_and_analyse
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows, summary, out = run_and_analyse("fear_conditioning/fear_conditioning", tmp_path,
                                         ["fear_conditioning", "fear_conditioning_init_std"])
    assert not rows["fear_to_N"].isna().any()
    # BP: the two extinction schedules give the same fear to N, run by run.
    raw = rows.pivot_table(index=["rule", "seed", "optimizer.lr", "model.init"], columns="data.group",
                           values="fear_to_N")
    np.testing.assert_array_equal(raw.loc["bp", "LN+,L-"], raw.loc["bp", "LN+"])
    assert (raw.loc["pc", "LN+,L-"] > raw.loc["pc", "LN+"]).all()
    # The fitted panel: PC overshadows and recovers by far more than its seed spread; BP does not recover.
    points = pd.read_csv(out / "source_data" / "fear_conditioning-quick.csv")
    # The summary's numbers are the source data's means.
    for source, group in (("PC", "LN+,L-"), ("BP", "LN+"), ("Data", "N+")):
        picked = points[(points["source"] == source) & (points["group"] == group)]["fear_to_N_fitted"]
        assert reported(summary, "fear_conditioning", f"{source} {group} fear to N") == pytest.approx(
            picked.mean(), abs=5e-4)
    model = points[points["source"] != "Data"]
    fitted = model.pivot_table(index=["source", "seed"], columns="group", values="fear_to_N_fitted")
    for rule, min_recovery in (("PC", 8.0), ("BP", None)):
        gap = fitted.loc[rule, "LN+,L-"] - fitted.loc[rule, "LN+"]
        shadow = fitted.loc[rule, "N+"] - fitted.loc[rule, "LN+"]
        assert shadow.mean() > 5.0 + 3 * shadow.sem()
        if min_recovery is None:
            assert gap.abs().max() < 1e-9
        else:
            assert gap.mean() > min_recovery + 3 * gap.sem()
    # Refitted per init_std (the seed spread grows with init_std): PC still recovers, BP never does.
    robust = pd.read_csv(out / "source_data" / "fear_conditioning_init_std-quick.csv")
    robust = robust[robust["source"] != "Data"].pivot_table(index=["source", "init_std", "seed"],
                                                            columns="group", values="fear_to_N_fitted")
    recovery = robust["LN+,L-"] - robust["LN+"]
    assert len(recovery.loc["PC"].groupby("init_std")) == 2
    assert (recovery.loc["PC"].groupby("init_std").mean() > 0).all()
    assert recovery.loc["BP"].abs().max() < 1e-9
