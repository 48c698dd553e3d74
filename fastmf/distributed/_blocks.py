"""Rating blocks as the workers hold them, and the functions that build them.

Both sides are split the same way: row ``r`` of a side with ``B`` blocks lives in block
``r % B`` at local position ``r // B`` (a hash partition of contiguous indices, which
spreads popular and unpopular rows evenly whatever their ids).  Each rating is stored
twice, once in the users' block and once in the items' block, like the "in" and "out"
blocks of Spark MLlib's block ALS.

A :class:`Block` of one side holds the CSR of its rows with the columns renumbered into
a *compact* space: the other side's rows this block rates, block by block (the block's
"in-links").  Solving the block therefore needs only those rows, concatenated in that
order, and one kernel call.  The block also records, for every block of the other side,
which of its own rows that block rates (its "out-links"): the rows it must send.  A
block's out-links to ``c`` are exactly ``c``'s in-links from it, both derived from the
ratings the two blocks share, so no index list ever travels between workers.

Everything here runs on the workers and sees plain NumPy/SciPy objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from .._validation import csr_of, find_duplicate, index_dtype


@dataclass
class Triples:
    """Ratings of one input partition as index arrays (ids already mapped)."""

    rows: np.ndarray        # user index of each rating
    cols: np.ndarray        # item index of each rating
    values: np.ndarray      # in the model dtype


@dataclass
class Split:
    """One partition cut into the pieces each block needs: ``user[p]`` holds
    ``(local user, global item, value)`` of user block ``p``; ``item[q]`` likewise
    ``(local item, global user, value)``."""

    user: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
    item: list[tuple[np.ndarray, np.ndarray, np.ndarray]]


@dataclass
class Block:
    """The ratings of one block of rows of one side (see the module docstring)."""

    csr: sp.csr_matrix              # local rows x compact columns, one index dtype
    needs: list[np.ndarray]         # per other-side block: its local rows read here
    sends: list[np.ndarray]         # per other-side block: local rows of mine it reads
    duplicate: tuple[int, int] | None   # first repeated (global row, global column)

    def __sizeof__(self) -> int:
        # Dask's sizeof falls back to sys.getsizeof: without this, the scheduler would
        # take a block for a few bytes, place tasks away from it and let work stealing
        # move it between workers.
        arrays = [self.csr.data, self.csr.indices, self.csr.indptr, *self.needs,
                  *self.sends]
        return object.__sizeof__(self) + sum(int(a.nbytes) for a in arrays)

    def summary(self) -> dict[str, Any]:
        return {
            "nnz": int(self.csr.nnz),
            "row_counts": np.diff(self.csr.indptr).astype(np.int64),
            "needs": np.array([len(n) for n in self.needs], dtype=np.int64),
            "duplicate": self.duplicate,
        }


@dataclass
class Factors:
    """Factor rows and biases of one block, and the data term of its last solve."""

    rows: np.ndarray
    bias: np.ndarray
    loss: float = 0.0

    def __sizeof__(self) -> int:      # see Block.__sizeof__
        return object.__sizeof__(self) + self.rows.nbytes + self.bias.nbytes


def n_rows_of(n: int, n_blocks: int, b: int) -> int:
    """Rows ``b, b + B, b + 2B, ...`` below ``n``: the size of block ``b``."""
    return max(0, (n - b + n_blocks - 1) // n_blocks)


def split(part: Triples, n_user_blocks: int, n_item_blocks: int) -> Split:
    """Cut one partition into per-block pieces for both sides."""
    user_block = part.rows % n_user_blocks
    item_block = part.cols % n_item_blocks
    user = []
    for p in range(n_user_blocks):
        m = user_block == p
        user.append((part.rows[m] // n_user_blocks, part.cols[m], part.values[m]))
    item = []
    for q in range(n_item_blocks):
        m = item_block == q
        item.append((part.cols[m] // n_item_blocks, part.rows[m], part.values[m]))
    return Split(user=user, item=item)


def pick(pieces: Split, side: str, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The piece of ``pieces`` that block ``b`` of ``side`` needs."""
    piece: tuple[np.ndarray, np.ndarray, np.ndarray] = getattr(pieces, side)[b]
    return piece


def build(b: int, n_blocks: int, n_rows: int, n_other_blocks: int, dtype: Any,
          *pieces: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Block:
    """Assemble block ``b`` of a side (``n_blocks`` blocks, ``n_rows`` local rows) from
    its pieces of every partition.

    Within a row the ratings are ordered by the other side's global index, the order of
    the single-machine CSR, so the kernel adds them up in the same order there and here.
    """
    rows = np.concatenate([pc[0] for pc in pieces]) if pieces else np.zeros(0, np.int64)
    cols = np.concatenate([pc[1] for pc in pieces]) if pieces else np.zeros(0, np.int64)
    values = (np.concatenate([pc[2] for pc in pieces]) if pieces
              else np.zeros(0, dtype)).astype(dtype, copy=False)
    order = np.lexsort((cols, rows))
    rows, cols, values = rows[order], cols[order], values[order]

    duplicate = find_duplicate(rows, cols)
    if duplicate is not None:             # as (global row, global column)
        duplicate = (duplicate[0] * n_blocks + b, duplicate[1])

    other = cols % n_other_blocks
    local = cols // n_other_blocks
    needs, sends = [], []
    compact = np.empty(cols.size, dtype=np.int64)
    offset = 0
    for c in range(n_other_blocks):
        m = other == c
        wanted = np.unique(local[m])
        compact[m] = offset + np.searchsorted(wanted, local[m])
        offset += wanted.size
        needs.append(wanted)
        sends.append(np.unique(rows[m]))

    itype = index_dtype(max(offset, rows.size))   # the kernel takes one index type
    indptr = np.zeros(n_rows + 1, dtype=itype)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    csr = csr_of(values, compact.astype(itype), indptr, (n_rows, offset), itype)
    return Block(csr=csr, needs=needs, sends=sends, duplicate=duplicate)


def summary(block: Block) -> dict[str, Any]:
    """What the client needs to know about a block (small)."""
    return block.summary()
