"""Holdout statistics as functions of resampling weights: one code path gives each estimate and its bootstrap.

Every statistic is ``fn(w) -> (b,)`` where ``w`` is a ``(b, n)`` matrix of how many times each row is drawn in
each of ``b`` bootstrap resamples. The estimate on the holdout itself is ``fn(np.ones((1, n)))``; the bootstrap
distribution is ``fn`` of the resample counts, computed a chunk of resamples at a time with matrix products
(no Python loop over resamples).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

Statistic = Callable[[np.ndarray], np.ndarray]

CHUNK_CELLS = 1 << 22  # cells of one chunk of resample counts: 32 MiB of float64
TASK_METRICS = {
    "binary": ("roc_auc", "log_loss", "accuracy", "f1", "brier"),
    "multiclass": ("log_loss", "accuracy", "macro_f1"),
    "regression": ("rmse", "mae", "r2"),
}


class Outputs(NamedTuple):
    """The truth and a model's answers on the holdout rows.

    ``y`` and ``pred``: class ids ``0..k-1`` (classifiers) or values (regression); ``proba``: ``(n, k)``
    probabilities in class order, ``None`` when the model gives none.
    """

    y: np.ndarray
    pred: np.ndarray
    proba: np.ndarray | None

    def rows(self, mask: np.ndarray) -> Outputs:
        return Outputs(self.y[mask], self.pred[mask], None if self.proba is None else self.proba[mask])


@dataclass(frozen=True)
class Metric:
    """A holdout metric: ``fn(w, outputs)`` gives its value under each row of resampling weights ``w``."""

    name: str
    title: str
    greater_is_better: bool
    needs_proba: bool
    fn: Callable[[np.ndarray, Outputs], np.ndarray]


@dataclass(frozen=True)
class Estimate:
    """A value with its bootstrap percentile interval; ``draws`` (not serialized) pair two models' resamples."""

    value: float
    low: float
    high: float
    draws: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, float | None]:
        return {"value": _finite(self.value), "low": _finite(self.low), "high": _finite(self.high)}


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def _mean(w: np.ndarray, values: np.ndarray) -> np.ndarray:
    return (w @ values) / w.sum(axis=1)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den``, NaN where ``den`` is 0 (an undefined rate)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _roc_auc(w: np.ndarray, out: Outputs) -> np.ndarray:
    """Weighted Mann–Whitney AUC: P(score of a positive > score of a negative), ties counting one half."""
    score = out.proba[:, 1]
    order = np.argsort(score, kind="stable")
    ends = np.flatnonzero(np.diff(score[order], append=np.inf))  # last position of each group of tied scores
    weights = np.take(w, order, axis=1)
    positive = out.y[order] == 1
    pos_upto = np.cumsum(weights * positive, axis=1)[:, ends]
    neg_upto = np.cumsum(weights * ~positive, axis=1)[:, ends]
    pos_tied = np.diff(pos_upto, axis=1, prepend=0.0)
    neg_tied = np.diff(neg_upto, axis=1, prepend=0.0)
    wins = (pos_tied * (neg_upto - neg_tied + 0.5 * neg_tied)).sum(axis=1)
    return _ratio(wins, pos_upto[:, -1] * neg_upto[:, -1])


def _log_loss(w: np.ndarray, out: Outputs) -> np.ndarray:
    proba = out.proba / out.proba.sum(axis=1, keepdims=True)
    eps = np.finfo(proba.dtype).eps
    return _mean(w, -np.log(np.clip(proba[np.arange(len(out.y)), out.y], eps, 1.0)))


def _f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    den = 2 * tp + fp + fn
    return np.where(den > 0, 2 * tp / np.where(den > 0, den, 1.0), 0.0)


def _f1(w: np.ndarray, out: Outputs) -> np.ndarray:
    """F1 of class 1 (the second of the sorted labels); 0 when there is no positive at all."""
    truth, said = out.y == 1, out.pred == 1
    return _f1_from_counts(w @ (truth & said), w @ (~truth & said), w @ (truth & ~said))


