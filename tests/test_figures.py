"""Figure functions on synthetic results whose answers are known by construction."""
import itertools

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from analysis_utils import best_by_seed_mean  # noqa: E402
from experiments.batch_size.figures import fig4b  # noqa: E402
from experiments.search_depth.figures import figures as depth_figures  # noqa: E402


def synthetic(error, **axes):
    """Rows for every combination of `axes` (plus 2 iterations) with test_error = error(row)."""
    names = list(axes)
    rows = [dict(zip(names, values), iteration=i)
            for values in itertools.product(*axes.values()) for i in range(2)]
    df = pd.DataFrame(rows)
    df["test_error"] = df.apply(error, axis=1)
    return df


def test_best_lr_is_chosen_by_the_seed_mean_separately_per_group():
    runs = pd.DataFrame({"rule": ["pc"] * 4 + ["bp"] * 4, "lr": [1, 1, 2, 2] * 2, "seed": [0, 1] * 4,
                         "err": [0.1, 0.9, 0.4, 0.4, 0.3, 0.3, 0.2, 0.5]})
    best, chosen = best_by_seed_mean(runs, "err", ["rule"], lr="lr")
    assert dict(zip(chosen["rule"], chosen["lr"])) == {"pc": 2, "bp": 1}   # means 0.5/0.4 and 0.3/0.35
    assert len(best) == 4


def test_fig4b_plots_each_batch_size_at_its_own_tick_from_largest_to_smallest():
    # the error falls with B; lr 0.1 is best everywhere; PC sits 0.05 below BP
    value = {1: 0.6, 8: 0.4, 32: 0.2}
    df = synthetic(lambda r: value[r["data.batch_size"]] - (0.05 if r["rule"] == "pc" else 0)
                   + (0.1 if r["optimizer.lr"] == 0.2 else 0),
                   rule=["pc", "bp"], **{"data.batch_size": [1, 8, 32], "optimizer.lr": [0.1, 0.2]},
                   seed=[0, 1])
    [panel] = fig4b(df)
    ax = panel.figure.axes[0]
    ticks = [label.get_text() for label in ax.get_xticklabels()]
    assert ticks == ["32", "8", "1"]
    pc_line = next(line for line in ax.lines if len(line.get_ydata()) == 3)
    assert list(pc_line.get_ydata()) == pytest.approx([0.15, 0.35, 0.55])
    numbers = {c.quantity: c.ours for c in panel.comparisons}
    assert numbers["PC at B=1"] == pytest.approx(0.55) and numbers["BP at B=1"] == pytest.approx(0.6)


def test_search_depth_panels_select_the_best_lr_per_rule_and_depth():
    def error(r):
        best_lr = 0.5 if r["rule"] == "pc" else 0.01
        return 0.2 + 0.01 * r["model.num_layers"] + (0 if r["optimizer.lr"] == best_lr else 0.3)
    df = synthetic(error, rule=["pc", "bp"], **{"model.num_layers": [1, 2], "optimizer.lr": [0.5, 0.01]},
                   seed=[0, 1])
    panels = {p.name: p for p in depth_figures(df)}
    assert set(panels) == {"fig3f", "fig3g", "fig3h"}
    h = panels["fig3h"].source_data
    assert set(zip(h["rule"], h["lr"])) == {("pc", 0.5), ("bp", 0.01)}
    assert sorted(h["test_error"].unique()) == pytest.approx([0.21, 0.22])
    assert list(panels["fig3f"].source_data.columns) == ["rule", "num_layers", "lr", "seed", "epoch", "test_error"]


def test_concept_drift_recovery_reads_the_epochs_just_after_each_drift_but_the_first():
    from experiments.concept_drift.figures import RECOVERY, after_drifts
    # drifts every 16 epochs; the error is the epoch's distance from the last drift
    df = pd.DataFrame({"iteration": range(48), "data.drift_every": 16, "Rule": "PC"})
    df["test_error"] = df["iteration"] % 16
    kept = after_drifts(df)
    assert list(kept["iteration"]) == [*range(16, 16 + RECOVERY), *range(32, 32 + RECOVERY)]
    assert kept["test_error"].mean() == pytest.approx((RECOVERY - 1) / 2)
