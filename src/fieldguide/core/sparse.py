"""Sparse rows: how the trainer holds a SciPy sparse X (one-hot categories, bag-of-words, interaction features).

``Learner.fit`` and ``Fitted.predict`` take any ``scipy.sparse`` matrix or array and stage it as
:class:`SparseRows`: every row keeps a fixed number of slots, each a (column, value) pair, in two ``(n, slots)``
arrays (the ELLPACK layout). Fixed shapes are what XLA compiles for, and the layout keeps what the dense trainer
relies on: rows are gathered into minibatches, padded with zero rows and split across devices, all by row, in the
same compiled loops. A product ``X @ W`` gathers the rows of ``W`` its slots name (its gradient in ``W`` is a
scatter-add), so a fit costs O(nnz), never O(n·d).

The slots per row are the most non-zeros any row holds, rounded up (:func:`slots`), so memory is
``n × slots × 8`` bytes in float32: one-hot data, where every row holds the same count, wastes nothing; text, where a
few long rows set the count for all, wastes more.

A model's ``apply`` receives a :class:`SparseRows` where it would receive an array: ``X @ W`` (``W`` of shape
``(d, ...)``), ``X.square()`` and ``X.shape`` are what the built-in models use, and a ``models.Custom`` may use
the same.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["SparseRows", "is_sparse", "slots"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SparseRows:
    """Rows of a sparse matrix as ``(n, slots)`` column indices and values; a padding slot is column 0 with value 0.

    A PyTree (``columns`` and ``values`` are its leaves, ``n_features`` static), so it passes through ``jax.jit``,
    ``jax.device_put`` and shardings like an array whose first axis is the rows.
    """

    columns: jax.Array
    values: jax.Array
    n_features: int = dataclasses.field(metadata={"static": True})

    @property
    def shape(self) -> tuple[int, int]:
        return (self.values.shape[0], self.n_features)

    @property
    def dtype(self):
        return self.values.dtype

    @property
    def ndim(self) -> int:
        return 2

    def __getitem__(self, rows) -> SparseRows:
        """The rows ``rows`` (an index array or a slice), as a ``SparseRows``."""
        return SparseRows(self.columns[rows], self.values[rows], self.n_features)

    def __matmul__(self, W) -> jax.Array:
        """``X @ W`` for ``W`` of shape ``(n_features, ...)``: each row sums its slots' values times W's rows."""
        # staging checked every column index (fieldguide.core._learner): no bounds handling in the gather
        rows = jnp.asarray(W).at[self.columns].get(mode="promise_in_bounds")
        return jnp.einsum("ns,ns...->n...", self.values, rows)

    def square(self) -> SparseRows:
        """Every entry squared (what a factorization machine's pairwise term needs)."""
        return SparseRows(self.columns, jnp.square(self.values), self.n_features)


def is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array."""
    import scipy.sparse

    return scipy.sparse.issparse(X)


def slots(most: int) -> int:
    """Slots per row for rows holding at most ``most`` non-zeros: a power of two up to 8, then steps of a quarter
    of a power of two (as the row buckets), so folds and batches of similar data share compiled code."""
    if most <= 8:
        return 1 << max(0, int(most) - 1).bit_length()
    step = 2 ** (int(math.log2(most)) - 2)
    return -(-most // step) * step


def staged(X, parts: list[tuple[int, int, int]], n_pad: int, n_slots: int, dtype: str) -> SparseRows:
    """``X`` (CSR) laid out as ``SparseRows`` of ``n_pad`` rows: for each ``(first, last, at)`` of ``parts``, X's
    rows ``first:last`` start at row ``at``; every other row is padding. The caller checks the values finite."""
    columns = np.zeros((n_pad, n_slots), np.int32)
    values = np.zeros((n_pad, n_slots), dtype)
    for first, last, at in parts:
        start, stop = X.indptr[first], X.indptr[last]
        counts = np.diff(X.indptr[first : last + 1])
        row = np.repeat(np.arange(at, at + last - first), counts)
        slot = np.arange(stop - start) - np.repeat(X.indptr[first:last] - start, counts)
        columns[row, slot] = X.indices[start:stop]
        values[row, slot] = X.data[start:stop]
    return SparseRows(columns, values, X.shape[1])
