"""How a trial is scored: the evaluation plan (k-fold CV or holdout), the featurized folds, and the trial task.

The featurizer of each fold is fitted once, on that fold's training part, before any trial runs; a trial then
fits its model on arrays. ``run_trial`` is the task a back end runs (in this process or as a Ray task): it
fits the steps of the plan in order, reports a running score after each, prunes itself by the median rule and
stops when the next step would not fit before its deadline. Its decisions depend only on what it is given, so a
batch gives the same results on any back end.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from sklearn.base import clone

from fieldguide.compare._metrics import METRICS, Metric
from fieldguide.data import Featurizer, Schema, splits

CV_MAX_ROWS = 10_000  # up to this many rows: k-fold CV (every row scored once); above: one holdout split
CV_FOLDS = 5
HOLDOUT_FOLDS = 5  # the holdout is the first of 5 stratified folds: 20 % of the rows
# Holdout trials first fit on a sample of the training rows (a quarter, at most SAMPLE_ROWS): a cheap first rung
# to prune on, and the time it takes bounds the full fit before it starts.
SAMPLE_ROWS = 10_000


@dataclass(frozen=True)
class Step:
    """One fit of a trial: on fold ``fold``'s training rows (``rows``: a subset of them, or all when None)."""

    fold: int
    rows: np.ndarray | None = None


@dataclass(frozen=True)
class Plan:
    """The evaluation strategy: the folds, the steps of a trial, and which rows its final score covers."""

    strategy: str  # "cv" or "holdout"
    folds: list[tuple[np.ndarray, np.ndarray]]
    steps: list[Step]
    n_rows: int
    time: str | None = None  # the column that orders the rows, when the folds follow time

    @property
    def description(self) -> str:
        if self.strategy == "cv":
            if self.time is not None:
                return f"{len(self.folds)} time-ordered folds by {self.time!r}"
            return f"{len(self.folds)}-fold cross-validation"
        n_test = len(self.folds[0][1])
        latest = "" if self.time is None else f"the latest by {self.time!r}: "
        return (
            f"holdout ({latest}{n_test:,} of {self.n_rows:,} rows; "
            f"first fitted on {len(self.steps[0].rows):,} rows)"
        )

    @property
    def scored(self) -> np.ndarray:
        """Rows whose out-of-fold predictions make a trial's score, in the order the outputs are stacked."""
        return np.concatenate([self.folds[step.fold][1] for step in self.steps if step.rows is None])


