"""Cross-validate the zoo on the same folds, summarize, and recommend the simplest model that is not worse."""

from __future__ import annotations

import collections
import dataclasses
import functools
import json
import math
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from fieldguide._backend import Backend, LocalBackend, get_backend
from fieldguide._stats import corrected_resampled_ttest
from fieldguide.compare._metrics import METRICS, Metric, can_output, metric_for, model_output
from fieldguide.data import Schema, as_frame, infer_schema, labelled_rows, read, splits
from fieldguide.data._read import readable
from fieldguide.errors import DataError, FieldguideError
from fieldguide.pipeline import encode_target  # the pipeline's own task and ids

ALPHA = 0.05


class FoldResult(NamedTuple):
    """One model on one fold: score, seconds to fit and to predict (the model on the fold's features; the
    featurizer is fitted once per fold, for every model alike), or the error (score and times None); the first
    warning its fit or prediction gave (a ``ConvergenceWarning``, say), if any."""

    model: str
    repeat: int
    fold: int
    score: float | None
    fit_time_s: float | None
    predict_time_s: float | None
    n_train: int
    n_test: int
    error: str | None
    warning: str | None = None


_RESULT_SCHEMA = dict(
    zip(
        FoldResult._fields,
        (pl.String, pl.Int64, pl.Int64, *[pl.Float64] * 3, pl.Int64, pl.Int64, pl.String, pl.String),
        strict=True,
    )
)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A model of the comparison: its name, an unfitted estimator, how simple it is (0 = dummy) and what a
    regression target must be (``"real"``, ``"non-negative"``, ``"positive"``)."""

    name: str
    estimator: Any
    complexity: float
    target: str = "real"


@dataclasses.dataclass(frozen=True)
class Recommendation:
    """The simplest model whose score is not significantly worse than the best model's and significantly better
    than the dummy baseline's (or the baseline itself), with the evidence.

    ``difference`` is how much worse this model scored than the best one, averaged over folds, in the metric's
    units (positive: worse);
    ``t``, ``df`` and ``p`` come from the one-sided Nadeau–Bengio corrected resampled t-test of "the best model
    is better" (all None when the recommended model is the best one).
    """

    model: str
    complexity: float
    score: float
    best: str
    best_score: float
    best_complexity: float
    difference: float
    t: float | None
    df: int | None
    p: float | None
    n_train: int
    n_test: int
    alpha: float = ALPHA
    baseline: str | None = None
    p_baseline: float | None = None

    def explain(self, metric: Metric) -> str:
        """The recommendation and its evidence in one sentence."""
        head = f"{self.model} (complexity {self.complexity:g}): {metric.title} {self.score:.4g}"
        if self.t is None:
            return f"{head}: the best model, and no simpler model is statistically as good."
        return (
            f"{head} vs the best, {self.best}, {self.best_score:.4g}: gap {self.difference:+.4g}, "
            f"t={self.t:.3g}, df={self.df}, p={self.p:.3g} ≥ α={self.alpha:g} (one-sided Nadeau–Bengio "
            f"corrected resampled t-test, n_train={self.n_train}, n_test={self.n_test}): not significantly "
            f"worse{self._beats_baseline()}, and simpler."
        )

    def _beats_baseline(self) -> str:
        if self.p_baseline is None:
            return ""
        return f", significantly better than {self.baseline} (p={self.p_baseline:.3g})"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What ``compare`` found: per-fold ``results``, the per-model ``summary`` and the ``recommendation``.

    ``results`` has one row per model × fold (``score`` null and ``error`` set where the model failed;
    ``warning``: the first warning the fold's fit or prediction gave);
    ``summary`` one row per model, best first, with mean ± std score, mean fit/predict time, ``rank`` (null for
    a model that failed on any fold) and the test against the best model: ``difference`` (how much worse, in
    the metric's units), ``t`` and ``p``.
    """

    target: str
    task: str
    metric: Metric
    folds: int
    repeats: int
    seed: int
    n_rows: int
    results: pl.DataFrame
    summary: pl.DataFrame
    recommendation: Recommendation
    time: str | None = None
    sampled_from: int | None = None  # the labelled rows a ``sample`` was drawn from; None: every row was used

    @property
    def rows(self) -> str:
        """The rows compared, in words: ``"20,000 rows (a sample of 1,000,000)"``."""
        if self.sampled_from is None:
            return f"{self.n_rows:,} rows"
        how = "a stratified sample" if self.task != "regression" else "a sample"
        return f"{self.n_rows:,} rows ({how} of {self.sampled_from:,})"

    @property
    def scheme(self) -> str:
        """How the rows were folded, in words."""
        if self.time is not None:
            return f"{self.folds} time-ordered folds by {self.time!r}"
        return f"{self.repeats}× {self.folds}-fold"

    def to_dict(self) -> dict[str, Any]:
        """Settings, per-fold results, summary and recommendation as JSON-ready data (NaN as null)."""
        return _finite(
            {
                "format": "fieldguide.comparison",
                "version": 1,
                "target": self.target,
                "task": self.task,
                "metric": {"name": self.metric.name, "greater_is_better": self.metric.greater_is_better},
                "folds": self.folds,
                "repeats": self.repeats,
                "time": self.time,
                "seed": self.seed,
                "n_rows": self.n_rows,
                "sampled_from": self.sampled_from,
                "results": self.results.to_dicts(),
                "summary": self.summary.to_dicts(),
                "recommendation": dataclasses.asdict(self.recommendation),
            }
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, ensure_ascii=False, allow_nan=False)

    def plot_scores(self):
        """A matplotlib figure: boxplots of the per-fold scores of each model, best first."""
        from fieldguide.compare._render import boxplot

        return boxplot(self, "score", self.metric.title)

    def plot_times(self):
        """A matplotlib figure: boxplots of the per-fold fit times of each model (log scale)."""
        from fieldguide.compare._render import boxplot

        return boxplot(self, "fit_time_s", "fit time (s)", log=True)

    def to_html(self) -> str:
        """A self-contained HTML report: the summary table, the recommendation and both plots."""
        from fieldguide.compare._render import to_html

        return to_html(self)


