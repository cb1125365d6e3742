"""The sensorimotor experiment (Fig. 5f): the Heald et al. (2021) session against FIGURES.md, the
signed single-trial-learning read-out, the cue-specific model, the fit, and the quick profile end to end."""
from collections import Counter
import json
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

import engine  # noqa: E402
from experiments.sensorimotor import figures  # noqa: E402
from experiments.sensorimotor.task import (  # noqa: E402
    CHANNEL, FIELD, NULL, TRIPLET_CHANNEL, TRIPLET_EXPOSURE, TYPES, HealdTriplets, participant,
    schedule_generator, single_trial_learning)
from loader import load_experiment  # noqa: E402

DEFAULT = HealdTriplets.Config().model_dump()
ORIGINAL = {**DEFAULT, "training_triplets": "washout"}
SEEDS = range(12)


def session(seed, cfg=DEFAULT):
    return participant(cfg, schedule_generator(seed))


def trials(s, start=0, stop=None):
    """(kind, cue, field) of each trial in [start, stop)."""
    return list(zip(s.kinds[start:stop].tolist(), s.cues[start:stop].tolist(), s.fields[start:stop].tolist()))


def washout_at(s, i):
    """The length of the run of null trials starting at i."""
    n = 0
    while i + n < len(s.kinds) and s.kinds[i + n] == NULL:
        n += 1
    return n


