"""The search driver: Optuna ask/tell in batches on a back end, under a time budget, then ensemble selection,
the refit on all the data, registration and export."""

from __future__ import annotations

import math
import tempfile
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter  # search() has a parameter named time
from typing import Any

import numpy as np

from fieldguide._backend import Backend, LocalBackend, get_backend
from fieldguide.compare._metrics import Metric, metric_for
from fieldguide.data import Query, as_frame, infer_schema, labelled_rows, read
from fieldguide.data._read import readable
from fieldguide.errors import FieldguideError, SchemaError
from fieldguide.search import _ensemble, _evaluate, _space

BATCH = (
    4  # trials asked together (and run in parallel on Ray); the same on every back end for reproducibility
)
MIN_PRUNING_TRIALS = 5  # the median rule prunes once this many trials finished a step
STARTUP_TRIALS = 10  # TPE samples at random until this many trials finished
FIXED_COSTS_S = 2.0  # saving and registering the pipeline, writing the script
ENSEMBLE_RESERVE = 3  # the search keeps time to refit an ensemble of about this many models


@dataclass(frozen=True)
class TrialRecord:
    """One trial: the model and hyperparameters it ran, its state (complete, pruned, failed, budget), its
    validation score (complete trials), the running scores it reported and how long it took."""

    number: int
    model: str
    params: dict[str, Any]
    state: str
    score: float | None
    intermediate: list[float]
    duration_s: float
    fit_s: list[float]
    needed_s: float | None = None
    error: str | None = None


@dataclass
class SearchResult:
    """What ``search`` found and did.

    ``trials``: every trial in order; ``leaderboard``: complete trials, best first; ``members``: the chosen
    model, ``[(trial, weight)]`` (one member unless ensemble selection won); ``score``: its validation score
    (``metric``, on ``evaluation``; an ensemble's is measured on rows its weights were not chosen on);
    ``best_single_score``: the best trial's; ``pipeline``: the refitted pipeline; ``registered``: its registry
    version (None when not registered); ``wall_s`` vs ``budget_s``: the measured time of the whole search
    (refit, registration and export included) and its ``overrun_s``.
    """

    target: str
    task: str
    metric: Metric
    evaluation: str
    seed: int
    trials: list[TrialRecord]
    members: list[tuple[TrialRecord, int]]
    score: float
    best_single_score: float
    pipeline: Any
    budget_s: float | None
    wall_s: float
    registered: Any = None
    export: Path | None = None
    refit_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def leaderboard(self) -> list[TrialRecord]:
        sign = -1.0 if self.metric.greater_is_better else 1.0
        return sorted(
            (t for t in self.trials if t.state == "complete"), key=lambda t: (sign * t.score, t.number)
        )

    @property
    def is_ensemble(self) -> bool:
        return len(self.members) > 1

    @property
    def overrun_s(self) -> float | None:
        """Wall time beyond the budget (negative when it finished early); None without a budget."""
        return None if self.budget_s is None else self.wall_s - self.budget_s

    def counts(self) -> dict[str, int]:
        """Trials per state."""
        states = ("complete", "pruned", "failed", "budget")
        return {state: sum(t.state == state for t in self.trials) for state in states}


