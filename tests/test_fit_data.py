"""Least-squares fits against closed forms and numpy's lstsq."""
import numpy as np
import pytest

import pandas as pd

from fit_data import best_fit, fit_affine, fit_configs, fit_scale


def test_a_scaled_model_is_recovered_exactly_without_offset():
    fit = fit_scale([1.0, 2.0, 3.0], [2.5, 5.0, 7.5])
    assert fit.scale == pytest.approx(2.5) and fit.offset == 0 and fit.sse == pytest.approx(0)


def test_the_scale_fit_is_the_projection_of_data_on_model():
    v, d = np.array([1.0, 0.0, 2.0]), np.array([1.0, 1.0, 1.0])
    fit = fit_scale(v, d)   # k = (1 + 2) / (1 + 4) = 0.6; residuals 0.4, 1, -0.2
    assert fit.scale == pytest.approx(0.6) and fit.sse == pytest.approx(0.16 + 1 + 0.04)


def test_the_affine_fit_equals_numpy_lstsq():
    rng = np.random.default_rng(0)
    v, d = rng.normal(size=20), rng.normal(size=20)
    (k, b), residual, *_ = np.linalg.lstsq(np.stack([v, np.ones(20)], 1), d, rcond=None)
    fit = fit_affine(v, d)
    assert (fit.scale, fit.offset, fit.sse) == pytest.approx((k, b, residual[0]))
    assert fit.apply(v) == pytest.approx(k * v + b)


def test_a_constant_model_fits_the_data_mean():
    fit = fit_affine([3.0, 3.0], [1.0, 2.0])
    assert (fit.scale, fit.offset, fit.sse) == pytest.approx((0.0, 1.5, 0.5))


def test_best_fit_picks_the_candidate_with_least_error():
    data = [0.227, 0.180, 0.099, 0.057]
    key, fit = best_fit({"graded": [4.0, 3.2, 1.8, 1.0], "flat": [1, 1, 0, 0]}, data)
    assert key == "graded" and fit.sse < fit_scale([1, 1, 0, 0], data).sse


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="as many model values"):
        fit_scale([1, 2], [1])


def synthetic_runs():
    """Two rules, two configurations each, three seeds, three keys. For rule pc, config lr=0.1 is
    an exact multiple (x2) of the data; lr=0.5 is not. For bp both are flat."""
    data_means = {"a": 0.4, "b": 0.2, "c": 0.1}
    rows = []
    for seed, noise in enumerate([-0.01, 0.0, 0.01]):
        for k, d in data_means.items():
            rows.append({"rule": "pc", "lr": 0.1, "seed": seed, "key": k, "v": d / 2 + noise})
            rows.append({"rule": "pc", "lr": 0.5, "seed": seed, "key": k, "v": 1.0 + noise})
            rows.append({"rule": "bp", "lr": 0.1, "seed": seed, "key": k, "v": 0.3})
            rows.append({"rule": "bp", "lr": 0.5, "seed": seed, "key": k, "v": 0.3 + 2 * noise})
    data = pd.DataFrame([{"key": k, "d": d + e} for k, d in data_means.items() for e in (-0.05, 0.05)])
    return pd.DataFrame(rows), data


def test_fit_configs_keeps_the_configuration_whose_seed_means_are_a_multiple_of_the_data():
    model, data = synthetic_runs()
    fits = fit_configs(model, data, "key", "v", ["lr"], data_value="d")
    pc = fits.best.set_index("rule").loc["pc"]
    assert pc["lr"] == 0.1 and pc["scale"] == pytest.approx(2.0) and pc["sse"] == pytest.approx(0, abs=1e-20)
    # bp's configurations have the same seed means: the tie goes to the smaller SEM (lr 0.1)
    bp = fits.best.set_index("rule").loc["bp"]
    assert bp["lr"] == 0.1 and bp["mean_sem"] == 0
    # the fitted scale of a flat model is the projection: k = <v, d> / <v, v>
    assert bp["scale"] == pytest.approx((0.3 * 0.7) / (3 * 0.09))
    assert len(fits.all) == 4


def test_fit_configs_plots_every_seed_of_the_best_configuration_times_its_scale_beside_the_data():
    model, data = synthetic_runs()
    points = fit_configs(model, data, "key", "v", ["lr"], data_value="d").points
    pc = points[points["source"] == "PC"].sort_values(["key", "seed"])
    expected = model[(model["rule"] == "pc") & (model["lr"] == 0.1)].sort_values(["key", "seed"])["v"] * 2
    assert pc["value"].to_numpy() == pytest.approx(expected.to_numpy())
    assert (points["source"] == "Data").sum() == len(data)


def test_fit_configs_matches_model_and_data_by_key_not_by_order():
    model, data = synthetic_runs()
    shuffled = data.iloc[::-1].reset_index(drop=True)
    a = fit_configs(model, data, "key", "v", ["lr"], data_value="d").best
    b = fit_configs(model.sample(frac=1, random_state=0), shuffled, "key", "v", ["lr"], data_value="d").best
    pd.testing.assert_frame_equal(a, b)


def test_fit_configs_refuses_a_configuration_that_misses_a_data_key():
    model, data = synthetic_runs()
    with pytest.raises(ValueError, match="has no v for key"):
        fit_configs(model[model["key"] != "c"], data, "key", "v", ["lr"], data_value="d")


def test_the_affine_config_fit_recovers_scale_and_offset_and_the_markdown_lists_each_rule():
    model, data = synthetic_runs()
    model = model.assign(v=lambda df: (df["v"] - 0.7) / 3)   # data = 2 (3 v + 0.7) for pc lr 0.1
    fits = fit_configs(model, data, "key", "v", ["lr"], fit="affine", data_value="d")
    pc = fits.best.set_index("rule").loc["pc"]
    assert (pc["scale"], pc["offset"]) == pytest.approx((6.0, 1.4))
    table = fits.markdown()
    assert table.splitlines()[0].startswith("| rule | lr | scale | offset | sse")
    assert len(table.splitlines()) == 4
