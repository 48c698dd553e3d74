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


def _kernel_epoch(build, blocked, params, state, threads, lr=0.1, l2=0.02):
    return build.sgd_epoch(
        blocked.users, blocked.items, blocked.values, blocked.block_ptr, blocked.n_blocks,
        *params, {"mu": 0.0, "learning_rate": lr, "l2": l2, "l2_bias": 0.0,
                  "biases": False, "loss_code": LOSSES["bpr"].code}, state, threads)


def _plan(blocked, n_items, state, count=1):
    return kernel.ranking_plan(blocked.users, blocked.items, blocked.block_ptr,
                               blocked.n_blocks, n_items, state.copy(), count)


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
        order, negatives = _plan(blocked, n_items, state)
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
    order, negatives = _plan(blocked, X.shape[1], state)
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
    order, negatives = _plan(blocked, n_items, state, count=5)
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
def test_bpr_fit_is_bit_identical_for_any_thread_count(dtype, monkeypatch):
    monkeypatch.setattr(sgd_driver, "_EPOCH_WORK_PER_THREAD", 1)
    X = interactions(200, 120, 0.1, seed=None)
    kw = dict(factors=8, solver="sgd", loss="bpr", feedback="implicit", epochs=4,
              random_state=7, dtype=dtype)
    a = MatrixFactorization(num_threads=1, **kw).fit(X)
    b = MatrixFactorization(num_threads=1, **kw).fit(X)
    c = MatrixFactorization(num_threads=2, **kw).fit(X)
    for name in ARRAYS:
        assert np.array_equal(getattr(a, name), getattr(b, name))
        assert np.array_equal(getattr(a, name), getattr(c, name))
    assert a.training_loss_ == b.training_loss_ == c.training_loss_
    d = MatrixFactorization(num_threads=1, **{**kw, "random_state": 8}).fit(X)
    assert not np.array_equal(a.item_factors_, d.item_factors_)


def test_bpr_learns_the_planted_ranking():
    X = interactions(300, 150, 0.08, seed=None)
    rng = np.random.default_rng()
    coo = X.tocoo()
    test = rng.random(coo.nnz) < 0.2
    train = sp.csr_matrix((coo.data[~test], (coo.row[~test], coo.col[~test])), shape=X.shape)
    held = sp.csr_matrix((coo.data[test], (coo.row[test], coo.col[test])), shape=X.shape)
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
])
def test_ranking_loss_needs_implicit_sgd(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MatrixFactorization(4, **kwargs).fit(interactions(seed=0))
