"""The reversal-learning task (Fig. 6c): its schedule against FIGURES.md, its choices, rewards,
masked learning and measurements, the mechanism figure, and the quick profile end to end."""
import csv
import math

import numpy as np
import pandas as pd
import pytest
import torch

import engine
from experiments.reversal import mechanism, stats
from experiments.reversal.task import ReversalLearning, ReversalSchedule, softmax_choice
from schema import SupervisedConfig
from utils import flatten

TASK = "experiments.reversal.task:ReversalLearning"


def task_config(**changes):
    """The task's validated data keys (its defaults, as a YAML's `data` section would give them)."""
    return ReversalLearning.Config.model_validate(changes).model_dump()


def member(rule="pc", seed=0, std=0.05, T=256, log=("weights",), **data):
    config = {"rule": rule, "seed": seed, "data": {"name": TASK, **data},
              "model": {"sizes": [1, 1, 2], "init": {"name": "normal", "std": std}},
              "pc": {"T": T, "inference_lr": 0.1, "x_lr_discount": 0.9}, "optimizer": {"lr": 0.1},
              "log": list(log), "device": "cpu", "dtype": "float64"}
    return SupervisedConfig.model_validate(config).model_dump()


def train(members, iterations=1):
    rows = {}

    def report(r, done):
        for k, v in r.items():
            rows.setdefault(k, []).extend(v)

    run = engine.train(members, iterations, report)
    return pd.DataFrame(rows), run


def frame(members, iterations=1):
    """Rows as results.load_rows gives them: the engine's columns plus each member's config."""
    rows, _ = train(members, iterations)
    configs = pd.DataFrame([flatten(m) for m in members])
    return rows.join(configs, on="member")


# ---------------------------------------------------------------------------------------------
# The schedule, driven by synthetic policies
# ---------------------------------------------------------------------------------------------
def drive(policy, members=2000, trials=128, seed=0, **changes):
    """Run the schedule with choices from `policy(schedule, t, rng)`; returns per-trial records
    [members, trials] of reversals (at the start of the trial), correct option, choice, reward."""
    cfg = task_config(**changes)
    g = torch.Generator().manual_seed(seed)
    schedule = ReversalSchedule(cfg, torch.rand(members, trials, generator=g, dtype=torch.float64),
                                torch.rand(members, trials, generator=g, dtype=torch.float64))
    rng = torch.Generator().manual_seed(seed + 1)
    out = {k: [] for k in ("reversed", "correct", "choice", "reward", "eligible_before")}
    for t in range(trials):
        out["eligible_before"].append(schedule.eligible.clone() if t > 0 else torch.zeros(members, dtype=torch.bool))
        out["reversed"].append(schedule.start_trial(t))
        out["correct"].append(schedule.correct.clone())
        choice = policy(schedule, t, rng)
        reward, _ = schedule.outcome(t, choice)
        out["choice"].append(choice)
        out["reward"].append(reward)
    return {k: torch.stack(v, 1).numpy() for k, v in out.items()}


def always_correct(schedule, t, rng):
    return schedule.correct.clone()


def at_random(schedule, t, rng):
    return (torch.rand(schedule.correct.shape, generator=rng) < 0.5).long()


def reference_reversals(choices, u_reversal, rule, criterion=4, p=0.25):
    """A plain, one-member-at-a-time implementation of the rule in FIGURES.md (and of the original's
    never-cleared success history): the trials at whose start the contingencies reverse."""
    correct, streak, eligible, out = 0, 0, False, []
    for t, choice in enumerate(choices):
        if t > 0 and eligible and u_reversal[t] < p:
            correct, eligible = 1 - correct, False
            streak = 0 if rule == "described" else streak
            out.append(t)
        streak = streak + 1 if choice == correct else 0
        eligible = eligible or streak >= criterion
    return out


@pytest.mark.parametrize("rule", ["described", "original"])
def test_the_schedule_matches_a_plain_reference_implementation_under_random_choices(rule):
    members, trials = 300, 128
    g = torch.Generator().manual_seed(3)
    u_reward, u_reversal = (torch.rand(members, trials, generator=g, dtype=torch.float64) for _ in range(2))
    choices = (torch.rand(members, trials, generator=g) < 0.5).long()
    schedule = ReversalSchedule(task_config(streak_rule=rule), u_reward, u_reversal)
    reversals = []
    for t in range(trials):
        reversals.append(schedule.start_trial(t))
        schedule.outcome(t, choices[:, t])
    reversals = torch.stack(reversals, 1).numpy()
    for m in range(members):
        assert list(np.flatnonzero(reversals[m])) == reference_reversals(
            choices[m].tolist(), u_reversal[m].tolist(), rule)


