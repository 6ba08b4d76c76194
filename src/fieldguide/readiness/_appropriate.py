"""Band A: the target is sane, no single column leaks it, and a simple model learns it.

Models run on a stratified sample of at most ``ROW_BUDGET`` rows, so their cost does not grow with the table.
"""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import polars as pl
from scipy.stats import rankdata
from sklearn.dummy import DummyClassifier, DummyRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import (
    KFold,
    RepeatedKFold,
    RepeatedStratifiedKFold,
    StratifiedKFold,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from fieldguide._stats import corrected_resampled_ttest
from fieldguide.data import value_counts
from fieldguide.readiness._findings import Finding
from fieldguide.readiness._table import Table

ROW_BUDGET = 5_000
LEAKAGE_ROWS = 2_000  # a near-perfect single-feature predictor shows on a few thousand rows
MIN_PER_CLASS = 10
IMBALANCE_WARN = 0.1  # rarest / commonest class
MAX_SHOWN = 5  # classes named in a message
LEAK_SCORE = 0.95  # AUC (classification) or R² (regression) of one feature alone
ID_SCORE = {"classification": 0.75, "regression": 0.5}  # an identifier should predict nothing
ALPHA, MIN_GAIN = 0.05, 0.01
FOLDS, REPEATS = 5, 2
TOP_CATEGORIES = 10  # one-hot columns per categorical feature
LEAK_BINS = 16  # quantile bins (or most common categories) of a column scored alone
# a regression target that a least-squares fit on a few numeric columns explains to this out-of-fold R² is computed
# from them (a total from its parts, a difference): no single column need reach LEAK_SCORE
SUM_LEAK_SCORE, SUM_LEAK_COLUMNS = 0.999, 4


def target_checks(t: Table, seed: int) -> list[Finding]:
    """A-1 to A-4 for ``t.target``; A-2 to A-4 are skipped when the target itself fails (A-1).

    A-3 and A-4 run even when A-2 fails (a leak matters whatever the class balance), on the classes with at
    least two sampled rows: one to learn from and one to score. A class with a single row is left out, and A-4's
    message says so.
    """
    name = t.target
    y, task = t.typed(name), t.task
    stats = t.aggregate(
        [
            y.len().alias("rows"),
            y.null_count().alias("nulls"),
            *(
                [(~y.is_finite()).sum().alias("infinite"), y.min().alias("min"), y.max().alias("max")]
                if task == "regression"
                else []
            ),
        ]
    )
    classes = _classes(t) if task == "classification" else None
    problem = None
    if stats["nulls"] == stats["rows"]:
        problem = f"target {name!r} is empty: every value is missing"
    elif classes is not None and classes.height < 2:
        problem = f"target {name!r} has a single class ({classes['value'][0]!r})"
    elif task == "regression" and stats["infinite"]:
        problem = f"target {name!r} has {stats['infinite']} infinite or NaN value(s)"
    elif task == "regression" and stats["min"] == stats["max"]:
        problem = f"target {name!r} is constant ({stats['min']})"
    if problem:
        return [Finding("A-1 target", "fail", problem, columns=(name,))]
    rate = stats["nulls"] / stats["rows"]
    findings = [
        Finding(
            "A-1 target",
            "warn" if rate else "pass",
            f"target {name!r} ({task}) is missing in {100 * rate:.3g}% of rows; those rows are left out"
            if rate
            else f"target {name!r} ({task}) is present and sane",
            value=round(rate, 6),
            threshold="any missing target: warn",
            columns=(name,),
        )
    ]
    frame, single = _sample(t, task, seed), []
    if task == "classification":
        findings += _balance(name, classes)
        frame, single = _without_single_rows(t, frame)
        if frame.select(t.typed(name).n_unique()).item() < 2:
            return findings  # A-2 has failed: every class but one has a single row
    findings += _leakage(t, frame.sample(min(frame.height, LEAKAGE_ROWS), seed=seed), task, seed)
    learnability = _learnability(t, frame, task, seed)
    if single:
        shown = ", ".join(map(repr, single[:MAX_SHOWN]))
        left_out = f"; left out: {len(single)} class(es) with a single row ({shown})"
        learnability = dataclasses.replace(learnability, message=learnability.message + left_out)
    return [*findings, learnability]


def _without_single_rows(t: Table, frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """The sampled rows whose class has at least two of them, and the classes with one (sorted)."""
    label = frame.select(t.typed(t.target)).to_series()
    counts = value_counts(label)
    single = counts.filter(pl.col("count") < 2).get_column("value")
    if single.is_empty():
        return frame, []
    return frame.filter(~label.is_in(single.implode())), sorted(map(str, single.to_list()))


def _sample(t: Table, task: str, seed: int) -> pl.DataFrame:
    """Rows with a target, at most ``ROW_BUDGET``, stratified by class for classification.

    The rows are chosen on (index, target) alone and gathered once, so the table is never copied whole.
    """
    label = pl.col(t.target)  # typed by the first select
    labelled = t.df.select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), t.typed(t.target))
    labelled = labelled.filter(label.is_not_null())
    if labelled.height > ROW_BUDGET:
        fraction = ROW_BUDGET / labelled.height
        if task == "regression":
            labelled = labelled.sample(ROW_BUDGET, seed=seed)
        else:  # each class keeps its share, and at least FOLDS rows (all it has, when fewer) for the folds
            share = pl.max_horizontal((pl.len().over(label) * fraction).ceil(), pl.lit(FOLDS))
            keep = pl.int_range(pl.len()).shuffle(seed).over(label) < share
            labelled = labelled.filter(keep)
    return t.df[labelled["row"].sort()]


