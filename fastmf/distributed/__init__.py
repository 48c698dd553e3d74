"""ALS on a Dask cluster, for ratings that outgrow one machine.

``fastmf.distributed.fit(client, data, model)`` trains a
:class:`fastmf.MatrixFactorization` with ALS on the cluster of a ``distributed.Client``
and returns it fitted, as an ordinary model on the client.  It needs the optional
dependencies of ``pip install fastmf[dask]``.

The layout follows the block ALS of Spark MLlib: users in P blocks and items in Q blocks,
each rating stored once per side as CSR blocks built once on the workers, and each
half-sweep sending every block only the factor rows it rates.  Dask's distributed
scheduler does all of the orchestration and recovers lost work.
"""

from __future__ import annotations

try:
    import dask.dataframe  # noqa: F401
    import distributed  # noqa: F401
except ImportError as exc:                               # pragma: no cover
    raise ImportError(
        "fastmf.distributed needs Dask: pip install 'fastmf[dask]' "
        f"(dask[distributed,dataframe] and pyarrow); {exc}"
    ) from exc

from ._fit import fit

__all__ = ["fit"]
