"""ALS solver driver: builds the two CSR views, runs the sweeps and turns kernel statuses
into errors.

See ``src_cython/als.pyx`` for the per-row maths.  One sweep solves every user with the
items fixed, then every item with the users fixed; the training loss is read off the
second half-sweep at no extra pass over the data.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial

import numpy as np
import scipy.sparse as sp

from ._dispatch import kernel
from ._kernels import als as _als_kernel
from ._kernels import layout as _layout_kernel
from ._threads import single_threaded_blas
from ._validation import Ratings, csr_of, index_dtype

logger = logging.getLogger("fastmf")

MODELS = tuple(_als_kernel.MODELS)
LINEAR_SOLVERS = tuple(_als_kernel.LINEAR_SOLVERS)


class ALSError(FloatingPointError):
    """A row's least-squares (or Newton) system could not be solved: it is not positive
    definite or holds a non-finite value.

    The model is left as it was before the call.  A positive ``l2`` (and ``l2_bias``)
    makes every system positive definite.

    Examples
    --------
    >>> import numpy as np
    >>> import fastmf
    >>> one_rating_each = (np.array([0, 1]), np.array([0, 1]), np.array([4.0, 3.0]))
    >>> model = fastmf.MatrixFactorization(1, solver="als", l2=0.0, epochs=1)
    >>> try:
    ...     model.fit(one_rating_each)
    ... except fastmf.ALSError as exc:
    ...     print("not positive definite" in str(exc), hasattr(model, "user_factors_"))
    True False
    """


@dataclass(frozen=True)
class ALSConfig:
    """Validated ALS hyperparameters (see MatrixFactorization for their meaning);
    ``fastmf._params.Params.als_settings`` makes them from the checked parameters."""

    model: str              # "explicit", "implicit" or "logistic"
    linear_solver: str      # "cholesky" or "cg"
    cg_steps: int
    newton_steps: int
    l2: float
    l2_bias: float
    weighted_l2: bool
    biases: bool
    alpha: float
    block_size: int = 16            # "subspace": coordinates per block (clamped to d)
    l2_exponent: float = 1.0        # weighted_l2: the count raised to this power
    l2_unobserved: float = 0.0      # weighted_l2, implicit: weight of unobserved cells

    def kernel_settings(self, global_bias: float, want_loss: bool, d: int,
                        n_cols: int) -> dict[str, float | int | bool]:
        """The scalar arguments of the kernel's ``solve_rows`` (its ``SweepSettings``)
        for rows of ``d`` unknowns against ``n_cols`` columns; implicit feedback has no
        biases."""
        return {"model": _als_kernel.MODELS[self.model],
                "linear_solver": _als_kernel.LINEAR_SOLVERS[self.linear_solver],
                "cg_steps": self.cg_steps, "newton_steps": self.newton_steps,
                "mu": global_bias, "l2": self.l2, "l2_bias": self.l2_bias,
                "alpha": self.alpha, "weighted_l2": self.weighted_l2,
                "l2_exponent": self.l2_exponent,
                "l2_unobserved": unobserved_count(self.l2_unobserved, self.alpha, n_cols),
                "block_size": max(1, min(self.block_size, d)),
                "biases": self.solves_biases, "want_loss": want_loss}

    @property
    def solves_biases(self) -> bool:
        """Whether a row's unknowns include its bias (never for implicit feedback)."""
        return self.biases and self.model != "implicit"


def unobserved_count(l2_unobserved: float, alpha: float, n_cols: int) -> float:
    """What ``weighted_l2`` adds to a row's count for its unobserved cells:
    ``l2_unobserved * n_cols / (1 + alpha)``, i.e. ``l2_unobserved`` times the number of
    columns weighed as an observed cell weighs (confidence ``1 + alpha``); 0.0 exactly
    when ``l2_unobserved`` is 0."""
    if l2_unobserved == 0:
        return 0.0
    return l2_unobserved * n_cols / (1.0 + alpha)


class ALSData:
    """The ratings as users x items and items x users CSR matrices, indices and indptr of
    one integer type (int32 unless the data needs int64), values in the model dtype.

    ``by_item`` is built from ``by_user`` at its first use: a fit lets go of the input
    triples before its first sweep, so they never coexist with both matrices.
    """

    def __init__(self, by_user: sp.csr_matrix, n_threads: int = 1) -> None:
        self.by_user = by_user
        self._n_threads = n_threads

    @cached_property
    def by_item(self) -> sp.csr_matrix:
        return _transpose(self.by_user, self._n_threads)

    @property
    def nnz(self) -> int:
        return int(self.by_user.nnz)