def compare(
    data: Any,
    target: str,
    *,
    models: Sequence[str] | None = None,
    metric: str | None = None,
    ignore: Sequence[str] = (),
    missing: Mapping[str, Any] | None = None,
    time: str | None = None,
    folds: int = 5,
    repeats: int | None = None,
    seed: int = 0,
    backend: str | Backend = "local",
    sample: int | None = None,
    progress: bool = True,
) -> Comparison:
    """Cross-validate the zoo's models for ``target`` on the same repeated k folds and recommend one.

    Every model (default hyperparameters, seeded) is fitted on the same folds (stratified for classification);
    in each fold the featurizer is fitted on the training part only. The recommendation is the simplest model
    whose score is not significantly worse than the best model's and significantly better than the dummy
    baseline's (one-sided Nadeau–Bengio corrected resampled t-tests, α = 0.05); of equally simple ones, the best
    scoring. The baseline itself qualifies when no model is significantly better than it.

    Args:
        data: a table (Polars, pandas, Arrow, dict of columns) or a path ``fieldguide.data.read`` reads.
        models: names of the models to compare (default: every zoo member for the task); the dummy baseline
            is always included.
        metric: a name from ``METRICS``; default ROC AUC (binary), log loss (multiclass), RMSE (regression).
        ignore: columns no model learns from (role ``ignored``: a leak, an identifier).
        missing: raw values that mean missing, per column (``{"glucose": [0]}``), read as null.
        time: a datetime or numeric column that orders the rows: the folds are then expanding windows (fold i
            trains on the earliest i/(folds + 1) of the rows and tests on the next 1/(folds + 1)), so no model is
            scored on rows older than those it learned from. The t-tests then use the folds' mean training size.
        repeats: repeats of k-fold with fresh folds; default 2, and 1 (the only choice) with ``time``.
        backend: ``"local"``, ``"ray"`` or a back end from ``fieldguide.backends.get_backend``.
        sample: compare on a seeded sample of this many labelled rows (keeping the classes' proportions, at
            least one row of each), for a first look at a large table; ``None``: every row. The rows keep their
            order, so ``time`` folds still train on the past.
        progress: show a live Rich table while the folds run.

    Example:
        >>> from fieldguide.compare import compare
        >>> from fieldguide.data.synthetic import regression_table
        >>> result = compare(regression_table(120), "y", models=["Ridge"], folds=3, repeats=1, progress=False)
        >>> result.recommendation.model
        'Ridge'
    """
    frame = read(data) if readable(data) else as_frame(data)
    schema = infer_schema(frame, target, ignore=ignore, missing=missing)
    frame = labelled_rows(frame, schema, target)  # a comparison needs labels; the others are left out
    _, task, classes, y = encode_target(frame, target, schema)
    sampled_from = None
    if sample is not None and frame.height > _check_sample(sample):
        sampled_from, full = frame.height, y
        frame = _sample(frame, target, sample, task, seed)
        _, task, classes, y = encode_target(frame, target, schema)
        if classes and time is None:
            _check_sampled_classes(full, y, classes, folds)
    metric_ = metric_for(metric, task)
    candidates = _candidates(task, y, metric_, models, seed)
    repeats = (1 if time else 2) if repeats is None else repeats
    if time is None:
        _check_folds(y, classes, folds, repeats)
        labels = y if classes else np.zeros(len(y))  # regression: one label, a plain shuffled k-fold
        folds_ = list(splits.stratified_kfold(labels, k=folds, seed=seed, repeats=repeats))
    else:
        _check_folds(y, None, folds, repeats)
        folds_ = _time_folds(frame, schema, time, folds, repeats, y, classes)
    shared = _Shared(frame, schema, target, y, folds_, folds, task, metric_.name, seed, candidates)
    # fold by fold, so that each fold's features serve every model before the next fold's are made
    items = [(c.name, s) for s in range(len(folds_)) for c in candidates]
    names = [f"{name}, repeat {s // folds + 1} fold {s % folds + 1}" for name, s in items]
    runner = get_backend(backend) if isinstance(backend, str) else backend
    if isinstance(runner, LocalBackend) and runner.n_jobs == 1:
        _use_every_core(candidates)
    from fieldguide.compare._render import live_progress

    try:
        with live_progress([c.name for c in candidates], len(folds_), metric_, progress) as on_result:
            records = runner.map(
                _fit_fold,
                items,
                shared=shared,
                description="Cross-validating",
                names=names,
                on_result=lambda i, record: on_result(record),
                show_progress=False,
            )
    finally:
        _FEATURES.clear()  # folds run in this process: their features are not kept past the comparison
    results = pl.DataFrame(records, schema=_RESULT_SCHEMA, orient="row")
    summary, recommendation = _summarize(results, metric_, {c.name: c.complexity for c in candidates})
    return Comparison(
        target,
        task,
        metric_,
        folds,
        repeats,
        seed,
        frame.height,
        results,
        summary,
        recommendation,
        time,
        sampled_from,
    )


