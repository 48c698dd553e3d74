"""fastmf.distributed: block ALS on a Dask LocalCluster of two worker processes.

The oracle is the single-machine ALS (``fastmf._als.sweep``, epoch after epoch) started
from the same parameters: the distributed fit solves the same rows with the same kernel,
the ratings of each row in the same order, so the results agree to rounding (the implicit
Gram matrix is summed block by block, the only change in the order of operations).
"""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

# fastmf.distributed needs dask[distributed,dataframe], pandas and pyarrow: without any of
# them the whole module is skipped (never a collection error)
pytest.importorskip("fastmf.distributed", exc_type=ImportError)
pd = pytest.importorskip("pandas")

from distributed import Client, LocalCluster  # noqa: E402

import fastmf  # noqa: E402
from fastmf import MatrixFactorization, _als  # noqa: E402
from fastmf._params import check_params  # noqa: E402
from fastmf._validation import check_ratings  # noqa: E402
from fastmf.distributed import _blocks, fit  # noqa: E402

RTOL = 1e-7


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as c:
        yield c


@pytest.fixture(autouse=True)
def two_workers(request):
    """Tests start with both workers up (the worker-kill test restarts one)."""
    if "client" in request.fixturenames:
        request.getfixturevalue("client").wait_for_workers(2, timeout=60)


def holey_ratings(seed: int = 0) -> sp.csr_matrix:
    """Ratings where user 5 and item 7 have no rating, users = 3 mod 4 rate no item
    = 1 mod 4 and users = 1 mod 4 rate no item = 2 mod 4, so several (P, Q) layouts have
    empty blocks and pairs of blocks that share nothing."""
    X = random_ratings(45, 33, 0.35, seed=seed).tolil()
    X[5, :] = 0
    X[:, 7] = 0
    rows, cols = np.nonzero(X.toarray())
    keep = ~(((rows % 4 == 3) & (cols % 4 == 1)) | ((rows % 4 == 1) & (cols % 4 == 2)))
    values = X.toarray()[rows[keep], cols[keep]]
    return sp.csr_matrix((values, (rows[keep], cols[keep])), shape=X.shape)


def row_blocks(X: sp.csr_matrix, bounds=(0, 17, 30)) -> list:
    edges = list(bounds) + [X.shape[0]]
    return [X[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True)]