def search(
    data: Any,
    target: str,
    *,
    budget: float | None = 60.0,
    trials: int | None = None,
    metric: str | None = None,
    seed: int = 0,
    backend: str | Backend = "local",
    name: str | None = None,
    registry: Any = None,
    export: str | Path | None = None,
    models: Sequence[str] | None = None,
    ignore: Sequence[str] = (),
    missing: Mapping[str, Any] | None = None,
    time: str | None = None,
    progress: bool = True,
    started: float | None = None,
) -> SearchResult:
    """Search the zoo for the best model of ``target`` within a time budget, then refit, register and export it.

    Optuna's TPE (seeded) picks a model, then its hyperparameters; trials are scored by k-fold CV (tables of at
    most 10,000 rows) or a holdout split, report running scores and are pruned by the median rule. Greedy
    ensemble selection over the best trials' out-of-fold predictions is kept when it beats the best single model
    on rows its weights were not chosen on (its score is that held-out one: chosen on one half of the rows, scored
    on the other, both ways). The winner is refitted as a ``Pipeline`` on all rows.

    Args:
        data: a table (Polars, pandas, Arrow, dict of columns), or a path or ``fieldguide.data.Query`` that
            ``fieldguide.data.read`` reads.
        budget: seconds for the whole search, refit and registration included; None for no limit. Trials stop
            being started when the time left cannot fit one; the measured overrun is in the result.
        trials: stop after this many trials (with ``budget=None`` and a seed the search is reproducible).
        metric: a name from ``fieldguide.compare.METRICS``; default ROC AUC, log loss or RMSE by task.
        backend: ``"local"`` (trials in this process), ``"ray"`` (each batch of trials as parallel Ray tasks),
            or a back end from ``fieldguide.backends.get_backend``.
        name: the registry name; default the data file's name without extensions. A table given in memory or
            by a ``Query`` without a name is not registered.
        registry: a ``fieldguide.registry.Registry`` or its SQLAlchemy URL; default ``FIELDGUIDE_REGISTRY``.
        export: write a Python script that rebuilds the chosen pipeline here (needs ``data`` as a path).
        models: zoo names to search; default ``fieldguide.search.DEFAULT_MODELS`` for the task.
        ignore: columns no model learns from (role ``ignored``: a leak, an identifier); requests to the served
            model need not send them.
        missing: raw values that mean missing, per column (``{"glucose": [0]}``): read as null in training and
            by the served model alike (they are kept in its schema).
        time: a datetime or numeric column that orders the rows: trials are then scored on the future, by
            expanding-window folds (CV: fold i trains on the earliest i/6 of the rows, tests on the next 1/6;
            fewer folds when the column's values cannot be cut into 5) or with the latest fifth of the rows as the
            holdout. The final refit uses every row.
        progress: show a live progress bar with the best score so far.
        started: the ``time.perf_counter()`` at which the budget began (default: now), so that a caller such as
            the CLI counts its own imports.

    Example:
        >>> from fieldguide.data.synthetic import customers
        >>> result = search(customers(300), "churn", budget=None, trials=4, progress=False)  # doctest: +SKIP
        >>> result.metric.name, len(result.trials)  # doctest: +SKIP
        ('roc_auc', 4)
    """
    started = perf_counter() if started is None else started
    if budget is not None and not budget > 0:
        raise FieldguideError(f"budget: expected a positive number of seconds or None, found {budget!r}")
    if trials is not None and trials < 1:
        raise FieldguideError(f"trials: expected at least 1, found {trials}")
    if budget is None and trials is None:
        raise FieldguideError("give a budget (seconds), a number of trials, or both")
    source = (data if isinstance(data, Query) else Path(data)) if readable(data) else None
    name = name or (source.name.split(".")[0] if isinstance(source, Path) else None)
    if name is not None:
        _check_name(name)
    export_path = None if export is None else _check_export(Path(export), source)
    frame = read(source) if source is not None else as_frame(data)
    if target not in frame.columns:
        raise SchemaError(f"target {target!r} is not a column; columns are {', '.join(frame.columns)}")

    from fieldguide.pipeline import encode_target

    inferred = infer_schema(frame, target, ignore=ignore, missing=missing)
    labelled = labelled_rows(frame, inferred, target)  # a model learns from labelled rows only
    unlabelled, frame = frame.height - labelled.height, labelled
    schema, task, classes, y = encode_target(frame, target, inferred)
    declared = {name: list(schema[name].missing_values) for name in missing or {}}
    metric_ = metric_for(metric, task)
    pool = _space.candidates(task, y, None if models is None else list(models))
    y_raw = frame.get_column(target).to_numpy()
    ordered = None if time is None else (frame, schema, time)
    plan = _evaluate.plan(y_raw, task, seed, ordered, y, classes)
    shared = _evaluate.featurize(frame, schema, y, plan, task, metric_.name)
    prepared_s = perf_counter() - started
    runner = get_backend(backend) if isinstance(backend, str) else backend

    clock = _Clock(started, budget, overhead_s=FIXED_COSTS_S + prepared_s / len(plan.folds))
    records, outputs = _run(pool, shared, plan, metric_, seed, runner, clock, trials, progress)
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        raise _nothing_finished(records, budget, prepared_s)

    sign = 1.0 if metric_.greater_is_better else -1.0
    ranked = sorted(complete, key=lambda r: (-sign * r.score, r.number))
    members, score, notes = _choose(ranked, outputs, shared, metric_, task, plan, clock, seed)
    if unlabelled:
        notes.insert(0, f"{unlabelled:,} row(s) without a value of {target!r} were left out")
    estimator = _estimator(members, pool, seed)
    settings = {
        "search": {
            "budget_s": budget,
            "trials": trials,
            "metric": metric_.name,
            "seed": seed,
            "backend": backend if isinstance(backend, str) else type(backend).__name__,
            "models": [c.name for c in pool],
            "ignore": list(ignore),
            "missing": declared,
            "time": time,
            "evaluation": plan.description,
            "batch": BATCH,
            "data": None if source is None else str(source),  # a query's URL without its password
        },
        "chosen": [
            {"trial": r.number, "model": r.model, "params": r.params, "weight": w} for r, w in members
        ],
    }
    from fieldguide.pipeline import Pipeline

    refit_start = perf_counter()
    pipe = Pipeline.fit(frame, target, estimator, schema=schema, seed=seed, config=_plain(settings))
    refit_s = perf_counter() - refit_start
    pipe.metrics = {
        "validation_score": score,
        "metric": metric_.name,
        "evaluation": plan.description,
        "trials": len(records),
        "complete_trials": len(complete),
        "best_single_score": ranked[0].score,
        "ensemble": len(members) > 1,
    }
    result = SearchResult(
        target=target,
        task=task,
        metric=metric_,
        evaluation=plan.description,
        seed=seed,
        trials=records,
        members=members,
        score=score,
        best_single_score=ranked[0].score,
        pipeline=pipe,
        budget_s=budget,
        wall_s=math.nan,
        refit_s=refit_s,
        notes=notes,
    )
    if name is not None:
        result.registered = _register(pipe, name, registry, settings)
    if export_path is not None:
        from fieldguide._files import atomic_write_bytes
        from fieldguide.search._export import script

        atomic_write_bytes(
            export_path,
            script(result, source, plan, pool, export_path, list(ignore), declared, unlabelled).encode(),
        )
        result.export = export_path
    result.wall_s = perf_counter() - started
    return result


