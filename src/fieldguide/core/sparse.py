"""Sparse rows: how the trainer holds a SciPy sparse X (one-hot categories, bag-of-words, interaction features).

``Learner.fit`` and ``Fitted.predict`` take any ``scipy.sparse`` matrix or array and stage it as
:class:`SparseRows`: every row keeps a fixed number of slots, each a (column, value) pair, in two ``(n, slots)``
arrays (the ELLPACK layout). Fixed shapes are what XLA compiles for, and the layout keeps what the dense trainer
relies on: rows are gathered into minibatches, padded with zero rows and split across devices, all by row, in the
same compiled loops. A product ``X @ W`` gathers the rows of ``W`` its slots name (its gradient in ``W`` is a
scatter-add), so a fit costs O(nnz), never O(n·d).

The slots per row are the most non-zeros any row holds, rounded up (:func:`slots`): one-hot data, where every row
holds the same count, wastes nothing. Where a few long rows would set the count for all (text: a few long documents
among short ones), the rows keep fewer slots and the long rows put the rest of their non-zeros in an overflow
block, one line per long row (:func:`layout` chooses the split that stores the fewest slots), so memory and every
full-batch pass stay O(nnz). A minibatch joins each row's overflow lines to its slots, which makes its rows about
as wide as the plain layout's (a batch is small; the whole X is not). The data of a fit split across devices keeps
the plain layout (every part of it must be cut by rows).

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
import scipy.sparse

__all__ = ["SparseRows", "is_sparse", "layout", "slots"]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SparseRows:
    """Rows of a sparse matrix as ``(n, slots)`` column indices and values; a padding slot has value 0 (and any
    column: :func:`staged` spreads them over the columns).

    Rows holding more non-zeros than the slots keep the rest in ``overflow``, itself a ``SparseRows`` of one line
    per such row (and a line of zeros, which every other row names), at ``overflow_line`` (one per row).

    A PyTree (``columns``, ``values`` and the overflow are its leaves, ``n_features`` static), so it passes through
    ``jax.jit``, ``jax.device_put`` and, without overflow, shardings like an array whose first axis is the rows.
    """

    columns: jax.Array
    values: jax.Array
    n_features: int = dataclasses.field(metadata={"static": True})
    overflow_line: jax.Array | None = None
    overflow: SparseRows | None = None

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
        """The rows ``rows`` (an index array or a slice), their overflow joined to their slots."""
        return self.take(rows, promise=False)

    def take(self, rows, promise: bool = True, unique: bool = True) -> SparseRows:
        """The rows ``rows`` (an index array) without overflow: each row's overflow joins its slots. ``promise``:
        the indices are in bounds (and distinct where ``unique``), as a minibatch's are, so that the gathers need
        no bounds handling."""

        def gather(a, at):
            if not promise:  # NumPy arrays too
                return a[at]
            return a.at[at].get(mode="promise_in_bounds", unique_indices=unique)

        columns, values = gather(self.columns, rows), gather(self.values, rows)
        if self.overflow is None:
            return SparseRows(columns, values, self.n_features)
        # rows without overflow share the line of zeros: not unique
        more = self.overflow.take(gather(self.overflow_line, rows), promise, unique=False)
        join = np.concatenate if isinstance(columns, np.ndarray) else jnp.concatenate
        return SparseRows(
            join([columns, more.columns], axis=-1), join([values, more.values], axis=-1), self.n_features
        )

    def __matmul__(self, W) -> jax.Array:
        """``X @ W`` for ``W`` of shape ``(n_features, ...)``: each row sums its slots' values times W's rows."""
        W = jnp.asarray(W)
        # staging checked every column index (fieldguide.core._learner): no bounds handling in the gather
        product = jnp.einsum("ns,ns...->n...", self.values, W.at[self.columns].get(mode="promise_in_bounds"))
        if self.overflow is None:
            return product
        return product + (self.overflow @ W).at[self.overflow_line].get(mode="promise_in_bounds")

    def square(self) -> SparseRows:
        """Every entry squared (what a factorization machine's pairwise term needs)."""
        more = None if self.overflow is None else self.overflow.square()
        return dataclasses.replace(self, values=jnp.square(self.values), overflow=more)

    def entries(self, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stored ``(column, value, weight)`` of the first ``len(weight)`` rows, each entry weighted as its
        row (on the host; padding slots and the line of zeros have value 0)."""
        n = len(weight)
        columns, values = np.asarray(self.columns[:n]).ravel(), np.asarray(self.values[:n]).ravel()
        weights = np.repeat(weight, self.columns.shape[1])
        if self.overflow is None:
            return columns, values, weights
        line_weight = np.zeros(self.overflow.shape[0])
        line_weight[np.asarray(self.overflow_line[:n])] = weight
        more = self.overflow.entries(line_weight)
        return tuple(np.concatenate([a, b]) for a, b in zip((columns, values, weights), more, strict=True))


def is_sparse(X) -> bool:
    """Whether ``X`` is a SciPy sparse matrix or array."""
    return scipy.sparse.issparse(X)


def slots(most: int) -> int:
    """Slots per row for rows holding at most ``most`` non-zeros: a power of two up to 8, then steps of a quarter
    of a power of two (as the row buckets), so folds and batches of similar data share compiled code."""
    if most <= 8:
        return 1 << max(0, int(most) - 1).bit_length()
    step = 2 ** (int(math.log2(most)) - 2)
    return -(-most // step) * step


def layout(counts: np.ndarray, n_pad: int, levels: int = 2) -> tuple[int, int]:
    """``(slots, lines)`` for ``n_pad`` rows holding ``counts`` non-zeros: the slots every row keeps, and the lines
    of the overflow for the rows holding more (0: none), the overflow laid out in turn, ``levels`` deep at most:
    the split that stores the fewest slots in all. It is taken only where it saves at least a quarter of the
    plain layout, so that rows of similar counts (one-hot data) keep one block. ``lines`` counts a line of zeros,
    for the rows that have none, and is a power of two, at least 8, so that folds of the same data share compiled
    code."""
    return _fewest(np.sort(counts), n_pad, levels)[1:]


def _fewest(ordered: np.ndarray, n_pad: int, levels: int) -> tuple[int, int, int]:
    """``(stored slots, slots, lines)`` of the layout of rows holding the ``ordered`` counts (ascending)."""
    plain = slots(int(ordered[-1]) if ordered.size else 0)
    best = (n_pad * plain, plain, 0)
    width = 1
    while levels and width < plain:
        longer = int(np.searchsorted(ordered, width, side="right"))  # rows from here on hold more
        lines = max(8, 1 << (ordered.size - longer).bit_length())  # a power of two above their count
        stored = n_pad * width + _fewest(ordered[longer:] - width, lines, levels - 1)[0]
        best = min(best, (stored, width, lines))
        width = slots(width + 1)
    return best if best[0] <= 0.75 * n_pad * plain else (n_pad * plain, plain, 0)


def staged(X, parts: list[tuple[int, int, int]], n_pad: int, dtype: str, levels: int = 2) -> SparseRows:
    """``X`` (CSR) laid out as ``SparseRows`` of ``n_pad`` rows: for each ``(first, last, at)`` of ``parts``, X's
    rows ``first:last`` start at row ``at``; every other row is padding. Long rows may keep the rest of their
    non-zeros in an overflow (see :func:`layout`), laid out the same way in turn, ``levels`` deep at most
    (few levels, few programs: on ``benchmarks/bench_sparse.py``'s 200k-document bag of words, 2 levels hold
    2.6 slots per non-zero, 3 levels 1.9, the plain layout 33). The caller checks the values finite."""
    counts = np.diff(X.indptr)
    width, lines = layout(counts, n_pad, levels)
    # padding slots name every column in turn: a gradient's scatter-add into one column (column 0) would wait on
    # each add before the next (on the bag of words, 45 ms against 32 ms spread)
    d = max(X.shape[1], 1)
    first = (np.arange(n_pad, dtype=np.int64) * width % d).astype(np.int32)  # each row's first padding column
    columns = (first[:, None] + np.arange(width, dtype=np.int32)) % np.int32(d)
    values = np.zeros((n_pad, width), dtype)
    long = counts > width
    zeros = long.sum()  # the line of zeros, after one line per long row
    line_of = np.where(long, np.cumsum(long) - 1, zeros).astype(np.int32)
    overflow_line = np.full(n_pad, zeros, np.int32)
    rest = []  # (line, column, value) of the entries past the slots
    for first, last, at in parts:
        start, stop = X.indptr[first], X.indptr[last]
        source = np.repeat(np.arange(first, last), counts[first:last])
        slot = np.arange(stop - start) - np.repeat(X.indptr[first:last] - start, counts[first:last])
        kept, indices, data = slot < width, X.indices[start:stop], X.data[start:stop]
        row = source[kept] - first + at
        columns[row, slot[kept]], values[row, slot[kept]] = indices[kept], data[kept]
        overflow_line[at : at + last - first] = line_of[first:last]
        rest.append((line_of[source[~kept]], indices[~kept], data[~kept]))
    if not lines:
        return SparseRows(columns, values, X.shape[1])
    line, column, value = (np.concatenate(a) for a in zip(*rest, strict=True))
    # each line's entries in their order: CSR of the overflow, laid out in turn
    order = np.argsort(line, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(line, minlength=lines))])
    more = scipy.sparse.csr_matrix((value[order], column[order], indptr), shape=(lines, X.shape[1]))
    return SparseRows(
        columns, values, X.shape[1], overflow_line, staged(more, [(0, lines, 0)], lines, dtype, levels - 1)
    )