def start_parameters(X, k: int, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    return [rng.normal(0, 0.3, (X.shape[0], k)), rng.normal(0, 0.3, (X.shape[1], k)),
            rng.normal(0, 0.1, X.shape[0]), rng.normal(0, 0.1, X.shape[1])]


def single_machine(X, model: MatrixFactorization, initial: list):
    p = check_params(model)
    cfg = p.als_settings()
    data = _als.prepare(check_ratings(X, p.dtype, loss=p.loss), cfg.model)
    arrays = [a.astype(p.dtype, copy=True) for a in initial]
    mu = float(np.mean(data.by_user.data, dtype=np.float64)) if p.biases else 0.0
    if p.loss == "logistic" and p.biases:
        mu = float(np.log(mu / (1 - mu)))
    losses = [_als.sweep(data, *arrays, cfg, global_bias=mu, n_threads=1)
              for _ in range(p.epochs)]
    return arrays, losses


def assert_same(model: MatrixFactorization, arrays: list, rtol=RTOL, atol=1e-10) -> None:
    names = ("user_factors_", "item_factors_", "user_bias_", "item_bias_")
    for name, expected in zip(names, arrays, strict=True):
        np.testing.assert_allclose(getattr(model, name), expected, rtol=rtol, atol=atol,
                                   err_msg=name)


SETTINGS = {
    "explicit": {"l2": 0.5},
    "implicit-cg": {"feedback": "implicit", "l2": 0.5, "alpha": 2.0, "linear_solver": "cg"},
    "implicit-cholesky": {"feedback": "implicit", "l2": 0.5, "alpha": 2.0,
                          "linear_solver": "cholesky"},
    # each block's rows see only the columns they rate: the penalty must still count
    # every column of the other side
    "implicit-subspace-penalty": {"feedback": "implicit", "l2": 0.5, "alpha": 2.0,
                                  "linear_solver": "subspace", "block_size": 4,
                                  "l2_exponent": 0.8, "l2_unobserved": 0.5},
}


@pytest.mark.parametrize("layout", [(1, 1), (2, 3), (4, 4)])
@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_same_factors_as_single_machine(client, setting, layout):
    X = holey_ratings()
    model = MatrixFactorization(6, solver="als", epochs=3, dtype=np.float64, num_threads=1,
                                **SETTINGS[setting])
    initial = start_parameters(X, 6)
    if SETTINGS[setting].get("feedback") == "implicit":
        initial[2][:] = 0
        initial[3][:] = 0
    expected, losses = single_machine(X, model, initial)
    fit(client, row_blocks(X), model, n_user_blocks=layout[0], n_item_blocks=layout[1],
        initial=initial)
    assert_same(model, expected)
    np.testing.assert_allclose(model.history_["loss"], losses, rtol=1e-9)
    assert not np.any(model.user_factors_[5]) and not np.any(model.item_factors_[7])


def test_logistic_matches_single_machine(client):
    X = random_ratings(30, 20, 0.5, seed=3, binary=True)
    model = MatrixFactorization(4, solver="als", loss="logistic", epochs=2, l2=1.0,
                                dtype=np.float64)
    initial = start_parameters(X, 4)
    expected, _ = single_machine(X, model, initial)
    fit(client, [X], model, n_user_blocks=2, n_item_blocks=2, initial=initial)
    assert_same(model, expected)


def test_default_start_is_that_of_fit(client):
    """Without ``initial`` the parameters are drawn as MatrixFactorization.fit draws
    them, so a seeded distributed fit is the seeded single-machine fit."""
    X = holey_ratings(seed=4)
    params = {"solver": "als", "epochs": 2, "l2": 0.3, "random_state": 7}
    local = MatrixFactorization(5, **params).fit(X)
    remote = fit(client, row_blocks(X), MatrixFactorization(5, **params),
                 n_user_blocks=3, n_item_blocks=2)
    assert remote.user_factors_.dtype == np.float32
    assert_same(remote, [local.user_factors_, local.item_factors_, local.user_bias_,
                         local.item_bias_], rtol=1e-5, atol=1e-6)
    assert remote.global_bias_ == pytest.approx(local.global_bias_, rel=1e-6)


def frame_of(X: sp.csr_matrix, *, prefix: bool = False):
    coo = X.tocoo()
    users, items = coo.row, coo.col
    if prefix:
        users = np.array([f"user-{u:03d}" for u in users])
        items = np.array([f"item-{i:03d}" for i in items])
    return pd.DataFrame({"user": users, "item": items, "value": coo.data})


def test_string_ids_are_mapped_and_kept(client, tmp_path):
    X = random_ratings(25, 15, 0.4, seed=5)
    frame = frame_of(X, prefix=True)
    before = frame.copy()
    model = MatrixFactorization(3, solver="als", epochs=2, l2=0.5, random_state=0,
                                dtype=np.float64)
    fit(client, frame.sample(frac=1.0, random_state=0), model, n_user_blocks=2,
        n_item_blocks=2)
    pd.testing.assert_frame_equal(frame, before)                 # input untouched
    np.testing.assert_array_equal(model.user_ids_, [f"user-{u:03d}" for u in range(25)])
    np.testing.assert_array_equal(model.item_ids_, [f"item-{i:03d}" for i in range(15)])
    local = MatrixFactorization(3, solver="als", epochs=2, l2=0.5, random_state=0,
                                dtype=np.float64).fit(X)
    assert_same(model, [local.user_factors_, local.item_factors_, local.user_bias_,
                        local.item_bias_])

    # an ordinary fitted model: predict, recommend, save and load with the id maps
    assert model.predict([0, 1], [2, 3], raw_ids=False).shape == (2,)
    np.testing.assert_array_equal(model.predict(["user-000", "user-001"],
                                                ["item-002", "item-003"]),
                                  model.predict([0, 1], [2, 3], raw_ids=False))
    top, _ = model.recommend(["user-000", "user-001"], n=3)     # raw ids in and out
    assert top.shape == (2, 3) and str(top[0, 0]).startswith("item-")
    model.save(tmp_path / "m.npz")
    loaded = fastmf.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.user_ids_, model.user_ids_)
    np.testing.assert_array_equal(loaded.predict(["user-000"], ["item-002"]),
                                  model.predict(["user-000"], ["item-002"]))


