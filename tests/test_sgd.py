"""The SGD kernel against the NumPy reference, and SGD's behaviour as a solver."""

import numpy as np
import pytest
from conftest import random_ratings

from fastmf import MatrixFactorization, _dispatch, reference
from fastmf import _sgd as sgd_driver
from fastmf._loss_table import LOSSES
from fastmf._params import check_params
from fastmf._validation import check_ratings

kernel = _dispatch.kernel("sgd", "baseline")
# Every build of the kernel this CPU runs (portable, and AVX2+FMA where available).
KERNELS = pytest.mark.parametrize(
    "build", [_dispatch.kernel("sgd", level) for level in _dispatch.levels()],
    ids=_dispatch.levels())


def _setup(X, dtype, loss, n_blocks, seed, k=7):
    """Blocked data and a random starting point, as fit would make them."""
    data = check_ratings(X, np.dtype(dtype), loss=loss)
    rng = np.random.default_rng(seed)
    blocked = sgd_driver.block_layout(data, n_blocks, rng)
    params = [
        rng.normal(0, 0.3, size=(data.n_users, k)).astype(dtype),
        rng.normal(0, 0.3, size=(data.n_items, k)).astype(dtype),
        rng.normal(0, 0.1, size=data.n_users).astype(dtype),
        rng.normal(0, 0.1, size=data.n_items).astype(dtype),
    ]
    mu = float(data.values.mean())
    state = rng.integers(0, 2**64, size=1, dtype=np.uint64)
    return blocked, params, mu, state


def _kernel_epoch(blocked, params, mu, state, loss, biases, threads, lr=0.05, l2=0.03,
                  l2_bias=0.01, build=kernel):
    return build.sgd_epoch(
        blocked.users, blocked.items, blocked.values, blocked.block_ptr, blocked.n_blocks,
        *params, mu, lr, l2, l2_bias, biases, LOSSES[loss].code, state, threads)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("biases", [True, False])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@KERNELS