def _classes(t: Table) -> pl.DataFrame:
    """Each class of the target (``value``) and its rows over the whole table (``count``), commonest first."""
    query = t.lazy.select(t.typed(t.target).alias("value")).drop_nulls().group_by("value").agg(pl.len())
    return t.collect(query).rename({"len": "count"}).sort(["count", "value"], descending=[True, False])


def _balance(name: str, counts: pl.DataFrame) -> list[Finding]:
    smallest, largest = counts["count"][-1], counts["count"][0]
    rarest = str(counts["value"][-1])
    if smallest < MIN_PER_CLASS:
        return [
            Finding(
                "A-2 class-balance",
                "fail",
                f"class {rarest!r} of {name!r} has only {smallest} example(s)",
                value=int(smallest),
                threshold=f"fewer than {MIN_PER_CLASS} examples in a class: fail",
                columns=(name,),
            )
        ]
    ratio = smallest / largest
    return [
        Finding(
            "A-2 class-balance",
            "warn" if ratio < IMBALANCE_WARN else "pass",
            f"{counts.height} classes; the rarest ({rarest!r}, {smallest:,}) is {ratio:.3g} of the commonest",
            value=round(ratio, 6),
            threshold=f"rarest/commonest < {IMBALANCE_WARN}: warn; < {MIN_PER_CLASS} examples: fail",
            columns=(name,),
        )
    ]


def _target_array(t: Table, frame: pl.DataFrame, task: str) -> np.ndarray:
    y = frame.select(t.typed(t.target)).to_series()
    if task == "regression":
        return y.to_numpy().astype(np.float64)
    # Classes as integer codes in label order: the models' and folds' class lookups are sorts, slow on strings.
    return y.cast(pl.String).rank("dense").cast(pl.Int64).to_numpy() - 1


def _column_matrix(t: Table, frame: pl.DataFrame, name: str) -> np.ndarray:
    """One column as numbers: numeric, boolean and datetime as floats (nulls as NaN), categories one-hot."""
    kind = t.schema[name].kind
    if kind == "categorical":
        values = frame.get_column(name).cast(pl.String).fill_null("(missing)")
        top = value_counts(values, sort=True)["value"].head(TOP_CATEGORIES)
        return np.column_stack([(values == v).to_numpy() for v in top]).astype(np.float64)
    return frame.select(t.typed(name).cast(pl.Float64)).to_series().to_numpy().reshape(-1, 1)


