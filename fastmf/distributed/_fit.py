"""``fit``: ALS of a MatrixFactorization on a Dask cluster.

The client only submits tasks and reads small summaries; ratings and factors stay on the
workers until the end (or a checkpoint), when the factor blocks are gathered into an
ordinary fitted model.  See :mod:`._blocks` for the layout and :mod:`._sweep` for what
one half-sweep sends.

Fault tolerance is Dask's: every block and factor block is a task result with its
lineage back to input partitions that hold or read their data, so the scheduler
recomputes whatever a lost worker held.  Checkpoints bound the cost of losing the whole
job.
"""

from __future__ import annotations

import os
import types
import uuid
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import _als
from .._estimator import MatrixFactorization
from .._params import Params, check_params
from .._state import (
    WorkingState,
    given_arrays,
    global_bias_of_mean,
    initial_arrays,
    publish,
)
from .._threads import check_num_threads
from .._validation import check_int, check_random_state
from . import _blocks, _checkpoint, _input, _sweep
from ._sweep import placed, task_key


def fit(
    client: Any,
    data: Any,
    model: MatrixFactorization,
    *,
    n_user_blocks: int = 2,
    n_item_blocks: int = 2,
    columns: Sequence[str] | None = None,
    initial: Sequence[np.ndarray] | None = None,
    checkpoint: str | os.PathLike | None = None,
    checkpoint_every: int = 5,
    resume: bool = False,
    callback: Callable[[int, dict], bool | None] | None = None,
) -> MatrixFactorization:
    """Fit ``model`` with ALS on the Dask cluster of ``client``.

    The ratings are partitioned into ``n_user_blocks`` x ``n_item_blocks`` blocks, built
    once on the workers and kept there; each half-sweep sends each block only the factor
    rows it rates, and solves each block with the single-machine ALS kernel (OpenMP
    threads inside the task).  Starting from the same parameters, the result equals a
    single-machine ALS fit up to floating-point rounding.

    Parameters
    ----------
    client : distributed.Client
        Client of the cluster to run on.
    data : dask or pandas DataFrame, str or path, or list of scipy sparse matrices
        The ratings: a DataFrame with one row per rating, a Parquet data set of such
        rows, or row blocks of the users x items matrix stacked in order (then rows and
        columns are the indices).  DataFrame ids may be ints or strings: they are mapped
        to contiguous indices in sorted order, kept as ``model.user_ids_`` and
        ``model.item_ids_``, and the fitted model's methods take and return raw ids
        (``raw_ids``), as after ``fit`` on a DataFrame.  A (user, item) pair may appear
        only once.
    model : MatrixFactorization
        Holds the parameters (``solver="als"``; explicit, implicit or logistic); fitted
        in place and returned.  ``num_threads`` is the number of OpenMP threads of each
        block solve, on the worker (``None`` follows the worker's ``OMP_NUM_THREADS``,
        which Dask sets to 1 by default).  ``early_stopping`` and validation data are not
        available here.
    n_user_blocks, n_item_blocks : int, default=2
        Blocks per side (P and Q).  More blocks than worker threads lets Dask balance
        the load; more blocks also means more, smaller messages.
    columns : (str, str, str) or None, default=None
        Names of the user, item and value columns of a DataFrame or Parquet input;
        ``None``: ``model.columns``, or when that is None too the first three columns
        (as :meth:`fastmf.MatrixFactorization.fit` reads a DataFrame).
    initial : (user_factors, item_factors, user_bias, item_bias), optional
        Starting parameters (copied).  By default they are drawn from
        ``model.random_state`` exactly as :meth:`fastmf.MatrixFactorization.fit` draws them.
    checkpoint : str or path, optional
        ``.npz`` file to which the parameters are written every ``checkpoint_every``
        sweeps and after the last one.
    checkpoint_every : int, default=5
        Sweeps between two checkpoints.
    resume : bool, default=False
        Start from ``checkpoint`` when that file exists (it must come from a fit of
        the same data shape and settings), running only the remaining sweeps.
    callback : callable, optional
        ``callback(sweep, metrics)`` after every sweep, ``metrics`` a dict holding the
        training ``"loss"``; returning ``False`` stops training.

    Returns
    -------
    MatrixFactorization
        ``model``, fitted: ``predict``, ``recommend``, ``save`` and the rest work as
        after :meth:`fastmf.MatrixFactorization.fit`.

    Raises
    ------
    ValueError
        On bad parameters or ratings: a missing column, a non-finite or duplicate
        rating, a negative implicit value, labels that are not binary, no ratings.
    fastmf.ALSError
        When a row's system cannot be solved (as in the single-machine fit).

    Examples
    --------
    A one-worker cluster in this process, and the same fit on one machine for comparison:

    >>> import numpy as np
    >>> import pandas as pd
    >>> from distributed import Client, LocalCluster
    >>> import fastmf
    >>> from fastmf.datasets import make_ratings
    >>> from fastmf.distributed import fit
    >>> users, items, ratings = make_ratings(300, 200, 6_000, seed=0)
    >>> df = pd.DataFrame({"user": users, "item": items, "value": ratings})
    >>> with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
    ...                   dashboard_address=":0") as cluster, Client(cluster) as client:
    ...     model = fit(client, df, fastmf.MatrixFactorization(
    ...         8, solver="als", l2=0.1, epochs=3, random_state=0))
    >>> single = fastmf.MatrixFactorization(8, solver="als", l2=0.1, epochs=3,
    ...                                     random_state=0).fit((users, items, ratings))
    >>> bool(np.allclose(model.predict([0, 1], [2, 3]), single.predict([0, 1], [2, 3]),
    ...                  atol=1e-4))
    True
    """
    _check_client(client)
    P = check_int("n_user_blocks", n_user_blocks, low=1)
    Q = check_int("n_item_blocks", n_item_blocks, low=1)
    every = check_int("checkpoint_every", checkpoint_every, low=1)
    if not isinstance(model, MatrixFactorization):
        raise TypeError(f"model must be a fastmf.MatrixFactorization, got {model!r}")
    params = check_params(model)
    if params.solver != "als":
        raise ValueError(
            f"fastmf.distributed fits with ALS: set solver='als' (got {params.solver!r})")
    if params.early_stopping is not None:
        raise ValueError("early_stopping is not available in fastmf.distributed.fit")
    check_num_threads(model.num_threads)
    if resume and checkpoint is None:
        raise ValueError("resume=True needs a checkpoint path")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {callback!r}")
    cfg = params.als_settings()
    dtype = params.dtype
    key = uuid.uuid4().hex[:8]                 # the token in this fit's task keys

    n_threads, notes = client.submit(_sweep.worker_threads, model.num_threads,
                                     pure=False).result()
    for note in notes:                         # e.g. num_threads clamped on the worker
        warnings.warn(f"on a worker: {note}", RuntimeWarning, stacklevel=2)
    if columns is None:
        columns = params.columns
    layout = _Layout(client, data, columns, P, Q, params, cfg, key)
    mu = global_bias_of_mean(params, layout.mean)
    signature = {"n_users": layout.n_users, "n_items": layout.n_items,
                 "factors": params.factors, "dtype": dtype.name, "config": repr(cfg)}
    state = _checkpoint.load(checkpoint, signature, params.epochs) if resume else None
    if state is not None:
        arrays, done, mu = state["arrays"], state["sweeps"], state["global_bias"]
        history = state["history"]
    else:
        arrays = (given_arrays(params, initial, layout.n_users, layout.n_items)
                  if initial is not None
                  else layout.draw_initial(params, model.random_state))
        done, history = 0, {"loss": []}

    users = layout.scatter_factors("user", arrays[0], arrays[2])
    items = layout.scatter_factors("item", arrays[1], arrays[3])
    def submit_sweep(number: int, users: list, items: list) -> tuple:
        common = {"cfg": cfg, "mu": mu, "num_threads": model.num_threads,
                  "homes": layout.homes(), "dtype": dtype}
        users = _sweep.half_sweep(
            client, blocks=layout.user_blocks, factors=users,
            fixed_blocks=layout.item_blocks, fixed_factors=items, links=layout.user_links,
            want_loss=False, side="user", token=key, number=number,
            n_fixed=layout.n_items, **common)
        items = _sweep.half_sweep(
            client, blocks=layout.item_blocks, factors=items,
            fixed_blocks=layout.user_blocks, fixed_factors=users, links=layout.item_links,
            want_loss=True, side="item", token=key, number=number,
            n_fixed=layout.n_users, **common)
        losses = [client.submit(_sweep.loss_of, f, key=task_key("loss", key, number, q))
                  for q, f in enumerate(items)]
        return number, users, items, losses

    def finish_sweep(number: int, users: list, items: list, losses: list) -> bool:
        """Record a finished sweep; True when the callback asks to stop."""
        history["loss"].append(float(np.sum(client.gather(losses))) / layout.nnz)
        stop = callback is not None and callback(number, {"loss": history["loss"][-1]}) \
            is False
        if checkpoint is not None and (number % every == 0 or number == params.epochs
                                       or stop):
            _checkpoint.save(checkpoint, layout.collect(users, items), sweeps=number,
                             mu=mu, history=history, signature=signature)
        return stop

    # Sweep n + 1 is submitted before sweep n is read back, so the workers never wait
    # for the client between sweeps; if the callback stops after sweep n, sweep n + 1
    # is dropped.
    pending = None
    for number in range(done + 1, params.epochs + 1):
        current = submit_sweep(number, users, items)
        users, items = current[1], current[2]
        if pending is not None and finish_sweep(*pending):
            del current            # releasing its futures drops the sweep's tasks
            users, items = pending[1], pending[2]
            pending = None
            break
        pending = current
    if pending is not None:
        finish_sweep(*pending)

    final = layout.collect(users, items)
    facts = {"user_ids": layout.user_map, "item_ids": layout.item_map}
    if cfg.model == "explicit":
        facts["rating_range"] = layout.rating_range
    publish(model, WorkingState(final, mu, n_threads, history, None, facts).state(params))
    return model


