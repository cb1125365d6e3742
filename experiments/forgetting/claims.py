"""The claims of Fig. 4d and 4e (FIGURES.md: forgetting), decided from the rows of fig4de.yaml."""
from claims import LR, Claim, at_best_lr, gap, level, lowest

EPOCHS = 84                                     # the published panels show the first 84 epochs
TASKS = ["test_error_task_0", "test_error_task_1"]
CONFIG = "forgetting/fig4de"


def per_seed(rows):
    """Each run's error curve of either task over the first 84 epochs, by (rule, lr, task, epoch, seed)."""
    early = rows[rows["iteration"] < EPOCHS]
    curves = early.melt(id_vars=["rule", LR, "seed", "iteration"], value_vars=TASKS, var_name="task")
    return curves.set_index(["rule", LR, "task", "iteration", "seed"])["value"]


def pooled(means):
    """Mean error over the first 84 epochs, tasks pooled, per (rule, lr)."""
    return means.groupby(level=["rule", LR]).mean()


def gap_at_best_lr(means):
    """BP − PC mean test error (first 84 epochs, tasks pooled), best lr each."""
    return gap(pooled(means).groupby(level="rule").min())


def smallest_gap_in_the_middle_lrs(means):
    """The smallest BP − PC over the lrs from 2.5e-4 to 1e-3."""
    by_lr = pooled(means)
    middle = [lr for lr in level(by_lr.loc["pc"], LR) if 2.5e-4 <= lr <= 1e-3]
    return lowest(gap(by_lr, lr) for lr in middle) if middle else float("nan")


def late_extreme(pick):
    """BP − PC of `pick` (max: the highest forgetting peak, min: the lowest trough) of the seed-mean
    error curves of either task over the second half of the first 84 epochs, each rule at its best lr."""
    def measure(means):
        late = means[level(means, "iteration") >= EPOCHS // 2]
        return gap(at_best_lr(pooled(means), getattr(late.groupby(level=["rule", LR]), pick)()))
    return measure


CLAIMS = [
    Claim("fig4e.best_lr", "PC learns the alternating tasks better than BP",
          "BP − PC mean error over the first 84 epochs (tasks pooled), best lr each", gap_at_best_lr,
          (0, None), paper="0.05 (0.64 vs 0.69)", seeds=21, config=CONFIG, per_seed=per_seed),
    Claim("fig4e.middle_lrs", "PC is better than BP at every lr from 2.5e-4 to 1e-3",
          "smallest BP − PC over those lrs", smallest_gap_in_the_middle_lrs, (0, None),
          paper="> 0 at each", seeds=21, quick=False,
          note="the quick profile's lrs (0.025–0.1) lie outside that range", config=CONFIG, per_seed=per_seed),
    Claim("fig4d.less_forgetting", "PC forgets less: its forgetting peaks stay lower",
          "BP − PC highest late forgetting peak (epochs 42–83, best lr)", late_extreme("max"), (0, None),
          paper="≈0.05 (0.73 vs 0.78)", seeds=21, config=CONFIG, per_seed=per_seed),
    Claim("fig4d.lower_troughs", "PC reaches lower errors on the task it is trained on",
          "BP − PC lowest late trough (epochs 42–83, best lr)", late_extreme("min"), (0, None),
          paper="≈0.08 (0.31 vs 0.39)", seeds=21, quick=False,
          note="on the digits the troughs are equal (PC 0.100, BP 0.089)", config=CONFIG, per_seed=per_seed),
]
