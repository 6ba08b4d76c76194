"""Band C personal data and band B checks: each is a few vectorised Polars passes over a column family."""

from __future__ import annotations

import math

import polars as pl

from fieldguide.data import MISSING_TOKENS
from fieldguide.data._schema import parse_number
from fieldguide.readiness import _pii
from fieldguide.readiness._findings import CHECKS, Finding, percent
from fieldguide.readiness._table import ROW, Table

NUMERIC_SENTINELS = (-999, -9999, -99999)
SENTINEL_MIN_COUNT = 5
ZERO_MAX_SHARE = 0.5  # zeros in most rows are the column's norm, not a stand-in
ZERO_GAP_STEPS = 5  # 0 this many of a column's small steps below its least positive value: missing?
ZERO_STEP_VALUES = 21  # the smallest distinct positive values whose gaps give the column's step
MISSING_WARN, MISSING_FAIL = 0.05, 0.5
DUPLICATES_FAIL = 0.05
MIXED_MAX_SHARE = 0.10
PII_SHARE_BLOCK = 0.01
OUTLIER_IQR = 3.0  # fences: beyond both 3 IQR from the quartiles and one 1%-99% range from those
MAX_VARIANT_DISTINCT = 1000


def personal_data(t: Table) -> list[Finding]:
    """C-3: emails, phones, Luhn-valid card numbers and SSNs, in text and long-integer columns."""
    ints = [n for n, dtype in t.df.schema.items() if dtype.is_integer()]
    largest = t.aggregate([pl.col(n).abs().max() for n in ints])
    long_ints = [n for n in ints if (largest[n] or 0) >= 10**12]
    hits = _pii.scan({n: t.distinct(n) for n in [*t.strings, *long_ints]})
    findings = []
    for hit in hits:
        t.pii[hit.column] = hit.kind
    for hit in hits:
        blocking = hit.kind in ("card", "national_id") or hit.share >= PII_SHARE_BLOCK
        findings.append(
            Finding(
                "C-3 personal-data",
                "block" if blocking else "warn",
                f"{hit.column}: {hit.count:,} value(s) look like {_pii.KINDS[hit.kind]} "
                f"({percent(hit.share)} of the column){t.in_sample(hit.column)}",
                value=round(hit.share, 6),
                threshold="any card or national id, or >=1% emails/phones: block",
                columns=(hit.column,),
                examples=t.examples_where(_is_in(t, hit.column, hit.values), [hit.column]),
            )
        )
    return findings or [Finding("C-3 personal-data", "pass", "no personal data found")]


