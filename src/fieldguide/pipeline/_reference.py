"""Reference statistics of the training data, kept with a pipeline so that monitoring can compare against them.

Numeric summaries take the non-missing, finite values (NaN and ±inf count as missing, as in the featurizer);
``std`` is the sample standard deviation (ddof=1); quantiles interpolate linearly (NumPy's default). Bins are
the deciles of the training values (duplicates merged), counted as ``numpy.histogram`` does: each bin holds
``[edge_i, edge_i+1)``, the last one also its right edge.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from fieldguide.data import Schema
from fieldguide.data._schema import typed_frame, value_counts

QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
N_BINS = 10
TOP_CATEGORIES = 50
PROBABILITY_EDGES = tuple(np.linspace(0.0, 1.0, N_BINS + 1).round(10).tolist())


def numeric_summary(values: np.ndarray) -> dict[str, Any]:
    """Count, missing rate, mean, std, min/max, quantiles and decile bins of a float array (NaN/inf = missing).

    >>> numeric_summary(np.array([1.0, 2.0, np.nan, 4.0]))["missing_rate"]
    0.25
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.sort(values[np.isfinite(values)])
    summary: dict[str, Any] = {
        "count": int(values.size),
        "missing_rate": float(1.0 - finite.size / values.size) if values.size else 0.0,
    }
    if finite.size == 0:
        return summary
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, N_BINS + 1)))
    if edges.size == 1:  # a constant column: one bin holding every value
        edges = np.array([edges[0], edges[0]])
        counts = np.array([finite.size])
    else:
        counts, _ = np.histogram(finite, bins=edges)
    return {
        **summary,
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if finite.size > 1 else 0.0,
        "min": float(finite[0]),
        "max": float(finite[-1]),
        "quantiles": {
            str(q): float(v) for q, v in zip(QUANTILES, np.quantile(finite, QUANTILES), strict=True)
        },
        "bins": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def category_summary(values: pl.Series) -> dict[str, Any]:
    """Counts of the ``TOP_CATEGORIES`` most frequent values (ties by name), the rest as ``other``, and missing.

    >>> category_summary(pl.Series(["a", "b", "a", None]))["counts"]
    {'a': 2, 'b': 1}
    """
    text = values.cast(pl.String)
    counts = value_counts(text.drop_nulls()).sort(["count", "value"], descending=[True, False])
    top = counts.head(TOP_CATEGORIES)
    missing = text.null_count()
    return {
        "count": len(text),
        "missing_rate": missing / len(text) if len(text) else 0.0,
        "counts": dict(top.iter_rows()),
        "other": int(counts.get_column("count").sum() - top.get_column("count").sum()),
    }


def _column_summary(kind: str, values: pl.Series) -> dict[str, Any]:
    if kind == "numeric":
        return numeric_summary(values.cast(pl.Float64).fill_null(np.nan).to_numpy())
    if kind in ("categorical", "boolean"):
        return category_summary(values)
    present = values.drop_nulls()
    summary = {
        "count": len(values),
        "missing_rate": values.null_count() / len(values) if len(values) else 0.0,
    }
    if kind == "datetime" and len(present):
        summary |= {"min": present.min().isoformat(), "max": present.max().isoformat()}
    if kind == "text" and len(present):
        summary["length"] = numeric_summary(present.str.len_chars().cast(pl.Float64).to_numpy())
    return summary


def feature_statistics(frame: pl.DataFrame, schema: Schema) -> dict[str, dict[str, Any]]:
    """Per feature column of ``schema``: its kind and summary (numeric, categorical/boolean, datetime, text).

    Values are typed exactly as the featurizer and validation type them, so a value the schema cannot read counts
    as missing.
    """
    features = [c for c in schema.features if c.name in frame.columns]
    typed = typed_frame(Schema(tuple(features)), frame)
    return {
        spec.name: {"kind": spec.kind, **_column_summary(spec.kind, typed.get_column(spec.name))}
        for spec in features
    }


def prediction_statistics(
    predictions: np.ndarray, probabilities: np.ndarray | None, classes: list[Any] | None
) -> dict[str, Any]:
    """The distribution of a model's outputs: predicted-class counts and per-class probability histograms on
    fixed bins ``[0, 0.1, …, 1]`` for classifiers, a numeric summary for regressors."""
    if classes is None:
        return numeric_summary(predictions)
    out: dict[str, Any] = {"counts": class_counts(predictions, classes)}
    if probabilities is not None:
        out["probability_bins"] = {
            "edges": list(PROBABILITY_EDGES),
            "counts": {
                str(label): np.histogram(probabilities[:, i], bins=PROBABILITY_EDGES)[0].tolist()
                for i, label in enumerate(classes)
            },
        }
    return out


def class_counts(labels: np.ndarray, classes: list[Any]) -> dict[str, int]:
    """How many of ``labels`` are each of ``classes`` (keys are the labels as text)."""
    return {str(label): int(np.sum(labels == label)) for label in classes}