def training_blocks(s):
    """Split the training phase into blocks; per block the parts FIGURES.md names, checked as we go:
    (long washout length, short washout length, first exposure)."""
    i, blocks = 0, []
    while i < s.training_trials:
        assert sorted(trials(s, i, i + 2)) == [(CHANNEL, 0, 0), (CHANNEL, 1, 0)]
        i += 2
        for _ in range(4):                                     # 4 shuffled sets of 4 x 1+ and 4 x 2-
            assert Counter(trials(s, i, i + 8)) == {(FIELD, 0, 1): 4, (FIELD, 1, -1): 4}
            i += 8
        assert sorted(trials(s, i, i + 2)) == [(CHANNEL, 0, 0), (CHANNEL, 1, 0)]
        i += 2
        lengths, exposures = [], []
        for _ in range(2):
            n = washout_at(s, i)
            assert Counter(s.cues[i:i + n].tolist()) == {0: n // 2, 1: n // 2}   # half per cue
            lengths.append(n)
            i += n
            first, exposure, second = trials(s, i, i + 3)
            assert first == second == (TRIPLET_CHANNEL, 0, 0)  # channel trials of a triplet: cue 1
            assert exposure[0] == TRIPLET_EXPOSURE
            exposures.append(exposure[1:])
            i += 3
        assert sorted(exposures) == [(0, 1), (1, -1)]         # "1+" and "2-", one each
        blocks.append((*lengths, exposures[0]))
    assert i == s.training_trials
    return blocks


def drawn_without_replacement(draws, pool):
    """Each consecutive run of len(pool) draws is a permutation of the pool; a last partial run has
    no repeats."""
    for start in range(0, len(draws), len(pool)):
        chunk = draws[start:start + len(pool)]
        assert len(set(chunk)) == len(chunk) and set(chunk) <= set(pool), draws
    return True


# ---------------------------------------------------------------------------------------------
# The session's structure (FIGURES.md, sensorimotor)
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_a_participant_has_1584_training_trials_of_the_published_kinds(seed):
    s = session(seed)
    assert s.training_trials == 1584
    kinds = Counter(trials(s, 0, s.training_trials))
    assert kinds[(CHANNEL, 0, 0)] == kinds[(CHANNEL, 1, 0)] == 48
    assert kinds[(FIELD, 0, 1)] == kinds[(FIELD, 1, -1)] == 384
    assert kinds[(NULL, 0, 0)] + kinds[(NULL, 1, 0)] == 576
    assert kinds[(TRIPLET_EXPOSURE, 0, 1)] + kinds[(TRIPLET_EXPOSURE, 1, -1)] == 48
    assert kinds[(TRIPLET_CHANNEL, 0, 0)] == 96
    assert sum(kinds.values()) == 1584


@pytest.mark.parametrize("seed", SEEDS)
def test_training_blocks_follow_the_published_order_and_washouts_are_drawn_without_replacement(seed):
    blocks = training_blocks(session(seed))
    assert len(blocks) == 24
    assert drawn_without_replacement([b[0] for b in blocks], [14, 16, 18])
    assert drawn_without_replacement([b[1] for b in blocks], [6, 8, 10])


def test_the_first_exposure_of_a_block_is_drawn_at_random():
    firsts = Counter(b[2] for seed in SEEDS for b in training_blocks(session(seed)))
    assert set(firsts) == {(0, 1), (1, -1)} and min(firsts.values()) > 0.3 * sum(firsts.values())


def test_the_test_phase_has_222_224_or_226_trials_and_each_triplet_type_once_per_block():
    lengths = set()
    for seed in SEEDS:
        s = session(seed)
        lengths.add(len(s.cues) - s.training_trials)
        i, draws = s.training_trials, []
        for block in range(8):
            seen = []
            for _ in range(4):
                n = washout_at(s, i)
                assert Counter(s.cues[i:i + n].tolist()) == {0: n // 2, 1: n // 2}
                draws.append(n)
                i += n
                first, (kind, cue, field), second = trials(s, i, i + 3)
                assert first == second == (TRIPLET_CHANNEL, 0, 0) and kind == TRIPLET_EXPOSURE
                k = TYPES.index(next(t for t in TYPES if t[1:] == (cue, field)))
                assert s.test_triplets[block, k] == i
                seen.append(k)
                i += 3
            assert sorted(seen) == [0, 1, 2, 3]
        assert i == len(s.cues)
        assert drawn_without_replacement(draws, [2, 4, 6])   # one pool over all 32 draws
    assert lengths <= {222, 224, 226} and len(lengths) > 1


def test_the_same_seed_gives_the_same_participant_and_other_seeds_differ():
    a, b, c = session(3), session(3), session(4)
    assert all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("cues", "fields", "kinds", "test_triplets"))
    assert not np.array_equal(a.cues, c.cues)


def test_a_members_inputs_and_targets_do_not_depend_on_the_other_members_of_its_trial():
    alone = HealdTriplets(DEFAULT, [5], "cpu", torch.float32)
    packed = HealdTriplets(DEFAULT, [7, 5, 5, 2], "cpu", torch.float32)
    n = alone.inputs.shape[1]
    for m in (1, 2):
        assert torch.equal(packed.inputs[m, :n], alone.inputs[0])
        assert torch.equal(packed.targets[m, :n], alone.targets[0])
        assert torch.equal(packed.first_reads[m], alone.first_reads[0])


def test_inputs_are_one_hot_cues_and_targets_one_hot_fields():
    task = HealdTriplets(DEFAULT, [0], "cpu", torch.float32)
    s = session(0)
    cue = torch.as_tensor(s.cues)
    assert torch.equal(task.inputs[0], torch.nn.functional.one_hot(cue, 2).float())
    expected = torch.zeros(len(s.cues), 2)
    expected[torch.as_tensor(s.fields) == 1, 0] = 1      # "+" -> (1, 0)
    expected[torch.as_tensor(s.fields) == -1, 1] = 1     # "-" -> (0, 1); null and channel -> (0, 0)
    assert torch.equal(task.targets[0], expected)


def test_the_original_codes_training_reruns_the_washout_in_place_of_each_triplet():
    for seed in range(4):
        real, original = session(seed), session(seed, ORIGINAL)
        assert original.training_trials == 2016
        kinds = Counter(original.kinds[:2016].tolist())
        assert kinds[TRIPLET_CHANNEL] == kinds[TRIPLET_EXPOSURE] == 0 and kinds[NULL] == 2 * 576
        # the draws are shared: the same test phase, and each washout followed by itself again
        assert np.array_equal(real.cues[1584:], original.cues[2016:])
        assert np.array_equal(real.test_triplets - 1584, original.test_triplets - 2016)
        i = 36                                         # the first block's washouts
        n = washout_at(real, i)
        m = washout_at(real, i + n + 3)
        assert washout_at(original, i) == 2 * n + 2 * m  # both washouts, each run twice, no triplets
        assert np.array_equal(original.cues[i:i + n], real.cues[i:i + n])
        assert np.array_equal(original.cues[i + n:i + 2 * n], real.cues[i:i + n])
        j = i + n + 3
        assert np.array_equal(original.cues[i + 2 * n:i + 2 * n + m], real.cues[j:j + m])
        assert np.array_equal(original.cues[i + 2 * n + m:i + 2 * (n + m)], real.cues[j:j + m])


# ---------------------------------------------------------------------------------------------
# The signed single-trial learning read-out
# ---------------------------------------------------------------------------------------------
class ScriptedLearner:
    """A stand-in with a known response: the cue-1 read-out d = o+ - o- (o = (d/2, -d/2)) moves by
    field * gain[cue] on an exposure and by `channel_step` on a zero-target trial with cue 1."""

    def __init__(self, members, gain, channel_step):
        self.d = torch.zeros(members)
        self.gain, self.channel_step = torch.tensor(gain), channel_step

    def predict(self, s):
        d = self.d[:, None] * s[:, :, 0]                 # read-outs are taken on cue-1 trials
        return torch.stack([d / 2, -d / 2], -1)

    def learn(self, s, t, mask=None, trace=None):
        field = t[:, 0, 0] - t[:, 0, 1]
        exposure = field * (s[:, 0] * self.gain).sum(-1)
        self.d += torch.where(field != 0, exposure, self.channel_step * s[:, 0, 0])
        return torch.zeros(len(self.d))


def test_single_trial_learning_is_the_change_between_the_reads_signed_toward_the_field():
    first = torch.tensor([[[0.0, 1.0, 2.0, 3.0], [1.0, 1.0, 1.0, 1.0]]])      # [M=1, 2 blocks, 4]
    second = torch.tensor([[[0.5, 1.2, 1.0, 3.1], [2.0, 1.0, 0.0, 2.0]]])
    signs = torch.tensor([1.0, 1.0, -1.0, -1.0])
    expected = torch.tensor([[(0.5 + 1.0) / 2, (0.2 + 0.0) / 2, (1.0 + 1.0) / 2, (-0.1 + -1.0) / 2]])
    torch.testing.assert_close(single_trial_learning(first, second, signs), expected)


def test_each_read_comes_before_its_own_trials_learning_and_is_signed_toward_the_exposure():
    """With exposure gains (0.3, 0.1) and +0.05 per cue-1 channel trial, a triplet's reads see its
    first channel trial and its exposure, not its second channel trial: "+" gives gain + 0.05 and
    "-" gives gain - 0.05, whatever happened before."""
    task = HealdTriplets(DEFAULT, [0, 1, 2], "cpu", torch.float32)
    learner = ScriptedLearner(3, gain=(0.3, 0.1), channel_step=0.05)
    out = task.play(0, learner)["single_trial_learning"]
    expected = torch.tensor([0.3 + 0.05, 0.1 + 0.05, 0.3 - 0.05, 0.1 - 0.05]).expand(3, 4)
    torch.testing.assert_close(out, expected)


def test_a_session_is_one_iteration():
    task = HealdTriplets({**DEFAULT, "training_blocks": 0, "test_blocks": 1}, [0], "cpu", torch.float32)
    with pytest.raises(ValueError, match="one iteration"):
        task.play(1, ScriptedLearner(1, (0, 0), 0))


# ---------------------------------------------------------------------------------------------
# The model of fig5f.yaml
# ---------------------------------------------------------------------------------------------
def test_the_full_grid_is_20736_runs_in_two_trials_per_rule():
    experiment = load_experiment("experiments/sensorimotor/fig5f.yaml")
    members = [m for t in experiment.trials for m in t["members"]]
    assert len(members) == 6 * 12 * 6 * 24 * 2 == 20736
    per_rule = Counter(t["members"][0]["rule"] for t in experiment.trials)
    assert per_rule == {"pc": 2, "bp": 2}
    m = members[0]
    assert m["model"]["sizes"] == [2, 2, 2] and m["model"]["masks"][0] == [[1, 0], [0, 1]]
    assert (m["pc"]["T"], m["pc"]["inference_lr"], m["pc"]["x_lr_discount"]) == (256, 0.1, 0.9)
    assert len({json.dumps(m["optimizer"]["lr"]) for m in members}) == 12 * 6


def one_member(rule, std=0.5, lr=(0.1, 0.1)):
    experiment = load_experiment("experiments/sensorimotor/fig5f.yaml", overrides=[
        f"config.rule={rule}", "config.seed=3", f"config.model.init.std={std}", f"config.optimizer.lr={list(lr)}"])
    [trial] = experiment.trials
    return engine.PackedTraining.build(trial["members"])


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_the_input_layer_is_cue_specific_and_both_layers_start_at_init_std(rule):
    run = one_member(rule, std=0.5)
    w1, w2 = (w[0] for w in run.params.weights)
    assert w1[0, 1] == w1[1, 0] == 0 and w1[0, 0] != 0 and w1[1, 1] != 0
    assert w2.abs().min() > 0 and w2.abs().max() < 0.5 * 6
    cue2, plus = torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[1.0, 0.0]]])
    for _ in range(5):
        run.learner.learn(cue2, plus)
    assert run.params.weights[0][0, 0, 1] == run.params.weights[0][0, 1, 0] == 0