def test_parquet_input_and_named_columns(client, tmp_path):
    X = random_ratings(20, 12, 0.5, seed=6)
    frame = frame_of(X).rename(columns={"user": "u", "item": "i", "value": "r"})
    frame.to_parquet(tmp_path / "ratings.parquet")
    params = {"solver": "als", "epochs": 2, "l2": 0.5, "random_state": 1,
              "dtype": np.float64}
    model = fit(client, tmp_path / "ratings.parquet", MatrixFactorization(3, **params),
                columns=("u", "i", "r"), n_user_blocks=2, n_item_blocks=1)
    local = MatrixFactorization(3, **params).fit(X)
    assert_same(model, [local.user_factors_, local.item_factors_, local.user_bias_,
                        local.item_bias_])
    np.testing.assert_array_equal(model.user_ids_, np.arange(20))


def test_a_lost_worker_changes_nothing(client):
    X = holey_ratings(seed=8)
    params = {"solver": "als", "epochs": 5, "l2": 0.5, "random_state": 2,
              "dtype": np.float64}
    steady = fit(client, row_blocks(X), MatrixFactorization(4, **params),
                 n_user_blocks=2, n_item_blocks=2)
    killed = []

    def kill_one_worker(sweep, metrics):
        if sweep == 2:
            pids = client.run(os.getpid)
            victim = sorted(pids)[0]
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    hit = fit(client, row_blocks(X), MatrixFactorization(4, **params), n_user_blocks=2,
              n_item_blocks=2, callback=kill_one_worker)
    assert killed
    assert len(hit.history_["loss"]) == 5
    assert_same(hit, [steady.user_factors_, steady.item_factors_, steady.user_bias_,
                      steady.item_bias_], rtol=1e-12)


def test_checkpoint_and_resume(client, tmp_path):
    X = holey_ratings(seed=9)
    params = {"solver": "als", "l2": 0.5, "random_state": 3, "dtype": np.float64}
    path = tmp_path / "ckpt.npz"
    full = fit(client, [X], MatrixFactorization(4, epochs=4, **params))
    stopped = fit(client, [X], MatrixFactorization(4, epochs=4, **params), checkpoint=path,
                  checkpoint_every=1, callback=lambda sweep, _: sweep < 2)
    assert len(stopped.history_["loss"]) == 2
    assert path.exists()
    resumed = fit(client, [X], MatrixFactorization(4, epochs=4, **params),
                  n_user_blocks=3, n_item_blocks=2, checkpoint=path, resume=True)
    assert_same(resumed, [full.user_factors_, full.item_factors_, full.user_bias_,
                          full.item_bias_])
    np.testing.assert_allclose(resumed.history_["loss"], full.history_["loss"])
    with pytest.raises(ValueError, match="factors"):
        fit(client, [X], MatrixFactorization(5, epochs=4, **params), checkpoint=path,
            resume=True)


