"""Fitting model outputs to digitised behavioural data by least squares.

The behavioural experiments (sensorimotor, reversal, fear conditioning) compare a model's outputs with
group means from the cited studies after a linear map: a scale k alone (k * v) or a scale and an
offset (k * v + b). `fit_scale`/`fit_affine` fit paired arrays; `fit_configs` fits every
hyperparameter configuration's seed means to the data's group means, matched by an explicit key
(never by order), and keeps the best configuration per rule.
"""
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Fit:
    """A fitted linear map data ≈ scale * model + offset and its sum of squared errors."""
    scale: float
    offset: float
    sse: float

    def apply(self, model):
        return self.scale * np.asarray(model, dtype=float) + self.offset


def _paired(model, data):
    model, data = np.asarray(model, dtype=float).ravel(), np.asarray(data, dtype=float).ravel()
    if model.shape != data.shape or model.size == 0:
        raise ValueError(f"need as many model values as data values, got {model.size} and {data.size}")
    return model, data


def fit_scale(model, data):
    """k minimising sum((k * v - d)^2): k = <v, d> / <v, v> (0 when the model is all zeros)."""
    v, d = _paired(model, data)
    norm = float(v @ v)
    scale = float(v @ d) / norm if norm > 0 else 0.0
    return Fit(scale, 0.0, float(np.sum((scale * v - d) ** 2)))


def fit_affine(model, data):
    """(k, b) minimising sum((k * v + b - d)^2); a constant model gets k = 0 and b = mean(d)."""
    v, d = _paired(model, data)
    centred = v - v.mean()
    norm = float(centred @ centred)
    scale = float(centred @ (d - d.mean())) / norm if norm > 0 else 0.0
    offset = float(d.mean() - scale * v.mean())
    return Fit(scale, offset, float(np.sum((scale * v + offset - d) ** 2)))


def best_fit(candidates, data, fit=fit_scale):
    """The key of the candidate model values that fit `data` with the least error, and its Fit.

    `candidates` maps a key (e.g. a hyper-parameter setting) to model values paired with `data`.
    """
    fits = {key: fit(values, data) for key, values in candidates.items()}
    key = min(fits, key=lambda k: fits[k].sse)
    return key, fits[key]


FITS = {"scale": fit_scale, "affine": fit_affine}


@dataclass
class ConfigFits:
    """The outcome of `fit_configs`.

    `best`: one row per rule: its chosen configuration, scale, offset, sse and mean SEM.
    `all`: the same for every (rule, configuration).
    `points`: tidy rows to plot: source (the rule's label, or 'Data'), the key, the fitted value of
    every seed (model) or every data point, and the seed (NaN for data).
    """
    best: pd.DataFrame
    all: pd.DataFrame
    points: pd.DataFrame

    def markdown(self, value_format="{:.4g}"):
        """The chosen configurations and their errors as a markdown table."""
        columns = list(self.best.columns)
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for _, row in self.best.iterrows():
            cells = [value_format.format(v) if isinstance(v, float) else str(v) for v in row]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def fit_configs(model, data, key, value, configs, fit="scale", rule="rule", seed="seed", data_value=None):
    """Fit each configuration's seed-mean of `value` per `key` to the data's mean per `key`.

    model: one row per (rule, configuration columns `configs`, seed, key) with column `value`.
    data: one row per data point with columns `key` and `data_value` (default: `value`).
    Every key of the data must be measured by every configuration (and no other key is used); the
    fit is "scale" (k v) or "affine" (k v + b). Per rule the configuration with the least squared
    error wins; ties go to the smaller mean SEM over keys, then to the first in sort order.
    """
    data_value = data_value or value
    targets = data.groupby(key)[data_value].mean()
    fitter = FITS[fit]
    rows = []
    for group, runs in model.groupby([rule, *configs], dropna=False, sort=True):
        stats = runs.groupby(key)[value].agg(["mean", "sem"])
        missing = sorted(set(targets.index) - set(stats.index), key=str)
        if missing:
            raise ValueError(f"configuration {dict(zip([rule, *configs], group))} has no {value} for "
                             f"{key} {missing}")
        means = stats.loc[targets.index, "mean"]
        result = fitter(means.to_numpy(), targets.to_numpy())
        rows.append({**dict(zip([rule, *configs], group)), "scale": result.scale, "offset": result.offset,
                     "sse": result.sse, "mean_sem": float(stats.loc[targets.index, "sem"].fillna(0).mean())})
    table = pd.DataFrame(rows)
    order = table.sort_values([rule, "sse", "mean_sem"], kind="stable")
    best = order.groupby(rule, sort=False).head(1).reset_index(drop=True)
    return ConfigFits(best, table, _points(model, data, best, key, value, configs, rule, seed, data_value))


def _points(model, data, best, key, value, configs, rule, seed, data_value):
    """Each best configuration's seeds, mapped by its fit, beside the data points."""
    chosen = model.merge(best[[rule, *configs, "scale", "offset"]], on=[rule, *configs])
    chosen = chosen[chosen[key].isin(data[key].unique())]
    fitted = pd.DataFrame({"source": chosen[rule].astype(str).str.upper(), key: chosen[key],
                           "value": chosen["scale"] * chosen[value] + chosen["offset"], "seed": chosen[seed]})
    measured = pd.DataFrame({"source": "Data", key: data[key], "value": data[data_value], "seed": np.nan})
    return pd.concat([fitted, measured], ignore_index=True)
