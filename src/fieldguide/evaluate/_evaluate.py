"""Evaluate a fitted pipeline on a holdout: metrics with bootstrap intervals, per slice, calibration, fairness."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from fieldguide.data._schema import declared_missing
from fieldguide.errors import DataError
from fieldguide.evaluate import _metrics
from fieldguide.evaluate._metrics import METRICS, TASK_METRICS, Calibration, Estimate, Outputs

MISSING = "(missing)"
QUANTILE_BINS = 4  # a numeric slice column with more than MAX_LEVELS values is cut into quartiles
MAX_LEVELS = 10
DEFAULT_METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


@dataclass(frozen=True)
class SliceResult:
    """The metrics on the rows where ``column`` is ``value``; ``small`` when fewer rows than the minimum."""

    column: str
    value: str
    rows: int
    small: bool
    metrics: dict[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        metrics = {name: est.to_dict() for name, est in self.metrics.items()}
        return {"column": self.column, "value": self.value, "rows": self.rows, "small": self.small} | {
            "metrics": metrics
        }


@dataclass(frozen=True)
class Fairness:
    """Group rates of a sensitive attribute and the gaps between the groups with at least the minimum rows."""

    column: str
    groups: dict[str, dict[str, Any]]
    gated: list[str]
    gaps: dict[str, Estimate]

    def to_dict(self) -> dict[str, Any]:
        gaps = {name: est.to_dict() for name, est in self.gaps.items()}
        return {"column": self.column, "groups": self.groups, "gated": self.gated, "gaps": gaps}


@dataclass(frozen=True)
class Evaluation:
    """One model on one holdout. ``metrics``: name -> :class:`Estimate` (value and bootstrap interval);
    ``rows_sha256``: identifies the holdout rows in order (a gate compares two evaluations only on the same rows).
    """

    model: str
    task: str
    target: str
    rows: int
    rows_sha256: str
    metrics: dict[str, Estimate]
    slices: list[SliceResult]
    calibration: Calibration | None
    fairness: Fairness | None
    settings: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (bootstrap draws left out)."""
        return {
            "model": self.model,
            "task": self.task,
            "target": self.target,
            "rows": self.rows,
            "rows_sha256": self.rows_sha256,
            "metrics": {name: est.to_dict() for name, est in self.metrics.items()},
            "slices": [s.to_dict() for s in self.slices],
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "fairness": None if self.fairness is None else self.fairness.to_dict(),
            "settings": self.settings,
            "notes": self.notes,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_html(self) -> str:
        """A self-contained HTML report of this evaluation (see :func:`fieldguide.evaluate.report_html`)."""
        from fieldguide.evaluate._render import report_html

        return report_html(self)


def evaluate(
    pipeline: Any,
    data: Any,
    *,
    target: str | None = None,
    slices: Sequence[str] = (),
    sensitive: str | None = None,
    min_slice_rows: int = 30,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    label: str | None = None,
    progress: bool = False,
) -> Evaluation:
    """Score a fitted :class:`~fieldguide.pipeline.Pipeline` on a holdout table.

    Metrics by task (binary: ROC AUC, log loss, accuracy, F1 of the second class, Brier; multiclass: log loss,
    accuracy, macro F1; regression: RMSE, MAE, R²), each with a seeded percentile bootstrap interval; the same
    per value of each ``slices`` column (numeric columns with more than 10 values cut into quartiles); the
    reliability curve, ECE and Brier score for classifiers with probabilities; and for a binary task with a
    ``sensitive`` column, the demographic parity, equal opportunity and equalized odds differences between its
    groups of at least ``min_slice_rows`` rows ("positive" = the second of the sorted labels).

    Args:
        pipeline: a ``Pipeline`` or the path of a saved one.
        data: a table (Polars, pandas, Arrow, dict of columns) or a path ``fieldguide.data.read`` reads.
        target: the holdout column with the truth; default the pipeline's target.
        min_slice_rows: slices and groups with fewer rows are flagged ``small`` and never gated.
        seed: seeds the resamples; two models evaluated with the same seed on the same rows are resampled
            identically, so the gate's deltas have paired intervals.

    Raises ``DataError`` naming the column for a missing target, slice or sensitive column, a missing or unknown
    label, or a non-finite regression target; ``SchemaError`` when the holdout does not fit the training schema.

    >>> from fieldguide.data.synthetic import customers
    >>> from fieldguide.models.adapters import GaussianNB
    >>> from fieldguide.pipeline import Pipeline
    >>> pipe = Pipeline.fit(customers(400), target="churn", model=GaussianNB())
    >>> ev = evaluate(pipe, customers(300, seed=1), slices=["contract"], resamples=200)
    >>> est = ev.metrics["roc_auc"]
    >>> est.low < est.value < est.high, [s.value for s in ev.slices]
    (True, ['month-to-month', 'one-year', 'two-year'])
    """
    from fieldguide.pipeline import Pipeline

    if isinstance(pipeline, str | os.PathLike):
        pipeline = Pipeline.load(pipeline)
    frame, where = load_table(data)
    return evaluate_frame(
        pipeline,
        frame,
        where,
        target=target,
        slices=slices,
        sensitive=sensitive,
        min_slice_rows=min_slice_rows,
        resamples=resamples,
        confidence=confidence,
        seed=seed,
        label=label,
        progress=progress,
    )


def evaluate_frame(
    pipeline: Any,
    frame: pl.DataFrame,
    where: str,
    *,
    target: str | None,
    slices: Sequence[str],
    sensitive: str | None,
    min_slice_rows: int,
    resamples: int,
    confidence: float,
    seed: int,
    label: str | None,
    progress: bool,
) -> Evaluation:
    """:func:`evaluate` on a table already read; ``where`` names it in messages."""
    if min_slice_rows < 1 or resamples < 1 or not 0 < confidence < 1:
        raise DataError(
            "evaluate: expected min_slice_rows ≥ 1, resamples ≥ 1 and 0 < confidence < 1, found "
            f"{min_slice_rows}, {resamples}, {confidence}"
        )
    target = target or pipeline.target
    for role, column in [("target", target), *(("slice", s) for s in slices), ("sensitive", sensitive)]:
        if column is not None and column not in frame.columns:
            raise DataError(f"{role} column {column!r} is not in {where}; its columns are {frame.columns}")
    if frame.height == 0:
        raise DataError(f"{where}: no rows to evaluate on")
    notes = []
    # labels that have not arrived yet (null, or a value training declared missing, e.g. --missing income=?):
    # every model is scored on the labelled rows alike
    spec = pipeline.schema[target] if target in pipeline.schema.names else None
    mask = None if spec is None else declared_missing(pl.col(target), spec, frame.schema[target])
    absent = pl.col(target).is_null() if mask is None else pl.col(target).is_null() | mask
    declared = [] if mask is None else list(spec.missing_values)
    unlabelled = frame.select(absent.sum()).item()
    if unlabelled == frame.height:
        raise DataError(f"target {target!r} in {where}: every value is missing; no row to evaluate on")
    if unlabelled:
        frame = frame.filter(~absent)
        spelled = f" (null, or declared missing: {declared})" if declared else ""
        notes.append(f"{unlabelled:,} row(s) without a value of {target!r}{spelled} were left out")

    out = _outputs(pipeline, frame, target, where)
    names = tuple(
        n for n in TASK_METRICS[pipeline.task] if out.proba is not None or not METRICS[n].needs_proba
    )
    skipped = [n for n in TASK_METRICS[pipeline.task] if n not in names]
    if skipped:
        model = type(pipeline.model).__name__
        notes.append(f"{model} gives no probabilities: no {', '.join(skipped)}, no calibration")
    slice_masks = [(c, v, m) for c in slices for v, m in _slice_masks(frame.get_column(c))]
    groups, gated = None, []
    if sensitive is not None:
        if pipeline.task != "binary":
            notes.append(f"fairness needs a binary task; {pipeline.task} target {target!r}: skipped")
        else:
            groups = _labels(frame.get_column(sensitive))
            counts = dict(zip(*np.unique(groups, return_counts=True), strict=True))
            gated = sorted(g for g, c in counts.items() if c >= min_slice_rows)
            if len(gated) < 2:
                notes.append(f"sensitive {sensitive!r}: fewer than 2 groups with ≥ {min_slice_rows} rows")

    kwargs = {"resamples": resamples, "seed": seed, "confidence": confidence}
    units = resamples * (1 + len(slice_masks) + (len(gated) >= 2))
    with _progress(progress, units, f"bootstrapping {label or 'model'}") as advance:
        metrics = _metrics.bootstrap(
            _metrics.metric_statistics(names, out), len(out.y), advance=advance, **kwargs
        )
        slice_results = []
        for column, value, mask in slice_masks:
            part = out.rows(mask)
            estimates = _metrics.bootstrap(
                _metrics.metric_statistics(names, part), len(part.y), advance=advance, **kwargs
            )
            rows = int(mask.sum())
            slice_results.append(SliceResult(column, value, rows, rows < min_slice_rows, estimates))
        fairness = None
        if groups is not None:
            gaps = {}
            if len(gated) >= 2:
                statistics = _metrics.fairness_statistics(out, groups, gated)
                gaps = _metrics.bootstrap(statistics, len(out.y), advance=advance, **kwargs)
            fairness = Fairness(sensitive, _metrics.group_rates(out, groups), gated, gaps)

    return Evaluation(
        model=label or repr(pipeline),
        task=pipeline.task,
        target=target,
        rows=frame.height,
        rows_sha256=hashlib.sha256(frame.hash_rows(seed=0).to_numpy().tobytes()).hexdigest(),
        metrics=metrics,
        slices=slice_results,
        calibration=None if out.proba is None else _metrics.calibration(out),
        fairness=fairness,
        settings={
            "resamples": resamples,
            "confidence": confidence,
            "seed": seed,
            "min_slice_rows": min_slice_rows,
            "slices": list(slices),
            "sensitive": sensitive,
            "source": where,
        },
        notes=notes,
    )


def _outputs(pipeline: Any, frame: pl.DataFrame, target: str, where: str) -> Outputs:
    """The truth (class ids in the pipeline's class order, or values) and the pipeline's answers."""
    column = frame.get_column(target)
    if pipeline.task == "regression":
        try:
            y = column.cast(pl.Float64).to_numpy()
        except pl.exceptions.PolarsError:
            raise DataError(f"target {target!r} in {where}: expected numbers, found {column.dtype}") from None
        if not np.all(np.isfinite(y)):
            raise DataError(
                f"target {target!r} in {where}: {int(np.sum(~np.isfinite(y)))} non-finite value(s)"
            )
        return Outputs(y, np.asarray(pipeline.predict(frame), dtype=np.float64), None)
    # Labels are matched by their text: a CSV's 0/1 and a training table's 0/1 agree whatever the dtypes.
    ids = {str(label): i for i, label in enumerate(pipeline.classes_)}
    labels = _labels(column)
    unknown = sorted(set(labels.tolist()) - set(ids))
    if unknown:
        raise DataError(
            f"target {target!r} in {where}: label(s) {unknown[:5]} were not seen in training; "
            f"the model knows {pipeline.classes_}"
        )
    y = np.array([ids[v] for v in labels.tolist()], dtype=np.int64)
    if hasattr(pipeline.model, "predict_proba"):
        proba = np.asarray(pipeline.predict_proba(frame), dtype=np.float64)
        return Outputs(y, proba.argmax(axis=1), proba)  # the pipeline's own rule for its label
    pred = np.array([ids[str(v)] for v in pipeline.predict(frame).tolist()], dtype=np.int64)
    return Outputs(y, pred, None)


def _labels(column: pl.Series) -> np.ndarray:
    """A column's values as Python writes them (``True``, ``0``: as ``classes_`` are), missing ones as ``(missing)``."""
    return np.array([MISSING if v is None else str(v) for v in column.to_list()], dtype=str)


def _slice_masks(column: pl.Series) -> Iterator[tuple[str, np.ndarray]]:
    """(value, row mask) per value of a slice column; numeric columns with many values by quartile."""
    if column.dtype.is_numeric() and column.n_unique() > MAX_LEVELS:
        values = column.cast(pl.Float64).to_numpy()
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, QUANTILE_BINS + 1)))
        which = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)
        for b in range(len(edges) - 1):
            mask = np.isfinite(values) & (which == b)
            closing = "]" if b == len(edges) - 2 else ")"
            if mask.any():
                yield f"[{edges[b]:.4g}, {edges[b + 1]:.4g}{closing}", mask
        if not np.all(np.isfinite(values)):
            yield MISSING, ~np.isfinite(values)
        return
    labels = _labels(column)
    for value in sorted(set(labels.tolist())):
        yield value, labels == value


@contextmanager
def _progress(show: bool, total: int, description: str) -> Iterator[Callable[[int], Any] | None]:
    """Yields ``advance(resamples_done)`` for a transient Rich bar on stderr (``None`` when not shown)."""
    if not show:
        yield None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)


def load_table(data: Any) -> tuple[pl.DataFrame, str]:
    """A table and how to name it in messages: a path or a ``Query`` is read with ``fieldguide.data.read``."""
    from fieldguide.data import as_frame, read
    from fieldguide.data._read import readable

    if readable(data):
        return read(data), str(Path(data)) if isinstance(data, str | os.PathLike) else str(data)
    return as_frame(data), "the holdout"
