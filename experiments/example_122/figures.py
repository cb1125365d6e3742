"""Figure of the 1-2-2 example: the paths of w = (w_1, w_2) over the loss, and of the output."""
import json

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis_utils import RULE_MARKERS, RULE_ORDER, Comparison, Panel, rule_label

TARGET, OUTPUT_WEIGHTS = np.array([1.0, 1.0]), np.array([1.0, 2.0])   # as in example_122.yaml
PAPER_FIRST_STEP = {("BP", 0.4): "(0.4, 0.8)", ("PC", 1.3969543): "≈(0.698, 0.559)"}   # large steps


def paths(df):
    """w_0 (the initial weights) .. w_n per rule and lr, with the outputs o = (w_1, 2 w_2)."""
    rows = []
    for (rule, lr), run in df.groupby(["Rule", "optimizer.lr"]):
        start = json.loads(run["model.init"].iloc[0])[0]["value"]
        w = np.vstack([[start, start], run.sort_values("iteration")[["weight_1_0", "weight_1_1"]].to_numpy()])
        o = w * OUTPUT_WEIGHTS
        rows.append(pd.DataFrame({"rule": rule.lower(), "Rule": rule, "lr": lr, "step": range(len(w)),
                                  "w_1": w[:, 0], "w_2": w[:, 1], "o_1": o[:, 0], "o_2": o[:, 1]}))
    return pd.concat(rows, ignore_index=True)


def straightness(path):
    """Path length over the distance from start to end (1 for a straight line)."""
    w = path[["w_1", "w_2"]].to_numpy()
    return np.linalg.norm(np.diff(w, axis=0), axis=1).sum() / np.linalg.norm(w[-1] - w[0])


def draw(data):
    fig, (weights, outputs) = plt.subplots(1, 2, figsize=(10, 4.6))
    grid = np.linspace(-0.1, 1.3, 200)
    w1, w2 = np.meshgrid(grid, grid)
    loss = 0.5 * (w1 * OUTPUT_WEIGHTS[0] - TARGET[0]) ** 2 + 0.5 * (w2 * OUTPUT_WEIGHTS[1] - TARGET[1]) ** 2
    weights.contour(w1, w2, loss, levels=np.arange(0, 1.01, 0.2), colors="grey", linewidths=0.8)
    for rule in [r for r in RULE_ORDER if r in set(data["Rule"])]:
        path = data[data["Rule"] == rule]
        for ax, x, y in ((weights, "w_1", "w_2"), (outputs, "o_1", "o_2")):
            ax.plot(path[x], path[y], marker=RULE_MARKERS[rule], label=rule, markersize=5)
    weights.plot(*(TARGET / OUTPUT_WEIGHTS), "k*", markersize=12)
    outputs.plot(*TARGET, "k*", markersize=12)
    weights.set(xlabel="$w_1$", ylabel="$w_2$", aspect="equal")
    outputs.set(xlabel="output 1", ylabel="output 2", aspect="equal")
    weights.legend(frameon=False)
    fig.tight_layout()
    return fig


def example_122(df):
    """Weight and output paths of PC and BP (one lr each) over the loss contours."""
    data = paths(rule_label(df))
    comparisons = []
    for (rule, lr), path in data.groupby(["Rule", "lr"]):
        first, paper = path[path["step"] == 1].iloc[0], PAPER_FIRST_STEP.get((rule, lr), "–")
        comparisons.append(Comparison(f"{rule} first step w_1 (lr {lr:g})", first["w_1"], paper))
        comparisons.append(Comparison(f"{rule} first step w_2 (lr {lr:g})", first["w_2"], paper))
        comparisons.append(Comparison(f"{rule} path length / displacement", straightness(path),
                                      "PC closer to 1 than BP (BP zig-zags)"))
    source = data.drop(columns="Rule").sort_values(["rule", "step"]).reset_index(drop=True)
    return [Panel("example_122", draw(data), source, comparisons)]
