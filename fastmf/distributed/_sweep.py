"""One ALS half-sweep as Dask tasks.

Solving side A with side B fixed:

1. for every pair of blocks (a, b) that share ratings, a *send* task runs where B's block
   ``b`` lives and cuts from its factors the rows block ``a`` rates (``b``'s out-links
   to ``a``): only these rows travel;
2. one *solve* task per block ``a``, placed where its ratings live, concatenates the
   pieces it received into a compact factor matrix, in the order its CSR columns were
   numbered, and calls the single-machine kernel once (``fastmf._als.half_sweep``) on a
   copy of its factors.

For implicit feedback every solve also needs ``Y^T Y`` over the *whole* fixed side: it is
the sum of the blocks' Gram matrices, added up pairwise in a tree of tasks, and sent
once to each solve.

The task functions take and return plain objects (:class:`~._blocks.Factors`, arrays);
the orchestration in :func:`half_sweep` only submits them.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import _als
from .._threads import effective_n_threads, single_threaded_blas
from ._blocks import Block, Factors


def worker_threads(num_threads: int | None) -> tuple[int, list[str]]:
    """The thread count a solve on this worker uses, and the warnings resolving it gave
    (a clamped count), for the client to repeat."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        n = effective_n_threads(num_threads)
    return n, [str(w.message) for w in caught]


def send(block: Block, factors: Factors, to: int) -> tuple[np.ndarray, np.ndarray]:
    """The factor rows and biases of ``block`` that block ``to`` of the other side rates."""
    rows = block.sends[to]
    return factors.rows[rows], factors.bias[rows]


def solve(block: Block, factors: Factors, gram: np.ndarray | None, cfg: _als.ALSConfig,
          mu: float, num_threads: int | None, want_loss: bool, side: str, n_cols: int,
          *pieces: tuple[np.ndarray, np.ndarray]) -> Factors:
    """New factors of ``block`` given the pieces of the other side it rates, in block
    order (blocks it does not rate send nothing); ``n_cols`` rows in all on that side.
    The input factors are not modified: they may still be needed to recompute a lost
    task."""
    rows = factors.rows.copy()
    bias = factors.bias.copy()
    k = rows.shape[1]
    if pieces:
        Y = np.ascontiguousarray(np.concatenate([pc[0] for pc in pieces]))
        y_bias = np.ascontiguousarray(np.concatenate([pc[1] for pc in pieces]))
    else:
        Y = np.zeros((0, k), dtype=rows.dtype)
        y_bias = np.zeros(0, dtype=rows.dtype)
    with single_threaded_blas():
        loss = _als.half_sweep(
            block.csr, rows, bias, Y, y_bias, cfg, global_bias=mu,
            n_threads=effective_n_threads(num_threads), want_loss=want_loss, side=side,
            gram_matrix=gram, n_cols=n_cols,
        )
    return Factors(rows=rows, bias=bias, loss=loss)


def block_gram(factors: Factors) -> np.ndarray:
    """``X^T X`` of one block, accumulated in float64 (as ``fastmf._als.gram`` does)."""
    return _als.gram64(factors.rows)


def add(*grams: np.ndarray) -> np.ndarray:
    """Sum of a few Gram matrices (one node of the reduction tree)."""
    total = grams[0].copy()
    for g in grams[1:]:
        total += g
    return total


def finish_gram(total: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(total.astype(dtype, copy=False))


def loss_of(factors: Factors) -> float:
    return factors.loss


def task_key(kind: str, token: str, *index) -> str:
    """``fastmf-als-<kind>-<token>-<index>...``: Dask groups tasks by the words before
    the token, so each kind of task gets its own duration estimates (which placement
    and work stealing rely on) and its own line in the dashboard."""
    return "-".join(["fastmf-als", kind, token, *map(str, index)])


def tree_reduce(client, futures: list, func, *, fan_in: int = 4, kind: str, token: str,
                index: tuple = ()) -> object:
    """Reduce ``futures`` with ``func(*group)`` in a tree of tasks ``fan_in`` wide."""
    level = 0
    while len(futures) > 1:
        futures = [
            client.submit(func, *futures[i:i + fan_in],
                          key=task_key(kind, token, *index, level, i))
            for i in range(0, len(futures), fan_in)
        ]
        level += 1
    return futures[0]


def half_sweep(client, *, blocks: list, factors: list, fixed_blocks: list,
               fixed_factors: list, links: np.ndarray, cfg: _als.ALSConfig, mu: float,
               num_threads: int | None, want_loss: bool, side: str, token: str,
               number: int, homes: dict, dtype, n_fixed: int) -> list:
    """Submit one half-sweep; returns the futures of the new factors of ``blocks``.

    ``links[a, b]`` is the number of rows of fixed block ``b`` that block ``a`` rates
    (0: no task, nothing sent); ``n_fixed`` is the row count of the fixed side.
    ``homes`` maps a block future's key to the workers holding it: sends and solves are
    asked to run there (loosely, so that work moves on when a worker is lost).
    """
    gram = None
    if cfg.model == "implicit":
        parts = [
            client.submit(block_gram, f, key=task_key(f"gram-{side}", token, number, b),
                          **placed(homes.get(fb.key)))
            for b, (f, fb) in enumerate(zip(fixed_factors, fixed_blocks, strict=True))
        ]
        total = tree_reduce(client, parts, add, kind=f"gram-sum-{side}", token=token,
                            index=(number,))
        gram = client.submit(finish_gram, total, dtype,
                             key=task_key(f"gram-total-{side}", token, number))
    new = []
    for a, (blk, fac) in enumerate(zip(blocks, factors, strict=True)):
        pieces = [
            client.submit(send, fixed_blocks[b], fixed_factors[b], a,
                          key=task_key(f"send-{side}", token, number, b, a),
                          **placed(homes.get(fixed_blocks[b].key)))
            for b in np.flatnonzero(links[a])
        ]
        new.append(client.submit(
            solve, blk, fac, gram, cfg, mu, num_threads, want_loss, side, n_fixed, *pieces,
            key=task_key(f"solve-{side}", token, number, a), **placed(homes.get(blk.key)),
        ))
    return new


def placed(workers: list | None) -> dict:
    """``submit`` arguments that prefer ``workers`` (any worker may still run the task),
    or none when there is no preference: distributed refuses ``allow_other_workers``
    without ``workers``, and the scheduler may know no worker yet (a cluster starting or
    restarting) or no home for a block."""
    return {"workers": workers, "allow_other_workers": True} if workers else {}
