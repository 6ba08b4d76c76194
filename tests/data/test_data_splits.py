"""Splits: folds partition the rows, stratification within one row per class, groups and time order hold."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import StratifiedKFold

from fieldguide.data import splits
from fieldguide.errors import DataError

labels = st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=6, max_size=120)


def assert_partition(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    tests = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tests), np.arange(n)), "every row is tested exactly once"
    for train, test in folds:
        assert train.dtype == test.dtype == np.int64
        assert np.array_equal(np.union1d(train, test), np.arange(n)) and np.intersect1d(train, test).size == 0


@settings(max_examples=60, deadline=None)
@given(y=labels, k=st.integers(2, 6), seed=st.integers(0, 2**32 - 1))
def test_stratified_folds_partition_and_spread_every_class(y, k, seed) -> None:
    y = np.array(y)
    k = min(k, len(y))
    folds = list(splits.stratified_kfold(y, k=k, seed=seed))
    assert len(folds) == k
    assert_partition(folds, len(y))
    for label in np.unique(y):
        per_fold = [int((y[test] == label).sum()) for _, test in folds]
        assert max(per_fold) - min(per_fold) <= 1, (label, per_fold)
    sizes = [len(test) for _, test in folds]
    assert max(sizes) - min(sizes) <= 1


def test_stratified_class_counts_match_scikit_learn() -> None:
    y = np.repeat([0, 1, 2], [70, 23, 7])
    ours = sorted(
        sorted(np.bincount(y[test], minlength=3).tolist()) for _, test in splits.stratified_kfold(y, 5)
    )
    reference = StratifiedKFold(5, shuffle=True, random_state=0).split(np.zeros(len(y)), y)
    theirs = sorted(sorted(np.bincount(y[test], minlength=3).tolist()) for _, test in reference)
    assert ours == theirs
    per_class = [
        sorted(np.bincount(y[test], minlength=3)[c] for _, test in splits.stratified_kfold(y, 5))
        for c in range(3)
    ]
    assert per_class == [[14] * 5, [4, 4, 5, 5, 5], [1, 1, 1, 2, 2]]


def test_stratified_is_seeded_and_repeats_reshuffle() -> None:
    y = np.arange(40) % 3
    first = [test.tolist() for _, test in splits.stratified_kfold(y, 4, seed=1)]
    assert first == [test.tolist() for _, test in splits.stratified_kfold(y, 4, seed=1)]
    repeated = [test.tolist() for _, test in splits.stratified_kfold(y, 4, seed=1, repeats=2)]
    assert len(repeated) == 8 and repeated[:4] == first and repeated[4:] != first
    with_strings = list(splits.stratified_kfold(pl.Series(["x", None, "y"] * 5), 3))
    assert_partition(with_strings, 15)


@settings(max_examples=60, deadline=None)
@given(groups=st.lists(st.integers(0, 15), min_size=4, max_size=100), k=st.integers(2, 5))
def test_groups_never_straddle(groups, k) -> None:
    groups = np.array(groups)
    if len(np.unique(groups)) < k:
        with pytest.raises(DataError, match="distinct groups cannot fill"):
            list(splits.group_kfold(groups, k))
        return
    folds = list(splits.group_kfold(groups, k))
    assert_partition(folds, len(groups))
    for train, test in folds:
        assert len(test) > 0
        assert not set(groups[train]) & set(groups[test])


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.integers(0, 30), min_size=4, max_size=80),
    k=st.integers(1, 4),
    fraction=st.floats(0.05, 0.6),
)
def test_train_always_precedes_test(times, k, fraction) -> None:
    times = np.array(times)
    for make in (
        lambda: list(splits.time_split(times, k)),
        lambda: list(splits.time_split(times, test_fraction=fraction)),
    ):
        try:
            folds = make()
        except DataError as err:
            assert "share a timestamp" in str(err) or "need at least" in str(err)
            continue
        for train, test in folds:
            assert len(train) and len(test)
            assert times[train].max() < times[test].min()
        tests = np.concatenate([test for _, test in folds])
        assert len(np.unique(tests)) == len(tests)


def test_time_split_expanding_windows() -> None:
    times = np.array(
        ["2024-01-05", "2024-01-01", "2024-01-03", "2024-01-02", "2024-01-04", "2024-01-06"],
        dtype="datetime64[D]",
    )
    assert [(train.tolist(), test.tolist()) for train, test in splits.time_split(times, 2)] == [
        ([1, 3], [2, 4]),
        ([1, 2, 3, 4], [0, 5]),
    ]
    with pytest.raises(DataError, match="exactly one of k or test_fraction"):
        list(splits.time_split(times))
    with pytest.raises(DataError, match="share a timestamp"):
        list(splits.time_split(np.zeros(10), 2))


def test_time_folds_say_how_many_folds_a_column_of_few_values_allows() -> None:
    from fieldguide.data import infer_schema

    table = pl.DataFrame({"year": [2007] * 30 + [2008] * 35 + [2009] * 35, "y": np.arange(100.0)})
    schema = infer_schema(table, "y")
    with pytest.raises(
        DataError,
        match=r"time: 'year' takes 3 distinct value\(s\), too few to cut 5 time-ordered folds \(rows that share "
        r"a time stay on one side of each cut\); at most 2 folds can be cut",
    ):
        splits.time_folds(table, schema, "year", k=5)
    folds = splits.time_folds(table, schema, "year", k=5, shrink=True)
    assert [sorted(set(table["year"][test])) for _, test in folds] == [[2008], [2009]]
    single = table.with_columns(year=pl.lit(2007))
    with pytest.raises(
        DataError,
        match=r"takes 1 distinct value\(s\), too few to hold out the latest rows \(rows that share a time",
    ):
        splits.time_folds(single, infer_schema(single, "y"), "year", test_fraction=0.2)
    with pytest.raises(DataError, match=r"too few to cut 2 time-ordered folds .*cut\)$"):
        splits.time_folds(single, infer_schema(single, "y"), "year", k=2, shrink=True)


@settings(max_examples=60, deadline=None)
@given(y=labels, n_rows=st.integers(4, 60), seed=st.integers(0, 100))
def test_stratified_sample_keeps_proportions(y, n_rows, seed) -> None:
    df = pl.DataFrame({"y": y, "row": range(len(y))})
    classes = df["y"].unique().to_list()
    if n_rows < len(classes) and n_rows < df.height:
        with pytest.raises(DataError, match="fewer than the"):
            splits.stratified_sample(df, "y", n_rows, seed)
        return
    sample = splits.stratified_sample(df, "y", n_rows, seed)
    assert sample.height == min(n_rows, df.height)
    assert sample["row"].is_sorted() and sample["row"].n_unique() == sample.height
    counts = dict(df["y"].value_counts().rows())
    got = dict(sample["y"].value_counts().rows())
    assert set(got) == set(counts), "every class keeps at least one row"
    exact = {label: count * sample.height / df.height for label, count in counts.items()}
    borrowed = sum(share < 1 for share in exact.values())  # rare classes raised to one row take from others
    for label in counts:
        assert abs(got[label] - exact[label]) < 1 + borrowed, (label, got, exact)


def test_bad_arguments() -> None:
    with pytest.raises(DataError, match="k must be at least 2"):
        list(splits.stratified_kfold([0, 1], 1))
    with pytest.raises(DataError, match="k=5 folds need at least 5 rows, got 3"):
        list(splits.stratified_kfold([0, 1, 0], 5))
    with pytest.raises(DataError, match=r"expected one value per row \(1-D\)"):
        list(splits.stratified_kfold(np.zeros((4, 2)), 2))
    with pytest.raises(DataError, match="target 'z' is not a column"):
        splits.stratified_sample(pl.DataFrame({"y": [1]}), "z", 1)