def missing(t: Table) -> list[Finding]:
    """B-1 (distinct spellings of missing) and B-7 (missing rate): nulls, NaN and numeric sentinels in one pass
    over the numeric columns; missing tokens over the distinct values of text columns."""
    numeric = [n for n, dtype in t.df.schema.items() if dtype.is_numeric()]
    exprs = [pl.col(n).null_count().alias(f"{n}\x00null") for n in t.df.columns]
    exprs += [pl.col(n).is_nan().sum().alias(f"{n}\x00NaN") for n in numeric if t.df.schema[n].is_float()]
    exprs += [(pl.col(n) == v).sum().alias(f"{n}\x00{v}") for n in numeric for v in NUMERIC_SENTINELS]
    measured = [n for n in t.of_kind("numeric") if n in numeric]
    exprs += [(pl.col(n) == 0).sum().alias(f"{n}\x00zeros") for n in measured]
    exprs += [pl.col(n).min().alias(f"{n}\x00min") for n in measured]
    declared = {n: _declared_numbers(t, n) for n in numeric}  # values the schema says mean missing
    exprs += [
        (pl.col(n).cast(pl.Float64) == float(v)).sum().alias(f"{n}\x00{v}")
        for n, vs in declared.items()
        for v in vs
    ]
    stats = t.aggregate(exprs)
    n = t.n_rows
    findings: list[Finding] = []
    for name in t.df.columns:
        nulls = stats[f"{name}\x00null"]
        if t.df.schema[name] == pl.String:
            declared_text = list(t.schema[name].missing_values) if name in t.schema else []
            tokens = t.counts_where(
                name,
                pl.col("value").str.strip_chars().str.to_lowercase().is_in(list(MISSING_TOKENS))
                | pl.col("value").is_in(declared_text),
            )
            spelled = {v: (c, pl.col(name) == v) for v, c in tokens.iter_rows()}
        else:
            # A sentinel such as -999 counts only when it recurs: once is more likely a real value.
            spelled = {
                str(v): (stats[f"{name}\x00{v}"], pl.col(name).is_nan() if v == "NaN" else pl.col(name) == v)
                for v in ("NaN", *NUMERIC_SENTINELS)
                if stats.get(f"{name}\x00{v}", 0) >= (1 if v == "NaN" else SENTINEL_MIN_COUNT)
            }
            spelled |= {
                v: (stats[f"{name}\x00{v}"], pl.col(name).cast(pl.Float64) == float(v))
                for v in declared.get(name, [])
                if stats[f"{name}\x00{v}"]
            }
        marked = sum(c for c, _ in spelled.values())
        spellings = (["(empty)"] if nulls else []) + [repr(s) for s in sorted(spelled)]
        rate = (nulls + marked) / n
        t.missing[name] = rate
        if len(spellings) > 1 or (marked and not nulls):
            findings.append(
                Finding(
                    "B-1 missing-spellings",
                    "fail" if len(spellings) > 1 else "warn",
                    f"{name}: missing is written {len(spellings)} way(s): {', '.join(spellings)}",
                    value=len(spellings),
                    threshold=">1 spelling: fail; one non-empty spelling: warn",
                    columns=(name,),
                    examples=t.examples_where([spelled[s][1] for s in sorted(spelled)], [name]),
                )
            )
        if rate > MISSING_WARN:
            findings.append(
                Finding(
                    "B-7 missing-rate",
                    "fail" if rate > MISSING_FAIL else "warn",
                    f"{name}: {percent(rate)} missing",
                    value=round(rate, 6),
                    threshold=">5% warn; >50% fail",
                    columns=(name,),
                )
            )
    findings += _zeros_apart(t, measured, stats)
    return findings + _passes(findings, ("B-1 missing-spellings", "B-7 missing-rate"))


def _declared_numbers(t: Table, name: str) -> list[str]:
    """The values the schema declares missing in a column of numbers, those that are numbers (as written)."""
    values = t.schema[name].missing_values if name in t.schema else ()
    return [value for value in values if parse_number(value) is not None]


def _zeros_apart(t: Table, names: list[str], stats: dict) -> list[Finding]:
    """B-1 warnings for zeros that may stand for missing: at least ``SENTINEL_MIN_COUNT`` of them, in at most half
    the rows of a column with no negative values and no declared missing values, and at least ``ZERO_GAP_STEPS``
    of the column's steps (the median gap between its smallest distinct positive values) below its least positive
    value: a glucose of 0 next to 44, 56, 57, …, not a count of 0 next to 1, 2, 3."""
    n = t.n_rows
    candidates = [
        name
        for name in names
        if SENTINEL_MIN_COUNT <= stats[f"{name}\x00zeros"] <= ZERO_MAX_SHARE * n
        and stats[f"{name}\x00min"] >= 0
        and not t.schema[name].missing_values  # the user has said what missing is written as
    ]
    if not candidates:
        return []
    # The step from the smallest distinct values of the rows in memory (a sample, streamed); the least value
    # from every row.
    steps = t.df.select(
        pl.col(n).filter(pl.col(n) > 0).unique().sort().head(ZERO_STEP_VALUES).diff().median()
        for n in candidates
    ).row(0, named=True)
    least_values = t.aggregate([pl.col(n).filter(pl.col(n) > 0).min() for n in candidates])
    findings = []
    for name in candidates:
        least, step = least_values[name], steps[name]
        if least is None or step is None or least < ZERO_GAP_STEPS * step:
            continue
        zeros = stats[f"{name}\x00zeros"]
        findings.append(
            Finding(
                "B-1 missing-spellings",
                "warn",
                f"{name}: {zeros:,} zero(s) ({percent(zeros / n)}) where the other values start at {least:g} "
                f"(in steps of about {step:.3g}): 0 may stand for missing",
                value=round(zeros / n, 6),
                threshold=f"zeros in <= {ZERO_MAX_SHARE:.0%} of rows, >= {ZERO_GAP_STEPS} steps below the rest: warn",
                columns=(name,),
                examples=t.examples_where(pl.col(name) == 0, [name]),
            )
        )
        t.flagged.setdefault(name, "zeros")
    return findings


