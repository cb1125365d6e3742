"""Figures of the forgetting experiment: Fig. 4d (error curves of both tasks) and 4e (error vs lr)."""
import matplotlib.pyplot as plt
import seaborn as sns

from analysis_utils import (Comparison, Panel, RULE_ORDER, best_by_seed_mean, per_member, rule_label,
                            rule_lineplot)

LR = "optimizer.lr"
EPOCHS = 84   # the paper's panels use the first 84 epochs
TASKS = {"test_error_task_0": "task A", "test_error_task_1": "task B"}


def long_form(df):
    """One row per (run, epoch, task) with the error on that task's test set."""
    df = rule_label(df[df["iteration"] < EPOCHS])
    keys = ["rule", "Rule", LR, "seed", "iteration"]
    data = df.melt(id_vars=keys, value_vars=list(TASKS), var_name="task", value_name="test_error")
    return data.assign(task=data["task"].map(TASKS))


def figures(df):
    data = long_form(df)
    runs = per_member(data, "test_error", ["rule", "Rule", LR, "seed"])   # both tasks pooled
    best, chosen = best_by_seed_mean(runs, "test_error", ["Rule"], lr=LR)
    return [_fig4d(data, chosen), _fig4e(runs)]


def _fig4d(data, chosen):
    """Test error of task A and task B vs epoch, per rule at its best lr."""
    curves = data.merge(chosen, on=["Rule", LR])
    fig, ax = plt.subplots(figsize=(8, 4.5))
    sns.lineplot(data=curves, x="iteration", y="test_error", hue="Rule", hue_order=RULE_ORDER,
                 style="task", errorbar=("ci", 68), seed=0, ax=ax)
    ax.set(xlabel="epoch", ylabel="test error")
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    late = curves[curves["iteration"] >= EPOCHS // 2].groupby(["Rule", "task", "iteration"])["test_error"].mean()
    comparisons = []
    for rule, troughs, peaks in (("PC", "≈0.31–0.42", "≈0.60–0.73"), ("BP", "≈0.39–0.44", "≈0.70–0.78")):
        if rule in late.index.get_level_values(0):
            comparisons.append(Comparison(f"{rule} late trough (second half)", late[rule].min(), troughs))
            comparisons.append(Comparison(f"{rule} late forgetting peak (second half)", late[rule].max(), peaks))
    source = curves.rename(columns={LR: "lr", "iteration": "epoch"})
    return Panel("fig4d", fig, source[["rule", "lr", "seed", "epoch", "task", "test_error"]], comparisons)


def _fig4e(runs):
    """Mean test error over the first 84 epochs (both tasks pooled) vs lr."""
    data = runs.rename(columns={LR: "lr"})
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    rule_lineplot(data, "lr", "test_error", ax, log_x=True)
    ax.set(xlabel="learning rate", ylabel=f"mean test error\n(first {EPOCHS} epochs)")
    means = data.groupby(["Rule", "lr"])["test_error"].mean()
    comparisons = [Comparison(f"{rule} best (lr {means[rule].idxmin():g})", means[rule].min(), paper)
                   for rule, paper in (("PC", "≈0.64 at lr 7.5e-4"), ("BP", "≈0.69 at lr 5e-4"))
                   if rule in means]
    return Panel("fig4e", fig, data[["rule", "lr", "seed", "test_error"]], comparisons)