def test_links_of_the_two_sides_agree():
    """What item block q sends to user block p is exactly what p reads from q."""
    X = holey_ratings().tocoo()
    part = _blocks.Triples(X.row.astype(np.int64), X.col.astype(np.int64), X.data)
    P, Q = 4, 4
    cut = _blocks.split(part, P, Q)
    users = [_blocks.build(p, P, _blocks.n_rows_of(X.shape[0], P, p), Q, np.float64,
                           cut.user[p]) for p in range(P)]
    items = [_blocks.build(q, Q, _blocks.n_rows_of(X.shape[1], Q, q), P, np.float64,
                           cut.item[q]) for q in range(Q)]
    for p in range(P):
        for q in range(Q):
            np.testing.assert_array_equal(items[q].sends[p], users[p].needs[q])
            np.testing.assert_array_equal(users[p].sends[q], items[q].needs[p])
    assert sum(b.csr.nnz for b in users) == sum(b.csr.nnz for b in items) == X.nnz
    assert users[3].needs[1].size == 0 and users[1].needs[2].size == 0
    assert items[1].sends[3].size == 0


def bad(**changes):
    frame = pd.DataFrame({"user": [0, 0, 1, 2], "item": [0, 1, 1, 2],
                          "value": [1.0, 2.0, 3.0, 4.0]})
    for column, values in changes.items():
        frame[column] = values
    return frame


@pytest.mark.parametrize("data, kwargs, model_kw, error, match", [
    (bad(), {"columns": ("user", "item", "rating")}, {}, ValueError, "no column 'rating'"),
    (bad(value=["a", "b", "c", "d"]), {}, {}, ValueError, "must be numeric"),
    (bad(value=[1.0, -2.0, 3.0, 4.0]), {}, {"feedback": "implicit"}, ValueError,
     "non-negative"),
    (bad(item=[0, 0, 1, 2]), {}, {}, ValueError, "more than one rating for \\(user 0, item 0"),
    (bad(value=[1.0, np.nan, 3.0, 4.0]), {}, {}, ValueError, "non-finite"),
    (bad(value=[0.0, 1.0, -1.0, 1.0]), {}, {"loss": "logistic"}, ValueError, "binary"),
    (bad(), {"n_user_blocks": 0}, {}, ValueError, "n_user_blocks"),
    (bad(), {"n_item_blocks": 1.5}, {}, TypeError, "n_item_blocks"),
    (bad(), {}, {"solver": "sgd"}, ValueError, "solver='als'"),
    (bad(), {"initial": [np.zeros((3, 2))] * 4}, {}, ValueError, "shape"),
    (bad(), {"resume": True}, {}, ValueError, "checkpoint"),
    (np.ones((3, 3)), {}, {}, TypeError, "DataFrame"),
    ([sp.csr_matrix((2, 3)), sp.csr_matrix((2, 4))], {}, {}, ValueError, "widths"),
    ([sp.csr_matrix((2, 3))], {}, {}, ValueError, "empty"),
    (bad(value=[1 + 1j, 2, 3, 4]), {}, {}, ValueError, "must be numeric"),
    ([sp.csr_matrix(np.eye(2, 3) * (1 + 1j))], {}, {}, TypeError, "complex"),
])
def test_bad_input_is_refused(client, data, kwargs, model_kw, error, match):
    model = MatrixFactorization(2, **{"solver": "als", **model_kw})
    with pytest.raises(error, match=match):
        fit(client, data, model, **kwargs)
    assert not hasattr(model, "user_factors_")


def test_client_and_model_types(client):
    with pytest.raises(TypeError, match="distributed.Client"):
        fit(None, bad(), MatrixFactorization(2, solver="als"))
    with pytest.raises(TypeError, match="MatrixFactorization"):
        fit(client, bad(), object())


@pytest.mark.parametrize("form", ["coo", "csr"])
def test_duplicate_pairs_in_sparse_row_blocks_are_refused(client, form):
    """A COO row block with a repeated (user, item) pair was summed silently (CSR
    conversion) where the single-machine fit raises."""
    rows, cols = np.array([0, 1, 1, 2]), np.array([0, 1, 1, 2])
    values = np.array([1.0, 2.0, 3.0, 4.0])
    block = sp.coo_matrix((values, (rows, cols)), shape=(3, 3))
    if form == "csr":                     # a non-canonical CSR keeps both entries too
        block = sp.csr_matrix((values, cols, np.array([0, 1, 3, 4])), shape=(3, 3))
    with pytest.raises(ValueError, match="more than one rating"):
        MatrixFactorization(2, solver="als", epochs=1).fit(block)
    model = MatrixFactorization(2, solver="als", epochs=1)
    with pytest.raises(ValueError, match="more than one rating for \\(user 1, item 1"):
        fit(client, [block], model)
    assert not hasattr(model, "user_factors_")


