"""Seeded defects planted into a clean table: the ``--demo`` table and the readiness tests share them.

Each defect is a function ``(df, rng) -> df`` that adds or spoils one column (or repeats rows) of the clean
``fieldguide.data.synthetic.customers`` table, whose target is ``churn``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from fieldguide.data import synthetic

TARGET = "churn"
Defect = Callable[[pl.DataFrame, np.random.Generator], pl.DataFrame]


def _luhn_complete(body: str) -> str:
    """``body`` plus the check digit that makes it Luhn-valid."""
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return body + str((10 - total % 10) % 10)


def emails(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    names = rng.choice(["ana", "li", "omar", "jane.doe", "k.ito", "sam"], df.height)
    domains = rng.choice(["example.com", "mail.example.org", "corp.example.net"], df.height)
    ids = rng.integers(1, 10_000, df.height)
    return df.with_columns(
        email=pl.Series([f"{n}{i}@{d}" for n, i, d in zip(names, ids, domains, strict=True)])
    )


def card_numbers(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    bodies = ["4" + "".join(map(str, rng.integers(0, 10, 14))) for _ in range(df.height)]
    cards = [_luhn_complete(b) for b in bodies]
    return df.with_columns(card=pl.Series([" ".join(c[i : i + 4] for i in range(0, 16, 4)) for c in cards]))


def phones(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    areas = rng.choice(["212", "415", "617", "312"], df.height)
    numbers = [f"({a}) {rng.integers(200, 999)}-{rng.integers(1000, 9999)}" for a in areas]
    return df.with_columns(phone=pl.Series(numbers))


def duplicate_rows(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    repeated = df[rng.choice(df.height, df.height // 50, replace=False).tolist()]
    return pl.concat([df, repeated.with_columns(customer_id=pl.col("customer_id") + 10_000_000)])


def conflicting_rows(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    copies = df[rng.choice(df.height, df.height // 100, replace=False).tolist()]
    flipped = copies.with_columns(churn=1 - pl.col(TARGET), customer_id=pl.col("customer_id") + 20_000_000)
    return pl.concat([df, flipped])


def seconds_and_milliseconds(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``session_length`` in seconds from the web, in milliseconds from the app."""
    source = rng.choice(["web", "app"], df.height)
    seconds = np.round(np.exp(rng.normal(5.0, 0.6, df.height)), 1)
    return df.with_columns(
        source=pl.Series(source), session_length=pl.Series(np.where(source == "app", seconds * 1000, seconds))
    )


def leaked_target(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``retention_score``: a noisy copy of the target, as if written after the customer left."""
    return df.with_columns(
        retention_score=pl.Series(1 - df[TARGET].to_numpy() + rng.normal(0, 0.15, df.height))
    )


def constant_column(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    return df.with_columns(country=pl.lit("NO"))


def mixed_types(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``income`` as text: numbers, and 3% of free-text answers."""
    income = np.round(np.exp(rng.normal(10.5, 0.5, df.height))).astype(int).astype(str)
    income = np.where(
        rng.random(df.height) < 0.03, rng.choice(["high", "prefer not to say"], df.height), income
    )
    return df.with_columns(income=pl.Series(income))


def category_variants(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """``contract``'s "month-to-month" also written "Month-to-Month" and "MONTH TO MONTH "."""
    spelling = pl.Series(rng.choice(["month-to-month", "Month-to-Month", "MONTH TO MONTH "], df.height))
    return df.with_columns(
        contract=pl.when(pl.col("contract") == "month-to-month").then(spelling).otherwise(pl.col("contract"))
    )


def missing_spellings(df: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """10% of ``region`` missing, written as an empty field, "NA" or "?"."""
    spoiled = pl.Series(rng.random(df.height) < 0.10)
    spelling = pl.Series(rng.choice(["", "NA", "?"], df.height)).replace("", None)
    return df.with_columns(region=pl.when(spoiled).then(spelling).otherwise(pl.col("region")))


DEFECTS: dict[str, Defect] = {
    "emails": emails,
    "card_numbers": card_numbers,
    "phones": phones,
    "duplicate_rows": duplicate_rows,
    "conflicting_rows": conflicting_rows,
    "seconds_and_milliseconds": seconds_and_milliseconds,
    "leaked_target": leaked_target,
    "constant_column": constant_column,
    "mixed_types": mixed_types,
    "category_variants": category_variants,
    "missing_spellings": missing_spellings,
}
DEMO_DEFECTS = (
    "emails",
    "seconds_and_milliseconds",
    "category_variants",
    "missing_spellings",
    "duplicate_rows",
)


def planted(defect: str, n_rows: int = 2000, seed: int = 0) -> pl.DataFrame:
    """The clean customers table with one defect from ``DEFECTS`` planted (``"clean"`` for none)."""
    df = synthetic.customers(n_rows, seed=seed)
    if defect == "clean":
        return df
    if defect not in DEFECTS:
        raise ValueError(f"defect: expected 'clean' or one of {sorted(DEFECTS)}, found {defect!r}")
    return DEFECTS[defect](df, np.random.default_rng(seed + 1))


def demo_table(n_rows: int = 2000, seed: int = 0) -> pl.DataFrame:
    """The ``fieldguide check --demo`` table: customers with a few of the defects planted at once.

    Example:
        >>> demo_table(500).height > 500  # duplicated rows were added
        True
    """
    df = synthetic.customers(n_rows, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for name in DEMO_DEFECTS:
        df = DEFECTS[name](df, rng)
    return df
