"""The kernels' loss functions against closed forms, the NumPy versions and finite
differences."""

import math

import numpy as np
import pytest
from fastmf._kernels import sgd as kernel

from fastmf import _dispatch
from fastmf._loss_table import LOSSES, log1pexp, sigmoid

CODES = {name: loss.code for name, loss in LOSSES.items()}
# Losses of one score (softmax takes many at once: tests/test_rank.py checks it).
PER_SCORE = sorted(name for name, loss in LOSSES.items() if loss.value is not None)


@pytest.mark.parametrize(
    ("loss", "y", "s", "value", "neg_grad"),
    [
        ("squared", 3.0, 1.0, 2.0, 2.0),
        ("squared", -1.5, 0.5, 2.0, -2.0),
        ("squared", 4.0, 4.0, 0.0, 0.0),
        ("logistic", 1.0, 0.0, math.log(2.0), 0.5),
        ("logistic", 0.0, 0.0, math.log(2.0), -0.5),
        ("logistic", 1.0, 2.0, math.log1p(math.exp(-2.0)), 1.0 - 1.0 / (1.0 + math.exp(-2.0))),
        ("logistic", 0.0, 2.0, 2.0 + math.log1p(math.exp(-2.0)), -1.0 / (1.0 + math.exp(-2.0))),
        # far tails: no overflow, exact limits
        ("logistic", 1.0, 800.0, 0.0, 0.0),
        ("logistic", 0.0, 800.0, 800.0, -1.0),
        ("logistic", 1.0, -800.0, 800.0, 1.0),
        ("logistic", 0.0, -800.0, 0.0, 0.0),
    ],
)
def test_loss_table(loss, y, s, value, neg_grad):
    got_value, got_grad = kernel.py_loss_grad(CODES[loss], y, s)
    assert got_value == pytest.approx(value, rel=1e-12, abs=1e-300)
    assert got_grad == pytest.approx(neg_grad, rel=1e-12, abs=1e-300)


@pytest.mark.parametrize("loss", PER_SCORE)
def test_gradient_matches_finite_differences(loss):
    rng = np.random.default_rng()
    h = 1e-4
    for _ in range(50):
        y = float(rng.integers(0, 2)) if loss == "logistic" else float(rng.normal(3, 1))
        s = float(rng.normal(0, 3))
        f = [kernel.py_loss_grad(CODES[loss], y, s + d * h)[0] for d in (-2, -1, 1, 2)]
        derivative = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * h)   # 4th order
        _, neg_grad = kernel.py_loss_grad(CODES[loss], y, s)
        assert -derivative == pytest.approx(neg_grad, rel=1e-7, abs=1e-9)


@pytest.mark.parametrize("loss", PER_SCORE)
def test_kernel_matches_numpy_losses(loss):
    rng = np.random.default_rng()
    y = rng.integers(0, 2, size=200).astype(float) if loss == "logistic" else rng.normal(
        3, 1, size=200)
    s = rng.normal(0, 10, size=200)
    expected_value = LOSSES[loss].value(y, s)
    expected_grad = LOSSES[loss].neg_grad(y, s)
    got = np.array([kernel.py_loss_grad(CODES[loss], a, b) for a, b in zip(y, s, strict=True)])
    # The kernel sums log(1 + e) terms through a product: exact to ~2^-52 absolute per term.
    np.testing.assert_allclose(got[:, 0], expected_value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got[:, 1], expected_grad, rtol=1e-12, atol=1e-15)


def test_logistic_helpers_stable():
    s = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        expected = [0.0, math.log1p(math.exp(-30.0)), math.log(2.0),
                    30.0 + math.log1p(math.exp(-30.0)), 1000.0]
        np.testing.assert_allclose(log1pexp(s), expected, rtol=1e-12, atol=1e-300)
        assert np.all(np.isfinite(sigmoid(s)))
    assert sigmoid(np.array([0.0]))[0] == 0.5


def test_unknown_loss_code_raises():
    with pytest.raises(ValueError, match="loss code"):
        kernel.py_loss_grad(7, 1.0, 0.0)


@pytest.mark.parametrize("level", _dispatch.levels())
def test_float32_training_sigmoid_accuracy(level):
    """The float32 SGD step takes sigmoid(s) from an inline exp: within 2.4e-7 relative
    (3.5 ulp) of the exact value for s >= -87, below that within 2e-38 absolute."""
    rng = np.random.default_rng()
    s = np.concatenate([rng.uniform(-87, 100, 20_000), rng.normal(0, 3, 20_000),
                        [-87.0, -50.0, -1e-30, 0.0, 1e-30, 1.0, 50.0, 88.0, 1e30]])
    s = s.astype(np.float32)
    build = _dispatch.kernel("sgd", level)
    exact = 1.0 / (1.0 + np.exp(-s.astype(np.float64)))
    got = np.array([-build.py_logistic_grad_float32(0.0, v) for v in s])
    np.testing.assert_allclose(got, exact, rtol=3e-7, atol=0)
    got_one = np.array([build.py_logistic_grad_float32(1.0, v) for v in s])
    np.testing.assert_allclose(got_one, 1.0 - exact, rtol=0, atol=2e-7)
    far = np.array([-87.5, -100.0, -1e30], dtype=np.float32)
    got_far = np.array([-build.py_logistic_grad_float32(0.0, v) for v in far])
    assert np.all((got_far >= 0) & (got_far <= 2e-38))
    assert math.isnan(build.py_logistic_grad_float32(0.0, math.nan))
