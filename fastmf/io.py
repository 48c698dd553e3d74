"""Reading rating files from local disk (never from the network).

:func:`load_movielens` reads the MovieLens formats (``u.data``, ``ratings.dat``,
``ratings.csv``); :func:`load_delimited` reads (user, item, rating) columns of any
delimited text file.  Both return a :class:`RatingFile`: the ratings as index triples
and the raw ids of the rows (sorted, so ``user_ids[users]`` gives back the ids of the
file: the id map of :class:`fastmf.data.IdMap`, as arrays), which also knows the shape
of the whole users x items matrix (``triples``, ``shape``).
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple, TextIO

import numpy as np

from ._ids import encode
from .data import Triples

__all__ = ["RatingFile", "load_delimited", "load_movielens"]

_MOVIELENS_FILENAMES = ("u.data", "ratings.dat", "ratings.csv")
_INTEGER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT64_MIN = int(np.iinfo(np.int64).min)
_INT64_MAX = int(np.iinfo(np.int64).max)
# Ratings are returned as float32: a larger magnitude would become infinity.
_RATING_LIMIT = float(np.finfo(np.float32).max)
# UTF-8, skipping a byte-order mark at the start (spreadsheet exports write one): read as
# plain UTF-8 it would glue itself to the first user id.
_ENCODING = "utf-8-sig"


class RatingFile(NamedTuple):
    """The ratings of a file: index triples and the raw ids of their rows and columns.

    It unpacks as ``users, items, ratings, user_ids, item_ids``; ``triples`` gives the
    first three as :class:`fastmf.data.Triples` with the ``shape`` of the whole file, so
    that splits of it keep every user and item.

    Attributes
    ----------
    users, items : numpy.ndarray of int32, shape (n,)
        Contiguous 0-based user and item indices.
    ratings : numpy.ndarray of float32, shape (n,)
        The ratings, in file order.
    user_ids, item_ids : numpy.ndarray
        Sorted distinct raw ids; ``user_ids[users]`` gives the ids in the file.

    Examples
    --------
    >>> import os, tempfile
    >>> from fastmf.io import load_movielens
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "u.data")
    ...     with open(path, "w") as f:
    ...         _ = f.write("7\\t30\\t4\\t0\\n9\\t10\\t2\\t0\\n")
    ...     data = load_movielens(path)
    >>> data.shape, data.triples.shape, data.user_ids.tolist()
    ((2, 2), (2, 2), [7, 9])
    """

    users: np.ndarray
    items: np.ndarray
    ratings: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_users, n_items)``: the numbers of distinct user and item ids."""
        return int(self.user_ids.shape[0]), int(self.item_ids.shape[0])

    @property
    def triples(self) -> Triples:
        """``(users, items, ratings)`` with the shape of the whole file."""
        return Triples(self.users, self.items, self.ratings, shape=self.shape)


