"""Results -> pandas, selection helpers, the figure style, and what a figure function returns."""
from dataclasses import dataclass, field
import json
from pathlib import Path

import pandas as pd

from utils import flatten

RULE_ORDER = ["PC", "BP"]
RULE_MARKERS = {"PC": "o", "BP": "X", "TP": "s"}


def read_trial_rows(trial_dir):
    """One trial's tidy rows: its last attempt's reports, one row per member and iteration, with the
    member's flattened config as columns. Empty if the trial reported nothing."""
    trial_dir = Path(trial_dir)
    params = json.loads((trial_dir / "params.json").read_text())
    reports = [json.loads(line) for line in (trial_dir / "result.json").read_text().splitlines()
               if line.strip()] if (trial_dir / "result.json").exists() else []
    if not reports:
        return pd.DataFrame()
    last_attempt = reports[-1]["attempt"]
    frames = [pd.DataFrame(r["rows"]) for r in reports if r["attempt"] == last_attempt]
    rows = pd.concat(frames, ignore_index=True)
    configs = pd.DataFrame([flatten(m) for m in params["members"]])
    configs["member"] = range(len(configs))
    rows = rows.merge(configs, on="member", how="left")
    rows.insert(0, "trial_id", trial_dir.name)
    return rows


def collect_rows(run_path):
    """All trials of a run as one DataFrame (trial folders are those holding params.json)."""
    frames = [read_trial_rows(p.parent) for p in sorted(Path(run_path).glob("*/params.json"))]
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def load_results(run_path):
    """The run's tidy table: rows.parquet, rebuilt from the trial folders when missing."""
    run_path = Path(run_path)
    table = run_path / "rows.parquet"
    rows = pd.read_parquet(table) if table.exists() else collect_rows(run_path)
    if rows.empty:
        raise FileNotFoundError(f"no results at {run_path}; run main.py with the same -c/--profile "
                                "first (run.json there lists failed trials)")
    return rows


def rule_label(df):
    """'pc'/'bp' -> 'PC'/'BP', the labels the paper's legends use."""
    return df.assign(Rule=df["rule"].str.upper())


def best_by_seed_mean(df, metric, by, lr="optimizer.lr", lower_is_better=True):
    """Keep the rows of the lr whose seed-averaged `metric` is best, separately for each `by` group.

    `df` must hold one value of `metric` per (by..., lr, seed) row (aggregate over iterations first).
    Returns those rows and a table of the chosen lr per group.
    """
    means = df.groupby(by + [lr], dropna=False)[metric].mean().reset_index()
    pick = means.loc[means.groupby(by, dropna=False)[metric].idxmin() if lower_is_better
                     else means.groupby(by, dropna=False)[metric].idxmax()]
    chosen = pick[by + [lr]]
    return df.merge(chosen, on=by + [lr]), chosen


def set_style():
    """The published look: seaborn's darkgrid with large type."""
    import seaborn as sns
    sns.set_theme(style="darkgrid", context="talk")


@dataclass
class Comparison:
    """One number of the figure beside the paper's value ('≈' read off the published figure)."""
    quantity: str
    ours: float
    paper: str


@dataclass
class Panel:
    """What a figure function returns for one paper panel."""
    name: str
    figure: object
    source_data: pd.DataFrame
    comparisons: list = field(default_factory=list)


def per_run(df, metric, keys, how="mean"):
    """One row per run (the `keys` that identify it): `metric` aggregated over its iterations
    (`how`: mean = area under the learning curve, min = best)."""
    return df.groupby(keys, dropna=False)[metric].agg(how).reset_index()


def rule_lineplot(data, x, y, ax, log_x=False, **kwargs):
    """Mean of `y` vs `x` with 68% bootstrap CI bars over seeds; hue and marker = rule."""
    import seaborn as sns
    order = [r for r in RULE_ORDER if r in set(data["Rule"])] + sorted(set(data["Rule"]) - set(RULE_ORDER))
    sns.lineplot(data=data, x=x, y=y, hue="Rule", hue_order=order, style="Rule", style_order=order,
                 markers=RULE_MARKERS, dashes=False, errorbar=("ci", 68), err_style="bars", ax=ax,
                 **kwargs)
    if log_x:
        ax.set_xscale("log")
    return ax


def paper_comparisons(means, paper, label):
    """A Comparison for every (rule, x) the run measured, beside the paper's value for x from a
    {x: (PC value, BP value)} table ('–' where the paper shows none, e.g. in quick profiles)."""
    rows = sorted(means.items(), key=lambda item: (RULE_ORDER.index(item[0][0]), item[0][1]))
    return [Comparison(label(rule, x), value, paper.get(x, ("–", "–"))[RULE_ORDER.index(rule)])
            for (rule, x), value in rows]