def mixed_types(t: Table) -> list[Finding]:
    """B-2: text columns in which a few values are numbers, or a few numbers are text (over distinct values)."""
    strings = [n for n in t.strings if t.schema[n].kind not in ("datetime", "boolean") and n not in t.pii]
    findings = []
    for name in strings:
        value = pl.col("value").str.strip_chars()
        present = t.distinct(name).filter(
            value.is_not_null() & ~value.str.to_lowercase().is_in(list(MISSING_TOKENS))
        )
        is_number = value.cast(pl.Float64, strict=False).is_not_null()
        n = present["count"].sum()
        numbers = present.filter(is_number)["count"].sum()
        rare = min(numbers, n - numbers)
        if not (n and rare and rare / n <= MIXED_MAX_SHARE):
            continue
        rarer_is_number = numbers < n - numbers
        rare_values = present.filter(is_number if rarer_is_number else ~is_number)["value"]
        kinds = ("numbers", "text") if rarer_is_number else ("text", "numbers")
        findings.append(
            Finding(
                "B-2 mixed-types",
                "warn",
                f"{name}: {rare:,} value(s) ({percent(rare / n)}) are {kinds[0]} in a column of {kinds[1]}"
                + t.in_sample(name),
                value=round(rare / n, 6),
                threshold="rarer type in (0%, 10%]: warn",
                columns=(name,),
                examples=t.examples_where(_is_in(t, name, rare_values.to_list()), [name]),
            )
        )
    return findings or [Finding("B-2 mixed-types", "pass", "every text column holds one type")]


def category_variants(t: Table) -> list[Finding]:
    """B-3: distinct spellings that are one category once case, spaces and punctuation are ignored."""
    candidates = [n for n in t.of_kind("categorical", "boolean") if t.df.schema[n] == pl.String]
    findings = []
    for name in candidates:
        if name in t.sampled_columns or t.distinct(name).height > MAX_VARIANT_DISTINCT:
            continue
        counts = (
            t.distinct(name)
            .drop_nulls()
            .with_columns(key=pl.col("value").str.to_lowercase().str.replace_all(r"[\s_.\-/]+", ""))
            .filter((pl.col("key") != "") & (pl.col("value").n_unique().over("key") > 1))
            .sort(["key", "count"], descending=[False, True])
        )
        if counts.height == 0:
            continue
        groups = counts.group_by("key", maintain_order=True).agg(pl.col("value"))
        described = "; ".join(" / ".join(repr(v) for v in vs) for vs in groups["value"].head(3).to_list())
        findings.append(
            Finding(
                "B-3 category-variants",
                "warn",
                f"{name}: {groups.height} categor{'y is' if groups.height == 1 else 'ies are'} spelled "
                f"several ways: {described}",
                value=groups.height,
                threshold="any variant: warn",
                columns=(name,),
                examples=t.examples_where([pl.col(name) == v for v in counts["value"].head(5)], [name]),
            )
        )
    return findings or [Finding("B-3 category-variants", "pass", "every category has one spelling")]


def duplicates_and_conflicts(t: Table) -> list[Finding]:
    """B-5 duplicate rows and B-6 conflicting labels, from row hashes (identifiers are left out)."""
    keys = [n for n in t.features] or list(t.df.columns)
    groups = _repeated(t, keys)
    n = t.n_rows
    extra = int((groups["rows"] - 1).sum())
    findings: list[Finding] = []
    if extra:
        share = extra / n
        findings.append(
            Finding(
                "B-5 duplicates",
                "fail" if share > DUPLICATES_FAIL else "warn",
                f"{extra:,} row(s) ({percent(share)}) repeat an earlier row",
                value=round(share, 6),
                threshold=">0 warn; >5% fail",
                columns=tuple(keys),
                examples=t.examples_at(sorted({*groups["first"], *groups["last"]}), keys[:6]),
            )
        )
    conflicting = groups.filter(pl.col("labels") > 1) if t.target is not None else groups.clear()
    if conflicting.height:
        count = int(conflicting["rows"].sum())
        share = count / n
        pairs = conflicting.sort("first").head(3).select("first", "last").rows()
        findings.append(
            Finding(
                "B-6 conflicting-labels",
                "fail",
                f"{count:,} row(s) ({percent(share)}) share all features with a row of another {t.target!r}",
                value=round(share, 6),
                threshold=">0 fail",
                columns=(*keys, t.target),
                examples=t.examples_at([r for pair in pairs for r in pair], keys[:6]),
            )
        )
    ids = ["B-5 duplicates", *(["B-6 conflicting-labels"] if t.target else [])]
    return findings + _passes(findings, ids)