def test_a_cue_2_exposure_leaves_bps_cue_1_read_out_untouched_but_moves_pcs():
    """BP: with cue 2 the cue-1 hidden unit is silent, so neither its input nor its output weights
    get a gradient. PC: the output error recruits the cue-1 hidden value node during inference, and
    its output weights then learn toward the exposure's field."""
    cue1, cue2, plus = torch.tensor([[[1.0, 0.0]]]), torch.tensor([[[0.0, 1.0]]]), torch.tensor([[[1.0, 0.0]]])
    change = {}
    for rule in ("bp", "pc"):
        run = one_member(rule)
        # as after training: cue 1 -> "+" (1, 0), cue 2 -> "-" (0, 1)
        run.params.weights[0][0] = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        run.params.weights[1][0] = torch.tensor([[0.8, 0.1], [0.1, 0.8]])
        before = run.learner.predict(cue1)[0, 0]
        run.learner.learn(cue2, plus)
        after = run.learner.predict(cue1)[0, 0]
        change[rule] = float((after[0] - after[1]) - (before[0] - before[1]))
    assert change["bp"] == 0.0
    assert change["pc"] > 1e-3


def short_session(rule, seeds):
    """A trial of fig5f members cut short (1 training block, 2 test blocks, T = 16) for `seeds`."""
    experiment = load_experiment("experiments/sensorimotor/fig5f.yaml", overrides=[
        f"config.rule={rule}", f"config.seed={{grid_search: {list(seeds)}}}", "config.model.init.std=0.5",
        "config.optimizer.lr=[0.1, 0.05]", "config.pc.T=16",
        "config.data.training_blocks=1", "config.data.test_blocks=2"])
    [trial] = experiment.trials
    return trial["members"]


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_a_shorter_session_packed_with_longer_ones_measures_what_it_measures_alone(rule):
    members = short_session(rule, [0, 6, 1])                   # 118, 126 and 120 trials
    task = HealdTriplets(members[0]["data"], [0, 6, 1], "cpu", torch.float32)
    assert task.length == 126 and task.first_padded == 118
    s, t, mask = task.trial(119)                                # seed 0 is past its end: a no-op
    assert s[0].abs().sum() == t[0].abs().sum() == mask[0].sum() == 0 and mask[1:].min() == 1
    packed = {}
    engine.train(members, 1, lambda rows, done: packed.update(rows))
    for m, member in enumerate(members):
        alone = {}
        engine.train([member], 1, lambda rows, done: alone.update(rows))
        for i in range(4):
            key = f"single_trial_learning_{i}"
            assert packed[key][m] == pytest.approx(alone[key][0], rel=1e-5, abs=1e-7)