# -- the trial loop --------------------------------------------------------------------------------------------
class _Clock:
    """The budget: time left, and the deadline a trial must meet to leave time for the refit."""

    def __init__(self, started: float, budget: float | None, overhead_s: float):
        self.started = started
        self.budget = budget
        self.overhead_s = overhead_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def remaining(self) -> float:
        return math.inf if self.budget is None else self.budget - self.elapsed()

    def deadline(self, reserve_s: float) -> float | None:
        """``time.time()`` by which trials must end so that ``reserve_s`` (refit, registration) still fits."""
        if self.budget is None:
            return None
        return time.time() + self.remaining() - reserve_s - self.overhead_s


def _run(pool, shared, plan, metric, seed, runner, clock, n_trials, progress):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=STARTUP_TRIALS, multivariate=True, group=True, constant_liar=True
        )
    direction = "maximize" if metric.greater_is_better else "minimize"
    study = optuna.create_study(direction=direction, sampler=sampler)
    for candidate in pool:
        if candidate.name in _space.STARTING_POINTS:
            study.enqueue_trial(_space.starting_point(candidate))
    # With a number of trials, batches of BATCH on every back end (reproducible, Ray == local). Under a budget
    # alone, trials in this process run one by one, each with the freshest estimates and deadline.
    sequential = isinstance(runner, LocalBackend) and runner.n_jobs == 1
    batch = 1 if n_trials is None and sequential else BATCH
    records: list[TrialRecord] = []
    outputs: dict[int, np.ndarray] = {}  # out-of-fold predictions of the best complete trials
    sign = 1.0 if metric.greater_is_better else -1.0
    from fieldguide.search._render import search_progress

    with search_progress(clock.budget, n_trials, metric, progress) as update:
        while n_trials is None or len(records) < n_trials:
            estimates = _trial_estimates(records)
            estimate = estimates.get(None)
            reserve = _refit_estimate(records, sign, shared, plan)
            cheapest = min(estimates.values(), default=0.0)
            if estimates and clock.remaining() < cheapest + reserve + clock.overhead_s:
                break  # not even the quickest model's trial fits in the time left
            size = min(batch, n_trials - len(records)) if n_trials is not None else batch
            finished = [r.intermediate for r in records if r.state == "complete"]
            thresholds = _evaluate.median_thresholds(finished, len(plan.steps), MIN_PRUNING_TRIALS)
            deadline = clock.deadline(reserve)
            asked, tasks = [], []
            for _ in range(size):
                trial = study.ask()
                candidate, params = _space.suggest(trial, pool)
                asked.append((trial, candidate, params))
                estimator = candidate.build(params, seed)
                expected = estimates.get(candidate.name, estimate)
                tasks.append(
                    _evaluate.TrialTask(
                        trial.number, estimator, thresholds, deadline, expected, metric.greater_is_better
                    )
                )
            results = runner.map(
                _evaluate.run_trial,
                tasks,
                shared=shared,
                description="Trials",
                names=[f"trial {t.number} ({c.name})" for t, c, _ in asked],
                on_result=lambda i, outcome, asked=asked: update(asked[i][1].name, outcome, clock.elapsed()),
                show_progress=False,
            )
            for (trial, candidate, params), outcome in zip(asked, results, strict=True):
                for step, value in enumerate(outcome.intermediate):
                    trial.report(value, step)
                state = {
                    "complete": optuna.trial.TrialState.COMPLETE,
                    "pruned": optuna.trial.TrialState.PRUNED,
                }.get(outcome.state, optuna.trial.TrialState.FAIL)
                study.tell(trial, outcome.score if outcome.state == "complete" else None, state=state)
                record = TrialRecord(
                    outcome.number,
                    candidate.name,
                    params,
                    outcome.state,
                    outcome.score,
                    outcome.intermediate,
                    outcome.duration_s,
                    outcome.fit_s,
                    outcome.needed_s,
                    outcome.error,
                )
                records.append(record)
                if outcome.output is not None:
                    outputs[record.number] = outcome.output
            _keep_best(outputs, records, sign)
            # The budget is spent once nothing fits: the first trials could not finish, or the last BATCH asked
            # (TPE may ask for a slow model while a quick one would still fit) were all stopped or never started.
            recent = records[-BATCH:] if estimates else records[-size:]
            if all(r.state == "budget" for r in recent):
                break
    return records, outputs


