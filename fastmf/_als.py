"""ALS solver driver: builds the two CSR views, runs the sweeps and turns kernel statuses
into errors.

See ``src_cython/als.pyx`` for the per-row maths.  One sweep solves every user with the
items fixed, then every item with the users fixed; the training loss is read off the
second half-sweep at no extra pass over the data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ._kernels import als as _als_kernel
from ._threads import single_threaded_blas
from ._validation import Ratings, csr_of, find_duplicate, index_dtype

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
    >>> model = fastmf.MatrixFactorization(8, solver="als", l2=0.0, epochs=1)
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


@dataclass(frozen=True)
class ALSData:
    """The ratings as users x items and items x users CSR matrices, indices and indptr of
    one integer type (int32 unless the data needs int64), values in the model dtype."""

    by_user: sp.csr_matrix
    by_item: sp.csr_matrix

    @property
    def nnz(self) -> int:
        return int(self.by_user.nnz)


def _kernel_csr(csr: sp.csr_matrix) -> sp.csr_matrix:
    """``csr`` with the one index type the kernel takes for its size (int64 past
    2**31 - 2 entries, see ``_validation.index_dtype``)."""
    want = index_dtype(csr.nnz)
    if csr.indptr.dtype != want or csr.indices.dtype != want:
        canonical = csr.has_canonical_format
        csr = csr_of(csr.data, csr.indices, csr.indptr, csr.shape, want)
        csr.has_canonical_format = canonical
    return csr


def prepare(data: Ratings, model: str) -> ALSData:
    """Build both CSR views; raises ValueError on a duplicate (user, item) pair, or on a
    negative value for implicit feedback (confidence ``1 + alpha r`` needs ``r >= 0``)."""
    if model == "implicit" and data.values.size and data.values.min() < 0:
        bad = int(np.argmin(data.values))
        raise ValueError(
            "feedback='implicit' needs non-negative interaction values (counts or "
            f"strengths); X has {data.values[bad]} at user {int(data.users[bad])}, "
            f"item {int(data.items[bad])}"
        )
    by_user = _kernel_csr(data.to_csr())
    rows = np.repeat(np.arange(data.n_users, dtype=by_user.indptr.dtype),
                     np.diff(by_user.indptr))
    dup = find_duplicate(rows, by_user.indices)
    del rows
    if dup is not None:
        raise ValueError(
            f"X contains more than one rating for (user {dup[0]}, item {dup[1]}); "
            "aggregate duplicates (for example sum or average them) before fitting"
        )
    return ALSData(by_user=by_user, by_item=_transpose(by_user))


def _transpose(csr: sp.csr_matrix) -> sp.csr_matrix:
    """The items x users CSR of a users x items CSR, built from it in one counting pass
    (SciPy's CSR to CSC conversion: no sort, no detour through the triples); within each
    item row the users come out in increasing order, as a sort would give them."""
    csc = csr.tocsc()
    out = sp.csr_matrix((csc.data, csc.indices, csc.indptr), shape=csr.shape[::-1],
                        copy=False)
    out.has_canonical_format = True
    return _kernel_csr(out)


def gram(Y: np.ndarray) -> np.ndarray:
    """``Y^T Y`` accumulated in float64 and returned in Y's dtype."""
    Y64 = Y.astype(np.float64, copy=False)
    return np.ascontiguousarray((Y64.T @ Y64).astype(Y.dtype, copy=False))


def half_sweep(csr: sp.csr_matrix, X: np.ndarray, x_bias: np.ndarray, Y: np.ndarray,
               y_bias: np.ndarray, cfg: ALSConfig, *, global_bias: float, n_threads: int,
               want_loss: bool = False, side: str = "row",
               gram_matrix: np.ndarray | None = None) -> float:
    """Solve every row of ``csr`` for ``X`` (and ``x_bias``) in place with ``Y`` fixed.

    ``Y`` holds the rows that ``csr.indices`` point to.  Implicit feedback needs the Gram
    matrix of the *whole* other side: it is ``gram(Y)`` unless ``gram_matrix`` is given,
    which lets a caller pass only the rows a block of ``csr`` rates (fastmf.distributed).

    Returns the summed data term of the rows at their new values when ``want_loss``
    (0.0 otherwise).  Raises ALSError naming the first ``side`` (``"user"``/``"item"``)
    whose system failed; that row keeps its previous values.  Call it under
    ``single_threaded_blas()``.
    """
    k = X.shape[1]
    if cfg.model != "implicit":
        G = np.zeros((0, 0), dtype=X.dtype)
    else:
        G = gram(Y) if gram_matrix is None else gram_matrix
    if not (X.flags.aligned and x_bias.flags.aligned):
        raise ValueError("the rows to solve must be aligned arrays")
    # Arrays that arrive through Dask (or any buffer protocol) may sit at any address;
    # the kernel reads them as C arrays of their type, so they must be aligned.
    indptr, indices, values, Y, y_bias, G = (
        np.require(a, requirements="A")
        for a in (csr.indptr, csr.indices, csr.data, Y, y_bias, G))
    row_loss = np.zeros(X.shape[0], dtype=np.float64)
    status, row = _als_kernel.solve_rows(
        indptr, indices, values, X, x_bias, Y, y_bias, G,
        _als_kernel.MODELS[cfg.model], _als_kernel.LINEAR_SOLVERS[cfg.linear_solver],
        cfg.cg_steps, cfg.newton_steps, global_bias, cfg.l2, cfg.l2_bias, cfg.alpha,
        cfg.weighted_l2, cfg.biases and cfg.model != "implicit", want_loss, row_loss,
        n_threads,
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


def run_sweeps(data: ALSData, user_factors: np.ndarray, item_factors: np.ndarray,
               user_bias: np.ndarray, item_bias: np.ndarray, cfg: ALSConfig, *,
               global_bias: float, epochs: int, n_threads: int) -> list[float]:
    """Run ``epochs`` sweeps in place; returns the training loss after each."""
    return [
        sweep(data, user_factors, item_factors, user_bias, item_bias, cfg,
              global_bias=global_bias, n_threads=n_threads, number=e + 1)
        for e in range(epochs)
    ]