def _repeated(t: Table, keys: list[str]) -> pl.DataFrame:
    """One row per group of rows equal on ``keys`` (by a 64-bit hash) that has more than one: its ``rows``, the
    index of its ``first`` and ``last`` row, and how many distinct target values it holds (``labels``).

    Streamed, the groups are counted in as many passes over the table as memory needs, each over one slice of
    the hash values."""
    target = [pl.col(t.target).alias("\x00y")] if t.target is not None else []
    rows = t.lazy.with_row_index(ROW).select(pl.struct(keys).hash(0).alias("\x00hash"), ROW, *target)
    parts = t.partitions()
    per_group = [
        pl.len().alias("rows"),
        pl.col(ROW).min().alias("first"),
        pl.col(ROW).max().alias("last"),
        (pl.col("\x00y").n_unique() if target else pl.lit(1)).alias("labels"),
    ]
    found = [
        t.collect(
            (rows if parts == 1 else rows.filter(pl.col("\x00hash") % parts == part))
            .group_by("\x00hash")
            .agg(per_group)
            .filter(pl.col("rows") > 1)
            .drop("\x00hash")
        )
        for part in range(parts)
    ]
    return pl.concat(found).cast({"labels": pl.UInt32})


def constant_and_identifiers(t: Table) -> list[Finding]:
    """B-8 constant columns and B-9 identifier-like feature columns."""
    n = t.n_rows
    # Cheap screens first: constant means no nulls and min == max (or all null); exact distinct counts only for
    # the integer and text columns whose approximate count is near the number of rows.
    columns = t.df.columns
    screen = t.aggregate(
        [
            *[(pl.col(c).null_count() == n).alias(f"{c}\x00null") for c in columns],
            *[(pl.col(c).min() == pl.col(c).max()).alias(f"{c}\x00same") for c in columns if _ordered(t, c)],
            *[(pl.col(c).null_count() == 0).alias(f"{c}\x00full") for c in columns],
            *[pl.col(c).approx_n_unique().alias(f"{c}\x00approx") for c in columns if _id_candidate(t, c)],
        ]
    )
    exact = _distinct_counts(t, [c for c in columns if screen.get(f"{c}\x00approx", 0) >= 0.9 * n])
    findings = []
    for name in columns:
        spec = t.schema[name]
        constant = screen[f"{name}\x00null"] or (screen[f"{name}\x00full"] and screen.get(f"{name}\x00same"))
        count = exact.get(name, 0)
        if constant and n > 1:
            findings.append(
                Finding(
                    "B-8 constant",
                    "warn",
                    f"{name}: every row holds the same value",
                    value=1,
                    threshold="1 distinct value: warn",
                    columns=(name,),
                    examples=t.examples_at([0], [name]),
                )
            )
        if count == n and n >= 20 and spec.role == "feature" and spec.kind not in ("text", "datetime"):
            findings.append(
                Finding(
                    "B-9 identifiers",
                    "warn",
                    f"{name}: every value is distinct, like an identifier, but it is used as a feature",
                    value=count,
                    threshold="distinct = rows in a feature: warn",
                    columns=(name,),
                    examples=t.examples_at(range(min(n, 3)), [name]),
                )
            )
    declared = [c.name for c in t.schema if c.kind == "identifier"]
    passes = _passes(findings, ("B-8 constant",))
    if not any(f.id == "B-9 identifiers" for f in findings):
        note = (
            f"identifiers (never used as features): {', '.join(declared)}" if declared else "no identifiers"
        )
        passes.append(Finding("B-9 identifiers", "pass", note, columns=tuple(declared)))
    return findings + passes