def _modelled(t: Table) -> list[str]:
    return [
        c.name
        for c in t.schema
        if c.role == "feature"
        and c.kind in ("numeric", "boolean", "datetime", "categorical")
        and c.name not in t.pii
    ]


def _bins(t: Table, frame: pl.DataFrame, name: str) -> np.ndarray:
    """One column as bin codes: ``LEAK_BINS`` quantile bins of ordered values (numbers, booleans, datetimes, an
    identifier's order), one code per common category and one for the rest; missing values get a code of their
    own."""
    spec = t.schema[name]
    if spec.kind == "categorical":
        values = frame.get_column(name).cast(pl.String).fill_null("\x00missing")
        top = value_counts(values, sort=True)["value"].head(LEAK_BINS)
        codes = values.replace_strict(top, pl.int_range(top.len(), eager=True), default=top.len())
        return codes.to_numpy().astype(np.int64)
    if spec.kind == "identifier":
        column = frame.get_column(name).rank("dense")
    else:
        column = frame.select(t.typed(name)).to_series()
    x = column.cast(pl.Float64).to_numpy()
    present = ~np.isnan(x)
    if not present.any():
        return np.zeros(x.size, dtype=np.int64)
    edges = np.unique(np.quantile(x[present], np.linspace(0, 1, LEAK_BINS + 1)[1:-1]))
    return np.where(present, np.searchsorted(edges, x, side="right"), edges.size + 1)