def _trial_estimates(records: list[TrialRecord]) -> dict[str | None, float]:
    """Median seconds of a complete trial, per model and over all models (key None); pruned trials stopped
    early, so they count only for models that never completed."""
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        return {}
    estimates: dict[str | None, float] = {None: float(np.median([r.duration_s for r in complete]))}
    for model in {r.model for r in records if r.state in ("complete", "pruned")}:
        runs = [r.duration_s for r in complete if r.model == model] or [
            r.duration_s for r in records if r.model == model and r.state == "pruned"
        ]
        estimates[model] = float(np.median(runs))
    return estimates


def _keep_best(outputs: dict[int, np.ndarray], records: list[TrialRecord], sign: float) -> None:
    """Forget the out-of-fold predictions of trials outside the ensemble pool (memory)."""
    scores = {r.number: r.score for r in records if r.number in outputs}
    keep = sorted(scores, key=lambda n: (-sign * scores[n], n))[: _ensemble.POOL]
    for number in set(outputs) - set(keep):
        del outputs[number]


def _refit_estimate(records, sign, shared, plan) -> float:
    """Seconds to keep for the final refit: ``ENSEMBLE_RESERVE`` times the best trial's refit, room for an
    ensemble of models as costly as the best (``_choose`` leaves out members whose refits would not fit)."""
    complete = [r for r in records if r.state == "complete"]
    if not complete:
        return 0.0
    best = min(complete, key=lambda r: (-sign * r.score, r.number))
    return ENSEMBLE_RESERVE * _refit_s(best, shared, plan)


def _refit_s(record: TrialRecord, shared, plan) -> float:
    """The trial's slowest full-size fit scaled to all rows: the slowest, because a JIT-compiled model pays its
    compilation again when the refit meets a new shape."""
    n_train = np.mean([len(f.y_train) for f in shared.folds])
    return float(np.max(record.fit_s)) * plan.n_rows / n_train