# ---------------------------------------------------------------------------------------------
# The figure: data keys and the fit
# ---------------------------------------------------------------------------------------------
def test_the_data_index_maps_to_the_types_whose_group_means_figures_md_gives():
    data = figures.load_data()
    assert len(data) == 96
    means = data.groupby("type")["value"].mean()
    for name, mean in {"1+": 0.227, "2+": 0.180, "1-": 0.099, "2-": 0.057}.items():
        assert means[name] == pytest.approx(mean, abs=5e-4)


def test_the_figure_and_the_task_name_the_logged_columns_alike():
    assert figures.TYPES == tuple(name for name, _, _ in TYPES)


def synthetic_rows(values, seeds=4, hidden=2):
    """Rows like the run's for rule x config, with single_trial_learning = values[(rule, lr)] plus
    seed noise of mean zero."""
    rows = []
    for (rule, lr), means in values.items():
        for seed in range(seeds):
            noise = 0.01 * (seed - (seeds - 1) / 2)
            rows.append({"rule": rule, "seed": seed, "model.init.std": 0.1, "optimizer.lr": json.dumps([lr, 0.05]),
                         "model.sizes": json.dumps([2, hidden, 2]), "diverged": False,
                         **{f"single_trial_learning_{i}": v + noise for i, v in enumerate(means)}})
    return pd.DataFrame(rows)