def _raise_for_layout(status: int, row: int, col: int) -> None:
    codes = _layout_kernel.STATUS
    if status == codes["nomem"]:
        raise MemoryError("could not allocate the scratch buffers of the rating matrix")
    if status == codes["duplicate"]:
        raise ValueError(
            f"X contains more than one rating for (user {row}, item {col}); "
            "aggregate duplicates (for example sum or average them) before fitting"
        )


def prepare(data: Ratings, model: str, n_threads: int = 1) -> ALSData:
    """Build the users x items CSR (by counting sorts, see ``src_cython/layout.pyx``; the
    transpose follows at first use); raises ValueError on a duplicate (user, item) pair,
    or on a negative value for implicit feedback (confidence ``1 + alpha r`` needs
    ``r >= 0``)."""
    if model == "implicit" and data.values.size and data.values.min() < 0:
        bad = int(np.argmin(data.values))
        raise ValueError(
            "feedback='implicit' needs non-negative interaction values (counts or "
            f"strengths); X has {data.values[bad]} at user {int(data.users[bad])}, "
            f"item {int(data.items[bad])}"
        )
    # one index type for both arrays, wide enough for every count and id they hold
    # (see _validation.index_dtype)
    index = index_dtype(max(data.nnz, data.n_users, data.n_items))
    indptr = np.empty(data.n_users + 1, dtype=index)
    indices = np.empty(data.nnz, dtype=index)
    values = np.empty(data.nnz, dtype=data.values.dtype)
    status, pos = _layout_kernel.csr_from_triples(
        data.users, data.items, data.values, data.n_items, indptr, indices, values,
        max(1, n_threads))
    if status != _layout_kernel.STATUS["ok"]:
        row = int(np.searchsorted(indptr, pos, side="right")) - 1 if pos >= 0 else -1
        _raise_for_layout(status, row, int(indices[pos]) if pos >= 0 else -1)
    by_user = csr_of(values, indices, indptr, (data.n_users, data.n_items), index)
    by_user.has_canonical_format = True
    return ALSData(by_user, n_threads)


def _transpose(csr: sp.csr_matrix, n_threads: int = 1) -> sp.csr_matrix:
    """The items x users CSR of a users x items CSR, by one counting pass; within each
    item row the users come out in increasing order."""
    n_rows, n_cols = csr.shape
    indptr = np.empty(n_cols + 1, dtype=csr.indptr.dtype)
    indices = np.empty(csr.nnz, dtype=csr.indices.dtype)
    data = np.empty(csr.nnz, dtype=csr.data.dtype)
    _layout_kernel.csr_transpose(csr.indptr, csr.indices, csr.data, indptr, indices, data,
                                 max(1, n_threads))
    out = csr_of(data, indices, indptr, (n_cols, n_rows), indptr.dtype.type)
    out.has_canonical_format = True
    return out


# Rows of Y converted to float64 at a time by gram64: the Gram matrix never needs a
# float64 copy of the whole factor matrix (100 MB for 200,000 x 64 factors).
_GRAM_CHUNK = 8192


def _chunk_gram(Y: np.ndarray, start: int) -> np.ndarray:
    chunk = Y[start:start + _GRAM_CHUNK].astype(np.float64, copy=False)
    return chunk.T @ chunk


