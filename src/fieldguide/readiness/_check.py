"""``check``: run the checklist over a table and collect a Report."""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from fieldguide.data import DataWarning, Schema, read, value_counts
from fieldguide.data._read import readable, scan, waiting
from fieldguide.data._schema import as_frame, infer_counted
from fieldguide.errors import DataError, FieldguideError
from fieldguide.readiness import _faithful, _units
from fieldguide.readiness._findings import Finding, Report
from fieldguide.readiness._table import DISTINCT_LIMIT, ROW, Table, count_values, memory_budget

PLOT_SAMPLE = 5000
PROGRESS_ROWS = 100_000
DEFAULT_SAMPLE = 1_000_000  # rows held in memory when a Parquet table is larger than memory
SIZE_ROWS = 10_000  # rows read to estimate a Parquet table's size in memory


def check(
    data: Any,
    target: str | None = None,
    *,
    schema: Schema | None = None,
    ignore: Sequence[str] = (),
    missing: Mapping[str, Any] | None = None,
    seed: int = 0,
    progress: bool | None = None,
    sample: int | None = None,
) -> Report:
    """Grade a table on the data readiness levels (C4 worst ... A1 best; see ``fieldguide.readiness``).

    data: a path or SQL-free URL that ``fieldguide.data.read`` accepts, or a Polars/pandas/Arrow table. A file
        that cannot be read gives a report at level C4 (finding ``C-1 load``), not an exception.
    target: the column to predict; band A is graded only with one (or with a schema that names one).
    schema: a stored schema to check the table against; inferred when not given.
    ignore: columns never to learn from (role ``ignored``: a leak, an identifier); band A leaves them out, as
        training does.
    missing: raw values that mean missing, per column (``{"glucose": [0]}``): read as null by band A and kept
        in the schema, as training does; band B still reports them as spellings of missing.
    seed: seeds the samples and cross-validation folds, so a report is reproducible.
    progress: show a Rich progress bar; by default only for tables of 100,000 rows or more.
    sample: hold a seeded sample of about this many rows in memory, for a table larger than memory. A Parquet
        source (file, directory or glob) is then read in streaming passes: the counts (missing values,
        duplicates, conflicting labels, constant and identifier columns, outliers beyond the fences, classes,
        time coverage) are over every row; schema inference, the fences' quantiles, units, band A's models, and
        the text checks of a column with more than 100,000 distinct values read the sample, and say so. Without
        it, a Parquet source larger than a quarter of the memory available is streamed with a sample of
        1,000,000 rows. Another source is read whole first.

    Example:
        >>> import polars as pl
        >>> df = pl.DataFrame({"x": [float(i) for i in range(30)], "city": ["Oslo", "Rome", "Lima"] * 10})
        >>> report = check(df)
        >>> report.level, [f.id for f in report.findings if f.severity != "pass"]
        ('B1', [])
    """
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise FieldguideError(f"sample: expected a positive number of rows, found {sample!r}")
    source = str(data) if readable(data) else f"({type(data).__name__})"
    loaded = _load(data, source, sample, seed)
    if isinstance(loaded, Finding):
        return Report(source, 0, 0, target, None, [loaded], [])
    df, findings, streamed = loaded
    n_rows = df.height if streamed is None else streamed.n_rows
    target = target or (schema.target if schema is not None else None)
    if n_rows == 0 or df.width == 0:
        message = f"{source}: {n_rows} rows and {df.width} columns; expected a header and at least one row"
        return Report(
            source, n_rows, df.width, target, None, [*findings, Finding("C-2 schema", "fail", message)], []
        )
    if target is not None and target not in df.columns:
        message = f"target {target!r} is not a column; columns are {df.columns}"
        findings.append(Finding("A-1 target", "fail", message, columns=(target,)))
        target = None
    # Text columns are counted once, for inference and for the checks that read distinct values.
    counted = {n: value_counts(df.get_column(n)) for n, dtype in df.schema.items() if dtype == pl.String}
    if schema is None:
        schema = infer_counted(df, target, counted, ignore, missing)
        inferred = f"schema inferred{' from the sample' if streamed else ''}: {_kinds(schema)}"
        findings.append(Finding("C-2 schema", "pass", inferred))
    else:
        against = _against(schema, df)
        if streamed is not None:
            against = dataclasses.replace(against, message=f"{against.message} (checked on the sample)")
        findings.append(against)
        schema = _covering(schema, df, counted).ignoring(ignore).with_missing(missing or {})
    if streamed is None:
        t = Table(df, schema, target, _distinct=counted)
    else:
        t = Table(df, schema, target, scan=streamed.scan, n_rows=n_rows, rows=streamed.rows)
        _count_distinct(t)
    steps: list[tuple[str, Callable[[Table], list[Finding]]]] = [
        ("personal data", _faithful.personal_data),
        ("missing values", _faithful.missing),
        ("mixed types", _faithful.mixed_types),
        ("category spellings", _faithful.category_variants),
        ("units and scales", _units.units),
        ("duplicates", _faithful.duplicates_and_conflicts),
        ("constant and id columns", _faithful.constant_and_identifiers),
        ("outliers", _faithful.outliers),
        ("time coverage", _units.time_coverage),
    ]
    if target is not None:
        from fieldguide.readiness import _appropriate  # scikit-learn, only when band A is graded

        steps.append(("target, leakage, learnability", lambda t: _appropriate.target_checks(t, seed)))
    show = progress if progress is not None else n_rows >= PROGRESS_ROWS
    findings += _run(steps, t, show)
    return Report(
        source=source,
        n_rows=n_rows,
        n_columns=df.width,
        target=target,
        task=t.task,
        findings=findings,
        columns=[
            {"name": c.name, "kind": c.kind, "role": c.role, "missing": round(t.missing.get(c.name, 0.0), 6)}
            for c in schema
            if c.name in df.columns
        ],
        plots=_plot_values(t, seed),
        sampled=None if streamed is None else df.height,
    )