def test_no_reversal_before_four_consecutive_correct_choices():
    # Always correct: the streak completes on trial 4 (0-based 3), so trial 5 is the first that may reverse.
    r = drive(always_correct, members=4000)
    first = np.argmax(r["reversed"], 1)
    assert first.min() == 4 and r["reversed"][:, :4].sum() == 0
    # After a reversal, four new correct choices are needed: reversals are at least 4 trials apart.
    gaps = np.concatenate([np.diff(np.flatnonzero(row)) for row in r["reversed"]])
    assert gaps.min() == 4
    # Three correct choices, then a wrong one, over and over: the criterion is never met.
    r = drive(lambda s, t, g: s.correct if t % 4 < 3 else 1 - s.correct, members=500)
    assert r["reversed"].sum() == 0
    r = drive(lambda s, t, g: 1 - s.correct, members=500)
    assert r["reversed"].sum() == 0


def test_reversals_happen_with_probability_one_quarter_on_each_eligible_trial():
    r = drive(at_random, members=4000)
    eligible = r["eligible_before"]
    rate = r["reversed"][eligible].mean()
    n = eligible.sum()
    assert abs(rate - 0.25) < 4 * math.sqrt(0.25 * 0.75 / n)
    assert not r["reversed"][~eligible].any()
    # With always-correct choices the wait from eligibility to the reversal is geometric, mean 4.
    r = drive(always_correct, members=4000)
    first = np.argmax(r["reversed"], 1)
    assert np.mean(first - 3) == pytest.approx(4, abs=0.15)


def test_the_streak_restarts_after_a_reversal_only_in_the_described_rule():
    """The original never clears its success history: right after a reversal one more correct choice
    re-arms it, so reversals can be 1 trial apart; described, 4 new correct choices are needed."""
    described = drive(always_correct, members=4000, streak_rule="described")
    original = drive(always_correct, members=4000, streak_rule="original")
    gap = {name: np.concatenate([np.diff(np.flatnonzero(row)) for row in r["reversed"]])
           for name, r in (("described", described), ("original", original))}
    assert gap["described"].min() == 4 and gap["original"].min() == 1
    assert np.mean(gap["original"]) < np.mean(gap["described"]) - 2


def test_reversals_per_run_with_the_model_are_about_3_9_described_and_4_9_original():
    """FIGURES.md: ≈3.9 reversals per 128-trial run, ≈4.9 with the original's never-cleared history
    (PC at the paper's settings chooses nearly at random, so this is mostly the rule's own rate)."""
    counts = {}
    for rule in ("described", "original"):
        rows, _ = train([member("pc", seed, streak_rule=rule, T=64) for seed in range(400)])
        counts[rule] = rows["reversals"].to_numpy()
    assert abs(counts["described"].mean() - 3.9) < 0.25
    assert abs(counts["original"].mean() - 4.9) < 0.25
    assert 0.7 < (counts["original"] - counts["described"]).mean() < 1.3


# ---------------------------------------------------------------------------------------------
# Rewards, choices and masked learning inside the task
# ---------------------------------------------------------------------------------------------
class FixedValues:
    """A stand-in learner: constant option values; records what learn() was given."""

    def __init__(self, values, members):
        self.values = torch.tensor(values, dtype=torch.float64).expand(members, 1, 2)
        self.calls = []

    def predict(self, s):
        return self.values

    def learn(self, s, t, mask=None, trace=None):
        self.calls.append((t.clone(), mask.clone()))
        return torch.zeros(s.shape[0])


def run_task(values, members=3000, **changes):
    cfg = task_config(trials_per_iteration=1, **changes)
    task = ReversalLearning(cfg, list(range(members)), "cpu", torch.float64)
    learner = FixedValues(values, members)
    rows = [task.play(i, learner) for i in range(cfg["trials"])]
    table = {k: torch.stack([r[k] for r in rows], 1).numpy() for k in rows[0] if rows[0][k].dim() == 1}
    return table, learner, task


