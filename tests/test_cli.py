"""The command line: fit, evaluate, recommend, config; mistakes are one-line errors."""

import numpy as np
import pytest

import fastmf
from fastmf.__main__ import main


@pytest.fixture
def ratings_file(tmp_path):
    """A u.data-style file with raw ids that are not 0..n-1."""
    rng = np.random.default_rng()
    users = rng.integers(0, 60, 3000) * 7 + 100
    items = rng.integers(0, 40, 3000) * 3 + 5
    pairs = np.unique(np.stack([users, items], 1), axis=0)
    ratings = rng.integers(1, 6, len(pairs))
    path = tmp_path / "u.data"
    path.write_text("".join(f"{u}\t{i}\t{r}\t881250949\n" for (u, i), r in zip(
        pairs, ratings, strict=True)))
    return path, pairs, ratings


def test_fit_evaluate_recommend(ratings_file, tmp_path, capsys):
    path, pairs, ratings = ratings_file
    model_path = tmp_path / "m.npz"
    assert main(["fit", str(path), "--factors", "4", "--epochs", "3", "-o",
                 str(model_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch   3/3" in out and "saved" in out
    model = fastmf.load(model_path)
    assert np.array_equal(model.user_ids_, np.unique(pairs[:, 0]))
    assert np.array_equal(model.item_ids_, np.unique(pairs[:, 1]))

    assert main(["evaluate", str(model_path), str(path)]) == 0
    out = capsys.readouterr().out
    u = np.searchsorted(model.user_ids_, pairs[:, 0])
    i = np.searchsorted(model.item_ids_, pairs[:, 1])
    rmse = np.sqrt(np.mean((model.predict(u, i, raw_ids=False) - ratings) ** 2))
    assert f"RMSE    : {rmse:.5f}" in out
    assert f"{len(pairs):,} scored, 0 of users or items the model does not know" in out

    user = int(pairs[0, 0])
    assert main(["recommend", str(model_path), "--user", str(user), "-n", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    scores = model.predict(np.full(model.item_ids_.size, user), model.item_ids_)
    best = model.item_ids_[np.argsort(-scores, kind="stable")[:3]]
    assert [int(line.split()[2]) for line in lines] == best.tolist()

    # --exclude skips what the user rated in the given file, and only that
    n_items = model.item_ids_.size
    assert main(["recommend", str(model_path), "--user", str(user), "-n", str(n_items),
                 "--exclude", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    rated = set(pairs[pairs[:, 0] == user, 1].tolist())
    unrated = [j for j in np.argsort(-scores, kind="stable")
               if int(model.item_ids_[j]) not in rated]
    assert 0 < len(rated) < n_items
    assert [int(line.split()[2]) for line in lines] == model.item_ids_[unrated].tolist()


@pytest.mark.parametrize("argv, message", [
    (["fit", "/no/such/file"], "cannot read ratings"),
    (["evaluate", "/no/model.npz", "/no/test"], "cannot read model"),
])
def test_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_bad_parameter_and_unknown_user(ratings_file, tmp_path, capsys):
    path, pairs, _ = ratings_file
    assert main(["fit", str(path), "--factors", "0", "-o", str(tmp_path / "m")]) == 1
    assert "factors must be >= 1" in capsys.readouterr().err
    assert main(["fit", str(path), "--epochs", "1", "-o", str(tmp_path / "m.npz")]) == 0
    assert main(["recommend", str(tmp_path / "m.npz"), "--user", "3"]) == 1
    assert "user 3 is not in the model" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "evaluate" in capsys.readouterr().out


def test_config(capsys):
    assert main(["config"]) == 0
    assert "openmp" in capsys.readouterr().out


@pytest.mark.parametrize("options, expected", [
    (["--solver", "als", "--feedback", "implicit", "--linear-solver", "subspace",
      "--block-size", "3", "--l2-exponent", "0.75"],
     {"linear_solver": "subspace", "block_size": 3, "l2_exponent": 0.75}),
    (["--feedback", "implicit", "--loss", "softmax", "--negatives", "7",
      "--temperature", "0.3"],
     {"loss": "softmax", "negatives": 7, "temperature": 0.3}),
])
def test_fit_passes_solver_and_loss_options(ratings_file, tmp_path, options, expected):
    path, _, _ = ratings_file
    out = tmp_path / "m.npz"
    assert main(["fit", str(path), "--factors", "4", "--epochs", "2", "-o", str(out),
                 *options]) == 0
    params = fastmf.load(out).get_params()
    assert {name: params[name] for name in expected} == expected


@pytest.mark.parametrize("options, message", [
    (["--solver", "als", "--linear-solver", "subspace", "--block-size", "0"],
     "block_size must be >= 1"),
    (["--feedback", "implicit", "--loss", "softmax", "--temperature", "0"], "temperature"),
])
def test_bad_solver_and_loss_options_are_one_line(ratings_file, tmp_path, options, message,
                                                   capsys):
    path, _, _ = ratings_file
    assert main(["fit", str(path), "-o", str(tmp_path / "m.npz"), *options]) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
