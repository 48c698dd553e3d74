"""What a new user meets first: defaults that fit without tuning, warnings where the data
cannot give what they want, the demo on real files, the command line's help, the
ranking metrics' keywords and the log level of training messages."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_ratings

import fastmf
from fastmf import MatrixFactorization, metrics
from fastmf.__main__ import _parser, demo_parser, main
from fastmf._params import DEFAULTS, check_params
from fastmf.io import load_movielens
from fastmf.model_selection import train_test_split

# ------------------------------------------------------------------------------ defaults


@pytest.mark.parametrize("kind, kwargs", [
    ("sgd", {}), ("sgd-logistic", {"loss": "logistic"}), ("als-explicit", {"solver": "als"}),
    ("als-implicit", {"solver": "als", "feedback": "implicit"}),
    ("als-logistic", {"solver": "als", "loss": "logistic"}),
])
def test_none_stands_for_the_defaults_of_the_kind_of_fit(kind, kwargs):
    p = check_params(MatrixFactorization(**kwargs))
    for name, value in DEFAULTS[kind].items():
        assert getattr(p, name) == value
    given = check_params(MatrixFactorization(**kwargs, l2=0.5, init_scale=0.2,
                                             weighted_l2=False))
    assert (given.l2, given.init_scale, given.weighted_l2) == (0.5, 0.2, False)
    assert MatrixFactorization(**kwargs).get_params()["l2"] is None   # stored unchanged


def test_explicit_als_at_its_defaults_on_movielens_100k(movielens_100k):
    """The default l2=0.02 (unweighted) gave RMSE 1.23 on MovieLens 100K; the defaults
    must reach 0.92 on the five standard folds."""
    folder = movielens_100k.parent
    errors = []
    for fold in range(1, 6):
        train, test = (load_movielens(folder / f"u{fold}.{part}") for part in ("base", "test"))
        model = MatrixFactorization(solver="als", random_state=0).fit(
            (train.user_ids[train.users] - 1, train.item_ids[train.items] - 1, train.ratings))
        pred = model.predict(test.user_ids[test.users] - 1, test.item_ids[test.items] - 1)
        errors.append(metrics.rmse(test.ratings, pred))
    assert np.mean(errors) <= 0.92, errors


def test_the_defaults_are_documented_with_their_reasons():
    doc = MatrixFactorization.__doc__
    assert "Defaults" in doc
    for kind in DEFAULTS.values():
        for value in kind.values():
            assert (f"{value:g}" if not isinstance(value, bool) else str(value)) in doc


# ------------------------------------------------------------------------------ warnings


def _warned(fit) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit()
    for w in caught:
        assert w.filename == __file__, w.filename        # points at the caller's line
    return [str(w.message) for w in caught]


def test_logistic_loss_on_one_class_warns():
    """Positive-only data gave a useless model (global bias 13.8) without a word."""
    X = random_ratings(40, 30, 0.3, seed=0)
    X.data[:] = 1.0
    messages = _warned(lambda: MatrixFactorization(4, loss="logistic", epochs=1).fit(X))
    assert any("labels of one class only" in m for m in messages)
    messages = _warned(lambda: MatrixFactorization(4, epochs=1).fit(X))
    assert any("every rating is 1" in m for m in messages)
    assert _warned(lambda: MatrixFactorization(4, solver="als", feedback="implicit",
                                               epochs=1).fit(X)) == []


def test_factors_not_below_the_items_warn(ratings):
    messages = _warned(lambda: MatrixFactorization(ratings.shape[1], epochs=1).fit(ratings))
    assert any(f"factors={ratings.shape[1]} is not smaller than the number of items" in m
               for m in messages)
    assert _warned(lambda: MatrixFactorization(4, epochs=1).fit(ratings)) == []
    model = MatrixFactorization(4, epochs=1).fit(ratings)
    assert _warned(lambda: model.partial_fit(ratings, epochs=1)) == []


def test_negative_implicit_values_are_an_error(ratings):
    X = ratings.copy()
    X.data -= 3.0
    with pytest.raises(ValueError, match="non-negative"):
        MatrixFactorization(solver="als", feedback="implicit").fit(X)


# ------------------------------------------------------------------------------ demo


def _movielens_files(tmp_path, movielens_100k):
    """The ratings of u.data in each supported format."""
    data = load_movielens(movielens_100k)
    users, items = data.user_ids[data.users], data.item_ids[data.items]
    rows = list(zip(users.tolist(), items.tolist(), data.ratings.astype(int).tolist(),
                    strict=True))
    dat = tmp_path / "ratings.dat"
    dat.write_text("".join(f"{u}::{i}::{r}::0\n" for u, i, r in rows))
    csv = tmp_path / "ratings.csv"
    csv.write_text("userId,movieId,rating,timestamp\n"
                   + "".join(f"{u},{i},{r}.0,0\n" for u, i, r in rows))
    return [movielens_100k, movielens_100k.parent / "u1.base", dat, csv]


def test_demo_runs_on_every_movielens_format_with_any_seed(tmp_path, movielens_100k,
                                                           capsys):
    """demo on u.data died with the default seed ("items contains index 1681, but the
    model knows only 1681"): the model was sized from the training split."""
    for path in _movielens_files(tmp_path, movielens_100k):
        for seed in (0, 1, 2, 7):
            assert main(["demo", str(path), "--seed", str(seed), "--epochs", "2"]) == 0
            out = capsys.readouterr().out
            assert "RMSE    : train" in out


@pytest.mark.parametrize("n", [10_000, 10_001, 23_457])
def test_demo_runs_at_any_synthetic_size_it_accepts(n, capsys):
    for seed in (0, 5):
        assert main(["demo", "--ratings", str(n), "--seed", str(seed), "--epochs", "1"]) == 0
    assert f"{n:,} ratings" in capsys.readouterr().out


def test_a_training_split_of_a_file_knows_every_id(movielens_100k):
    data = load_movielens(movielens_100k)
    for seed in range(5):
        train, test = train_test_split(data.triples, random_state=seed)
        model = MatrixFactorization(2, epochs=1).set_params(unknown="raise").fit(train)
        model.predict(test[0], test[1])            # every id of the file has a row


# ------------------------------------------------------------------------------ CLI


def _actions():
    parser = _parser()
    subparsers = parser._subparsers._group_actions[0].choices
    for name, sub in [("fastmf", parser), ("demo", demo_parser()),
                      *((n, p) for n, p in subparsers.items() if n != "demo")]:
        for action in sub._actions:
            if action.help not in (None, "==SUPPRESS==") and action.dest not in (
                    "help", "version", "command") and action.option_strings:
                yield name, action


def test_every_option_says_its_default():
    """The CLI's options had no help text or defaults."""
    seen = 0
    for name, action in _actions():
        assert "(default: " in action.help or (action.required and "required" in
                                               action.help), (name, action.option_strings)
        seen += 1
    assert seen > 25


def test_version_and_weighted_l2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"fastmf {fastmf.__version__}"
    data = tmp_path / "u.data"
    rng = np.random.default_rng(0)
    pairs = np.unique(np.stack([rng.integers(1, 40, 900), rng.integers(1, 30, 900)], 1),
                      axis=0)
    data.write_text("".join(f"{u}\t{i}\t{rng.integers(1, 6)}\t0\n" for u, i in pairs))
    params = {}
    for flag in ("--weighted-l2", "--no-weighted-l2"):
        out = tmp_path / f"{flag}.npz"
        assert main(["fit", str(data), "--solver", "als", "--factors", "4", flag,
                     "--l2", "0.1", "-o", str(out)]) == 0
        params[flag] = fastmf.load(out).get_params()["weighted_l2"]
    assert params == {"--weighted-l2": True, "--no-weighted-l2": False}


def test_evaluate_reports_ranking_metrics_for_implicit_models(tmp_path, capsys):
    """evaluate reported an RMSE of 3.20 for an implicit model and no ranking metric."""
    rng = np.random.default_rng(1)
    pairs = np.unique(np.stack([rng.integers(1, 60, 3000), rng.integers(1, 40, 3000)], 1),
                      axis=0)
    rng.shuffle(pairs)
    train, test = tmp_path / "train.data", tmp_path / "test.data"
    cut = len(pairs) * 4 // 5
    for path, part in ((train, pairs[:cut]), (test, pairs[cut:])):
        path.write_text("".join(f"{u}\t{i}\t1\t0\n" for u, i in part))
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(train), "--solver", "als", "--feedback", "implicit",
                 "--factors", "4", "-o", str(model_path)]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(model_path), str(test), "--train", str(train),
                 "-k", "5"]) == 0
    out = capsys.readouterr().out
    assert "RMSE" not in out
    model = fastmf.load(model_path)
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    test_data, train_data = load_movielens(test), load_movielens(train)

    def matrix(d):
        u = np.searchsorted(model.user_ids_, d.user_ids[d.users])
        i = np.searchsorted(model.item_ids_, d.item_ids[d.items])
        ok = (u < len(model.user_ids_)) & (i < len(model.item_ids_))
        ok[ok] &= ((model.user_ids_[u[ok]] == d.user_ids[d.users][ok])
                   & (model.item_ids_[i[ok]] == d.item_ids[d.items][ok]))
        return sp.csr_matrix((np.ones(ok.sum()), (u[ok], i[ok])),
                             shape=(len(model.user_ids_), len(model.item_ids_)))

    want = metrics.precision_at_k(model, test=matrix(test_data), train=matrix(train_data),
                                  k=5)
    assert float(lines["precision@5"]) == pytest.approx(want, abs=1e-5)
    assert "recall@5" in lines and "ndcg@5" in lines and "AUC     " in lines