def _choose(ranked, outputs, shared, metric, task, plan, clock, seed):
    """The best single trial, or the greedy ensemble of the best trials when it scores better on rows its weights
    were not chosen on (``_ensemble.cross_fitted``), with that score. Only trials whose refits fit in the time left
    together take part (the longest such prefix of the ranking)."""
    best = ranked[0]
    notes: list[str] = []
    pool, refit = [], 0.0
    for record in (r for r in ranked if r.number in outputs):
        refit += _refit_s(record, shared, plan)
        if len(pool) == _ensemble.POOL or (pool and refit + clock.overhead_s > clock.remaining()):
            break
        pool.append(record)
    if len(pool) < 2:
        return [(best, 1)], best.score, notes
    pooled = [outputs[r.number] for r in pool]
    weights, _ = _ensemble.select(pooled, shared.y_scored, metric, task)
    members = [(r, w) for r, w in zip(pool, weights, strict=True) if w > 0]
    if len(members) < 2:
        notes.append(
            f"ensemble selection did not beat {best.model} (trial {best.number}): kept the single model"
        )
        return [(best, 1)], best.score, notes
    score = _ensemble.cross_fitted(pooled, shared.y_scored, metric, task, seed)
    sign = 1.0 if metric.greater_is_better else -1.0
    if score is None or not sign * score > sign * best.score:
        held_out = "could not be scored" if score is None else f"scored {score:.4g}"
        notes.append(
            f"ensemble selection did not beat {best.model} (trial {best.number}, {best.score:.4g}) on rows it did "
            f"not choose on ({held_out}): kept the single model"
        )
        return [(best, 1)], best.score, notes
    return members, score, notes


def _estimator(members, pool, seed):
    """The unfitted estimator of the chosen members: the model itself, or a weighted ``Ensemble``."""
    from fieldguide.models.adapters import Ensemble

    by_name = {c.name: c for c in pool}
    built = [by_name[r.model].build(r.params, seed) for r, _ in members]
    if len(built) == 1:
        return built[0]
    return Ensemble(built, weights=[w for _, w in members])


def _nothing_finished(records: list[TrialRecord], budget: float | None, prepared_s: float) -> FieldguideError:
    needed = [r.needed_s for r in records if r.state == "budget" and r.needed_s]
    if needed and all(r.state in ("budget", "pruned") for r in records):
        quickest = min(needed)
        least = math.ceil(prepared_s + 2 * quickest + FIXED_COSTS_S)
        return FieldguideError(
            f"budget: {budget:g} s is too small to run one trial; the quickest trial needed about {quickest:.1f} s "
            f"(observed) after {prepared_s:.1f} s of imports and data preparation. Give a budget of at least "
            f"{least} s, or a number of trials"
        )
    failed = [r for r in records if r.state == "failed"]
    first = failed[0] if failed else records[0]
    return FieldguideError(
        f"no trial finished: {len(failed)} of {len(records)} failed; first error ({first.model}, trial "
        f"{first.number}): {first.error}"
    )


# -- registration and checks ---------------------------------------------------------------------------------------
def _register(pipe, name: str, registry: Any, settings: dict) -> Any:
    from fieldguide.registry import Registry

    reg = registry if isinstance(registry, Registry) else Registry(registry)
    try:
        with tempfile.TemporaryDirectory(prefix="fieldguide-search-") as tmp:
            saved = pipe.save(Path(tmp) / "pipeline")
            params = _plain({"chosen": settings["chosen"]})
            return reg.register(name, saved, metrics=pipe.metrics, params=params, lineage=pipe.lineage)
    finally:
        if reg is not registry:
            reg.close()


def _check_name(name: str) -> None:
    from fieldguide.registry import check_model_name

    check_model_name(name)  # before the search, not after an hour of it


def _check_export(path: Path, source: Path | Query | None) -> Path:
    """Refuse an export path that cannot be written, before the search spends its budget."""
    if source is None:
        raise FieldguideError(
            "export: the script reads the data again; give data as a path or a Query to export"
        )
    if path.suffix != ".py":
        raise FieldguideError(f"export: {path}: expected a Python file name ending in .py")
    parent = path.resolve().parent
    if path.is_dir() or not parent.is_dir() or not _writable(parent):
        why = "is a directory" if path.is_dir() else f"directory {parent} does not exist or is not writable"
        raise FieldguideError(f"export: cannot write {path}: {why}")
    return path


def _writable(directory: Path) -> bool:
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:
        return False


def _plain(value: Any) -> Any:
    """JSON-ready copy: tuples (hidden layer sizes) as lists, NumPy scalars as Python numbers."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