@pytest.mark.parametrize("values,temperature", [((0.0, 1.0), 1.0), ((0.3, -0.2), 1.0), ((0.0, 1.0), 2.0)])
def test_choices_follow_the_softmax_of_the_values(values, temperature):
    table, _, _ = run_task(values, temperature=temperature)
    expected = 1 / (1 + math.exp(-(values[1] - values[0]) / temperature))
    n = table["choice"].size
    assert abs(table["choice"].mean() - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    u = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    v = torch.tensor([[0.0, 0.0]] * 3, dtype=torch.float64)
    assert softmax_choice(v, u, 1.0).tolist() == [1, 0, 0]


def test_rewards_are_plus_one_with_probability_0_7_for_the_correct_option_and_0_4_for_the_other():
    table, learner, _ = run_task((0.0, 0.0))
    correct = table["choice"] == table["correct_option"]
    for chosen, p in ((correct, 0.7), (~correct, 0.4)):
        rate = (table["reward"][chosen] > 0).mean()
        assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / chosen.sum())
    assert set(np.unique(table["reward"])) == {-1.0, 1.0}
    # The target is the reward on the chosen option, and only the chosen option's error counts.
    for t, (target, mask) in enumerate(learner.calls):
        assert torch.equal(mask[:, 0].argmax(1), torch.as_tensor(table["choice"][:, t]).long())
        assert torch.equal(mask.sum(-1), torch.ones_like(mask.sum(-1)))
        assert torch.equal((target * mask).sum(-1)[:, 0], torch.as_tensor(table["reward"][:, t]))
    assert (table["correct_option"][:, 0] == 0).all()                       # option 0 starts correct


def test_draws_depend_on_the_seed_alone():
    cfg = task_config()
    a = ReversalLearning(cfg, [5, 7, 9], "cpu", torch.float64)
    b = ReversalLearning(task_config(streak_rule="original"), [9, 1, 5], "cpu", torch.float32)
    assert torch.equal(a.u_choice[0].float(), b.u_choice[2]) and torch.equal(a.u_choice[2].float(), b.u_choice[0])
    assert not torch.equal(a.u_choice[0], a.schedule.u_reward[0])


@pytest.mark.parametrize("rule", ["pc", "bp"])
def test_only_the_chosen_output_weight_learns(rule):
    rows, _ = train([member(rule, seed, T=32, trials_per_iteration=1) for seed in range(4)], iterations=40)
    for m in range(4):
        r = rows[rows["member"] == m].sort_values("iteration")
        for before, after in zip(r.iloc[:-1].itertuples(), r.iloc[1:].itertuples()):
            chosen, other = int(after.choice), 1 - int(after.choice)
            assert getattr(after, f"weight_2_{other}") == getattr(before, f"weight_2_{other}")
            assert getattr(after, f"weight_2_{chosen}") != getattr(before, f"weight_2_{chosen}")


def test_packed_members_equal_members_run_alone():
    members = [member("pc", seed, T=32, std=std) for seed, std in ((0, 0.05), (1, 0.1), (2, 0.01))]
    packed, _ = train(members)
    for m, config in enumerate(members):
        alone, _ = train([config])
        columns = [c for c in alone.columns if c not in ("member",)]
        pd.testing.assert_frame_equal(packed[packed["member"] == m][columns].reset_index(drop=True),
                                      alone[columns].reset_index(drop=True))


def test_a_session_per_iteration_equals_a_trial_per_iteration():
    whole, _ = train([member("bp", seed, std=0.1) for seed in range(5)])
    trials, _ = train([member("bp", seed, std=0.1, trials_per_iteration=1) for seed in range(5)], iterations=128)
    summed = trials.groupby("member")[list(stats.SUM_COLUMNS) + stats.COUNT_COLUMNS].sum()
    for column in summed:
        np.testing.assert_allclose(whole[column].to_numpy(), summed[column].to_numpy(), rtol=1e-12, atol=1e-12)
    last = trials[trials["iteration"] == 127].set_index("member")
    for w in stats.WEIGHTS:
        np.testing.assert_array_equal(whole[w].to_numpy(), last[w].to_numpy())


def test_the_measured_events_are_the_punished_trials_from_number_64_and_their_next_trials():
    rows, _ = train([member("bp", seed, std=0.1, trials_per_iteration=1) for seed in range(6)], iterations=128)
    for m in range(6):
        r = rows[rows["member"] == m].sort_values("iteration")
        choice, reward = r["choice"].to_numpy(), r["reward"].to_numpy()
        values = r[["value_0", "value_1"]].to_numpy()
        chosen_value = values[np.arange(128), choice.astype(int)]
        expected = {k: 0.0 for k in stats.SUM_COLUMNS}
        for p in range(63, 127):                         # 0-based punished trial (numbers 64..127)
            if reward[p] > 0:
                continue
            cell = "switch" if choice[p + 1] != choice[p] else "stay"
            expected[f"n_{cell}"] += 1
            expected[f"at_{cell}"] += chosen_value[p]
            expected[f"next_{cell}"] += chosen_value[p + 1]
            expected[f"at_sq_{cell}"] += chosen_value[p] ** 2
            expected[f"next_sq_{cell}"] += chosen_value[p + 1] ** 2
        for k, v in expected.items():
            assert r[k].sum() == pytest.approx(v, abs=1e-12)


