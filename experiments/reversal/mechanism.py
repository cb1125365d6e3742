"""The mechanism behind Fig. 6c (mechanism.yaml, one row per trial): the output weights over the session,
and the option values during inference on punished trials, split by the signs of the final output
weights."""
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis_utils import Comparison, Panel
from experiments.reversal.stats import RULE_COLORS, RULES

EXAMPLE_SEEDS = 4                    # members whose weights are drawn one by one
LATE_TRIALS = (64, 127)              # the punished trials whose inference is averaged (the measured ones)


def mechanism(df):
    """Output weights over the session, and the option values during inference on punished trials."""
    df = df.assign(trial=df["iteration"] + 1)
    return [weights_panel(df), inference_panel(df)]


def rules_in(df):
    """The rules the rows hold, in RULES order."""
    return [r for r in RULES if r in set(df["rule"])]


def opposite_signs(df):
    """Per row: True where the two output weights have opposite signs."""
    return df["weight_2_0"] * df["weight_2_1"] < 0


def final_signs(df):
    """Per (rule, seed): True where the output weights end with opposite signs."""
    last = df[df["trial"] == df["trial"].max()]
    return last.set_index(["rule", "seed"]).eval("weight_2_0 * weight_2_1 < 0").rename("opposite")


# ---------------------------------------------------------------------------------------------
# The output weights over the session
# ---------------------------------------------------------------------------------------------
def weights_panel(df, examples=EXAMPLE_SEEDS):
    """A few members' output weights per rule, and the median output-weight size of all members."""
    rules = rules_in(df)
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(5.2 * (len(rules) + 1), 4.8))
    seeds = sorted(df["seed"].unique())[:examples]
    for ax, rule in zip(axes, rules):
        example_weights(ax, df, rule, seeds, legend=rule == rules[0])
    axes[0].legend(fontsize=9)
    shared = (min(ax.get_ylim()[0] for ax in axes[:-1]), max(ax.get_ylim()[1] for ax in axes[:-1]))
    for ax in axes[:-1]:
        ax.set_ylim(shared)
    summary = weight_sizes(df)
    changed = sign_changes(df)
    ax = axes[-1]
    for rule in rules:
        part = summary[summary["rule"] == rule]
        ax.plot(part["trial"], part["median"], color=RULE_COLORS[rule], label=RULES[rule])
        ax.fill_between(part["trial"], part["q25"], part["q75"], color=RULE_COLORS[rule], alpha=0.25)
    ax.set_yscale("log")
    ax.set(xlabel="trial", ylabel="output-weight size (median, IQR)", title="all seeds")
    ax.legend(fontsize=10)
    fig.tight_layout()
    comparisons = [c for rule in rules for c in weight_comparisons(rule, summary[summary["rule"] == rule], changed)]
    return Panel("fig6c_weights", fig, summary.assign(rule=summary["rule"].map(RULES)), comparisons)


def example_weights(ax, df, rule, seeds, legend):
    """The two output weights of each example seed after every trial (solid: option 0, dashed: 1)."""
    colors = plt.get_cmap("tab10")
    for i, seed in enumerate(seeds):
        member = df[(df["rule"] == rule) & (df["seed"] == seed)].sort_values("trial")
        ax.plot(member["trial"], member["weight_2_0"], color=colors(i), lw=1.5,
                label=f"seed {seed}" if legend else None)
        ax.plot(member["trial"], member["weight_2_1"], color=colors(i), lw=1.5, ls="--")
    ax.axhline(0, color="k", lw=0.8)
    ax.set(xlabel="trial", ylabel="output weight after the trial",
           title=f"{RULES[rule]}, seeds {seeds[0]}–{seeds[-1]}\n(solid: option 0, dashed: option 1)")


def weight_sizes(df):
    """Per rule and trial: the median and quartiles of the output-weight size (rms of the two), the
    fraction of members with opposite output weights, and the member count."""
    return (df.assign(size=np.sqrt((df["weight_2_0"] ** 2 + df["weight_2_1"] ** 2) / 2), opposite=opposite_signs(df))
            .groupby(["rule", "trial"])
            .agg(median=("size", "median"), q25=("size", lambda v: v.quantile(0.25)),
                 q75=("size", lambda v: v.quantile(0.75)), opposite=("opposite", "mean"),
                 members=("size", "size"))
            .reset_index())


def sign_changes(df):
    """Per rule: the fraction of members whose sign pattern differs between the first and last trial."""
    first, last = df["trial"].min(), df["trial"].max()
    pattern = (df[df["trial"].isin([first, last])].assign(opposite=opposite_signs)
               .pivot_table(index=["rule", "seed"], columns="trial", values="opposite"))
    return (pattern[first] != pattern[last]).groupby("rule").mean()


