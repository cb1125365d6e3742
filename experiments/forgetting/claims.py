"""The claims of Fig. 4d and 4e (FIGURES.md: forgetting), decided from the rows of fig4de.yaml."""
import pandas as pd

from claims import LR, Claim, best_lr_means, gap, lr_means

EPOCHS = 84                                     # the published panels show the first 84 epochs
TASKS = ["test_error_task_0", "test_error_task_1"]


def pooled(rows):
    """Rows of the first 84 epochs with the two tasks' errors pooled into test_error."""
    early = rows[rows["iteration"] < EPOCHS]
    return early.melt(id_vars=["rule", LR, "seed", "iteration"], value_vars=TASKS, value_name="test_error")


def gap_at_best_lr(rows):
    """BP − PC mean test error (first 84 epochs, tasks pooled), best lr each."""
    return gap(best_lr_means(pooled(rows)))


def smallest_gap_in_the_middle_lrs(rows):
    """The smallest BP − PC over the lrs from 2.5e-4 to 1e-3."""
    means = lr_means(pooled(rows))
    middle = [lr for lr in means["pc"].index if 2.5e-4 <= lr <= 1e-3]
    return min(gap(means, lr) for lr in middle) if middle else float("nan")


def late_extreme(rows, pick):
    """Per rule at its best lr: `pick` (max: the highest forgetting peak, min: the lowest trough)
    of the seed-mean error curves of either task over the second half of the first 84 epochs."""
    data = pooled(rows)
    runs = data.groupby(["rule", LR, "seed"])["test_error"].mean().groupby(["rule", LR]).mean()
    best = runs.groupby("rule").idxmin()
    out = {}
    for rule, (_, lr) in best.items():
        late = data[(data["rule"] == rule) & (data[LR] == lr) & (data["iteration"] >= EPOCHS // 2)]
        out[rule] = getattr(late.groupby(["variable", "iteration"])["test_error"].mean(), pick)()
    return pd.Series(out)


CLAIMS = [
    Claim("fig4e.best_lr", "PC learns the alternating tasks better than BP",
          "BP − PC mean error over the first 84 epochs (tasks pooled), best lr each", gap_at_best_lr,
          (0, None), paper="0.05 (0.64 vs 0.69)", seeds=21, config="forgetting/fig4de"),
    Claim("fig4e.middle_lrs", "PC is better than BP at every lr from 2.5e-4 to 1e-3",
          "smallest BP − PC over those lrs", smallest_gap_in_the_middle_lrs, (0, None),
          paper="> 0 at each", seeds=21, quick=False,
          note="the quick profile's lrs (0.025–0.1) lie outside that range", config="forgetting/fig4de"),
    Claim("fig4d.less_forgetting", "PC forgets less: its forgetting peaks stay lower",
          "BP − PC highest late forgetting peak (epochs 42–83, best lr)",
          lambda rows: gap(late_extreme(rows, "max")), (0, None), paper="≈0.05 (0.73 vs 0.78)", seeds=21,
          config="forgetting/fig4de"),
    Claim("fig4d.lower_troughs", "PC reaches lower errors on the task it is trained on",
          "BP − PC lowest late trough (epochs 42–83, best lr)",
          lambda rows: gap(late_extreme(rows, "min")), (0, None), paper="≈0.08 (0.31 vs 0.39)", seeds=21,
          quick=False, note="on the digits the troughs are equal (PC 0.100, BP 0.089)", config="forgetting/fig4de"),
]