def _check_client(client) -> None:
    from distributed import Client

    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {client!r}")


class _Layout:
    """The ratings as blocks on the workers, and what the client knows about them."""

    def __init__(self, client, data, columns, P: int, Q: int, params: Params,
                 cfg: _als.ALSConfig, key: str) -> None:
        self.client, self.P, self.Q, self.key = client, P, Q, key
        self.dtype = params.dtype
        source = _input.open_source(client, data,
                                    None if columns is None else tuple(columns))
        self._map_ids(source)
        self._read(source, cfg)
        self._build()

    # -------------------------------------------------------------- building
    def _map_ids(self, source: _input.Source) -> None:
        client, key = self.client, self.key
        if source.kind == "csr":
            self.user_ids = self.item_ids = self.user_map = self.item_map = None
            self._id_futures = (None, None)
            self.n_users, self.n_items = source.n_users, source.n_items
            self.offsets = source.row_offsets
            self.parts = source.parts
            return
        futures = []
        for side, column in (("user", source.columns[0]), ("item", source.columns[1])):
            distinct = [client.submit(_input.distinct_ids, part, column,
                                      key=task_key(f"ids-{side}", key, j))
                        for j, part in enumerate(source.parts)]
            futures.append(_sweep.tree_reduce(client, distinct, _input.merge_ids, fan_in=8,
                                              kind=f"ids-merge-{side}", token=key))
        self._id_futures = tuple(futures)
        user_map, item_map = client.gather(futures)
        self.user_map, self.item_map = user_map, item_map
        self.user_ids, self.item_ids = np.array(user_map.ids), np.array(item_map.ids)
        self.n_users, self.n_items = len(user_map), len(item_map)
        self.offsets = [0] * len(source.parts)
        self.parts = source.parts

    def _read(self, source: _input.Source, cfg: _als.ALSConfig) -> None:
        client, key = self.client, self.key
        pairs = [
            client.submit(_input.triples, part, source.kind, source.columns, offset,
                          *self._id_futures, self.dtype, cfg.model == "logistic",
                          key=task_key("read", key, j))
            for j, (part, offset) in enumerate(zip(self.parts, self.offsets, strict=True))
        ]
        self._triples = [client.submit(_input.first, t, key=task_key("triples", key, j))
                         for j, t in enumerate(pairs)]
        stats = client.gather([client.submit(_input.second, t, key=task_key("stats", key, j))
                               for j, t in enumerate(pairs)])
        self.nnz = sum(s["n"] for s in stats)
        if self.nnz == 0:
            raise ValueError("the ratings are empty: there is nothing to fit")
        for s in stats:
            if s["nonfinite"] is not None:
                u, i, v = s["nonfinite"]
                raise ValueError(f"the ratings hold a non-finite value ({v}) at user {u!r}, "
                                 f"item {i!r}")
        if cfg.model == "implicit" and min(s["min"] for s in stats) < 0:
            raise ValueError("feedback='implicit' needs non-negative interaction values "
                             f"(counts or strengths); the smallest is "
                             f"{min(s['min'] for s in stats)}")
        if cfg.model == "logistic":
            labels = sorted({v for s in stats for v in s["labels"]})
            if not (set(labels) <= {0, 1} or set(labels) <= {-1, 1}):
                raise ValueError("loss='logistic' needs binary labels in {0, 1} or "
                                 f"{{-1, +1}}; the ratings hold {labels[:6]}")
        self.mean = sum(s["sum"] for s in stats) / self.nnz
        self.rating_range = (min(s["min"] for s in stats), max(s["max"] for s in stats))

    def _build(self) -> None:
        client, key, P, Q = self.client, self.key, self.P, self.Q
        splits = [client.submit(_blocks.split, t, P, Q, key=task_key("split", key, j))
                  for j, t in enumerate(self._triples)]
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])

        def side_blocks(side: str, n_blocks: int, n: int, n_other: int) -> list:
            out = []
            for b in range(n_blocks):
                pieces = [client.submit(_blocks.pick, s, side, b,
                                        key=task_key(f"pick-{side}", key, b, j))
                          for j, s in enumerate(splits)]
                out.append(client.submit(
                    _blocks.build, b, n_blocks, _blocks.n_rows_of(n, n_blocks, b), n_other,
                    self.dtype, *pieces, key=task_key(f"block-{side}", key, b),
                    **placed([workers[b % len(workers)]] if workers else None)))
            return out

        self.user_blocks = side_blocks("user", P, self.n_users, Q)
        self.item_blocks = side_blocks("item", Q, self.n_items, P)
        del self._triples          # the blocks keep their lineage; the copies can go
        summaries = client.gather([
            client.submit(_blocks.summary, b, key=task_key("summary", key, i))
            for i, b in enumerate(self.user_blocks + self.item_blocks)])
        users, items = summaries[:P], summaries[P:]
        for side, group in (("user", users), ("item", items)):
            for s in group:
                if s["duplicate"] is not None:
                    self._raise_duplicate(side, *s["duplicate"])
        self.user_links = np.array([s["needs"] for s in users]).reshape(P, Q)
        self.item_links = np.array([s["needs"] for s in items]).reshape(Q, P)
        self.user_counts = self._interleave([s["row_counts"] for s in users], self.n_users)
        self.item_counts = self._interleave([s["row_counts"] for s in items], self.n_items)

    def _raise_duplicate(self, side: str, row: int, col: int) -> None:
        user, item = (row, col) if side == "user" else (col, row)
        if self.user_ids is not None:
            user, item = self.user_ids[user].item(), self.item_ids[item].item()
        raise ValueError(
            f"the ratings hold more than one rating for (user {user!r}, item {item!r}); "
            "aggregate duplicates (for example sum or average them) before fitting")

    @staticmethod
    def _interleave(blocks: list, n: int) -> np.ndarray:
        """Global array from per-block arrays (block ``b`` holds rows ``b::B``)."""
        first = blocks[0]
        out = np.empty((n,) + first.shape[1:], dtype=first.dtype)
        for b, rows in enumerate(blocks):
            out[b::len(blocks)] = rows
        return out

    # -------------------------------------------------------------- factors
    def draw_initial(self, params: Params, random_state) -> list:
        """Initial parameters as MatrixFactorization.fit draws them for these ratings."""
        rated = types.SimpleNamespace(
            users=np.flatnonzero(self.user_counts), items=np.flatnonzero(self.item_counts),
            n_users=self.n_users, n_items=self.n_items)
        return initial_arrays(params, rated, check_random_state(random_state))

    def scatter_factors(self, side: str, rows: np.ndarray, bias: np.ndarray) -> list:
        """Factor blocks of ``side`` as tasks that hold their starting values (kept in
        the graph, so a lost block can be recomputed), placed with their ratings."""
        blocks = self.user_blocks if side == "user" else self.item_blocks
        homes = self.homes()
        B = len(blocks)
        return [
            self.client.submit(
                _blocks.Factors, np.ascontiguousarray(rows[b::B]),
                np.ascontiguousarray(bias[b::B]), key=task_key(f"start-{side}", self.key, b),
                **placed(homes.get(blk.key)))
            for b, blk in enumerate(blocks)
        ]

    def homes(self) -> dict:
        """Workers holding each rating block now (asked once per sweep: blocks move
        when a worker is lost)."""
        held = self.client.who_has(self.user_blocks + self.item_blocks)
        return {k: list(v) for k, v in held.items() if v}

    def collect(self, users: list, items: list) -> list:
        """The parameters gathered to the client, in global index order."""
        u = self.client.gather(users)
        i = self.client.gather(items)
        return [
            self._interleave([f.rows for f in u], self.n_users),
            self._interleave([f.rows for f in i], self.n_items),
            self._interleave([f.bias for f in u], self.n_users),
            self._interleave([f.bias for f in i], self.n_items),
        ]

