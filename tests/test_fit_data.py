"""Least-squares fits against closed forms and numpy's lstsq."""
import numpy as np
import pytest

from fit_data import best_fit, fit_affine, fit_scale


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
