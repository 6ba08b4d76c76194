"""The table under check: raw columns, the schema's view of them, and masked example rows."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import polars as pl

from fieldguide.data import Schema
from fieldguide.data._schema import typed_column, value_counts
from fieldguide.readiness import _pii

MAX_EXAMPLES = 5
QUANTILE_SAMPLE = 50_000  # rows that quantile-based checks read: quantiles need far fewer than a million


@dataclasses.dataclass
class Table:
    """A DataFrame with its schema; ``pii`` maps a column to the kind of personal data found in it."""

    df: pl.DataFrame
    schema: Schema
    target: str | None
    pii: dict[str, str] = dataclasses.field(default_factory=dict)
    missing: dict[str, float] = dataclasses.field(default_factory=dict)  # column -> missing rate
    flagged: dict[str, str] = dataclasses.field(default_factory=dict)  # numeric column -> why it is plotted
    _typed: dict[str, pl.Expr] = dataclasses.field(default_factory=dict, repr=False)
    _distinct: dict[str, pl.DataFrame] = dataclasses.field(default_factory=dict, repr=False)

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
        """Each distinct ``value`` of a column (nulls included) with its ``count``: the text checks run over these,
        not over every row, so a categorical column of a million rows costs a handful of regex matches."""
        if name not in self._distinct:
            self._distinct[name] = value_counts(self.df.get_column(name))
        return self._distinct[name]

    def rows_with(self, name: str, values: list[Any]) -> pl.Series:
        """Indices of the first rows (up to 5) whose ``name`` is one of ``values``."""
        column = self.df.get_column(name)
        return column.is_in(pl.Series(values, dtype=column.dtype).implode()).arg_true().head(MAX_EXAMPLES)

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

    def examples(self, rows: list[int] | pl.Series, columns: list[str] | tuple[str, ...]) -> tuple[dict, ...]:
        """Up to 5 rows of ``columns`` (plus the target), every value masked."""
        rows = list(rows)[:MAX_EXAMPLES]
        shown = list(dict.fromkeys([*columns, *([self.target] if self.target else [])]))
        picked = self.df.select(shown)[rows] if rows else self.df.select(shown).clear()
        return tuple(
            {"row": int(i), **{k: self.masked(k, v) for k, v in record.items()}}
            for i, record in zip(rows, picked.iter_rows(named=True), strict=True)
        )

    def masked(self, column: str, value: Any) -> Any:
        value = _pii.mask(value, self.pii.get(column))
        if isinstance(value, float | int | str | bool) or value is None:
            return value
        return str(value)  # dates and other types as text for JSON
