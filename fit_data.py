"""Fitting model outputs to digitised behavioural data by least squares.

The behavioural experiments (sensorimotor, reversal, fear conditioning) compare a model's outputs with
group means from the cited studies after a linear map: a scale k alone (k * v) or a scale and an
offset (k * v + b). Each function takes paired arrays of model values and data values.
"""
from dataclasses import dataclass

import numpy as np


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