def _distinct_counts(t: Table, names: list[str]) -> dict[str, int]:
    """The exact number of distinct values (null included) of each column, over every row: streamed, summed over
    slices of the values' hashes, as many as memory needs."""
    parts = t.partitions()
    if parts == 1:
        return t.aggregate([pl.col(c).n_unique() for c in names])
    return {
        c: sum(
            t.collect(
                t.scan.select(pl.col(c))
                .filter(pl.col(c).hash(0) % parts == part)
                .select(pl.col(c).n_unique())
            ).item()
            for part in range(parts)
        )
        for c in names
    }


def outliers(t: Table) -> list[Finding]:
    """B-10: values beyond 3 IQR from the quartiles *and* beyond the 1%–99% range by its own width, on the raw
    scale and, for non-negative columns, on the log scale of the positive values too (so that long right tails
    are not called outliers)."""
    names = t.of_kind("numeric")
    if not names:
        return [Finding("B-10 outliers", "pass", "no numeric columns")]
    levels = (0.01, 0.25, 0.75, 0.99)
    # Zeros stay out of the log scale (a zero is not a small outlier of a long tail).
    scales = {"raw": lambda e: e, "log": lambda e: pl.when(e > 0).then(e.log10())}
    minima = t.aggregate([t.typed(n).min().alias(f"{n}\x00min") for n in names])
    q = minima | t.sample.select(
        *[
            scale(t.typed(n)).quantile(p).alias(f"{n}\x00{s}{p}")
            for n in names
            for s, scale in scales.items()
            for p in levels
        ],
    ).row(0, named=True)
    flags = {}
    for name in names:
        flag = None
        for s, scale in scales.items():
            fences = _fences(*(q[f"{name}\x00{s}{p}"] for p in levels))
            if fences is None or (s == "log" and (q[f"{name}\x00min"] or 0) < 0):
                continue
            e = scale(t.typed(name))
            outside = (e < fences[0]) | (e > fences[1])
            flag = outside if flag is None else flag & outside
        if flag is not None:
            flags[name] = flag.fill_null(False)
    counts = t.aggregate([f.sum().alias(n) for n, f in flags.items()])
    findings = []
    for name, count in counts.items():
        if count:
            share = count / t.n_rows
            findings.append(
                Finding(
                    "B-10 outliers",
                    "warn",
                    f"{name}: {count:,} extreme value(s) ({percent(share)})",
                    value=round(share, 6),
                    threshold="any value beyond max(3 IQR, 1%-99% range) of the quartiles: warn",
                    columns=(name,),
                    examples=t.examples_where(flags[name], [name]),
                )
            )
            t.flagged.setdefault(name, "outliers")
    return findings or [Finding("B-10 outliers", "pass", "no extreme values")]


def _fences(
    q01: float | None, q1: float | None, q3: float | None, q99: float | None
) -> tuple[float, float] | None:
    if any(v is None or not math.isfinite(v) for v in (q01, q1, q3, q99)) or q99 <= q01:
        return None
    iqr, wide = q3 - q1, q99 - q01
    return min(q1 - OUTLIER_IQR * iqr, q01 - wide), max(q3 + OUTLIER_IQR * iqr, q99 + wide)


def _ordered(t: Table, name: str) -> bool:
    dtype = t.df.schema[name]
    return dtype.is_numeric() or dtype.is_temporal() or dtype in (pl.String, pl.Boolean)


def _id_candidate(t: Table, name: str) -> bool:
    return t.df.schema[name].is_integer() or t.df.schema[name] == pl.String


def _is_in(t: Table, name: str, values: list) -> pl.Expr:
    return pl.col(name).is_in(pl.Series(values, dtype=t.df.schema[name]).implode())


def _passes(findings: list[Finding], ids: tuple[str, ...] | list[str]) -> list[Finding]:
    """A pass finding for each check id that found nothing."""
    found = {f.id for f in findings}
    return [Finding(i, "pass", CHECKS[i].what) for i in ids if i not in found]