def _resolve_movielens_path(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    if file.is_dir():
        for name in _MOVIELENS_FILENAMES:
            if (file / name).is_file():
                return file / name
        raise FileNotFoundError(
            f"no MovieLens ratings file ({', '.join(_MOVIELENS_FILENAMES)}) in directory {file}"
        )
    if not file.is_file():
        raise FileNotFoundError(f"MovieLens ratings file not found: {file}")
    return file


def _detect_format(first_line: str) -> tuple[str | None, bool]:
    """Return ``(separator, has_header)``; separator ``None`` means whitespace."""
    sep: str | None
    if "::" in first_line:
        sep = "::"
    elif "," in first_line:
        sep = ","
    else:
        sep = None
    fields = first_line.split(sep) if sep else first_line.split()
    has_header = sep == "," and _INTEGER.fullmatch(fields[0].strip()) is None
    return sep, has_header


def _check_line(fields: list[str]) -> str | None:
    """Return a description of what is wrong with a data line, or ``None``."""
    if len(fields) < 3:
        return f"expected at least 3 fields (user, item, rating), found {len(fields)}"
    for label, field in (("user id", fields[0]), ("item id", fields[1])):
        text = field.strip()
        if _INTEGER.fullmatch(text) is None or not _INT64_MIN <= int(text) <= _INT64_MAX:
            return f"{label} {text!r} is not a 64-bit integer"
    text = fields[2].strip()
    if _NUMBER.fullmatch(text) is None:
        return f"rating {text!r} is not a finite number"
    return _rating_problem(float(text), text)


def _rating_problem(value: float, text: str) -> str | None:
    """What is wrong with a parsed rating, or None: it must be finite and fit float32."""
    if not np.isfinite(value):
        return f"rating {text!r} is not a finite number"
    if abs(value) > _RATING_LIMIT:
        return f"rating {text!r} is beyond the float32 range (magnitude <= {_RATING_LIMIT:.4g})"
    return None


def _raise_for_bad_line(file: Path, sep: str | None, has_header: bool) -> None:
    """Scan ``file`` line by line and raise a ``ValueError`` at the first malformed line."""
    header_pending = has_header
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        for lineno, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            if header_pending:
                header_pending = False
                continue
            problem = _check_line(line.split(sep) if sep else line.split())
            if problem is not None:
                raise ValueError(f"{file}: malformed line {lineno}: {problem}: {line.rstrip()!r}")


def _skip_header(handle: TextIO) -> None:
    """Consume lines up to and including the first non-blank one."""
    for line in handle:
        if line.strip():
            return


def _numeric_lines(handle: TextIO, sep: str | None) -> Iterable[str]:
    """Lines of ``handle`` with a ``::`` separator turned into a tab."""
    if sep == "::":
        return (line.replace("::", "\t") for line in handle)
    return handle


def load_movielens(path: str | os.PathLike[str]) -> RatingFile:
    """Read a MovieLens ratings file from local disk.

    The format is detected from the first line of the file:

    * ``user<TAB>item<TAB>rating<TAB>timestamp`` -- MovieLens 100K ``u.data``, ``u1.base``,
      ``ua.test`` and similar (any whitespace separates the fields);
    * ``user::item::rating::timestamp`` -- MovieLens 1M / 10M ``ratings.dat``;
    * ``userId,movieId,rating,timestamp`` -- ``ratings.csv`` of ml-latest, 20M, 25M, 32M
      (the header line is optional).

    Fields after the rating (the timestamp) are ignored.

    Parameters
    ----------
    path : str or os.PathLike
        The ratings file, or a directory holding ``u.data``, ``ratings.dat`` or
        ``ratings.csv`` (looked up in that order).

    Returns
    -------
    RatingFile
        ``(users, items, ratings, user_ids, item_ids)``:

        users : numpy.ndarray of int32, shape (n,)
            Contiguous 0-based user indices.
        items : numpy.ndarray of int32, shape (n,)
            Contiguous 0-based item indices.
        ratings : numpy.ndarray of float32, shape (n,)
            The ratings, in file order.
        user_ids : numpy.ndarray of int64
            Sorted distinct raw user ids; ``user_ids[users]`` gives the ids in the file.
        item_ids : numpy.ndarray of int64
            Sorted distinct raw item ids; ``item_ids[items]`` gives the ids in the file.

        ``.triples`` holds the first three with the shape of the whole file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (or a directory holds no known ratings file).
    ValueError
        If the file holds no ratings or a line is malformed (too few fields, an id
        that is not an integer, a rating that is not a finite number or is beyond the
        float32 range); the message names the file and the line number.  The file is
        read as UTF-8; a byte-order mark at its start is skipped.

    Examples
    --------
    A file in the format of MovieLens 100K's ``u.data``:

    >>> import os, tempfile
    >>> from fastmf.io import load_movielens
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "u.data")
    ...     with open(path, "w") as f:
    ...         _ = f.write("196\\t242\\t3\\t881250949\\n186\\t302\\t3\\t891717742\\n"
    ...                     "196\\t377\\t1\\t878887116\\n")
    ...     users, items, ratings, user_ids, item_ids = load_movielens(folder)
    >>> users.tolist(), items.tolist(), ratings.tolist()
    ([1, 0, 1], [0, 1, 2], [3.0, 3.0, 1.0])
    >>> user_ids.tolist(), item_ids.tolist()
    ([186, 196], [242, 302, 377])
    """
    file = _resolve_movielens_path(path)
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        first_line = ""
        for first_line in handle:
            if first_line.strip():
                break
    if not first_line.strip():
        raise ValueError(f"{file}: file holds no ratings")
    sep, has_header = _detect_format(first_line)
    delimiter = "\t" if sep == "::" else sep

    dtype = np.dtype([("user", np.int64), ("item", np.int64), ("rating", np.float64)])
    try:
        with open(file, encoding=_ENCODING, errors="replace") as handle, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*input contained no data")
            if has_header:
                _skip_header(handle)
            table = np.loadtxt(
                _numeric_lines(handle, sep),
                dtype=dtype,
                delimiter=delimiter,
                usecols=(0, 1, 2),
                comments=None,
                ndmin=1,
            )
    except ValueError as exc:
        _raise_for_bad_line(file, sep, has_header)
        raise ValueError(f"{file}: could not parse ratings: {exc}") from exc

    raw_users = table["user"]
    raw_items = table["item"]
    rating = table["rating"]
    if raw_users.size == 0:
        raise ValueError(f"{file}: file holds no ratings")
    if not (np.abs(rating) <= _RATING_LIMIT).all():       # also NaN and infinity
        _raise_for_bad_line(file, sep, has_header)
        raise ValueError(f"{file}: non-finite or out-of-range ratings in the file")

    user_ids, users = _index(raw_users)
    item_ids, items = _index(raw_items)
    return RatingFile(users, items, rating.astype(np.float32), user_ids, item_ids)


def load_delimited(
    path: str | os.PathLike[str],
    *,
    sep: str = ",",
    columns: tuple[int, int, int] = (0, 1, 2),
    header: bool = False,
) -> RatingFile:
    """Read (user, item, rating) triples from any delimited text file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    sep : str, default=","
        Field separator (one or more characters).
    columns : tuple of three int, default=(0, 1, 2)
        Positions of the user id, the item id and the rating on each line.
    header : bool, default=False
        Skip the first line.

    Returns
    -------
    RatingFile
        ``(users, items, ratings, user_ids, item_ids)``, as :func:`load_movielens`.
        Ids may be any strings: ``user_ids`` holds them as int64 when every id is an
        integer within int64's range, as str otherwise.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        On a line with too few fields or a rating that is not a finite number or is
        beyond the float32 range; the message names the file and the line number.  A
        byte-order mark at the start of the file is skipped.

    Examples
    --------
    A semicolon-separated export with a header and string ids, the rating in the third
    column:

    >>> import os, tempfile
    >>> from fastmf.io import load_delimited
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = os.path.join(folder, "ratings.txt")
    ...     with open(path, "w") as f:
    ...         _ = f.write("user;item;stars\\nann;x;4\\nbob;x;2\\nann;y;5\\n")
    ...     users, items, ratings, user_ids, item_ids = load_delimited(
    ...         path, sep=";", header=True)
    >>> users.tolist(), items.tolist(), ratings.tolist()
    ([0, 1, 0], [0, 0, 1], [4.0, 2.0, 5.0])
    >>> user_ids.tolist(), item_ids.tolist()
    (['ann', 'bob'], ['x', 'y'])
    """
    if len(columns) != 3 or any(not isinstance(c, int) or c < 0 for c in columns):
        raise ValueError(f"columns must be three non-negative ints, got {columns!r}")
    if not sep:
        raise ValueError("sep must be a non-empty string")
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(f"ratings file not found: {file}")
    raw_users, raw_items, ratings = [], [], []
    width = max(columns) + 1
    with open(file, encoding=_ENCODING, errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if (header and number == 1) or not line.strip():
                continue
            fields = line.rstrip("\r\n").split(sep)
            if len(fields) < width:
                raise ValueError(f"{file}: line {number} has {len(fields)} fields, "
                                 f"needs at least {width}: {line.strip()!r}")
            try:
                value = float(fields[columns[2]])
            except ValueError:
                value = float("nan")
            problem = _rating_problem(value, fields[columns[2]].strip())
            if problem is not None:
                raise ValueError(f"{file}: line {number}: {problem}")
            raw_users.append(fields[columns[0]].strip())
            raw_items.append(fields[columns[1]].strip())
            ratings.append(value)
    if not ratings:
        raise ValueError(f"{file}: file holds no ratings")
    user_ids, users = _index(_as_ids(raw_users))
    item_ids, items = _index(_as_ids(raw_items))
    return RatingFile(users, items, np.asarray(ratings, dtype=np.float32), user_ids,
                      item_ids)


def _index(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct ids (the file's id map) and the int32 index of each entry of
    ``raw`` among them."""
    id_map, index = encode(raw)
    if len(id_map) > np.iinfo(np.int32).max:
        raise ValueError(f"too many distinct ids for int32 indices: {len(id_map)}")
    return np.array(id_map.ids), index.astype(np.int32)


def _as_ids(raw: list[str]) -> np.ndarray:
    """int64 ids when every one is an integer that fits int64, else the strings."""
    try:
        return np.array([int(x) for x in raw], dtype=np.int64)
    except (ValueError, OverflowError):
        return np.array(raw, dtype=str)
