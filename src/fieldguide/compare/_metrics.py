"""The metrics a comparison can rank by: scikit-learn's functions, with their direction and what they need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import metrics as skm

from fieldguide.errors import FieldguideError

CLASSIFICATION = frozenset({"binary", "multiclass"})
REGRESSION = frozenset({"regression"})
DEFAULT = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


@dataclass(frozen=True)
class Metric:
    """A score of predictions on a test fold.

    ``needs``: what the model must output: ``"proba"`` (class probabilities, columns in ``classes`` order),
    ``"ranking"`` (probabilities, or a decision function for a binary task), ``"label"`` (predicted classes)
    or ``"value"`` (regression predictions). ``fn(y_true, output, classes)`` returns the score.
    """

    name: str
    title: str
    greater_is_better: bool
    needs: str
    tasks: frozenset[str]
    fn: Callable[[np.ndarray, np.ndarray, np.ndarray], float]


def _roc_auc(y, output, classes):
    if len(classes) == 2:
        return skm.roc_auc_score(y == classes[1], output)
    return skm.roc_auc_score(y, output, multi_class="ovr", labels=classes)


def _averaged(fn: Callable[..., float]) -> Callable[[np.ndarray, np.ndarray, np.ndarray], float]:
    """A binary score of the second class for two classes, the macro average over classes for more."""

    def score(y, labels, classes):
        if len(classes) == 2:
            return fn(y, labels, pos_label=classes[1], average="binary", zero_division=0)
        return fn(y, labels, labels=classes, average="macro", zero_division=0)

    return score


_METRICS = (
    Metric("roc_auc", "ROC AUC", True, "ranking", CLASSIFICATION, _roc_auc),
    Metric(
        "log_loss", "log loss", False, "proba", CLASSIFICATION, lambda y, p, c: skm.log_loss(y, p, labels=c)
    ),
    Metric("accuracy", "accuracy", True, "label", CLASSIFICATION, lambda y, p, c: skm.accuracy_score(y, p)),
    Metric(
        "balanced_accuracy",
        "balanced accuracy",
        True,
        "label",
        CLASSIFICATION,
        lambda y, p, c: skm.balanced_accuracy_score(y, p),
    ),
    Metric("f1", "F1", True, "label", CLASSIFICATION, _averaged(skm.f1_score)),
    Metric("precision", "precision", True, "label", CLASSIFICATION, _averaged(skm.precision_score)),
    Metric("recall", "recall", True, "label", CLASSIFICATION, _averaged(skm.recall_score)),
    Metric("rmse", "RMSE", False, "value", REGRESSION, lambda y, p, c: skm.root_mean_squared_error(y, p)),
    Metric("mse", "MSE", False, "value", REGRESSION, lambda y, p, c: skm.mean_squared_error(y, p)),
    Metric("mae", "MAE", False, "value", REGRESSION, lambda y, p, c: skm.mean_absolute_error(y, p)),
    Metric("r2", "R²", True, "value", REGRESSION, lambda y, p, c: skm.r2_score(y, p)),
)
METRICS: dict[str, Metric] = {m.name: m for m in _METRICS}


def metric_for(name: str | None, task: str) -> Metric:
    """The metric called ``name`` (the task's default when None), refusing one that does not fit the task."""
    metric = METRICS.get(name or DEFAULT[task])
    if metric is None:
        raise FieldguideError(f"metric: expected one of {', '.join(METRICS)}, found {name!r}")
    if task not in metric.tasks:
        fitting = [m.name for m in _METRICS if task in m.tasks]
        raise FieldguideError(
            f"metric: {metric.name!r} does not apply to a {task} target; use one of {', '.join(fitting)}"
        )
    return metric


def can_output(estimator: Any, metric: Metric, task: str) -> bool:
    """Whether an unfitted ``estimator`` can give what ``metric`` needs (e.g. probabilities for log loss)."""
    if metric.needs == "proba" or (metric.needs == "ranking" and task == "multiclass"):
        return hasattr(estimator, "predict_proba")
    if metric.needs == "ranking":
        return hasattr(estimator, "predict_proba") or hasattr(estimator, "decision_function")
    return True


def model_output(estimator: Any, X: np.ndarray, metric: Metric, task: str) -> np.ndarray:
    """What ``metric`` scores, from a fitted ``estimator`` on the features ``X``."""
    if metric.needs == "proba" or (metric.needs == "ranking" and task == "multiclass"):
        return estimator.predict_proba(X)
    if metric.needs == "ranking":
        if hasattr(estimator, "predict_proba"):
            return estimator.predict_proba(X)[:, 1]
        return estimator.decision_function(X)
    return estimator.predict(X)