def _macro_f1(w: np.ndarray, out: Outputs) -> np.ndarray:
    """Mean F1 over the classes present in the truth or the predictions of each resample (scikit-learn's rule)."""
    k = out.proba.shape[1] if out.proba is not None else int(max(out.y.max(), out.pred.max())) + 1
    truth = out.y[:, None] == np.arange(k)
    said = out.pred[:, None] == np.arange(k)
    tp, fp, fn = w @ (truth & said), w @ (~truth & said), w @ (truth & ~said)
    present = (tp + fp + fn) > 0
    return (_f1_from_counts(tp, fp, fn) * present).sum(axis=1) / present.sum(axis=1)


def _r2(w: np.ndarray, out: Outputs) -> np.ndarray:
    total = w.sum(axis=1)
    spread = w @ out.y**2 - (w @ out.y) ** 2 / total
    return 1.0 - _ratio(w @ (out.y - out.pred) ** 2, spread)


_METRICS = (
    Metric("roc_auc", "ROC AUC", True, True, _roc_auc),
    Metric("log_loss", "log loss", False, True, _log_loss),
    Metric("accuracy", "accuracy", True, False, lambda w, o: _mean(w, (o.pred == o.y).astype(float))),
    Metric("f1", "F1", True, False, _f1),
    Metric("macro_f1", "macro F1", True, False, _macro_f1),
    Metric("brier", "Brier score", False, True, lambda w, o: _mean(w, (o.proba[:, 1] - o.y) ** 2)),
    Metric("rmse", "RMSE", False, False, lambda w, o: np.sqrt(_mean(w, (o.pred - o.y) ** 2))),
    Metric("mae", "MAE", False, False, lambda w, o: _mean(w, np.abs(o.pred - o.y))),
    Metric("r2", "R²", True, False, _r2),
)
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def resample_counts(n: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """``(b, n)`` chunks of bootstrap counts (row ``i`` drawn ``w[r, i]`` times in resample ``r``), seeded.

    The same ``(n, resamples, seed)`` always gives the same resamples, so two models evaluated on the same rows
    are resampled identically and their difference has a paired bootstrap distribution.
    """
    rng = np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, resamples, per_chunk):
        b = min(per_chunk, resamples - start)
        drawn = rng.integers(0, n, size=(b, n))
        drawn += n * np.arange(b)[:, None]  # row r of the chunk counts into cells r·n … r·n + n - 1
        yield np.bincount(drawn.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


def bootstrap(
    statistics: Mapping[str, Statistic],
    n: int,
    *,
    resamples: int,
    seed: int,
    confidence: float,
    advance: Callable[[int], Any] | None = None,
) -> dict[str, Estimate]:
    """Each statistic on the ``n`` rows with its percentile bootstrap interval (resamples where it is undefined,
    e.g. an AUC drawn with one class only, are left out of the interval).

    >>> y = np.array([0.0, 1, 1, 0, 1, 1, 1, 0])
    >>> ci = bootstrap({"mean": lambda w: w @ y / w.sum(1)}, 8, resamples=200, seed=0, confidence=0.9)["mean"]
    >>> ci.value, ci.low <= ci.value <= ci.high
    (0.625, True)
    """
    ones = np.ones((1, n))
    draws: dict[str, list[np.ndarray]] = {name: [] for name in statistics}
    for w in resample_counts(n, resamples, seed):
        for name, fn in statistics.items():
            draws[name].append(fn(w))
        if advance is not None:
            advance(len(w))
    tail = 50 * (1 - confidence)
    out = {}
    for name, fn in statistics.items():
        values = np.concatenate(draws[name]) if draws[name] else np.zeros(0)
        finite = values[np.isfinite(values)]
        low, high = np.percentile(finite, [tail, 100 - tail]) if finite.size else (np.nan, np.nan)
        out[name] = Estimate(float(fn(ones)[0]), float(low), float(high), values)
    return out


def metric_statistics(names: tuple[str, ...], out: Outputs) -> dict[str, Statistic]:
    """The metrics ``names`` on ``out`` as statistics of resampling weights."""
    return {name: (lambda w, fn=METRICS[name].fn: fn(w, out)) for name in names}


# -- calibration -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """A reliability curve: for each bin of predicted probability, its rows, mean prediction and observed rate.

    ``kind``: ``"positive class"`` (binary: P(class 1)) or ``"top label"`` (multiclass: the confidence of the
    predicted class against whether it was right). ``ece``: expected calibration error, the row-weighted mean of
    ``|observed - predicted|`` over bins. ``brier``: mean squared distance of the probability vector to the
    one-hot truth (for binary, the usual Brier score of class 1).
    """

    kind: str
    edges: list[float]
    rows: list[int]
    predicted: list[float | None]
    observed: list[float | None]
    ece: float
    brier: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def calibration(out: Outputs, bins: int = 10) -> Calibration:
    """The reliability curve over ``bins`` equal-width bins, ECE and Brier score of a classifier's probabilities.

    >>> out = Outputs(np.array([0, 1, 1, 0]), np.array([0, 1, 1, 1]), np.array([[.9, .1], [.2, .8], [.3, .7], [.4, .6]]))
    >>> calibration(out, bins=2).rows
    [1, 3]
    """
    k = out.proba.shape[1]
    if k == 2:
        kind, confidence, hit = "positive class", out.proba[:, 1], out.y == 1
    else:
        kind, confidence, hit = "top label", out.proba.max(axis=1), out.pred == out.y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.searchsorted(edges[1:-1], confidence)  # scikit-learn's calibration_curve binning
    rows = np.bincount(which, minlength=bins)
    predicted = _ratio(np.bincount(which, confidence, bins), rows)
    observed = _ratio(np.bincount(which, hit.astype(float), bins), rows)
    filled = rows > 0
    ece = float(np.sum(rows[filled] * np.abs(observed[filled] - predicted[filled])) / len(out.y))
    brier = float(np.mean(np.sum((out.proba - (out.y[:, None] == np.arange(k))) ** 2, axis=1)))
    if k == 2:
        brier /= 2  # the binary Brier score counts class 1 only; the two squared errors are equal
    return Calibration(
        kind,
        edges.tolist(),
        rows.tolist(),
        [_finite(v) for v in predicted],
        [_finite(v) for v in observed],
        ece,
        brier,
    )


# -- fairness ----------------------------------------------------------------------------------------------------

GAPS = {
    "demographic_parity": "demographic parity difference",
    "equal_opportunity": "equal opportunity difference",
    "equalized_odds": "equalized odds difference",
}


def group_rates(out: Outputs, groups: np.ndarray) -> dict[str, dict[str, Any]]:
    """Per group of a sensitive attribute: rows, selection rate P(ŷ=1), true and false positive rates."""
    rates = {}
    for group in sorted(set(groups.tolist())):
        member = groups == group
        said, truth = out.pred[member] == 1, out.y[member] == 1
        rates[group] = {
            "rows": int(member.sum()),
            "selection_rate": float(said.mean()),
            "tpr": _finite(said[truth].mean()) if truth.any() else None,
            "fpr": _finite(said[~truth].mean()) if (~truth).any() else None,
        }
    return rates


def fairness_statistics(out: Outputs, groups: np.ndarray, gated: list[str]) -> dict[str, Statistic]:
    """The three gaps between the ``gated`` groups (largest minus smallest rate), as statistics of weights.

    Demographic parity: selection rate P(ŷ=1 | g); equal opportunity: TPR P(ŷ=1 | y=1, g); equalized odds: the
    larger of the TPR gap and the FPR gap P(ŷ=1 | y=0, g) (fairlearn's definitions).
    """
    said, truth = out.pred == 1, out.y == 1
    members = np.stack([groups == g for g in gated], axis=1)  # (n, groups)

    def rate(w: np.ndarray, event: np.ndarray, given: np.ndarray) -> np.ndarray:
        return _ratio(w @ (members & (event & given)[:, None]), w @ (members & given[:, None]))

    def gap(rates: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without a group's positives
            return np.nanmax(rates, axis=1) - np.nanmin(rates, axis=1)

    everyone = np.ones(len(said), dtype=bool)
    return {
        "demographic_parity": lambda w: gap(rate(w, said, everyone)),
        "equal_opportunity": lambda w: gap(rate(w, said, truth)),
        "equalized_odds": lambda w: np.fmax(gap(rate(w, said, truth)), gap(rate(w, said, ~truth))),
    }