def gram64(Y: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """``Y^T Y`` accumulated in float64, chunk by chunk of rows, as a float64 array.

    The chunks' products are summed in row order whatever ``n_threads`` is; with more
    than one thread, that many chunks are multiplied at a time (each by the caller's
    BLAS, single-threaded under ``single_threaded_blas``), so the result is
    bit-identical for any thread count."""
    k = Y.shape[1]
    out = np.zeros((k, k), dtype=np.float64)
    starts = list(range(0, Y.shape[0], _GRAM_CHUNK))
    if n_threads <= 1 or len(starts) <= 1:
        for start in starts:
            out += _chunk_gram(Y, start)
        return out
    with ThreadPoolExecutor(min(n_threads, len(starts))) as pool:
        for wave in range(0, len(starts), n_threads):      # bounds the memory in flight
            for part in pool.map(partial(_chunk_gram, Y), starts[wave:wave + n_threads]):
                out += part
    return out


def gram(Y: np.ndarray, n_threads: int = 1) -> np.ndarray:
    """``Y^T Y`` accumulated in float64 and returned in Y's dtype."""
    return np.ascontiguousarray(gram64(Y, n_threads).astype(Y.dtype, copy=False))


def half_sweep(csr: sp.csr_matrix, X: np.ndarray, x_bias: np.ndarray, Y: np.ndarray,
               y_bias: np.ndarray, cfg: ALSConfig, *, global_bias: float, n_threads: int,
               want_loss: bool = False, side: str = "row",
               gram_matrix: np.ndarray | None = None, n_cols: int | None = None) -> float:
    """Solve every row of ``csr`` for ``X`` (and ``x_bias``) in place with ``Y`` fixed.

    ``Y`` holds the rows that ``csr.indices`` point to.  Implicit feedback needs the Gram
    matrix of the *whole* other side: it is ``gram(Y)`` unless ``gram_matrix`` is given,
    which lets a caller pass only the rows a block of ``csr`` rates (fastmf.distributed);
    such a caller also gives ``n_cols``, the row count of the whole other side (read by
    ``l2_unobserved``; ``Y.shape[0]`` by default).

    Returns the summed data term of the rows at their new values when ``want_loss``
    (0.0 otherwise).  Raises ALSError naming the first ``side`` (``"user"``/``"item"``)
    whose system failed; that row keeps its previous values.  Call it under
    ``single_threaded_blas()``.
    """
    k = X.shape[1]
    if cfg.model != "implicit":
        G = np.zeros((0, 0), dtype=X.dtype)
    else:
        G = gram(Y, n_threads) if gram_matrix is None else gram_matrix
    if not (X.flags.aligned and x_bias.flags.aligned):
        raise ValueError("the rows to solve must be aligned arrays")
    # Arrays that arrive through Dask (or any buffer protocol) may sit at any address;
    # the kernel reads them as C arrays of their type, so they must be aligned.
    indptr, indices, values, Y, y_bias, G = (
        np.require(a, requirements="A")
        for a in (csr.indptr, csr.indices, csr.data, Y, y_bias, G))
    row_loss = np.zeros(X.shape[0], dtype=np.float64)
    status, row = kernel("als").solve_rows(
        indptr, indices, values, X, x_bias, Y, y_bias, G,
        cfg.kernel_settings(global_bias, want_loss, k + cfg.solves_biases,
                            Y.shape[0] if n_cols is None else n_cols),
        row_loss, n_threads,
    )
    codes = _als_kernel.STATUS
    if status == codes["nomem"]:
        raise MemoryError(f"ALS could not allocate its per-thread scratch (k={k})")
    if status == codes["not_pd"]:
        n = int(csr.indptr[row + 1] - csr.indptr[row])
        raise ALSError(
            f"ALS could not solve {side} {row} ({n} ratings): its "
            f"{'Newton' if cfg.model == 'logistic' else 'least-squares'} system is not "
            f"positive definite (l2={cfg.l2}, l2_bias={cfg.l2_bias}). Use a larger l2 "
            "(and l2_bias with biases): l2 > 0 makes every system positive definite."
        )
    if status == codes["nonfinite"]:
        raise ALSError(
            f"ALS met a non-finite value while solving {side} {row}: check that the "
            "ratings and alpha are finite and of moderate scale, and that l2 is not tiny."
        )
    return float(row_loss.sum()) if want_loss else 0.0


def sweep(data: ALSData, user_factors: np.ndarray, item_factors: np.ndarray,
          user_bias: np.ndarray, item_bias: np.ndarray, cfg: ALSConfig, *,
          global_bias: float, n_threads: int, number: int = 1) -> float:
    """One sweep (users, then items) in place; returns the training loss after it: the
    data term divided by the number of observed entries."""
    with single_threaded_blas():
        half_sweep(data.by_user, user_factors, user_bias, item_factors, item_bias, cfg,
                   global_bias=global_bias, n_threads=n_threads, side="user")
        total = half_sweep(data.by_item, item_factors, item_bias, user_factors, user_bias,
                           cfg, global_bias=global_bias, n_threads=n_threads,
                           want_loss=True, side="item")
    loss = total / data.nnz
    logger.debug("als sweep %d: training loss %.6g", number, loss)
    return loss