def test_epoch_matches_reference(loss, biases, threads, n_blocks, build):
    X = random_ratings(seed=None, binary=loss == "logistic")
    blocked, params, mu, state = _setup(X, np.float64, loss, n_blocks, seed=None)
    ref = [a.copy() for a in params]
    start = [a.copy() for a in params]
    order = kernel.epoch_order(blocked.block_ptr, blocked.n_blocks, state.copy())
    assert np.array_equal(np.sort(order), np.arange(blocked.values.size))
    for _ in range(3):      # several epochs: each one continues the RNG stream
        ref_loss = reference.sgd_epoch(
            blocked.users, blocked.items, blocked.values, order, *ref, mu,
            learning_rate=0.05, l2=0.03, l2_bias=0.01, biases=biases, loss=loss)
        loss_sum, status = _kernel_epoch(blocked, params, mu, state, loss, biases, threads,
                                         build=build)
        assert status == 0
        assert loss_sum == pytest.approx(ref_loss, rel=1e-9)
        for got, want in zip(params, ref, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)
        order = kernel.epoch_order(blocked.block_ptr, blocked.n_blocks, state.copy())
    if not biases:      # biases are left untouched
        assert np.array_equal(params[2], start[2]) and np.array_equal(params[3], start[3])


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("k", [16, 32, 64, 100, 128])
@KERNELS
def test_compiled_widths_match_reference(loss, k, build):
    """The walks compiled for a fixed k (unrolled rows) do the reference's arithmetic."""
    X = random_ratings(80, 60, 0.3, seed=None, binary=loss == "logistic")
    blocked, params, mu, state = _setup(X, np.float64, loss, 3, seed=None, k=k)
    ref = [a.copy() for a in params]
    order = kernel.epoch_order(blocked.block_ptr, blocked.n_blocks, state.copy())
    ref_loss = reference.sgd_epoch(
        blocked.users, blocked.items, blocked.values, order, *ref, mu,
        learning_rate=0.05, l2=0.03, l2_bias=0.01, biases=True, loss=loss)
    loss_sum, status = _kernel_epoch(blocked, params, mu, state, loss, True, 2, build=build)
    assert status == 0
    assert loss_sum == pytest.approx(ref_loss, rel=1e-9)
    for got, want in zip(params, ref, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


@KERNELS
def test_empty_blocks_are_skipped_regression(build):
    """An empty block walked backwards used to visit one rating of its neighbour (or read
    past the end of the data)."""
    users = np.array([0, 0, 1, 5, 6, 6, 7])
    items = np.array([0, 3, 1, 2, 0, 4, 4])
    values = np.arange(1.0, 8.0)
    for seed in range(20):
        blocked, params, mu, state = _setup((users, items, values), np.float64, "squared", 4,
                                            seed=seed)
        counts = np.diff(blocked.block_ptr)
        assert (counts == 0).sum() >= 9
        ref = [a.copy() for a in params]
        order = kernel.epoch_order(blocked.block_ptr, blocked.n_blocks, state.copy())
        assert np.array_equal(np.sort(order), np.arange(7))
        reference.sgd_epoch(blocked.users, blocked.items, blocked.values, order, *ref, mu,
                            learning_rate=0.05, l2=0.03, l2_bias=0.01)
        _kernel_epoch(blocked, params, mu, state, "squared", True, 1, build=build)
        for got, want in zip(params, ref, strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-12)


def test_epoch_order_changes_between_epochs():
    X = random_ratings(seed=1)
    blocked, _, _, state = _setup(X, np.float64, "squared", 4, seed=2)
    first = kernel.epoch_order(blocked.block_ptr, 4, state)
    second = kernel.epoch_order(blocked.block_ptr, 4, state)
    assert not np.array_equal(first, second)
    assert np.array_equal(np.sort(first), np.sort(second))


def test_blocks_are_conflict_free_strata():
    """Within a block: one user group and one item group, each a contiguous range of the
    renumbered ids, and the ratings sorted by (user, item)."""
    X = random_ratings(200, 150, 0.2, seed=3)
    data = check_ratings(X, np.dtype(np.float64))
    B = 5
    blocked = sgd_driver.block_layout(data, B, np.random.default_rng(0))
    first_u = -(-np.arange(B + 1) * data.n_users // B)      # ceil(r n / B)
    first_i = -(-np.arange(B + 1) * data.n_items // B)
    for r in range(B):
        for c in range(B):
            lo, hi = blocked.block_ptr[r * B + c], blocked.block_ptr[r * B + c + 1]
            us, its = blocked.users[lo:hi], blocked.items[lo:hi]
            assert np.all((us >= first_u[r]) & (us < first_u[r + 1]))
            assert np.all((its >= first_i[c]) & (its < first_i[c + 1]))
            key = us.astype(np.int64) * data.n_items + its
            assert np.all(np.diff(key) > 0)
    # the renumbering is a permutation, and the layout holds the input triples
    assert np.array_equal(np.sort(blocked.user_order), np.arange(data.n_users))
    assert np.array_equal(np.sort(blocked.item_order), np.arange(data.n_items))

    def triples(u, i, v):
        order = np.lexsort((i, u))
        return u[order], i[order], v[order]

    got = triples(blocked.user_order[blocked.users], blocked.item_order[blocked.items],
                  blocked.values)
    for g, want in zip(got, triples(data.users, data.items, data.values), strict=True):
        np.testing.assert_array_equal(g, want)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_layout_ignores_input_order_and_threads(threads):
    X = random_ratings(300, 120, 0.2, seed=4).tocoo()
    data = check_ratings(X, np.dtype(np.float32))
    want = sgd_driver.block_layout(data, 6, np.random.default_rng(7), 1)
    perm = np.random.default_rng().permutation(X.nnz)
    shuffled = check_ratings((X.row[perm], X.col[perm], X.data[perm]), np.dtype(np.float32))
    got = sgd_driver.block_layout(shuffled, 6, np.random.default_rng(7), threads)
    for name in ("users", "items", "values", "block_ptr", "user_order", "item_order"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_layout_names_a_duplicate_in_original_ids():
    users = np.array([3, 0, 5, 3, 1])
    items = np.array([2, 1, 0, 2, 4])
    data = check_ratings((users, items, np.arange(5.0)), np.dtype(np.float64))
    with pytest.raises(ValueError, match=r"\(user 3, item 2\)"):
        sgd_driver.block_layout(data, 2, np.random.default_rng(0), 2)


def test_callback_and_result_see_the_trained_parameters():
    """SGD trains a renumbered working copy; the model's arrays follow it after every
    epoch that something reads, and at the end."""
    X = random_ratings(120, 90, 0.2, seed=5)
    coo = X.tocoo()
    seen = []

    def callback(epoch, model, metrics):
        pred = model.predict(coo.row, coo.col)
        seen.append(0.5 * np.mean((pred - coo.data) ** 2))

    kw = dict(factors=4, epochs=3, learning_rate=0.05, random_state=2, num_threads=1)
    with_cb = MatrixFactorization(**kw).fit(X, callback=callback)
    plain = MatrixFactorization(**kw).fit(X)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(with_cb, name), getattr(plain, name))
    # the loss the callback computed from the model drops like the training loss
    assert seen[-1] < seen[0]
    pred = plain.predict(coo.row, coo.col)
    assert 0.5 * np.mean((pred - coo.data) ** 2) == pytest.approx(seen[-1], rel=1e-5)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_training_loss_decreases(loss):
    X = random_ratings(300, 200, 0.1, seed=None, binary=loss == "logistic")
    lr = 0.1 if loss == "logistic" else 0.02
    model = MatrixFactorization(8, loss=loss, epochs=30, learning_rate=lr,
                                random_state=0).fit(X)
    curve = np.array(model.training_loss_)
    assert curve.shape == (30,)
    assert curve[-1] < 0.8 * curve[0]
    assert np.all(np.diff(curve[:5]) < 0)


def test_float32_agrees_with_float64():
    X = random_ratings(200, 100, 0.2, seed=None)
    kw = dict(factors=6, epochs=10, learning_rate=0.02, random_state=5, num_threads=1)
    m32 = MatrixFactorization(dtype=np.float32, **kw).fit(X)
    m64 = MatrixFactorization(dtype=np.float64, **kw).fit(X)
    assert m32.user_factors_.dtype == np.float32 and m64.user_factors_.dtype == np.float64
    coo = X.tocoo()
    np.testing.assert_allclose(m32.predict(coo.row, coo.col), m64.predict(coo.row, coo.col),
                               rtol=2e-3, atol=2e-3)
    np.testing.assert_allclose(m32.training_loss_, m64.training_loss_, rtol=2e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_is_bit_reproducible(dtype, monkeypatch):
    # small epochs run on one thread whatever num_threads says: lift that for the test
    monkeypatch.setattr(sgd_driver, "_EPOCH_WORK_PER_THREAD", 1)
    X = random_ratings(150, 80, 0.2, seed=None)
    kw = dict(factors=5, epochs=4, random_state=11, dtype=dtype)
    a = MatrixFactorization(num_threads=1, **kw).fit(X)
    b = MatrixFactorization(num_threads=1, **kw).fit(X)
    c = MatrixFactorization(num_threads=2, **kw).fit(X)
    for name in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
        # conflict-free blocks: the thread count does not change the arithmetic
        assert np.array_equal(getattr(a, name), getattr(c, name))
    assert a.training_loss_ == b.training_loss_ == c.training_loss_
    d = MatrixFactorization(num_threads=1, **{**kw, "random_state": 12}).fit(X)
    assert not np.array_equal(a.user_factors_, d.user_factors_)


def test_recovers_low_rank_signal():
    """On noisy rank-3 data the held-out error approaches the noise level."""
    rng = np.random.default_rng()
    n_users, n_items, k = 400, 300, 3
    u = rng.normal(size=(n_users, k))
    v = rng.normal(size=(n_items, k))
    users = rng.integers(0, n_users, 40000)
    items = rng.integers(0, n_items, 40000)
    pairs = np.unique(users * n_items + items)
    users, items = pairs // n_items, pairs % n_items
    values = 3 + (u[users] * v[items]).sum(1) + 0.1 * rng.normal(size=pairs.size)
    test = rng.random(pairs.size) < 0.1
    model = MatrixFactorization(8, epochs=60, learning_rate=0.02, l2=0.01, random_state=0)
    model.fit((users[~test], items[~test], values[~test]))
    rmse = np.sqrt(np.mean((model.predict(users[test], items[test]) - values[test]) ** 2))
    baseline = np.std(values[test])
    assert rmse < 0.25 * baseline


def test_multithreaded_accuracy_matches_single_thread(monkeypatch):
    monkeypatch.setattr(sgd_driver, "_EPOCH_WORK_PER_THREAD", 1)
    X = random_ratings(500, 300, 0.1, seed=None)
    kw = dict(factors=8, epochs=10, learning_rate=0.02, random_state=3)
    one = MatrixFactorization(num_threads=1, **kw).fit(X)
    two = MatrixFactorization(num_threads=2, **kw).fit(X)
    assert two.training_loss_[-1] == pytest.approx(one.training_loss_[-1], rel=1e-6)


def test_small_epochs_run_on_one_thread():
    X = random_ratings(200, 100, 0.2, seed=0)
    data = check_ratings(X, np.dtype(np.float32))
    blocked = sgd_driver.block_layout(data, 8, np.random.default_rng(0))
    arrays = [np.zeros((200, 8), np.float32), np.zeros((100, 8), np.float32),
              np.zeros(200, np.float32), np.zeros(100, np.float32)]
    seed = np.zeros(1, np.uint64)
    settings = check_params(MatrixFactorization(8)).sgd_settings()
    small = sgd_driver.Training(blocked, arrays, 0.0, seed, settings, n_threads=2)
    assert small.n_threads == 1
    # a model that wide makes the same epoch big (only the shape is read here)
    big = [np.broadcast_to(np.zeros(1, np.float32), (200, 10**6))] + arrays[1:]
    assert sgd_driver.Training(blocked, big, 0.0, seed, settings, n_threads=2).n_threads == 2


def test_divergence_raises_clear_error():
    X = random_ratings(seed=None)
    X.data *= 1e4
    with pytest.raises(FloatingPointError, match="learning rate"):
        MatrixFactorization(4, epochs=50, learning_rate=5.0, random_state=0).fit(X)