def test_pc_inference_reaches_the_hand_derived_hidden_equilibrium_and_bp_has_none():
    """With only output a's error, E(x) = 0.5 (x - w1)^2 + 0.5 (r - w2_a x)^2 is least at
    x* = (w1 + w2_a r) / (1 + w2_a^2); BP's hidden state stays the feed-forward w1."""
    steps = [0, 255]
    for rule in ("pc", "bp"):
        rows, _ = train([member(rule, seed, trials_per_iteration=1, trace_steps=steps) for seed in range(3)],
                        iterations=20)
        for m in range(3):
            r = rows[rows["member"] == m].sort_values("iteration")
            for before, trial in zip(r.iloc[:-1].itertuples(), r.iloc[1:].itertuples()):
                w1 = before.weight_1_0
                w2 = getattr(before, f"weight_2_{int(trial.choice)}")
                assert trial.trace_hidden_0 == pytest.approx(w1, abs=1e-12)
                equilibrium = (w1 + w2 * trial.reward) / (1 + w2 ** 2) if rule == "pc" else w1
                assert trial.trace_hidden_1 == pytest.approx(equilibrium, abs=1e-6)
                assert trial.trace_value1_1 == pytest.approx(before.weight_2_1 * trial.trace_hidden_1, abs=1e-12)


def test_config_checks():
    with pytest.raises(ValueError, match="does not divide"):
        task_config(trials_per_iteration=5)
    with pytest.raises(ValueError, match="trace_steps needs"):
        task_config(trace_steps=[0, 1])
    assert ReversalLearning.iterations(task_config(trials_per_iteration=1)) == 128


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def test_statistics_of_member_sums():
    S = np.array([[1.0, 2, 3, 4], [3.0, 2, 1, 0]])
    N = np.array([[1.0, 1, 2, 2], [2.0, 2, 1, 1]])
    assert stats.pooled(S, N).tolist() == [4 / 3, 4 / 3, 4 / 3, 4 / 3]
    falls_rises, lines = stats.crossing(np.array([[0.1, -0.2, -0.1, 0.05], [0.1, -0.2, 0.2, 0.3],
                                                  [0.1, 0.2, -0.1, 0.05]]))
    assert falls_rises.tolist() == [True, True, False] and lines.tolist() == [True, False, False]
    data = stats.load_data()
    fit = stats.fit_to_data(np.array([data[c] for c in stats.CELLS]) * 2 + 1, data)
    assert (fit.scale, fit.offset, fit.sse) == pytest.approx((0.5, -0.5, 0.0), abs=1e-12)


def test_the_data_are_the_csv_rows_keyed_by_their_own_columns_whatever_their_order():
    with open(stats.DATA_FILE, newline="") as f:     # the CSV read again with the csv module
        expected = {(row["at"], row["is_switch"] == "True"): float(row["value"]) for row in csv.DictReader(f)}
    assert set(expected) == set(stats.CELLS) and list(expected) != stats.CELLS   # rows not in CELLS order
    assert stats.load_data() == pytest.approx(expected, rel=1e-14)   # pandas may round the last digit