# -- setting up ------------------------------------------------------------------------------------------------
def _check_sample(sample: Any) -> int:
    if isinstance(sample, bool) or not isinstance(sample, int | np.integer) or sample < 1:
        raise FieldguideError(f"sample: expected a positive number of rows, found {sample!r}")
    return int(sample)


def _check_sampled_classes(full: np.ndarray, sampled: np.ndarray, classes: list, folds: int) -> None:
    """A class that the table holds enough of for ``folds`` stratified folds, but the sample does not, asks for
    a larger sample (and says how large), where the folds' check would ask for fewer folds."""
    whole = np.bincount(full, minlength=len(classes))
    kept = np.bincount(sampled, minlength=len(classes))
    short = np.flatnonzero((kept < folds) & (whole >= folds))
    if short.size:
        c = short[np.argmin(whole[short])]
        needed = math.ceil(folds * len(full) / whole[c])
        raise FieldguideError(
            f"sample: {len(sampled):,} rows keep {kept[c]} row(s) of class {classes[c]!r} ({whole[c]:,} of the "
            f"{len(full):,} labelled rows), too few for {folds} stratified folds; sample at least {needed:,} rows"
        )


def _sample(frame: pl.DataFrame, target: str, n_rows: int, task: str, seed: int) -> pl.DataFrame:
    """``n_rows`` rows drawn with ``seed``, in their order: stratified by class, uniform for a regression."""
    if task != "regression":
        return splits.stratified_sample(frame, target, n_rows, seed=seed)
    rows = np.sort(np.random.default_rng(seed).choice(frame.height, size=n_rows, replace=False))
    return frame[rows.tolist()]


