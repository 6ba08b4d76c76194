"""The table under check: raw columns, the schema's view of them, and masked example rows.

A table is checked either in memory (``df`` holds every row) or streamed (``scan`` reads every row of a Parquet
file in passes and ``df`` holds a seeded sample of them): counts come from every row either way; quantiles,
inference and the models of band A read ``df``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import os
from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl

from fieldguide.data import Schema
from fieldguide.data._schema import typed_column, value_counts
from fieldguide.readiness import _pii

MAX_EXAMPLES = 5
QUANTILE_SAMPLE = 50_000  # rows that quantile-based checks read: quantiles need far fewer than a million
DISTINCT_LIMIT = 100_000  # a streamed text column with more distinct values is counted on the sample
BYTES_PER_GROUP = 100  # a streamed hash group-by's memory per row (measured: 80-95 bytes)
ROW = "\x00row"


@dataclasses.dataclass
class Table:
    """A DataFrame with its schema; ``pii`` maps a column to the kind of personal data found in it.

    scan: every row, when ``df`` is a sample of them (``rows`` then holds each sampled row's index in the scan).
    """

    df: pl.DataFrame
    schema: Schema
    target: str | None
    pii: dict[str, str] = dataclasses.field(default_factory=dict)
    missing: dict[str, float] = dataclasses.field(default_factory=dict)  # column -> missing rate
    flagged: dict[str, str] = dataclasses.field(default_factory=dict)  # numeric column -> why it is plotted
    scan: pl.LazyFrame | None = None
    n_rows: int = -1  # rows of the whole table (``df.height`` in memory)
    rows: pl.Series | None = None  # streamed: the scan's index of each row of ``df``
    _typed: dict[str, pl.Expr] = dataclasses.field(default_factory=dict, repr=False)
    _distinct: dict[str, pl.DataFrame] = dataclasses.field(default_factory=dict, repr=False)
    sampled_columns: set[str] = dataclasses.field(default_factory=set)  # streamed: distinct values from df

    def __post_init__(self) -> None:
        if self.n_rows < 0:
            self.n_rows = self.df.height

    @property
    def streamed(self) -> bool:
        return self.scan is not None

    @property
    def lazy(self) -> pl.LazyFrame:
        """Every row of the table."""
        return self.df.lazy() if self.scan is None else self.scan

    def collect(self, query: pl.LazyFrame) -> pl.DataFrame:
        return query.collect(engine="streaming") if self.streamed else query.collect()

    def aggregate(self, exprs: Sequence[pl.Expr]) -> dict[str, Any]:
        """One row of aggregates over every row of the table, by name."""
        return self.collect(self.lazy.select(exprs)).row(0, named=True) if exprs else {}

    def typed(self, name: str) -> pl.Expr:
        """The column in its kind's type (numbers stored as text become Float64, missing spellings null)."""
        if name not in self._typed:
            self._typed[name] = typed_column(self.schema[name], self.df.schema[name]).alias(name)
        return self._typed[name]

    @property
    def task(self) -> str | None:
        """``"regression"`` for a numeric target, ``"classification"`` for another, ``None`` without one."""
        if self.target is None:
            return None
        return "regression" if self.schema[self.target].kind == "numeric" else "classification"

    @functools.cached_property
    def sample(self) -> pl.DataFrame:
        """A seeded sample of at most ``QUANTILE_SAMPLE`` rows, for quantiles (fences, segment profiles)."""
        if self.df.height <= QUANTILE_SAMPLE:
            return self.df
        return self.df.sample(QUANTILE_SAMPLE, seed=0)

    def distinct(self, name: str) -> pl.DataFrame:
        """Each distinct ``value`` of a column (nulls included) with its ``count``, in the order of their first row:
        the text checks run over these, not over every row, so a categorical column of a million rows costs a
        handful of regex matches. Streamed, a column in ``sampled_columns`` is counted on the sample."""
        if name not in self._distinct:
            if self.streamed and name not in self.sampled_columns:
                self._distinct[name] = self.collect(count_values(self.scan, name))
            else:
                self._distinct[name] = value_counts(self.df.get_column(name))
        return self._distinct[name]

    def counts_where(self, name: str, condition: pl.Expr) -> pl.DataFrame:
        """The distinct ``value``s of a column for which ``condition`` (on ``pl.col("value")``) holds, each with
        its ``count`` over every row, including a column counted on the sample."""
        if name not in self.sampled_columns:
            return self.distinct(name).filter(condition)
        return self.collect(count_values(self.scan, name, condition))

    def in_sample(self, name: str) -> str:
        """`` (in a sample of N rows)`` for a column whose values are counted on the sample, else ``""``."""
        return f" (in a sample of {self.df.height:,} rows)" if name in self.sampled_columns else ""

    def of_kind(self, *kinds: str, features_only: bool = False) -> list[str]:
        """Columns of these kinds that are not ignored (and, with ``features_only``, not the target)."""
        allowed = ("feature",) if features_only else ("feature", "target")
        return [c.name for c in self.schema if c.kind in kinds and c.role in allowed]

    @property
    def features(self) -> list[str]:
        return [c.name for c in self.schema if c.role == "feature"]

    @property
    def strings(self) -> list[str]:
        return [n for n, dtype in self.df.schema.items() if dtype == pl.String]

    def examples(self, rows: Iterable[int] | pl.Series, columns: Sequence[str]) -> tuple[dict, ...]:
        """Up to 5 rows of ``columns`` (plus the target), every value masked. ``rows`` are positions in ``df``;
        each example's ``row`` is its index in the whole table."""
        rows = list(rows)[:MAX_EXAMPLES]
        shown = self._shown(columns)
        picked = self.df.select(shown)[rows] if rows else self.df.select(shown).clear()
        index = rows if self.rows is None else self.rows.gather(rows).to_list() if rows else []
        return self._records(index, picked)

    def examples_where(self, condition: pl.Expr | list[pl.Expr], columns: Sequence[str]) -> tuple[dict, ...]:
        """Examples from every row of the table: the first 5 where ``condition`` holds, or, for a list of
        conditions, the first row where each holds."""
        indexed = self.lazy.with_row_index(ROW)
        if isinstance(condition, list):
            query = indexed.select(
                pl.col(ROW).filter(c).first().alias(str(i)) for i, c in enumerate(condition)
            )
            return self.examples_at([r for r in self.collect(query).row(0) if r is not None], columns)
        query = (
            indexed.filter(condition.fill_null(False)).head(MAX_EXAMPLES).select(ROW, *self._shown(columns))
        )
        picked = self.collect(query)
        return self._records(picked.get_column(ROW).to_list(), picked.drop(ROW))

    def examples_at(self, index: Sequence[int], columns: Sequence[str]) -> tuple[dict, ...]:
        """Examples of the rows at these indices of the whole table (the first 5 of them, in their order)."""
        wanted = list(dict.fromkeys(index))[:MAX_EXAMPLES]
        if not self.streamed:
            return self.examples(wanted, columns)
        query = (
            self.scan.with_row_index(ROW).filter(pl.col(ROW).is_in(wanted)).select(ROW, *self._shown(columns))
        )
        picked = self.collect(query)
        order = pl.DataFrame({ROW: wanted}, schema={ROW: picked.schema[ROW]})
        picked = order.join(picked, on=ROW, how="left", maintain_order="left")
        return self._records(wanted, picked.drop(ROW))

    def partitions(self) -> int:
        """How many hash partitions a streamed group-by over every row needs to fit in a quarter of the memory
        available (1 in memory)."""
        return 1 if not self.streamed else max(1, math.ceil(self.n_rows * BYTES_PER_GROUP / memory_budget()))

    def _shown(self, columns: Sequence[str]) -> list[str]:
        return list(dict.fromkeys([*columns, *([self.target] if self.target else [])]))

    def _records(self, index: list[int], picked: pl.DataFrame) -> tuple[dict, ...]:
        return tuple(
            {"row": int(i), **{k: self.masked(k, v) for k, v in record.items()}}
            for i, record in zip(index, picked.iter_rows(named=True), strict=True)
        )

    def masked(self, column: str, value: Any) -> Any:
        value = _pii.mask(value, self.pii.get(column))
        if isinstance(value, float | int | str | bool) or value is None:
            return value
        return str(value)  # dates and other types as text for JSON


def count_values(lazy: pl.LazyFrame, name: str, condition: pl.Expr | None = None) -> pl.LazyFrame:
    """The distinct ``value``s of column ``name`` (those for which ``condition`` holds) and their ``count``, in
    the order of their first row."""
    values = lazy.select(pl.col(name).alias("value"))
    values = values if condition is None else values.filter(condition)
    return values.group_by("value", maintain_order=True).agg(pl.len().alias("count"))


def memory_budget() -> int:
    """A quarter of the memory available now, in bytes: the least of the machine's free memory and what is left
    under the process's cgroup limit (a container's); a quarter of 4 GiB where neither is known."""
    known = []
    with contextlib.suppress(ValueError, OSError, AttributeError):  # no such counter outside Linux
        known.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit) as a, open(used) as b:
                known.append(int(a.read()) - int(b.read()))
        except (OSError, ValueError):  # no such cgroup, or no limit ("max")
            continue
    return max(min(known) if known else 2**32, 2**26) // 4