def test_similar_command(tmp_path, capsys):
    rng = np.random.default_rng(2)
    pairs = np.unique(np.stack([rng.integers(1, 40, 900), rng.integers(1, 30, 900)], 1),
                      axis=0)
    data = tmp_path / "u.data"
    data.write_text("".join(f"{u}\t{i}\t{rng.integers(1, 6)}\t0\n" for u, i in pairs))
    assert main(["fit", str(data), "--factors", "4", "-o", str(tmp_path / "m.npz")]) == 0
    capsys.readouterr()
    item = int(pairs[0, 1])
    assert main(["similar", str(tmp_path / "m.npz"), "--item", str(item), "-n", "3"]) == 0
    model = fastmf.load(tmp_path / "m.npz")
    ids, _ = model.similar_items([item], n=3)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [int(line.split()[2]) for line in lines] == ids[0].tolist()


# ------------------------------------------------------------------------------ API


def test_ranking_metrics_take_their_matrices_by_keyword(ratings):
    """implicit's precision_at_k(model, train, test, K) takes the matrices in the other
    order: a positional call is refused instead of silently swapping them."""
    model = MatrixFactorization(4, epochs=1).fit(ratings)
    for metric in (metrics.precision_at_k, metrics.recall_at_k, metrics.ndcg_at_k,
                   metrics.map_at_k, metrics.roc_auc_per_user):
        with pytest.raises(TypeError, match="positional"):
            metric(model, ratings, ratings)
        assert 0.0 <= metric(model, test=ratings) <= 1.0


def test_early_stopping_logs_at_debug(ratings, caplog):
    """Early-stopping messages logged at INFO while the README says DEBUG."""
    train, val = train_test_split(ratings, random_state=0)
    fit = MatrixFactorization(4, epochs=30, learning_rate=0.05, early_stopping=1,
                              random_state=0)
    with caplog.at_level(logging.INFO, logger="fastmf"):
        fit.fit(train, validation=val)
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []
    with caplog.at_level(logging.DEBUG, logger="fastmf"):
        fit.fit(train, validation=val)
    stops = [r for r in caplog.records if "early stopping" in r.getMessage()]
    assert stops and all(r.levelno == logging.DEBUG for r in stops)