def zoo(task: str, seed: int = 0) -> list[Candidate]:
    """The zoo's models for ``task`` with default hyperparameters, seeded where they take a ``random_state``
    and on one thread where they take ``n_jobs`` (workers run folds in parallel; boosters whose threads fight over
    a shared machine's cores ran ten times slower). When folds run in this process, :func:`compare` gives
    scikit-learn's models every core.

    Example:
        >>> [c.name for c in zoo("binary")][:3]
        ['LogisticRegression', 'LinearSVC', 'MLPClassifier']
    """
    from fieldguide.models import ZOO

    candidates = []
    for entry in ZOO:
        if task not in entry.tasks:
            continue
        estimator = entry.estimator()
        accepted = estimator.get_params()
        estimator.set_params(**{k: v for k, v in (("random_state", seed), ("n_jobs", 1)) if k in accepted})
        candidates.append(Candidate(entry.name, estimator, entry.complexity, entry.target))
    return candidates


def _use_every_core(candidates: list[Candidate]) -> None:
    """Folds run one at a time in this process: scikit-learn's forests and kNN (joblib's threads) take every core
    (on Ames housing's 2,930 rows, two cores, a forest's fit took 1.8-1.9 s where one core took 3.4-3.7). The
    boosters stay on one: their OpenMP threads, spinning while they wait, are what ran ten times slower on a busy
    machine."""
    from fieldguide.models.adapters import SKLEARN_ADAPTERS

    for candidate in candidates:
        if isinstance(candidate.estimator, SKLEARN_ADAPTERS) and "n_jobs" in candidate.estimator.get_params():
            candidate.estimator.set_params(n_jobs=-1)


def _unfit(candidate: Candidate, y: np.ndarray, metric: Metric, task: str) -> str | None:
    """Why ``candidate`` cannot take part (its target requirement, or the metric's needs), or None."""
    if candidate.target == "non-negative" and (y < 0).any():
        return f"{candidate.name} needs a non-negative target, found values below 0"
    if candidate.target == "positive" and (y <= 0).any():
        return f"{candidate.name} needs a positive target, found values of 0 or below"
    if not can_output(candidate.estimator, metric, task):
        return f"{candidate.name} cannot give the {metric.needs} output that metric {metric.name!r} needs"
    return None


def _candidates(
    task: str, y: np.ndarray, metric: Metric, models: Sequence[str] | None, seed: int
) -> list[Candidate]:
    """The zoo members that fit the task, target and metric; those named in ``models`` and the dummy
    baseline (complexity 0)."""
    available = zoo(task, seed)
    if models is None:
        return [c for c in available if _unfit(c, y, metric, task) is None]
    by_name = {c.name: c for c in available}
    unknown = [m for m in models if m not in by_name]
    if unknown:
        raise FieldguideError(
            f"models: unknown {', '.join(map(repr, unknown))} for a {task} target; "
            f"expected names from {', '.join(by_name)}"
        )
    reasons = [reason for m in models if (reason := _unfit(by_name[m], y, metric, task))]
    if reasons:
        raise FieldguideError(f"models: {'; '.join(reasons)}")
    return [c for c in available if c.complexity == 0 or c.name in models]


