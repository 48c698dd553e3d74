"""The SGD ranking losses (implicit feedback) against the NumPy reference, and as a model."""

import numpy as np
import pytest
import scipy.sparse as sp

import fastmf
from fastmf import MatrixFactorization, _dispatch, reference
from fastmf import _sgd as sgd_driver
from fastmf._loss_table import LOSSES
from fastmf._validation import check_ratings
from fastmf.metrics import recall_at_k

kernel = _dispatch.kernel("sgd", "baseline")
KERNELS = pytest.mark.parametrize(
    "build", [_dispatch.kernel("sgd", level) for level in _dispatch.levels()],
    ids=_dispatch.levels())
ARRAYS = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")


def interactions(n_users=80, n_items=60, density=0.15, *, seed=None, rank=3):
    """Implicit interactions with a low-rank taste structure: each user's items are drawn
    with probability rising with a planted score, as a users x items CSR matrix."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_users, rank))
    v = rng.normal(size=(n_items, rank))
    logits = u @ v.T
    prob = density * n_items * np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    mask = rng.random((n_users, n_items)) < np.minimum(prob, 0.9)
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True    # nobody empty
    rows, cols = np.nonzero(mask)
    return sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n_users, n_items))


def _setup(X, dtype, n_blocks, seed, k=7):
    data = check_ratings(X, np.dtype(dtype), loss="bpr")
    rng = np.random.default_rng(seed)
    blocked = sgd_driver.block_layout(data, n_blocks, rng)
    params = [rng.normal(0, 0.3, size=(data.n_users, k)).astype(dtype),
              rng.normal(0, 0.3, size=(data.n_items, k)).astype(dtype),
              np.zeros(data.n_users, dtype), np.zeros(data.n_items, dtype)]
    state = rng.integers(0, 2**64, size=1, dtype=np.uint64)
    return blocked, params, state


def _kernel_epoch(build, blocked, params, state, threads, lr=0.1, l2=0.02, loss="bpr",
                  negatives=1, temperature=1.0):
    return build.sgd_epoch(
        blocked.users, blocked.items, blocked.values, blocked.block_ptr, blocked.n_blocks,
        *params, {"mu": 0.0, "learning_rate": lr, "l2": l2, "l2_bias": 0.0,
                  "biases": False, "loss_code": LOSSES[loss].code}, state, threads,
        negatives, temperature)


def _plan(blocked, n_items, state, count=1, by_user=False):
    return kernel.ranking_plan(blocked.users, blocked.items, blocked.block_ptr,
                               blocked.n_blocks, n_items, state.copy(), count, by_user)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@pytest.mark.parametrize("k", [7, 32])
@KERNELS
def test_bpr_epoch_matches_reference(threads, n_blocks, k, build):
    X = interactions()
    blocked, params, state = _setup(X, np.float64, n_blocks, seed=None, k=k)
    n_items = X.shape[1]
    ref = [a.copy() for a in params[:2]]
    for _ in range(3):      # several epochs: each continues the stream
        order, negatives, _ = _plan(blocked, n_items, state)
        want = reference.bpr_epoch(blocked.users, blocked.items, order, negatives, *ref,
                                   learning_rate=0.1, l2=0.02)
        got, status = _kernel_epoch(build, blocked, params, state, threads)
        assert status == kernel.STATUS["ok"]
        assert got == pytest.approx(want, rel=1e-9)
        for a, b in zip(params[:2], ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-12)
    assert not params[2].any() and not params[3].any()      # no biases


def test_bpr_float32_matches_reference():
    X = interactions(seed=None)
    blocked, params, state = _setup(X, np.float32, 4, seed=None, k=16)
    ref = [a.astype(np.float64) for a in params[:2]]
    order, negatives, _ = _plan(blocked, X.shape[1], state)
    want = reference.bpr_epoch(blocked.users, blocked.items, order, negatives, *ref,
                               learning_rate=0.1, l2=0.02)
    got, _ = _kernel_epoch(kernel, blocked, params, state, 1)
    assert got == pytest.approx(want, rel=1e-4)
    for a, b in zip(params[:2], ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("n_blocks", [1, 4, 8])
def test_negatives_come_from_the_block_item_group(n_blocks):
    X = interactions(90, 70, 0.2, seed=None)
    blocked, _, state = _setup(X, np.float64, n_blocks, seed=None)
    n_items = X.shape[1]
    order, negatives, first = _plan(blocked, n_items, state, count=5)
    assert first.all()
    assert negatives.shape == (blocked.users.size, 5)
    assert np.array_equal(np.sort(order), np.arange(blocked.users.size))
    # each positive's draws lie in the item group of its own item (its block's column)
    group = (blocked.items[order] * n_blocks) // n_items
    drawn = negatives >= 0
    rows = np.nonzero(drawn)[0]
    assert np.array_equal((negatives[drawn] * n_blocks) // n_items, group[rows])
    # never one of the user's positives; -1 exactly where the draw hit one
    seen = {(int(u), int(i)) for u, i in zip(blocked.users, blocked.items, strict=True)}
    users = blocked.users[order]
    assert not any((int(users[r]), int(j)) in seen
                   for r, j in zip(rows, negatives[drawn], strict=True))
    assert drawn.mean() > 0.5           # most draws are kept at this density
    # draws are spread over the group, not stuck on one item
    assert np.unique(negatives[drawn]).size > n_items // 2


def test_ranking_plan_advances_the_stream_as_an_epoch():
    X = interactions(seed=None)
    blocked, params, state = _setup(X, np.float64, 3, seed=None)
    planned = state.copy()
    kernel.ranking_plan(blocked.users, blocked.items, blocked.block_ptr, 3, X.shape[1],
                        planned, 1)
    _kernel_epoch(kernel, blocked, params, state, 1)
    assert planned[0] == state[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["bpr", "softmax", "warp"])
def test_ranking_fit_is_bit_identical_for_any_thread_count(loss, dtype, monkeypatch):
    monkeypatch.setattr(sgd_driver, "_EPOCH_WORK_PER_THREAD", 1)
    X = interactions(200, 120, 0.1, seed=None)
    kw = dict(factors=8, solver="sgd", loss=loss, feedback="implicit", epochs=4,
              random_state=7, dtype=dtype, negatives=16 if loss == "softmax" else None)
    a = MatrixFactorization(num_threads=1, **kw).fit(X)
    b = MatrixFactorization(num_threads=1, **kw).fit(X)
    c = MatrixFactorization(num_threads=2, **kw).fit(X)
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert np.array_equal(getattr(a, name), getattr(c, name))
    assert a.training_loss_ == b.training_loss_ == c.training_loss_
    d = MatrixFactorization(num_threads=1, **{**kw, "random_state": 8}).fit(X)
    assert not np.array_equal(a.item_factors_, d.item_factors_)


def _held_out():
    """Fresh planted interactions, 20 % of them held out: (train, held)."""
    X = interactions(300, 150, 0.08, seed=None)
    coo = X.tocoo()
    test = np.random.default_rng().random(coo.nnz) < 0.2
    train = sp.csr_matrix((coo.data[~test], (coo.row[~test], coo.col[~test])), shape=X.shape)
    held = sp.csr_matrix((coo.data[test], (coo.row[test], coo.col[test])), shape=X.shape)
    return train, held


def test_bpr_learns_the_planted_ranking():
    train, held = _held_out()
    model = MatrixFactorization(8, loss="bpr", feedback="implicit", epochs=40,
                                learning_rate=0.05, random_state=0).fit(train)
    curve = np.array(model.training_loss_)
    assert curve[-1] < 0.6 * curve[0] < 0.6 * np.log(2) * 1.01
    assert not model.user_bias_.any() and not model.item_bias_.any()
    recall = recall_at_k(model, test=held, train=train, k=10)
    # a random ranking of the ~150 unseen items finds about 10/150 of the held-out ones
    assert recall > 3 * 10 / 150
    assert model.score(held) > 0.1      # NDCG@10 with the training pairs left out


def test_bpr_model_serves_saves_and_continues(tmp_path):
    X = interactions(seed=None)
    model = MatrixFactorization(6, loss="bpr", feedback="implicit", epochs=3,
                                random_state=0).fit(X)
    ids, scores = model.recommend(np.array([0, 1]), n=5, exclude=X)
    assert ids.shape == (2, 5) and np.all(np.diff(scores, axis=1) <= 0)
    assert not set(X[0].indices) & set(ids[0].tolist())
    pred = model.predict([0, 1], [2, 3])
    np.testing.assert_allclose(pred, np.einsum("ij,ij->i", model.user_factors_[[0, 1]],
                                               model.item_factors_[[2, 3]]), rtol=1e-6)
    model.save(tmp_path / "bpr.npz")
    loaded = fastmf.load(tmp_path / "bpr.npz")
    assert loaded.loss == "bpr" and loaded.feedback == "implicit"
    for name in ARRAYS:
        assert np.array_equal(getattr(loaded, name), getattr(model, name))
    before = model.item_factors_.copy()
    model.partial_fit(X, epochs=2)
    assert len(model.history_["loss"]) == 5
    assert not np.array_equal(model.item_factors_, before)


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(loss="bpr"), "needs feedback='implicit'"),
    (dict(loss="bpr", feedback="implicit", solver="als"), "solver='als' is fitted with the "
                                                          "squared loss"),
    (dict(feedback="implicit", solver="sgd"), "needs a ranking loss"),
    (dict(loss="logistic", feedback="implicit"), "needs a ranking loss"),
    (dict(loss="bpr", feedback="implicit", biases=True), "no biases"),
    (dict(loss="softmax"), "needs feedback='implicit'"),
    (dict(loss="bpr", feedback="implicit", negatives=8), "negatives=8 is for "
                                                         "loss='softmax'"),
    (dict(loss="softmax", feedback="implicit", negatives=0), "negatives"),
    (dict(loss="softmax", feedback="implicit", temperature=0.001), "temperature"),
    (dict(loss="warp"), "needs feedback='implicit'"),
    (dict(loss="warp", feedback="implicit", negatives=-1), "negatives"),
])
def test_ranking_loss_needs_implicit_sgd(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MatrixFactorization(4, **kwargs).fit(interactions(seed=0))


# ------------------------------------------------------------------- sampled softmax
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@pytest.mark.parametrize("count", [1, 6])
@KERNELS
def test_softmax_epoch_matches_reference(threads, n_blocks, count, build):
    X = interactions()
    blocked, params, state = _setup(X, np.float64, n_blocks, seed=None, k=5)
    n_items = X.shape[1]
    params[1][np.random.default_rng().integers(0, n_items, 3)] = 0     # zero rows: skipped
    ref = [a.copy() for a in params[:2]]
    for _ in range(3):
        order, negatives, first = _plan(blocked, n_items, state, count, by_user=True)
        want = reference.softmax_epoch(blocked.users, blocked.items, order, first,
                                       negatives, *ref, learning_rate=0.1, l2=0.02,
                                       temperature=0.3)
        got, status = _kernel_epoch(build, blocked, params, state, threads, loss="softmax",
                                    negatives=count, temperature=0.3)
        assert status == kernel.STATUS["ok"]
        assert got == pytest.approx(want, rel=1e-9)
        for a, b in zip(params[:2], ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)


def test_softmax_float32_matches_reference():
    X = interactions(seed=None)
    blocked, params, state = _setup(X, np.float32, 4, seed=None, k=16)
    ref = [a.astype(np.float64) for a in params[:2]]
    order, negatives, first = _plan(blocked, X.shape[1], state, 8, by_user=True)
    want = reference.softmax_epoch(blocked.users, blocked.items, order, first, negatives,
                                   *ref, learning_rate=0.1, l2=0.02, temperature=0.2)
    got, _ = _kernel_epoch(kernel, blocked, params, state, 1, loss="softmax", negatives=8,
                           temperature=0.2)
    assert got == pytest.approx(want, rel=1e-4)
    for a, b in zip(params[:2], ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def test_softmax_plan_shares_a_draw_per_user_run():
    X = interactions(90, 70, 0.2, seed=None)
    blocked, _, state = _setup(X, np.float64, 4, seed=None)
    order, negatives, first = _plan(blocked, X.shape[1], state, 7, by_user=True)
    assert np.array_equal(np.sort(order), np.arange(blocked.users.size))
    starts = np.flatnonzero(first)
    ends = np.append(starts[1:], order.size)
    for a, b in zip(starts, ends, strict=True):
        run = order[a:b]
        # one user's whole run of one block, consecutive, with one shared draw
        assert np.unique(blocked.users[run]).size == 1
        assert np.array_equal(run, np.arange(run[0], run[0] + run.size))
        assert (negatives[a:b] == negatives[a]).all()
    # every run of a block is visited once: the number of draws is the number of runs
    block_of = np.searchsorted(blocked.block_ptr, np.arange(blocked.users.size), "right")
    runs = np.sum((np.diff(blocked.users) != 0) | (np.diff(block_of) != 0)) + 1
    assert starts.size == runs


def test_softmax_learns_the_planted_ranking_with_unit_rows():
    train, held = _held_out()
    model = MatrixFactorization(8, loss="softmax", feedback="implicit", epochs=30,
                                negatives=32, temperature=0.2, random_state=0).fit(train)
    assert model.training_loss_[-1] < 0.8 * model.training_loss_[0]
    # rows with interactions are unit vectors; the others keep their zero start
    for factors, counts in ((model.user_factors_, np.diff(train.indptr)),
                            (model.item_factors_, np.diff(train.tocsc().indptr))):
        norms = np.linalg.norm(factors, axis=1)
        np.testing.assert_allclose(norms[counts > 0], 1.0, rtol=1e-5)
        assert not norms[counts == 0].any()
    assert recall_at_k(model, test=held, train=train, k=10) > 3 * 10 / 150


def test_softmax_parameters_round_trip(tmp_path):
    X = interactions(seed=None)
    model = MatrixFactorization(6, loss="softmax", feedback="implicit", epochs=2,
                                negatives=12, temperature=0.25, random_state=0).fit(X)
    model.save(tmp_path / "softmax.npz")
    loaded = fastmf.load(tmp_path / "softmax.npz")
    assert loaded.get_params()["negatives"] == 12
    assert loaded.get_params()["temperature"] == 0.25
    assert np.array_equal(loaded.item_factors_, model.item_factors_)


# ------------------------------------------------------------------------------ WARP
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n_blocks", [1, 3, 8])
@pytest.mark.parametrize("draws", [1, 5])
@KERNELS
def test_warp_epoch_matches_reference(threads, n_blocks, draws, build):
    X = interactions()
    blocked, params, state = _setup(X, np.float64, n_blocks, seed=None, k=6)
    n_items = X.shape[1]
    ref = [a.copy() for a in params[:2]]
    steps = 0.0
    for _ in range(3):
        order, candidates, _ = _plan(blocked, n_items, state, draws)
        want = reference.warp_epoch(blocked.users, blocked.items, order, candidates, *ref,
                                    learning_rate=0.05, l2=0.02, n_items=n_items)
        got, status = _kernel_epoch(build, blocked, params, state, threads, lr=0.05,
                                    loss="warp", negatives=draws)
        assert status == kernel.STATUS["ok"]
        assert got == pytest.approx(want, rel=1e-9)
        for a, b in zip(params[:2], ref, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-7, atol=1e-12)
        steps += want
    assert steps > 0        # some violators were found and weighted


def test_warp_learns_the_planted_ranking():
    train, held = _held_out()
    model = MatrixFactorization(8, loss="warp", feedback="implicit", epochs=30,
                                random_state=0).fit(train)
    assert model.get_params()["negatives"] is None
    # random factors score about 0.07 here; WARP at its defaults 0.24 or more (12 draws)
    assert recall_at_k(model, test=held, train=train, k=10) > 2 * 10 / 150


@pytest.mark.parametrize("loss", ["bpr", "softmax", "warp"])
def test_ranking_fit_validates_and_stops_early(loss):
    train, held = _held_out()
    model = MatrixFactorization(8, loss=loss, feedback="implicit", epochs=12,
                                early_stopping=2, validation_k=10, random_state=0)
    model.fit(train, validation=held)
    history = model.history_["val_ndcg@10"]
    assert len(history) == len(model.history_["loss"]) >= 3
    assert model.best_epoch_ == 1 + int(np.argmax(history))
    # the kept parameters are the best epoch's: the metric recomputed on them agrees
    assert model.score(held) == pytest.approx(
        fastmf.metrics.ndcg_at_k(model, test=held, train=train, k=10), rel=1e-6)
    assert history[model.best_epoch_ - 1] == pytest.approx(
        fastmf.metrics.ndcg_at_k(model, test=held, train=train, k=10), rel=1e-6)
