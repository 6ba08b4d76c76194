"""Cross-validation splits (stratified, grouped, time-ordered) and stratified sampling.

Every splitter yields ``(train_idx, test_idx)`` pairs of sorted int64 NumPy arrays of row positions.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import polars as pl

from fieldguide.data._schema import Schema, typed_column
from fieldguide.errors import DataError, FieldguideError, SchemaError

Split = tuple[np.ndarray, np.ndarray]


def stratified_kfold(y: Any, k: int = 5, seed: int = 0, repeats: int = 1) -> Iterator[Split]:
    """K folds in which every class is spread as evenly as possible (per class, fold counts differ by at most 1).

    Each class's rows are shuffled and dealt round-robin to the folds, starting where the previous class
    stopped, so fold sizes also differ by at most one. ``repeats`` > 1 reshuffles for repeated k-fold.

    >>> folds = list(stratified_kfold([0, 0, 0, 0, 1, 1], k=2, seed=0))
    >>> [len(test) for _, test in folds]
    [3, 3]
    """
    labels = _as_array(y, "y")
    _check_k(k, len(labels), "y")
    _, codes = np.unique(_comparable(labels), return_inverse=True)
    rng = np.random.default_rng(seed)
    for _ in range(repeats):
        fold_of = np.empty(len(labels), dtype=np.int64)
        start = 0
        for code in range(codes.max() + 1):
            members = rng.permutation(np.flatnonzero(codes == code))
            fold_of[members] = (start + np.arange(len(members))) % k
            start = (start + len(members)) % k
        yield from _folds(fold_of, k)


def group_kfold(groups: Any, k: int = 5) -> Iterator[Split]:
    """K folds in which no group straddles train and test; folds balanced by rows (largest groups first).

    >>> [test.tolist() for _, test in group_kfold(["a", "a", "b", "c"], k=2)]
    [[0, 1], [2, 3]]
    """
    values = _as_array(groups, "groups")
    names, codes, sizes = np.unique(_comparable(values), return_inverse=True, return_counts=True)
    if len(names) < k:
        raise DataError(
            f"groups: {len(names)} distinct groups cannot fill k={k} folds; use k <= {len(names)}"
        )
    _check_k(k, len(values), "groups")
    fold_of_group = np.empty(len(names), dtype=np.int64)
    load = np.zeros(k, dtype=np.int64)
    for group in np.argsort(-sizes, kind="stable"):
        fold = int(np.argmin(load))
        fold_of_group[group] = fold
        load[fold] += sizes[group]
    yield from _folds(fold_of_group[codes], k)


def time_split(
    timestamps: Any, k: int | None = None, *, test_fraction: float | None = None
) -> Iterator[Split]:
    """Splits in which every training row is strictly earlier than every test row.

    With ``k``: expanding windows (the time-ordered rows cut into k + 1 blocks; fold i trains on blocks up to i
    and tests on block i + 1). With ``test_fraction``: one split, the latest fraction as test. Rows sharing a
    timestamp never straddle a cut (the cut moves earlier to the first of them).

    >>> [(train.tolist(), test.tolist()) for train, test in time_split([3, 1, 2, 4], test_fraction=0.25)]
    [([0, 1, 2], [3])]
    """
    times = _as_array(timestamps, "timestamps")
    if (k is None) == (test_fraction is None):
        raise DataError("time_split: give exactly one of k or test_fraction")
    n = len(times)
    if test_fraction is not None:
        if not 0 < test_fraction < 1:
            raise DataError(f"time_split: test_fraction must be between 0 and 1, got {test_fraction}")
        cuts = [n - max(1, round(n * test_fraction)), n]
    else:
        _check_k(k + 1, n, "timestamps")
        cuts = [n * (i + 1) // (k + 1) for i in range(k + 1)]
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    cuts = [int(np.searchsorted(ordered, ordered[c], side="left")) if c < n else n for c in cuts]
    for start, stop in itertools.pairwise(cuts):
        if start == 0 or stop <= start:
            raise DataError(
                f"time_split: too many rows share a timestamp to cut {len(cuts) - 1} split(s) with non-empty "
                "train and test; use a smaller k or test_fraction"
            )
        yield np.sort(order[:start]), np.sort(order[start:stop])


def time_folds(
    frame: pl.DataFrame,
    schema: Schema,
    column: str,
    *,
    k: int | None = None,
    test_fraction: float | None = None,
    y: np.ndarray | None = None,
    classes: list | None = None,
    shrink: bool = False,
) -> list[Split]:
    """``time_split`` over a table's ``column``, checked first: a datetime or numeric column of ``schema``, not
    the target, with a value in every row. With ``y`` (class ids into ``classes``), every class must have a row
    in the first training part (the windows expand, so it is in every later one too); errors name ``time``, the
    parameter a user gives the column with. With ``shrink``, fewer than ``k`` folds (at least 2) when the
    column's values cannot be cut into ``k`` (a year column of three years gives 2).

    >>> from fieldguide.data import infer_schema
    >>> table = pl.DataFrame({"day": [4, 1, 3, 2, 5, 6], "y": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    >>> [test.tolist() for _, test in time_folds(table, infer_schema(table, "y"), "day", k=2)]
    [[0, 2], [4, 5]]
    """
    if column not in schema:
        raise SchemaError(f"time: {column!r} is not a column; columns are {', '.join(schema.names)}")
    spec = schema[column]
    if spec.role == "target":
        raise FieldguideError(f"time: {column!r} is the target; the folds need another column to order them")
    if spec.kind not in ("datetime", "numeric"):
        raise FieldguideError(f"time: {column!r} is a {spec.kind} column; expected a datetime or numeric one")
    values = frame.select(typed_column(spec, frame.schema[column])).to_series()
    if values.null_count():
        raise DataError(
            f"time: {column!r} is missing in {values.null_count():,} row(s); every row needs a time"
        )
    times = values.to_numpy()
    folds = _cut(times, range(k, 1, -1) if shrink and k is not None else [k], test_fraction)
    if folds is None:
        cut = "hold out the latest rows" if k is None else f"cut {k} time-ordered folds"
        most = None if k is None else _cut(times, range(k - 1, 1, -1))
        fit = f"; at most {len(most)} folds can be cut" if most else ""
        raise DataError(
            f"time: {column!r} takes {values.n_unique():,} distinct value(s), too few to {cut} (rows that "
            f"share a time stay on one side of each cut){fit}"
        )
    if y is None or not classes:
        return folds
    absent = sorted(set(range(len(classes))) - set(np.unique(y[folds[0][0]]).tolist()))
    if absent:
        where = "fold 1's test rows; use fewer folds" if k is not None else "the holdout rows"
        raise DataError(f"time: class {classes[absent[0]]!r} has no row before {where}")
    return folds


def _cut(
    times: np.ndarray, counts: Iterable[int | None], test_fraction: float | None = None
) -> list[Split] | None:
    """``time_split``'s splits with the first number of folds in ``counts`` that the times allow (``[None]`` with
    ``test_fraction``: its one split); None when none does."""
    for n_folds in counts:
        try:
            return list(time_split(times, n_folds, test_fraction=test_fraction))
        except DataError:
            continue
    return None


def stratified_sample(df: pl.DataFrame, target: str, n_rows: int, seed: int = 0) -> pl.DataFrame:
    """A seeded sample of ``n_rows`` rows that keeps the target's class proportions, at least one row per class.

    Rows keep their original order. Classes get their share by largest remainder.

    >>> df = pl.DataFrame({"y": [0] * 90 + [1] * 10, "x": range(100)})
    >>> stratified_sample(df, "y", 20)["y"].value_counts(sort=True).rows()
    [(0, 18), (1, 2)]
    """
    if target not in df.columns:
        raise DataError(f"stratified_sample: target {target!r} is not a column; columns are {df.columns}")
    if n_rows >= df.height:
        return df
    _, codes, counts = np.unique(
        _comparable(df.get_column(target).to_numpy()), return_inverse=True, return_counts=True
    )
    if n_rows < len(counts):
        raise DataError(
            f"stratified_sample: n_rows={n_rows} is fewer than the {len(counts)} classes of {target!r}"
        )
    exact = counts * n_rows / df.height
    share = np.floor(exact).astype(np.int64)
    share[np.argsort(-(exact - share), kind="stable")[: n_rows - share.sum()]] += 1
    for empty in np.flatnonzero(share == 0):  # a class too rare for its share borrows from the largest
        share[np.argmax(share)] -= 1
        share[empty] = 1
    rng = np.random.default_rng(seed)
    chosen = [rng.choice(np.flatnonzero(codes == c), size=s, replace=False) for c, s in enumerate(share)]
    return df[np.sort(np.concatenate(chosen)).tolist()]


def _as_array(values: Any, name: str) -> np.ndarray:
    array = values.to_numpy() if isinstance(values, pl.Series) else np.asarray(values)
    if array.ndim != 1:
        raise DataError(f"{name}: expected one value per row (1-D), got shape {array.shape}")
    return array


def _comparable(values: np.ndarray) -> np.ndarray:
    """Object arrays (strings with None) as strings, so np.unique can sort them."""
    return values.astype(str) if values.dtype == object else values


def _check_k(k: int, n: int, name: str) -> None:
    if k < 2:
        raise DataError(f"{name}: k must be at least 2, got {k}")
    if k > n:
        raise DataError(f"{name}: k={k} folds need at least {k} rows, got {n}")


def _folds(fold_of: np.ndarray, k: int) -> Iterator[Split]:
    rows = np.arange(len(fold_of), dtype=np.int64)
    for fold in range(k):
        test = fold_of == fold
        yield rows[~test], rows[test]