def _time_folds(
    frame: pl.DataFrame, schema: Schema, time: str, k: int, repeats: int, y: np.ndarray, classes: list | None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds over the column ``time``; every class must be in every training part."""
    if repeats != 1:
        raise FieldguideError(
            f"repeats: time-ordered folds are the same on every repeat; use 1, found {repeats}"
        )
    return splits.time_folds(frame, schema, time, k=k, y=y, classes=classes)


def _check_folds(y: np.ndarray, classes: list | None, folds: int, repeats: int) -> None:
    if folds < 2 or repeats < 1:
        raise FieldguideError(f"folds must be at least 2 and repeats at least 1, found {folds} and {repeats}")
    if classes is None:
        if len(y) < 2 * folds:
            raise DataError(f"{len(y)} rows are too few for {folds} folds; need at least {2 * folds}")
        return
    counts = np.bincount(y, minlength=len(classes))
    if counts.min() < folds:
        raise DataError(
            f"class {classes[counts.argmin()]!r} has {counts.min()} row(s), too few for {folds} stratified "
            f"folds; use --folds {max(2, int(counts.min()))} or more data"
        )


# -- one fold of one model (runs in the back end's workers) ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Shared:
    """What every fold task needs; sent once per worker. ``y``: class ids (classification) or values."""

    frame: pl.DataFrame
    schema: Schema
    target: str
    y: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    k: int
    task: str
    metric: str
    seed: int
    candidates: list[Candidate]
    token: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)  # names its folds' features


@functools.cache
def _compilations() -> list[int]:
    """A counter of the JAX programs this process has traced, lowered or compiled since it was first asked for
    (``jax.monitoring`` reports each step's duration)."""
    import jax

    count = [0]

    def listen(event: str, duration: float, **_: Any) -> None:
        if event.startswith("/jax/core/compile/"):
            count[0] += 1

    jax.monitoring.register_event_duration_secs_listener(listen)
    return count


def _fit_fold(item: tuple[str, int], shared: _Shared) -> FoldResult:
    """Fit one model on one fold's training part and score it on the test part; record a failure, and the first
    warning (notes on a model's folds are shown once after the table, not printed mid-progress)."""
    name, split = item
    train, test = shared.folds[split]
    estimator = next(c.estimator for c in shared.candidates if c.name == name)
    fit_time = predict_time = score = error = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            score, fit_time, predict_time = _fit_and_score(split, estimator, shared)
        except Exception as failure:  # any model error is a result of the comparison, not a crash of it
            error = f"{type(failure).__name__}: {failure}"
    warning = f"{caught[0].category.__name__}: {caught[0].message}" if caught else None
    repeat, fold = divmod(split, shared.k)
    return FoldResult(
        name, repeat + 1, fold + 1, score, fit_time, predict_time, len(train), len(test), error, warning
    )


# The featurized folds this process made last: (token, split) -> (X_train, X_test). Tasks come fold by fold, so
# one fold's features serve every model; the second entry covers a worker that takes the next fold's first task
# before the last model of the previous fold. Only the current comparison's folds are kept: ``compare`` empties
# it when done, and a worker that meets a new comparison drops the last one's.
_FEATURES: collections.OrderedDict[tuple[str, int], tuple[np.ndarray, np.ndarray]] = collections.OrderedDict()
_FEATURES_KEPT = 2


def _features(split: int, shared: _Shared) -> tuple[np.ndarray, np.ndarray]:
    """The fold's training and test features, from a featurizer fitted on its training part only (what
    ``Pipeline.fit`` does); made once per fold and process."""
    key = (shared.token, split)
    if key not in _FEATURES:
        from fieldguide.data import Featurizer

        if any(token != shared.token for token, _ in _FEATURES):
            _FEATURES.clear()

        train, test = shared.folds[split]
        featurizer = Featurizer(shared.schema).fit(shared.frame[train])
        _FEATURES[key] = (featurizer.transform(shared.frame[train]), featurizer.transform(shared.frame[test]))
        while len(_FEATURES) > _FEATURES_KEPT:
            _FEATURES.popitem(last=False)
    return _FEATURES[key]


def _fit_and_score(split: int, estimator: Any, shared: _Shared) -> tuple[float, float, float]:
    """Score, fit and predict seconds of a clone of ``estimator`` on the fold's features. When the fit or
    prediction compiled JAX code (a zoo model's first fold in a process, or a new shape), it fits and predicts
    again and keeps the second timing, so that compilation is not charged to one fold; models that compile nothing
    (scikit-learn's, the boosters) fit once. Refitting on every new feature count instead fitted 288 models for
    180 folds on Ames housing, forests included.
    """
    from sklearn.base import clone

    train, test = shared.folds[split]
    X_train, X_test = _features(split, shared)
    metric = METRICS[shared.metric]
    compiled = _compilations()
    for _ in range(2):
        before = compiled[0]
        model = clone(estimator)
        start = time.perf_counter()
        model.fit(X_train, shared.y[train])
        fit_time = time.perf_counter() - start
        start = time.perf_counter()
        output = model_output(model, X_test, metric, shared.task)
        predict_time = time.perf_counter() - start
        if compiled[0] == before:
            break
    classes = None if shared.task == "regression" else np.arange(int(shared.y.max()) + 1)
    return float(metric.fn(shared.y[test], output, classes)), fit_time, predict_time


# -- summary and recommendation --------------------------------------------------------------------------------
def _summarize(
    results: pl.DataFrame, metric: Metric, complexity: dict[str, float]
) -> tuple[pl.DataFrame, Recommendation]:
    """Per-model summary (best first) and the Occam recommendation."""
    sign = 1.0 if metric.greater_is_better else -1.0
    ordered = results.sort("model", "repeat", "fold")
    scores = {name: ordered.filter(pl.col("model") == name)["score"].to_numpy() for name in complexity}
    rows = []
    for name, values in scores.items():
        part = ordered.filter(pl.col("model") == name)
        errors = part["error"].drop_nulls()
        rows.append(
            {
                "model": name,
                "complexity": float(complexity[name]),
                "score_mean": float(np.nanmean(values)) if errors.len() < part.height else math.nan,
                "score_std": float(np.nanstd(values, ddof=1)) if part.height - errors.len() > 1 else math.nan,
                "fit_time_s": part["fit_time_s"].mean(),
                "predict_time_s": part["predict_time_s"].mean(),
                "failed_folds": errors.len(),
                "error": errors[0] if errors.len() else None,
            }
        )
    complete = [row for row in rows if row["failed_folds"] == 0]
    if not complete:
        raise FieldguideError(f"every model failed on at least one fold; first error: {rows[0]['error']}")
    complete.sort(key=lambda row: (-sign * row["score_mean"], row["complexity"]))
    best = complete[0]
    n_train, n_test = (round(results[column].mean()) for column in ("n_train", "n_test"))
    for rank, row in enumerate(complete, start=1):
        gaps = sign * (scores[best["model"]] - scores[row["model"]])  # > 0: the best model did better
        row.update(rank=rank, difference=float(gaps.mean()), t=None, p=None)
        if row is not best:
            test = corrected_resampled_ttest(gaps, n_train, n_test, alternative="greater")
            row.update(t=test.t, p=test.p, df=test.df)
    dummy = next((row for row in complete if row["complexity"] == 0), None)
    for row in complete:
        row["p_dummy"] = None
        if dummy is not None and row is not dummy:
            gains = sign * (scores[row["model"]] - scores[dummy["model"]])  # > 0: the model beat the dummy
            row["p_dummy"] = corrected_resampled_ttest(gains, n_train, n_test, alternative="greater").p
    # within reach of the best, and a model that works: one fold blown up (a log link extrapolating to 1e6 on a
    # test row) widens the spread until the test cannot tell a model 4x worse from the best, nor from the dummy
    eligible = [row for row in complete if row is best or (row["p"] >= ALPHA and _works(row))]
    # the simplest; among equally simple models the best scoring (``min`` keeps the first of ties, and ``complete``
    # is best first): a fit-time tie-break once chose, of five linear models all within the test's reach, the one
    # scoring 74 % worse than the best rather than the one 19 % worse
    chosen = min(eligible, key=lambda row: row["complexity"])
    recommendation = Recommendation(
        model=chosen["model"],
        complexity=chosen["complexity"],
        score=chosen["score_mean"],
        best=best["model"],
        best_score=best["score_mean"],
        best_complexity=best["complexity"],
        difference=chosen["difference"],
        t=chosen["t"],
        df=chosen.get("df"),
        p=chosen["p"],
        n_train=n_train,
        n_test=n_test,
        baseline=None if dummy is None else dummy["model"],
        p_baseline=chosen["p_dummy"],
    )
    columns = ["model", "complexity", "score_mean", "score_std", "fit_time_s", "predict_time_s", "rank"]
    columns += ["difference", "t", "p", "p_dummy", "failed_folds", "error"]
    summary = pl.DataFrame(
        [
            {column: row.get(column) for column in columns}
            for row in complete + [r for r in rows if r not in complete]
        ],
        schema={
            **{c: pl.Float64 for c in columns},
            "model": pl.String,
            "rank": pl.Int64,
            "failed_folds": pl.Int64,
            "error": pl.String,
        },
    )
    return summary, recommendation


def _works(row: dict[str, Any]) -> bool:
    """The dummy baseline, a model significantly better than it, or any model when there is no baseline."""
    return row["complexity"] == 0 or row["p_dummy"] is None or row["p_dummy"] < ALPHA


def _finite(value: Any) -> Any:
    """``value`` with NaN and ±inf floats replaced by None, for strict JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
