"""``check``: run the checklist over a table and collect a Report."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from fieldguide.data import DataWarning, Schema, read, value_counts
from fieldguide.data._read import readable
from fieldguide.data._schema import as_frame, infer_counted
from fieldguide.errors import DataError
from fieldguide.readiness import _faithful, _units
from fieldguide.readiness._findings import Finding, Report
from fieldguide.readiness._table import Table

PLOT_SAMPLE = 5000
PROGRESS_ROWS = 100_000


def check(
    data: Any,
    target: str | None = None,
    *,
    schema: Schema | None = None,
    ignore: Sequence[str] = (),
    missing: Mapping[str, Any] | None = None,
    seed: int = 0,
    progress: bool | None = None,
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

    Example:
        >>> import polars as pl
        >>> df = pl.DataFrame({"x": [float(i) for i in range(30)], "city": ["Oslo", "Rome", "Lima"] * 10})
        >>> report = check(df)
        >>> report.level, [f.id for f in report.findings if f.severity != "pass"]
        ('B1', [])
    """
    source = str(data) if readable(data) else f"({type(data).__name__})"
    loaded = _load(data, source)
    if isinstance(loaded, Finding):
        return Report(source, 0, 0, target, None, [loaded], [])
    df, findings = loaded
    target = target or (schema.target if schema is not None else None)
    if df.height == 0 or df.width == 0:
        message = f"{source}: {df.height} rows and {df.width} columns; expected a header and at least one row"
        return Report(
            source, df.height, df.width, target, None, [*findings, Finding("C-2 schema", "fail", message)], []
        )
    if target is not None and target not in df.columns:
        message = f"target {target!r} is not a column; columns are {df.columns}"
        findings.append(Finding("A-1 target", "fail", message, columns=(target,)))
        target = None
    # Text columns are counted once, for inference and for the checks that read distinct values.
    counted = {n: value_counts(df.get_column(n)) for n, dtype in df.schema.items() if dtype == pl.String}
    if schema is None:
        schema = infer_counted(df, target, counted, ignore, missing)
        findings.append(Finding("C-2 schema", "pass", f"schema inferred: {_kinds(schema)}"))
    else:
        findings.append(_against(schema, df))
        schema = _covering(schema, df, counted).ignoring(ignore).with_missing(missing or {})
    t = Table(df, schema, target, _distinct=counted)
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
    show = progress if progress is not None else df.height >= PROGRESS_ROWS
    findings += _run(steps, t, show)
    return Report(
        source=source,
        n_rows=df.height,
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
    )


def _load(data: Any, source: str) -> tuple[pl.DataFrame, list[Finding]] | Finding:
    """The table and any C-1 warnings, or the C-1 failure."""
    if not readable(data):
        try:
            return as_frame(data), [Finding("C-1 load", "pass", "an in-memory table")]
        except Exception as err:  # anything that is not a table
            return Finding("C-1 load", "fail", f"{source}: not a table ({err})")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DataWarning)
        try:
            df = read(data)
        except DataError as err:
            return Finding("C-1 load", "fail", str(err))
    notes = [str(w.message) for w in caught if issubclass(w.category, DataWarning)]
    if notes:
        return df, [
            Finding("C-1 load", "warn", "; ".join(notes), threshold="a guessed encoding or delimiter: warn")
        ]
    shown = Path(data).name if isinstance(data, str | os.PathLike) else "the query's result"
    return df, [Finding("C-1 load", "pass", f"{shown} loads and parses")]


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