def test_mechanism_figure_source_data_equal_the_rows_recomputed_member_by_member():
    df = pd.concat([frame([member(rule, seed, std=std, T=32, trials_per_iteration=1, trace_steps=[0, 4, 31])
                           for seed in range(3)], iterations=128)
                    for rule, std in (("pc", 0.05), ("bp", 0.1))], ignore_index=True)
    weights, inference = mechanism.mechanism(df)
    assert (weights.name, inference.name) == ("fig6c_weights", "fig6c_inference")
    label = {"pc": "PC", "bp": "BP"}
    # Weights: per rule and trial, the median rms output weight and the fraction with opposite signs.
    for row in weights.source_data.itertuples():
        rule = {v: k for k, v in label.items()}[row.rule]
        w = df[(df["rule"] == rule) & (df["iteration"] == row.trial - 1)][["weight_2_0", "weight_2_1"]].to_numpy()
        assert row.median == pytest.approx(np.median(np.sqrt((w ** 2).mean(1))), rel=1e-12)
        assert row.opposite == pytest.approx(np.mean(w[:, 0] * w[:, 1] < 0))
    assert len(weights.source_data) == 2 * 128
    # Inference: on punished trials 64..127, each option's value change from step 0, averaged per rule and
    # per sign pattern of the member's final output weights.
    expected = {}
    for r in df[(df["reward"] < 0) & (df["iteration"] >= 63) & (df["iteration"] <= 126)].itertuples():
        last = df[(df["rule"] == r.rule) & (df["seed"] == r.seed) & (df["iteration"] == 127)].iloc[0]
        signs = "opposite" if last["weight_2_0"] * last["weight_2_1"] < 0 else "same sign"
        for option, index in (("chosen", int(r.choice)), ("unchosen", 1 - int(r.choice))):
            trace = [getattr(r, f"trace_value{index}_{j}") for j in range(3)]
            expected.setdefault((label[r.rule], signs, option), []).append(np.subtract(trace, trace[0]))
    got = inference.source_data.groupby(["rule", "output_weights", "option"])
    assert set(got.groups) == set(expected)
    for key, changes in expected.items():
        part = got.get_group(key).sort_values("step")
        assert part["step"].tolist() == [0, 4, 31] and (part["trials"] == len(changes)).all()
        np.testing.assert_allclose(part["value_change"], np.mean(changes, 0), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------------------------
# The quick profile end to end
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_fig6c_quick_pc_crosses_and_grows_opposite_output_weights(tmp_path, monkeypatch):
    from quick import reported
    from test_end_to_end import run_and_analyse
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    rows, summary, out = run_and_analyse("reversal/fig6c", tmp_path,
                                         ["fig6c", "fig6c_batches", "fig6c_by_sign"])
    totals = stats.member_totals(rows)
    pc, bp = (totals[totals["rule"] == rule] for rule in ("pc", "bp"))
    assert len(pc) == len(bp) == 200 and not totals["diverged"].any()
    # The PC crossing in the seed-pooled means: stay starts above switch and ends below it, and the
    # stay line falls (at 200 seeds these hold in every 100-seed sub-batch we drew).
    means = stats.pooled(*stats.group_arrays(pc)[::2])
    assert means[0] - means[2] > 0.01 and means[3] - means[1] > 0.01 and means[0] - means[1] > 0.03
    # PC grows the output weights far beyond their initial scale (sigma 0.05); BP keeps them small.
    size = {name: np.sqrt((t["weight_2_0"] ** 2 + t["weight_2_1"] ** 2) / 2).median() for name, t in
            (("pc", pc), ("bp", bp))}
    assert size["pc"] > 0.5 and size["bp"] < 0.25
    # Where PC's output weights end with opposite signs, the switch line rises clearly.
    opposite = pc[pc["weight_2_0"] * pc["weight_2_1"] < 0]
    assert len(opposite) > 50
    m = stats.pooled(*stats.group_arrays(opposite)[::2])
    assert m[3] - m[2] > 0.03 and m[1] - m[0] < -0.02
    source = pd.read_csv(out / "source_data" / "fig6c-quick.csv")
    assert set(source["source"]) == {"PC", "BP", "Data"}
    # Each rule's fit is the least-squares line from its pooled values to the data (numpy's polyfit),
    # its fitted values lie on that line, and the summary reports them.
    data = stats.load_data()
    for rule in ("PC", "BP"):
        cells = source[source["source"] == rule]
        target = [data[(at, switch)] for at, switch in zip(cells["at"], cells["is_switch"])]
        scale, offset = np.polyfit(cells["raw_pooled"], target, 1)
        assert (cells["scale"].iloc[0], cells["offset"].iloc[0]) == pytest.approx((scale, offset), rel=1e-9)
        np.testing.assert_allclose(cells["value"], scale * cells["raw_pooled"] + offset, rtol=1e-9)
        assert reported(summary, "fig6c", f"{rule} fitted w") == pytest.approx(scale, abs=5e-4)
        stay = cells[(cells["at"] == "at_punish") & ~cells["is_switch"]]["value"].iloc[0]
        assert reported(summary, "fig6c", f"{rule} at_punish stay (fitted") == pytest.approx(stay, abs=5e-4)
    assert {"seed_ci_low", "seed_ci_high", "event_sem", "raw_pooled"} <= set(source.columns)
