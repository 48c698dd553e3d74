"""Property-based fuzzing (hypothesis) of the public API with hostile input.

Every call either returns a well-formed result (right shapes, finite values, ids in
range) or raises one of the documented exception types: ``ValueError`` (including
``fastmf.ModelFileError``), ``TypeError`` or ``FloatingPointError`` (``DivergenceError``,
``ALSError``).  Anything else, or a crash, is a bug.

Each test runs ``FASTMF_FUZZ_EXAMPLES`` examples (default 100) on tiny data, so the whole
module takes seconds; set it higher for a long local session.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import scipy.sparse as sp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

import fastmf  # noqa: E402
from fastmf import MatrixFactorization, datasets  # noqa: E402
from fastmf import metrics as fm  # noqa: E402
from fastmf import recommend as rec  # noqa: E402

EXAMPLES = int(os.environ.get("FASTMF_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
CLEAN = (ValueError, TypeError, FloatingPointError)
# A numeric RuntimeWarning (overflow in a cast, invalid value) means a non-finite value
# went somewhere unchecked: an error here.  The thread-count clamp's warning is expected,
# and so are the warnings about data that a model cannot learn much from (the generated
# sets are tiny: one rating value, more factors than items).
pytestmark = [pytest.mark.filterwarnings("error::RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:num_threads=:RuntimeWarning"),
              pytest.mark.filterwarnings("ignore:factors=.* is not smaller:UserWarning"),
              pytest.mark.filterwarnings("ignore:every rating is:UserWarning")]

# ---------------------------------------------------------------------------- inputs

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)
wild = st.one_of(finite, st.floats(allow_nan=True, allow_infinity=True),
                 st.sampled_from([0.0, -0.0, 1e-300, 1e300, -1e39, 3.4e38]))
small_int = st.integers(-3, 9)
VALUE_DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "bool",
                "complex64", "uint8"]


@st.composite
def ratings(draw, binary: bool = False, sane: bool = False):
    """(X, n_users, n_items): tiny ratings in a random container, dtype and shape, with
    possibly out-of-range or repeated ids, NaN, infinity and empty rows."""
    n_users, n_items = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    nnz = draw(st.integers(0 if not sane else 1, 18))
    ids = st.integers(0, n_users - 1) if sane else st.integers(-1, n_users)
    users = np.array(draw(st.lists(ids, min_size=nnz, max_size=nnz)), dtype=np.int64)
    items = np.array(draw(st.lists(st.integers(0, n_items - 1) if sane else
                                   st.integers(-1, n_items), min_size=nnz, max_size=nnz)),
                     dtype=np.int64)
    if binary:
        values = np.array(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=nnz,
                                        max_size=nnz)))
    elif sane:
        values = np.array(draw(st.lists(st.floats(1, 5), min_size=nnz, max_size=nnz)))
    else:
        values = np.array(draw(st.lists(wild, min_size=nnz, max_size=nnz)))
    if sane:
        keep = np.unique(users * n_items + items, return_index=True)[1]
        users, items, values = users[keep], items[keep], values[keep]
    else:
        dtype = draw(st.sampled_from(VALUE_DTYPES))
        with np.errstate(all="ignore"):
            values = values.astype(dtype)
    form = draw(st.sampled_from(["tuple", "coo", "csr", "csc", "lil", "dok", "bsr",
                                 "dense", "list"] if not sane else
                                ["tuple", "coo", "csr", "csc"]))
    if form == "tuple":
        return (users, items, values), n_users, n_items
    if form == "dense":
        return np.zeros((n_users, n_items)), n_users, n_items
    if form == "list":
        return [[1, 2], [3]], n_users, n_items
    try:
        # SciPy sums repeated pairs when it converts (inf + -inf: a warning); that is the
        # test's own construction, not fastmf's
        with np.errstate(all="ignore"):
            X = sp.coo_matrix((values, (users, items)), shape=(n_users, n_items))
            X = X.asformat(form)
    except (ValueError, TypeError, NotImplementedError):
        assume(False)
    return X, n_users, n_items


@st.composite
def estimator_params(draw):
    params = {
        "factors": draw(st.integers(1, 4)),
        "solver": draw(st.sampled_from(["sgd", "als"])),
        "epochs": draw(st.integers(0, 3)),
        "random_state": draw(st.integers(0, 2**32)),
        "dtype": draw(st.sampled_from([np.float32, np.float64])),
    }
    optional = {
        "loss": st.sampled_from(["squared", "logistic"]),
        "feedback": st.sampled_from(["explicit", "implicit"]),
        "learning_rate": st.one_of(st.floats(1e-4, 0.2), wild),
        "l2": st.one_of(st.floats(0, 2), wild),
        "l2_bias": st.one_of(st.none(), st.floats(0, 2)),
        "init_scale": st.one_of(st.floats(0, 1), wild),
        "biases": st.sampled_from([None, True, False]),
        "alpha": st.one_of(st.floats(0, 50), wild),
        "weighted_l2": st.booleans(),
        "linear_solver": st.sampled_from([None, "cholesky", "cg"]),
        "cg_steps": st.integers(-1, 4),
        "newton_steps": st.integers(-1, 3),
        "num_threads": st.sampled_from([None, -1, 1, 2, 0, 10**6]),
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            params[name] = draw(strategy)
    return params


def _check_fitted(model, n_users, n_items):
    k = model.factors
    assert model.user_factors_.shape[1] == model.item_factors_.shape[1] == k
    assert model.user_factors_.shape[0] >= 1 and model.item_factors_.shape[0] >= 1
    for a in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
        assert np.isfinite(a).all()
    assert np.isfinite(model.global_bias_)
    nu, ni = model.user_factors_.shape[0], model.item_factors_.shape[0]
    u, i = np.divmod(np.arange(nu * ni), ni)
    p = model.predict(u, i)
    assert p.shape == (nu * ni,) and np.isfinite(p).all()
    if model.loss == "logistic":
        assert ((p >= 0) & (p <= 1)).all()


def _check_top(ids, scores, m, n_items):
    assert ids.shape == scores.shape and ids.shape[0] == m and ids.shape[1] <= n_items
    real = ids >= 0
    assert (ids < n_items).all()
    assert np.isfinite(scores[real]).all() and np.isneginf(scores[~real]).all()
    for row in ids:                               # ids unique within a row, padding last
        kept = row[row >= 0]
        assert len(set(kept.tolist())) == kept.size
        assert (row[kept.size:] == -1).all()


# ---------------------------------------------------------------------------- fit

@FUZZ
@given(data=ratings(), params=estimator_params())
def test_fit_either_fits_or_raises_cleanly(data, params):
    X, n_users, n_items = data
    model = MatrixFactorization(**params)
    try:
        model.fit(X)
    except CLEAN:
        assert not hasattr(model, "user_factors_")
        return
    _check_fitted(model, n_users, n_items)


@FUZZ
@given(data=ratings(sane=True), more=ratings(), params=estimator_params())
def test_partial_fit_keeps_the_old_state_when_it_fails(data, more, params):
    params.update(loss="squared", feedback="explicit")
    model = MatrixFactorization(**params)
    try:
        model.fit(data[0])
    except CLEAN:
        return
    before = [a.copy() for a in (model.user_factors_, model.item_factors_)]
    try:
        model.partial_fit(more[0], epochs=1)
    except CLEAN:
        for a, b in zip(before, (model.user_factors_, model.item_factors_), strict=True):
            np.testing.assert_array_equal(a, b)
        return
    _check_fitted(model, data[1], data[2])


# ---------------------------------------------------------------------------- serving

@pytest.fixture(scope="module")
def served():
    rng = np.random.default_rng(0)
    X = sp.random(12, 9, density=0.4, format="csr", random_state=1)
    X.data = rng.integers(1, 6, X.nnz).astype(float)
    return MatrixFactorization(3, epochs=3, random_state=0).fit(X), X


ids_like = st.one_of(
    st.integers(-2, 14), st.lists(st.integers(-2, 14), max_size=6),
    st.lists(st.one_of(st.floats(-1, 14), st.just(float("nan"))), max_size=4),
    hnp.arrays(st.sampled_from([np.int8, np.int64, np.uint32, np.float32, np.bool_]),
               hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)),
    st.just([[0, 1]]), st.just("3"), st.none())
n_like = st.one_of(st.integers(-2, 30), st.just(10**12), st.just(2**63 - 1),
                   st.just(1.5), st.none(), st.just(True))


@st.composite
def sparse_like(draw, n_rows, n_cols):
    rows = draw(st.integers(0, 4)) if n_rows is None else n_rows
    cols = draw(st.sampled_from([n_cols, n_cols + 1, max(0, n_cols - 1)]))
    density = draw(st.floats(0, 1))
    X = sp.random(rows, cols, density=density, format="coo",
                  random_state=draw(st.integers(0, 100)))
    X.data = np.array(draw(st.lists(wild, min_size=X.nnz, max_size=X.nnz)),
                      dtype=np.float64) if X.nnz else X.data
    return X.asformat(draw(st.sampled_from(["csr", "csc", "coo", "lil"])))


@FUZZ
@given(users=ids_like, n=n_like, st_data=st.data())
def test_recommend_and_similar(served, users, n, st_data):
    model, _ = served
    exclude = st_data.draw(st.one_of(st.none(), sparse_like(12, 9), st.just(np.eye(12, 9))))
    items = st_data.draw(st.one_of(st.none(), ids_like))
    try:
        ids, scores = model.recommend(users, n=n, exclude=exclude, items=items)
    except CLEAN:
        pass
    else:
        _check_top(ids, scores, np.atleast_1d(users).shape[0], 9)
    try:
        ids, sims = model.similar_items(users, n=n)
    except CLEAN:
        pass
    else:
        _check_top(ids, sims, np.atleast_1d(users).shape[0], 9)
        assert (np.abs(sims[ids >= 0]) <= 1 + 1e-5).all()


@FUZZ
@given(st_data=st.data())
def test_transform_and_new_user_recommendations(served, st_data):
    model, _ = served
    form = st_data.draw(st.sampled_from(["sparse", "tuple", "other"]))
    if form == "sparse":
        X_new = st_data.draw(sparse_like(None, 9))
    elif form == "tuple":
        m = st_data.draw(st.integers(0, 5))
        X_new = (np.array(st_data.draw(st.lists(st.integers(-1, 4), min_size=m, max_size=m))),
                 np.array(st_data.draw(st.lists(st.integers(-1, 9), min_size=m, max_size=m))),
                 np.array(st_data.draw(st.lists(wild, min_size=m, max_size=m))))
    else:
        X_new = st_data.draw(st.sampled_from([None, [1, 2], np.ones((2, 9)), "x"]))
    try:
        factors, bias = model.transform(X_new)
    except CLEAN:
        pass
    else:
        assert factors.shape == (bias.shape[0], 3)
        assert np.isfinite(factors).all() and np.isfinite(bias).all()
    try:
        ids, scores = model.recommend(new_users=X_new, n=st_data.draw(n_like))
    except CLEAN:
        pass
    else:
        _check_top(ids, scores, ids.shape[0], 9)


@FUZZ
@given(st_data=st.data())
def test_array_level_functions(st_data):
    shape = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)
    dtype = st.sampled_from([np.float32, np.float64, np.int16, np.complex64, np.bool_])
    anything = hnp.arrays(dtype, shape)
    vectors = st_data.draw(st.one_of(anything, hnp.arrays(
        np.float64, st.tuples(st.integers(0, 4), st.integers(0, 3)), elements=wild)))
    factors = st_data.draw(st.one_of(anything, hnp.arrays(
        np.float32, st.tuples(st.integers(0, 6), st.integers(0, 3)), elements=finite)))
    bias = st_data.draw(st.one_of(st.none(), anything))
    n = st_data.draw(n_like)
    for call in (lambda: rec.recommend(vectors, factors, bias, n=n),
                 lambda: rec.similar(st_data.draw(ids_like), factors, n=n),
                 lambda: rec.fold_in(st_data.draw(sparse_like(None, 3)), factors, bias)):
        try:
            out = call()
        except CLEAN:
            continue
        for a in out:
            assert isinstance(a, np.ndarray)
            assert not np.isnan(a).any()
            assert np.isfinite(a[a != -np.inf]).all()     # -inf only pads top-n scores


@FUZZ
@given(st_data=st.data())
def test_ranking_metrics(served, st_data):
    model, X = served
    test = st_data.draw(st.one_of(sparse_like(12, 9), st.just(np.eye(12, 9))))
    train = st_data.draw(st.one_of(st.none(), sparse_like(12, 9)))
    k = st_data.draw(n_like)
    for metric in (fm.precision_at_k, fm.recall_at_k, fm.ndcg_at_k, fm.map_at_k):
        try:
            value = metric(model, test=test, k=k, train=train)
        except CLEAN:
            continue
        assert 0 <= value <= 1 + 1e-12
    try:
        value = fm.roc_auc_per_user(model, test=test, train=train)
    except CLEAN:
        return
    assert 0 <= value <= 1


# ---------------------------------------------------------------------------- files

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), wild,
              st.text(max_size=8)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=8), children, max_size=4)),
    max_leaves=12)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "model.npz"
    X = sp.random(10, 8, density=0.5, format="csr", random_state=2)
    X.data = X.data * 4 + 1
    MatrixFactorization(3, epochs=2, random_state=0).fit(X).save(path)
    with np.load(path) as archive:
        entries = {name: archive[name] for name in archive.files}
    return path, path.read_bytes(), entries


@FUZZ
@given(st_data=st.data())
def test_load_never_accepts_an_inconsistent_file(model_file, tmp_path_factory, st_data):
    path, raw, entries = model_file
    target = tmp_path_factory.mktemp("case") / "m.npz"
    how = st_data.draw(st.sampled_from(["meta", "array", "drop", "bytes", "truncate"]))
    if how in ("meta", "array", "drop"):
        entries = dict(entries)
        if how == "meta":
            meta = json.loads(str(entries["meta"]))
            key = st_data.draw(st.sampled_from(sorted(meta) + ["params.factors",
                                                                "params.dtype",
                                                                "fitted.loss"]))
            value = st_data.draw(json_values)
            if "." in key:
                outer, inner = key.split(".")
                meta[outer] = dict(meta[outer], **{inner: value})
            else:
                meta[key] = value
            entries["meta"] = np.array(json.dumps(meta))
        elif how == "array":
            name = st_data.draw(st.sampled_from(sorted(entries) + ["user_ids", "item_ids"]))
            entries[name] = st_data.draw(hnp.arrays(
                st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_,
                                 np.dtype("U3"), np.dtype(">f4"), np.complex64]),
                hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=11)))
        else:
            entries.pop(st_data.draw(st.sampled_from(sorted(entries))))
        np.savez(target, **entries)
    elif how == "bytes":
        data = bytearray(raw)
        for _ in range(st_data.draw(st.integers(1, 4))):
            at = st_data.draw(st.integers(0, len(data) - 1))
            data[at] = st_data.draw(st.integers(0, 255))
        target.write_bytes(bytes(data))
    else:
        target.write_bytes(raw[: st_data.draw(st.integers(0, len(raw)))])
    try:
        model = fastmf.load(target)
    except fastmf.ModelFileError:
        return
    _check_fitted(model, *model.user_factors_.shape)
    ids, scores = model.recommend(np.arange(model.user_factors_.shape[0]), n=3)
    _check_top(ids, scores, model.user_factors_.shape[0], model.item_factors_.shape[0])


field = st.one_of(st.integers(-5, 10**20).map(str), wild.map(repr),
                  st.sampled_from(["", "nan", "inf", "1e300", "x", " 3 ", "\u00e9", "0x1",
                                   "1_0", "+4", "--1"]))


@FUZZ
@given(st_data=st.data())
def test_readers_return_consistent_arrays_or_value_error(tmp_path_factory, st_data):
    sep = st_data.draw(st.sampled_from(["\t", ",", "::", " ", "|", ";"]))
    lines = st_data.draw(st.lists(st.lists(field, min_size=0, max_size=5).map(sep.join),
                                  max_size=8))
    text = st_data.draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    raw = text.encode("utf-8")
    if st_data.draw(st.booleans()):
        raw = b"\xef\xbb\xbf" + raw
    if st_data.draw(st.booleans()):
        raw += bytes(st_data.draw(st.lists(st.integers(0, 255), max_size=6)))
    path = tmp_path_factory.mktemp("r") / "ratings.csv"
    path.write_bytes(raw)
    readers = [datasets.load_movielens,
               lambda p: datasets.load_delimited(p, sep=sep if sep != " " else ",")]
    for read in readers:
        try:
            users, items, values, user_ids, item_ids = read(path)
        except ValueError:
            continue
        n = values.shape[0]
        assert n > 0 and users.shape == items.shape == (n,)
        assert values.dtype == np.float32 and np.isfinite(values).all()
        assert users.min() >= 0 and users.max() < user_ids.size
        assert items.min() >= 0 and items.max() < item_ids.size
        assert np.unique(users).size == user_ids.size