def _fold_labels(y: np.ndarray, task: str, seed: int) -> np.ndarray:
    """Each row's fold (0, 1, 2) for the leakage scores: shared by every column, stratified for classes."""
    splitter = KFold(3, shuffle=True, random_state=seed)
    if task == "classification":
        splitter = StratifiedKFold(3, shuffle=True, random_state=seed)
    fold = np.zeros(y.size, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a class rarer than the folds in a small sample
        for k, (_, test) in enumerate(splitter.split(y, y)):
            fold[test] = k
    return fold


def _single_feature_score(codes: np.ndarray, y: np.ndarray, fold: np.ndarray, task: str) -> float:
    """Out-of-fold AUC (classification, one-vs-rest macro) or R² (regression) of the target's mean per bin of
    one column (a bin's mean is shrunk towards the training fold's by one row's weight)."""
    n_bins = int(codes.max()) + 1
    classes = np.unique(y) if task == "classification" else None
    targets = y[:, None] if classes is None else (y[:, None] == classes[None, :]).astype(np.float64)
    predicted = np.zeros_like(targets)
    for k in range(int(fold.max()) + 1):
        train, test = fold != k, fold == k
        rows = np.bincount(codes[train], minlength=n_bins)[:, None]
        sums = np.column_stack(
            [np.bincount(codes[train], weights=col, minlength=n_bins) for col in targets[train].T]
        )
        predicted[test] = ((sums + targets[train].mean(axis=0)) / (rows + 1))[codes[test]]
    if classes is None:
        residual = np.sum((y - predicted[:, 0]) ** 2)
        return float(1 - residual / np.sum((y - y.mean()) ** 2))
    if classes.size == 2:
        return auc(y == classes[1], predicted[:, 1])
    return float(np.mean([auc(y == c, predicted[:, k]) for k, c in enumerate(classes)]))


def auc(positive: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC from ranks (Mann–Whitney U), ties averaged: sklearn's ``roc_auc_score`` without its overhead,
    which dominates one-vs-rest AUC over many classes."""
    ranks = rankdata(score)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _leakage(t: Table, frame: pl.DataFrame, task: str, seed: int) -> list[Finding]:
    """A-3: each feature alone, and each identifier's order, against the target."""
    y = _target_array(t, frame, task)
    fold = _fold_labels(y, task, seed)
    metric = "AUC" if task == "classification" else "R²"
    findings = []
    candidates = [(n, LEAK_SCORE, "predicts") for n in _modelled(t)]
    candidates += [
        (c.name, ID_SCORE[task], "identifier predicts") for c in t.schema if c.kind == "identifier"
    ]
    for name, limit, verb in candidates:
        score = _single_feature_score(_bins(t, frame, name), y, fold, task)
        if score >= limit:
            findings.append(
                Finding(
                    "A-3 leakage",
                    "fail",
                    f"{name}: {verb} {t.target!r} alone with {metric} {score:.3f} "
                    "(target mean per bin, 3-fold CV)",
                    value=round(score, 6),
                    threshold=f"{metric} >= {limit}: fail",
                    columns=(name, t.target),
                    examples=t.examples(range(min(frame.height, 5)), [name]),
                )
            )
    if task == "regression":
        flagged = {f.columns[0] for f in findings}
        findings += _sum_leak(t, frame, y, fold, [n for n in _modelled(t) if n not in flagged])
    return findings or [
        Finding(
            "A-3 leakage",
            "pass",
            f"no single column reaches {metric} {LEAK_SCORE}"
            + (
                f", nor do {SUM_LEAK_COLUMNS} or fewer together reach R² {SUM_LEAK_SCORE}"
                if task == "regression"
                else ""
            ),
            threshold=f">= {LEAK_SCORE}",
        )
    ]


def _sum_leak(
    t: Table, frame: pl.DataFrame, y: np.ndarray, fold: np.ndarray, names: list[str]
) -> list[Finding]:
    """A-3 for a regression target computed from several numeric columns, e.g. ``cnt = casual + registered``.

    When least squares on all numeric features explains the target to ``SUM_LEAK_SCORE`` out of fold, forward
    selection looks for at most ``SUM_LEAK_COLUMNS`` columns that do it alone; finding two or more is a leak that
    no single column shows. Rows with a missing value are left out; with fewer than ten complete rows per column
    (or a target constant on them) there is nothing to judge.
    """
    names = [n for n in names if t.schema[n].kind in ("numeric", "boolean")]
    if len(names) < 2:
        return []
    x = np.column_stack([_column_matrix(t, frame, n) for n in names])
    complete = np.isfinite(x).all(axis=1) & np.isfinite(y)
    if complete.sum() < max(100, 10 * len(names)):
        return []
    x, y, fold = x[complete], y[complete], fold[complete]
    if np.ptp(y) == 0 or not _out_of_fold_r2(x, y, fold) >= SUM_LEAK_SCORE:
        return []
    chosen: list[int] = []
    while len(chosen) < SUM_LEAK_COLUMNS:
        rest = [c for c in range(len(names)) if c not in chosen]
        chosen.append(min(rest, key=lambda c: _residual(x[:, [*chosen, c]], y)))
        score = _out_of_fold_r2(x[:, chosen], y, fold)
        if score >= SUM_LEAK_SCORE:
            break
    if not score >= SUM_LEAK_SCORE or len(chosen) < 2:
        return []
    columns = tuple(names[c] for c in chosen)
    coef = np.linalg.lstsq(_with_intercept(x[:, chosen]), y, rcond=None)[0]
    coef[np.abs(coef) < 1e-9 * np.abs(y).max()] = 0.0  # rounding noise, e.g. an intercept of 1e-13
    terms = [f"{w:+.3g}·{n}" for w, n in zip(coef[1:], columns, strict=True) if w]
    formula = " ".join(terms + ([f"{coef[0]:+.3g}"] if coef[0] else [])).removeprefix("+")
    return [
        Finding(
            "A-3 leakage",
            "fail",
            f"{', '.join(columns)}: together predict {t.target!r} with R² {score:.4f} "
            f"({t.target} ≈ {formula}; least squares, 3-fold CV): it is computed from them",
            value=round(score, 6),
            threshold=f"R² >= {SUM_LEAK_SCORE} from <= {SUM_LEAK_COLUMNS} columns: fail",
            columns=(*columns, t.target),
            examples=t.examples(range(min(frame.height, 5)), list(columns)),
        )
    ]


def _with_intercept(x: np.ndarray) -> np.ndarray:
    return np.column_stack([np.ones(len(x)), x])


def _residual(x: np.ndarray, y: np.ndarray) -> float:
    """Sum of squared residuals of least squares (with an intercept) on the rows given."""
    design = _with_intercept(x)
    return float(np.sum((y - design @ np.linalg.lstsq(design, y, rcond=None)[0]) ** 2))


def _out_of_fold_r2(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> float:
    predicted = np.empty_like(y)
    for k in np.unique(fold):
        train, test = fold != k, fold == k
        coef = np.linalg.lstsq(_with_intercept(x[train]), y[train], rcond=None)[0]
        predicted[test] = _with_intercept(x[test]) @ coef
    return float(1 - np.sum((y - predicted) ** 2) / np.sum((y - y.mean()) ** 2))


def _learnability(t: Table, frame: pl.DataFrame, task: str, seed: int) -> Finding:
    """A-4: logistic regression or ridge vs a dummy baseline on repeated k-fold, Nadeau–Bengio corrected."""
    names = _modelled(t)
    if not names:
        return Finding("A-4 learnability", "fail", "no usable feature columns", columns=(t.target,))
    x = np.column_stack([_column_matrix(t, frame, n) for n in names])
    x = x[:, ~np.all(np.isnan(x), axis=0)]
    y = _target_array(t, frame, task)
    if task == "classification":
        folds = int(min(FOLDS, np.unique(y, return_counts=True)[1].min()))
        cv = RepeatedStratifiedKFold(n_splits=max(folds, 2), n_repeats=REPEATS, random_state=seed)
        model = make_pipeline(SimpleImputer(), StandardScaler(), LogisticRegression(max_iter=500))
        dummy, metric, name = DummyClassifier(strategy="prior"), _log_loss, "log loss"
    else:
        cv = RepeatedKFold(n_splits=FOLDS, n_repeats=REPEATS, random_state=seed)
        model = make_pipeline(SimpleImputer(), StandardScaler(), Ridge(alpha=1.0))
        dummy, metric, name = DummyRegressor(strategy="mean"), _mse, "mean squared error"
    model_losses, dummy_losses, sizes = [], [], []
    # Small models gain nothing from BLAS threads, and they contend with everything else on the machine.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # convergence chatter on the sample; the test decides
        for train, test in cv.split(x, y):
            model_losses.append(metric(model.fit(x[train], y[train]), x[test], y[test]))
            dummy_losses.append(metric(dummy.fit(x[train], y[train]), x[test], y[test]))
            sizes.append((len(train), len(test)))
    gains = np.array(dummy_losses) - np.array(model_losses)
    n_train, n_test = np.mean(sizes, axis=0)
    test = corrected_resampled_ttest(gains, int(n_train), int(n_test))
    relative = test.mean / float(np.mean(dummy_losses)) if np.mean(dummy_losses) > 0 else 0.0
    learnable = test.p < ALPHA and relative >= MIN_GAIN
    model_name = "logistic regression" if task == "classification" else "ridge regression"
    return Finding(
        "A-4 learnability",
        "pass" if learnable else "fail",
        f"{model_name} vs dummy: {name} {np.mean(dummy_losses):.4g} -> {np.mean(model_losses):.4g} "
        f"(gain {100 * relative:.3g}%, t={_fmt(test.t)}, df={test.df}, p={test.p:.3g}; "
        f"{REPEATS}x{cv.get_n_splits() // REPEATS}-fold on {frame.height:,} rows)",
        value=round(relative, 6),
        threshold=f"p < {ALPHA} and gain >= {100 * MIN_GAIN:g}%: pass",
        columns=(t.target,),
    )


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else str(x)


def _log_loss(fitted, x: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (every class is in each training fold)."""
    proba = fitted.predict_proba(x)[np.arange(len(y)), np.searchsorted(fitted.classes_, y)]
    return float(-np.mean(np.log(np.clip(proba, 1e-15, 1.0))))


def _mse(fitted, x: np.ndarray, y: np.ndarray) -> float:
    return float(mean_squared_error(y, fitted.predict(x)))