def plan(
    y_raw: np.ndarray,
    task: str,
    seed: int,
    ordered: tuple[pl.DataFrame, Schema, str] | None = None,
    y: np.ndarray | None = None,
    classes: list | None = None,
) -> Plan:
    """k-fold CV for tables of at most ``CV_MAX_ROWS`` rows, else one stratified holdout split of 1 in
    ``HOLDOUT_FOLDS`` rows. With ``ordered`` (the table, its schema and a time column), the folds follow time:
    expanding windows, or the latest rows as the holdout (``splits.time_folds``; ``y`` and ``classes``, the class
    ids and names, check that every class has a row in the first training part)."""
    n = len(y_raw)
    labels = y_raw if task != "regression" else np.zeros(n)
    time = None if ordered is None else ordered[2]
    if n <= CV_MAX_ROWS:
        if ordered is None:
            folds = list(splits.stratified_kfold(labels, k=CV_FOLDS, seed=seed))
        else:
            folds = splits.time_folds(*ordered, k=CV_FOLDS, y=y, classes=classes, shrink=True)
        return Plan("cv", folds, [Step(i) for i in range(len(folds))], n, time)
    if ordered is None:
        train, test = next(splits.stratified_kfold(labels, k=HOLDOUT_FOLDS, seed=seed))
    else:
        [(train, test)] = splits.time_folds(*ordered, test_fraction=1 / HOLDOUT_FOLDS, y=y, classes=classes)
    sample = np.random.default_rng(seed).choice(len(train), min(SAMPLE_ROWS, len(train) // 4), replace=False)
    return Plan("holdout", [(train, test)], [Step(0, np.sort(sample)), Step(0)], n, time)


@dataclass(frozen=True)
class Fold:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class Shared:
    """What every trial needs, sent once per batch to the workers."""

    folds: list[Fold]
    steps: list[Step]
    strategy: str
    task: str
    n_classes: int  # 0 for regression
    metric: str
    y_scored: np.ndarray


def featurize(
    frame: pl.DataFrame, schema: Schema, y: np.ndarray, plan_: Plan, task: str, metric: str
) -> Shared:
    """Fit a featurizer on each fold's training part and transform both parts."""
    folds = []
    for train, test in plan_.folds:
        featurizer = Featurizer(schema).fit(frame[train])
        folds.append(
            Fold(featurizer.transform(frame[train]), y[train], featurizer.transform(frame[test]), y[test])
        )
    n_classes = 0 if task == "regression" else int(y.max()) + 1
    return Shared(folds, plan_.steps, plan_.strategy, task, n_classes, metric, y[plan_.scored])


def score(metric: Metric, task: str, y: np.ndarray, output: np.ndarray) -> float:
    """``metric`` of ``output`` (class probabilities, or predicted values for regression) against class ids/values."""
    if task == "regression":
        return float(metric.fn(y, output, None))
    classes = np.arange(output.shape[1])
    if metric.needs == "label":
        return float(metric.fn(y, output.argmax(axis=1), classes))
    if metric.needs == "ranking" and task == "binary":
        return float(metric.fn(y, output[:, 1], classes))
    with warnings.catch_warnings():  # boosters' float32 probabilities sum to 1 only within float32 rounding
        warnings.filterwarnings("ignore", "The y_prob values do not sum to one")
        return float(metric.fn(y, output, classes))


def predict(model: Any, X: np.ndarray, n_classes: int) -> np.ndarray:
    """Probabilities over every class id (a class missing from a fold's training part gets 0), or values."""
    if not n_classes:
        return np.asarray(model.predict(X), dtype=np.float64)
    out = np.zeros((X.shape[0], n_classes))
    out[:, np.asarray(model.classes_, dtype=np.int64)] = model.predict_proba(X)
    return out


@dataclass(frozen=True)
class TrialTask:
    """One trial to run. ``thresholds[s]``: the median running score of finished trials after step ``s`` (None
    before enough trials finished); ``deadline``: ``time.time()`` by which the trial must end (None: no budget);
    ``estimate_s``: how long a trial usually takes (None before any finished)."""

    number: int
    estimator: Any
    thresholds: tuple[float | None, ...]
    deadline: float | None
    estimate_s: float | None
    greater_is_better: bool


@dataclass
class Outcome:
    """What a trial did. ``state``: complete, pruned, failed, or budget (stopped or never started for the
    budget). ``needed_s``: for a trial stopped by the budget, how long it would have taken in all."""

    number: int
    state: str
    intermediate: list[float]
    output: np.ndarray | None
    score: float | None
    duration_s: float
    fit_s: list[float]  # seconds of each full-size fit
    needed_s: float | None = None
    error: str | None = None


def run_trial(task: TrialTask, shared: Shared) -> Outcome:
    """Fit and score one configuration along the plan's steps; never raises (a failure is an outcome)."""
    started = time.perf_counter()
    metric = METRICS[shared.metric]
    sign = 1.0 if task.greater_is_better else -1.0
    # Without an estimate the first step runs anyway: it is how the search learns what a trial costs.
    late = task.deadline is not None and task.estimate_s is not None
    if late and time.time() + task.estimate_s > task.deadline:
        return Outcome(task.number, "budget", [], None, None, 0.0, [], needed_s=task.estimate_s)
    intermediate: list[float] = []
    outputs: list[np.ndarray] = []
    fit_s: list[float] = []
    step_s: list[float] = []
    step_scores: list[float] = []
    last = len(shared.steps) - 1
    for index, step in enumerate(shared.steps):
        if index and task.deadline is not None:
            ahead = _projected(shared, step_s, index)
            if time.time() + ahead > task.deadline:
                elapsed = time.perf_counter() - started
                needed = elapsed + ahead * (len(shared.steps) - index)
                return Outcome(
                    task.number, "budget", intermediate, None, None, elapsed, fit_s, needed_s=needed
                )
        fold = shared.folds[step.fold]
        X, y = (
            (fold.X_train, fold.y_train)
            if step.rows is None
            else (fold.X_train[step.rows], fold.y_train[step.rows])
        )
        step_start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter(
                    "ignore"
                )  # convergence and collinearity notes of individual configurations
                model = clone(task.estimator).fit(X, y)
                output = predict(model, fold.X_test, shared.n_classes)
            if not np.all(np.isfinite(output)):
                raise ValueError("non-finite predictions")
            value = score(metric, shared.task, fold.y_test, output)
        except Exception as failure:  # a configuration that cannot fit is a result of the search, not a crash
            elapsed = time.perf_counter() - started
            error = f"{type(failure).__name__}: {failure}"
            return Outcome(task.number, "failed", intermediate, None, None, elapsed, fit_s, error=error)
        step_s.append(time.perf_counter() - step_start)
        if step.rows is None:
            outputs.append(output)
            fit_s.append(step_s[-1])
        step_scores.append(value)
        # the running mean of the fold scores (CV), or the score of this rung (holdout)
        intermediate.append(float(np.mean(step_scores)) if shared.strategy == "cv" else value)
        running = intermediate[-1]
        threshold = task.thresholds[index] if index < len(task.thresholds) else None
        if index < last and threshold is not None and sign * running < sign * threshold:
            elapsed = time.perf_counter() - started
            return Outcome(task.number, "pruned", intermediate, None, None, elapsed, fit_s)
    output = np.concatenate(outputs)
    final = score(metric, shared.task, shared.y_scored, output)
    return Outcome(task.number, "complete", intermediate, output, final, time.perf_counter() - started, fit_s)


def _projected(shared: Shared, step_s: list[float], index: int) -> float:
    """Seconds the next step should take: the last step's time, scaled by training rows when it grows."""
    previous, step = shared.steps[index - 1], shared.steps[index]
    size = len(shared.folds[step.fold].y_train) if step.rows is None else len(step.rows)
    before = len(shared.folds[previous.fold].y_train) if previous.rows is None else len(previous.rows)
    return step_s[-1] * max(1.0, size / before)


def median_thresholds(finished: list[list[float]], n_steps: int, min_trials: int) -> tuple[float | None, ...]:
    """Per step, the median of the running scores finished trials reported (Optuna's ``MedianPruner`` rule),
    or None where fewer than ``min_trials`` reported one."""
    thresholds = []
    for step in range(n_steps):
        values = [values[step] for values in finished if len(values) > step and math.isfinite(values[step])]
        thresholds.append(float(np.median(values)) if len(values) >= min_trials else None)
    return tuple(thresholds)