def weight_comparisons(rule, part, changed):
    """The output-weight size and sign pattern after the first and the last trial."""
    label, start, end = RULES[rule], part.iloc[0], part.iloc[-1]
    return [
        Comparison(f"{label} median output-weight size (rms of the two) after trial 128 "
                   f"(IQR {end['q25']:.3f}..{end['q75']:.3f})", end["median"],
                   "PC: large" if rule == "pc" else "BP: near 0"),
        Comparison(f"{label} median output-weight size after trial 1", start["median"], "–"),
        Comparison(f"{label} fraction of members with opposite output weights after trial 1", start["opposite"], "–"),
        Comparison(f"{label} fraction of members with opposite output weights after trial 128", end["opposite"],
                   "PC: opposite" if rule == "pc" else "–"),
        Comparison(f"{label} fraction of members whose output-weight sign pattern differs "
                   f"between trials 1 and 128", changed[rule], "–")]


# ---------------------------------------------------------------------------------------------
# Inference on punished trials
# ---------------------------------------------------------------------------------------------
def trace_steps(df):
    """The inference steps the trace columns stand for (from the config column data.trace_steps)."""
    steps = json.loads(df["data.trace_steps"].iloc[0])
    return np.asarray(steps)


def inference_panel(df):
    """Option values predicted from the hidden node during inference on punished trials 64-127,
    relative to the feed-forward values (step 0): chosen vs unchosen option, split by whether the
    member's output weights end with opposite signs."""
    steps = trace_steps(df)
    punished, chosen, unchosen = value_changes(df, steps)
    rules = rules_in(df)
    fig, axes = plt.subplots(1, len(rules) + 1, figsize=(5.2 * (len(rules) + 1), 4.8))
    rows, comparisons = [], []
    for ax, rule in zip(axes[1:], rules):
        rule_rows, rule_comparisons = inference_lines(ax, rule, punished, chosen, unchosen, steps)
        rows += rule_rows
        comparisons += rule_comparisons
    example_traces(axes[0], df, steps, rules[0])
    fig.tight_layout()
    return Panel("fig6c_inference", fig, pd.DataFrame(rows), comparisons)


def inference_lines(ax, rule, punished, chosen, unchosen, steps):
    """Draw one rule's mean value changes over the inference steps, chosen and unchosen option, per
    sign pattern of the final output weights; returns its source-data rows and comparisons."""
    rows, comparisons = [], []
    for opposite, color in ((True, "tab:purple"), (False, "tab:gray")):
        pick = ((punished["rule"] == rule) & (punished["opposite"] == opposite)).to_numpy()
        if not pick.any():
            continue
        name = "opposite" if opposite else "same sign"
        for option, values, style in (("chosen", chosen, "-"), ("unchosen", unchosen, "--")):
            mean = values[pick].mean(0)
            ax.plot(steps + 1, mean, color=color, ls=style, marker=".", label=f"{option}, {name} ({pick.sum()} trials)")
            rows += [{"rule": RULES[rule], "output_weights": name, "option": option, "step": int(k),
                      "value_change": float(v), "trials": int(pick.sum())} for k, v in zip(steps, mean)]
            comparisons.append(Comparison(
                f"{RULES[rule]} {name}: mean change of the {option} option's value by the end of "
                f"inference on punished trials 64-127", mean[-1],
                "PC opposite: unchosen rises" if option == "unchosen" and rule == "pc" and opposite else "–"))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xscale("log")
    ax.set(xlabel="inference step + 1", ylabel="value − feed-forward value",
           title=f"{RULES[rule]}: punished trials 64–127")
    ax.legend(fontsize=8)
    return rows, comparisons


def value_changes(df, steps):
    """The punished trials 64-127 (with each member's final sign pattern, column `opposite`) and the
    chosen and unchosen options' values over the traced steps minus their step-0 values: [trials, steps]."""
    first, last = LATE_TRIALS
    punished = df[(df["reward"] < 0) & (df["trial"] >= first) & (df["trial"] <= last)]
    punished = punished.join(final_signs(df), on=["rule", "seed"])
    chosen_one = punished["choice"].to_numpy()[:, None] == 1
    v0 = punished[[f"trace_value0_{j}" for j in range(len(steps))]].to_numpy()
    v1 = punished[[f"trace_value1_{j}" for j in range(len(steps))]].to_numpy()
    chosen, unchosen = np.where(chosen_one, v1, v0), np.where(chosen_one, v0, v1)
    return punished, chosen - chosen[:, :1], unchosen - unchosen[:, :1]


def example_traces(ax, df, steps, rule):
    """The hidden node during inference on one member's punished trials from trial 64 on."""
    example = df[(df["rule"] == rule) & (df["seed"] == df["seed"].min())]
    example = example[(example["reward"] < 0) & (example["trial"] >= LATE_TRIALS[0])]
    hidden = example[[f"trace_hidden_{j}" for j in range(len(steps))]].to_numpy()
    for trace, choice in zip(hidden, example["choice"]):
        ax.plot(steps + 1, trace, color="tab:blue" if choice == 0 else "tab:red", lw=1, alpha=0.7)
    ax.set_xscale("log")
    ax.set(xlabel="inference step + 1", ylabel="hidden value node",
           title=f"{RULES[rule]} seed {df['seed'].min()}: punished trials ≥ 64\n(blue: chose 0, red: chose 1)")