def test_fig5f_keeps_per_rule_the_config_whose_scaled_means_fit_the_data_best():
    data = figures.load_data().groupby("type")["value"].mean()[list(figures.TYPES)].to_numpy()
    df = synthetic_rows({("pc", 1e-3): data / 2,                 # k = 2 fits exactly
                         ("pc", 1e-4): [0.2, 0.0, 0.1, 0.0],
                         ("bp", 1e-3): [0.1, 0.1, 0.1, 0.1],
                         ("bp", 1e-4): [0.2, 0.0, 0.1, 0.0]})
    df.loc[(df["rule"] == "bp") & (df["seed"] == 0) & df["optimizer.lr"].str.startswith("[0.001"), "diverged"] = True
    [panel] = figures.fig5f(df)
    assert panel.name == "fig5f"
    points = panel.source_data
    assert list(points.columns) == ["source", "type", "value", "seed"]
    pc = points[points["source"] == "PC"].groupby("type")["value"].mean()
    assert [pc[t] for t in figures.TYPES] == pytest.approx(data)
    bp = points[points["source"] == "BP"].groupby("type")["value"].mean()
    assert bp["2+"] == pytest.approx(0) and bp["2-"] == pytest.approx(0)   # the diverged config is out
    assert len(points[points["source"] == "Data"]) == 96
    numbers = {c.quantity.split(" (")[0]: c.ours for c in panel.comparisons}
    assert numbers["PC SSE of the best config"] == pytest.approx(0, abs=1e-12)
    assert numbers["BP configs left out"] == 1


def test_fig5f_fc_fits_each_hidden_width_on_its_own():
    data = figures.load_data().groupby("type")["value"].mean()[list(figures.TYPES)].to_numpy()
    good, flat = list(data / 3), [0.1, 0.1, 0.1, 0.1]
    df = pd.concat([  # the best lr differs between the widths
        synthetic_rows({("pc", 1e-3): good, ("pc", 1e-4): flat, ("bp", 1e-3): flat, ("bp", 1e-4): good}, hidden=2),
        synthetic_rows({("pc", 1e-3): flat, ("pc", 1e-4): good, ("bp", 1e-3): good, ("bp", 1e-4): flat}, hidden=32)])
    [panel] = figures.fig5f_fc(df)
    assert panel.name == "fig5f_fc" and len(panel.figure.axes) == 6
    points = panel.source_data
    assert list(points.columns) == ["hidden", "source", "type", "value", "seed"]
    model = points[points["source"] != "Data"]
    means = model.groupby(["hidden", "source", "type"])["value"].mean()
    for width in (2, 32):
        for rule in ("PC", "BP"):
            assert [means[width, rule, t] for t in figures.TYPES] == pytest.approx(data)
    sse = [c for c in panel.comparisons if "SSE" in c.quantity]
    assert len(sse) == 4 and all(c.ours == pytest.approx(0, abs=1e-12) for c in sse)
    assert any("hidden 32: PC SSE" in c.quantity and "lr 0.0001" in c.quantity for c in sse)


# ---------------------------------------------------------------------------------------------
# The quick profiles end to end
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sensorimotor_quick_pc_learns_from_cue_2_exposures_and_bp_does_not(tmp_path, monkeypatch):
    from quick import reported
    from test_end_to_end import run_and_analyse
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows, summary, out = run_and_analyse("sensorimotor/fig5f", tmp_path, ["fig5f"])
    points = pd.read_csv(out / "source_data" / "fig5f-quick.csv")
    mean = points.groupby(["source", "type"])["value"].mean()
    for rule in ("PC", "BP"):   # the summary's numbers are the source data's seed means
        for t in ("1+", "2+", "1-", "2-"):
            assert reported(summary, "fig5f", f"{rule} {t} (seed mean") == pytest.approx(mean[rule, t], abs=5e-4)
    sem = points.groupby(["source", "type"])["value"].sem()
    # PC: the cue-2 "+" exposure moves the cue-1 read-out, clearly above zero
    assert mean["PC", "2+"] > max(0.05, 2 * sem["PC", "2+"])
    # BP: the cue-2 types stay near zero, far below what PC and the participants show
    for t in ("2+", "2-"):
        assert abs(mean["BP", t]) < 0.03
    assert mean["PC", "2+"] > mean["BP", "2+"] + 0.05
    # PC's graded order of the seed means (1+ > 2+ > 1- > 2- in the paper): the "+" types above the "-" types
    assert min(mean["PC", "1+"], mean["PC", "2+"]) > max(mean["PC", "1-"], mean["PC", "2-"])
    assert math.isfinite(rows["single_trial_learning_0"].sum())


@pytest.mark.slow
def test_sensorimotor_fc_quick_runs_both_hidden_widths_through_the_fit(tmp_path, monkeypatch):
    from test_end_to_end import run_and_analyse
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows, summary, out = run_and_analyse("sensorimotor/fig5f_fc", tmp_path, ["fig5f_fc"])
    assert len(rows) == 2 * 2 * 12 * 12                       # rules x widths x configs x participants
    points = pd.read_csv(out / "source_data" / "fig5f_fc-quick.csv")
    assert set(points["hidden"]) == {2, 32} and set(points["source"]) == {"BP", "PC", "Data"}
    assert np.isfinite(points["value"]).all()
    assert "hidden 32: PC SSE" in summary