def _damage(path, **changes):
    """Rewrite the checkpoint at ``path`` with entries changed (``meta`` keys as a dict)."""
    import json

    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    meta = json.loads(str(entries["meta"]))
    meta.update(changes.pop("meta", {}))
    entries["meta"] = np.array(json.dumps(meta))
    entries.update(changes)
    np.savez(path, **entries)


@pytest.mark.parametrize("changes, match", [
    ({"user_factors": np.full((45, 4), np.nan)}, "NaN"),
    ({"item_bias": np.zeros(20)}, "item_bias"),               # truncated
    ({"user_factors": np.zeros((45, 4), np.float32)}, "dtype"),
    ({"item_factors": np.zeros((33, 4, 1))}, "dimensions"),
    ({"meta": {"sweeps": 9}}, "sweeps"),
    ({"meta": {"sweeps": 1}}, "history"),
    ({"meta": {"global_bias": float("inf")}}, "global_bias"),
    ({"meta": {"signature": 3}}, "signature"),
])
def test_damaged_checkpoints_are_refused_on_resume(client, tmp_path, changes, match):
    X = holey_ratings(seed=9)
    params = {"solver": "als", "l2": 0.5, "random_state": 3, "dtype": np.float64}
    path = tmp_path / "ckpt.npz"
    fit(client, [X], MatrixFactorization(4, epochs=4, **params), checkpoint=path,
        checkpoint_every=1, callback=lambda sweep, _: sweep < 2)
    _damage(path, **changes)
    model = MatrixFactorization(4, epochs=4, **params)
    with pytest.raises(fastmf.ModelFileError, match=match):
        fit(client, [X], model, checkpoint=path, resume=True)
    assert not hasattr(model, "user_factors_")


def test_damaged_checkpoint_files_are_refused(tmp_path):
    from fastmf.distributed import _checkpoint

    signature = {"n_users": 3, "n_items": 2, "factors": 2, "dtype": "float64", "config": "c"}
    path = tmp_path / "ckpt.npz"
    _checkpoint.save(path, [np.zeros((3, 2)), np.zeros((2, 2)), np.zeros(3), np.zeros(2)],
                     sweeps=1, mu=0.5, history={"loss": [1.0]}, signature=signature)
    assert _checkpoint.load(path, signature, epochs=3)["sweeps"] == 1
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(fastmf.ModelFileError):
        _checkpoint.load(path, signature, epochs=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]



def test_absurd_thread_count_is_clamped_on_the_workers(client):
    """num_threads goes to every worker's kernels: clamped there, with the warning
    repeated on the client."""
    X = holey_ratings(seed=4)
    model = MatrixFactorization(3, solver="als", epochs=1, l2=0.5, num_threads=10**6)
    with pytest.warns(RuntimeWarning, match="on a worker: num_threads=1000000"):
        fit(client, [X], model)
    assert 1 <= model.n_threads_ <= max(64, 4 * os.cpu_count())


@pytest.mark.parametrize("preference", [None, [], "known"])
def test_tasks_run_without_a_worker_preference(client, preference):
    # A block without a home, or a scheduler that lists no worker yet (a cluster starting
    # or restarting), leaves the task unplaced instead of asking distributed for
    # allow_other_workers without workers, which it refuses with a ValueError.
    from fastmf.distributed._sweep import placed

    if preference == "known":
        preference = sorted(client.scheduler_info(n_workers=-1)["workers"])[:1]
        assert placed(preference) == {"workers": preference, "allow_other_workers": True}
    else:
        assert placed(preference) == {}
    assert client.submit(sum, [1, 2, 3], pure=False, **placed(preference)).result() == 6