@dataclasses.dataclass(frozen=True)
class _Streamed:
    """Every row of a table too large to hold (``scan``, ``n_rows`` of them), and the scan's index of each row
    of the sample held in memory (``rows``)."""

    scan: pl.LazyFrame
    n_rows: int
    rows: pl.Series


def _load(
    data: Any, source: str, sample: int | None, seed: int
) -> tuple[pl.DataFrame, list[Finding], _Streamed | None] | Finding:
    """The table (or a sample of it, with the whole streamed) and any C-1 warnings, or the C-1 failure."""
    if not readable(data):
        try:
            df = as_frame(data)
        except Exception as err:  # anything that is not a table
            return Finding("C-1 load", "fail", f"{source}: not a table ({err})")
        return _sampled(df.lazy(), df, sample, seed, [Finding("C-1 load", "pass", "an in-memory table")])
    shown = Path(data).name if isinstance(data, str | os.PathLike) else "the query's result"
    try:
        lazy = scan(data)
        if lazy is not None:
            rows = lazy.select(pl.len()).collect().item()
            head = lazy.head(SIZE_ROWS).collect()
            size = head.estimated_size() * rows / max(head.height, 1)
            if sample is None and size > memory_budget():
                sample = DEFAULT_SAMPLE
            if sample is not None and rows > sample:
                loads = Finding(
                    "C-1 load",
                    "pass",
                    f"{shown} loads and parses: {rows:,} rows, about {size / 2**30:.3g} GiB in memory, read in "
                    "streaming passes",
                )
                return _sampled(lazy, None, sample, seed, [loads], rows)
    except DataError as err:
        return Finding("C-1 load", "fail", str(err))
    except pl.exceptions.PolarsError as err:  # a file that is corrupt past its metadata
        return Finding(
            "C-1 load", "fail", f"{source}: not a readable Parquet file ({str(err).splitlines()[0]})"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            df = read(data)
        except DataError as err:
            return Finding("C-1 load", "fail", str(err))
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    loads = (
        Finding("C-1 load", "warn", "; ".join(notes), threshold="a guessed encoding or delimiter: warn")
        if notes
        else Finding("C-1 load", "pass", f"{shown} loads and parses")
    )
    return _sampled(df.lazy(), df, sample, seed, [loads])


def _sampled(
    lazy: pl.LazyFrame,
    df: pl.DataFrame | None,
    sample: int | None,
    seed: int,
    findings: list[Finding],
    rows: int | None = None,
) -> tuple[pl.DataFrame, list[Finding], _Streamed | None]:
    """``df`` as it is when it holds at most ``sample`` rows; else a seeded sample of about ``sample`` of the
    rows of ``lazy`` (each kept with the same chance, by a hash of its index), with ``lazy`` to stream."""
    n = df.height if df is not None else rows
    if sample is None or n <= sample:
        return (df if df is not None else lazy.collect(engine="streaming")), findings, None
    keep = pl.col(ROW).hash(seed) % 2**32 < round(sample / n * 2**32)
    with waiting(f"drawing a sample of about {sample:,} of {n:,} rows"):
        drawn = lazy.with_row_index(ROW).filter(keep).collect(engine="streaming")
        if drawn.height == 0:  # a sample of a few rows may draw none: the first ones then
            drawn = lazy.with_row_index(ROW).head(sample).collect(engine="streaming")
    note = f"row by row checks read a seeded sample of {drawn.height:,} of the {n:,} rows"
    findings = [
        dataclasses.replace(f, message=f"{f.message}; {note}") if f.id == "C-1 load" else f for f in findings
    ]
    return drawn.drop(ROW), findings, _Streamed(lazy, n, drawn.get_column(ROW))


def _count_distinct(t: Table) -> None:
    """Streamed: the distinct values of each text and integer column over every row, in one pass, except those
    of a column with more than ``DISTINCT_LIMIT`` of them (an estimate from the same pass), which are counted
    on the sample (``t.sampled_columns``)."""
    names = [n for n, dtype in t.df.schema.items() if dtype == pl.String or dtype.is_integer()]
    estimates = t.aggregate([pl.col(n).approx_n_unique() for n in names])
    t.sampled_columns.update(n for n in names if estimates[n] > DISTINCT_LIMIT)
    exact = [n for n in t.strings if n not in t.sampled_columns]
    with waiting(f"counting the distinct values of {len(exact)} text column(s)"):
        counted = (
            pl.collect_all([count_values(t.scan, n) for n in exact], engine="streaming") if exact else []
        )
    t._distinct.update(zip(exact, counted, strict=True))


def _against(schema: Schema, df: pl.DataFrame) -> Finding:
    violations = schema.validate(df, require_target=False)
    errors = [v for v in violations if v.severity == "error"]
    shown = "; ".join(str(v) for v in (errors or violations)[:3])
    if errors:
        return Finding(
            "C-2 schema", "fail", f"{len(errors)} violation(s) of the schema: {shown}", value=len(errors)
        )
    if violations:
        return Finding("C-2 schema", "warn", f"{len(violations)} warning(s) against the schema: {shown}")
    return Finding("C-2 schema", "pass", "the table matches the given schema")


def _covering(schema: Schema, df: pl.DataFrame, counted: dict[str, pl.DataFrame]) -> Schema:
    """The stored schema's columns that ``df`` has, plus inferred ones for the columns it does not know."""
    extra = [n for n in df.columns if n not in schema]
    inferred = tuple(infer_counted(df.select(extra), None, counted)) if extra else ()
    return Schema(tuple(c for c in schema if c.name in df.columns) + inferred)


def _kinds(schema: Schema) -> str:
    counts: dict[str, int] = {}
    for c in schema:
        counts[c.kind] = counts.get(c.kind, 0) + 1
    ignored = [c.name for c in schema if c.role == "ignored"]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    return f"{kinds}; ignored: {', '.join(ignored)}" if ignored else kinds


def _run(steps: list[tuple[str, Callable[[Table], list[Finding]]]], t: Table, show: bool) -> list[Finding]:
    from rich.progress import Progress

    findings: list[Finding] = []
    with Progress(transient=True, disable=not show) as bar:
        task = bar.add_task("checking", total=len(steps))
        for description, step in steps:
            bar.update(task, description=f"checking {description}")
            findings += step(t)
            bar.advance(task)
    return findings


def _plot_values(t: Table, seed: int) -> dict[str, dict[str, Any]]:
    """A sample of each flagged numeric column, for the HTML report's distribution plots."""
    names = [n for n in t.flagged if n not in t.pii][:6]
    if not names:
        return {}
    sample = t.df.select([t.typed(n) for n in names])
    if sample.height > PLOT_SAMPLE:
        sample = sample.sample(PLOT_SAMPLE, seed=seed)
    return {n: {"why": t.flagged[n], "values": sample.get_column(n).drop_nulls().to_list()} for n in names}
