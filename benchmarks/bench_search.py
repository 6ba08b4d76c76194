"""fieldguide's search against FLAML at the same time budget, on the shared datasets and the same outer folds.

Each run is a fresh Python process (imports, JIT compilation and registration included) trained on an outer
training fold and scored on its test fold with the task's metric: ROC AUC (binary), log loss (multiclass), RMSE
(regression). The parent measures each run's wall time from outside; ``overrun`` is that wall time, minus the
child's own prediction and scoring time, over the budget. Normalized score per dataset: (score - dummy) /
(best of the two - dummy), where dummy predicts the training prior (or mean), so the better system gets 1.

FLAML is installed into ``.venv`` for this benchmark only (``pip install flaml``); the script skips it with a
message when it is missing. Not run by the tests.

    python benchmarks/bench_search.py                      # reduced: 4 datasets, 1 outer fold, 20 s
    python benchmarks/bench_search.py --datasets all --budget 60 --folds 3
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, table

DATASETS = Path(os.environ.get("FIELDGUIDE_DATASETS", "/work/shared/datasets"))
# name: (target, task, identifier or leaking columns to drop)
SPECS = {
    "pima_diabetes": ("Outcome", "binary", []),
    "telco_churn": ("Churn", "binary", ["customerID"]),
    "adult": ("class", "binary", []),
    "bank_marketing": ("y", "binary", ["duration"]),
    "credit_default": ("default.payment.next.month", "binary", ["ID"]),
    "penguins": ("species", "multiclass", []),
    "wine_quality": ("quality", "multiclass", []),
    "letter_recognition": ("lettr", "multiclass", []),
    "california_housing": ("median_house_value", "regression", []),
    "diamonds": ("price", "regression", []),
    "bike_sharing_hour": ("cnt", "regression", ["instant", "casual", "registered", "dteday"]),
    "ames_housing": ("SalePrice", "regression", ["Order", "PID"]),
}
REDUCED = ["pima_diabetes", "telco_churn", "penguins", "california_housing"]
METRIC = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


# -- one run, in a fresh process ----------------------------------------------------------------------------------
def run_child(system: str, train: str, test: str, target: str, task: str, budget: float) -> dict:
    started = time.perf_counter()  # before the heavy imports: the budget counts them
    import pandas as pd

    test_frame = pd.read_csv(test)
    if system == "fieldguide":
        from fieldguide.data import read
        from fieldguide.search import search

        result = search(train, target, budget=budget, seed=0, progress=False, started=started)
        fitted = time.perf_counter()
        pipe = result.pipeline
        test_table = read(test)
        output = pipe.predict(test_table) if task == "regression" else pipe.predict_proba(test_table)
        classes = pipe.classes_
        detail = {"trials": len(result.trials), "chosen": [r.model for r, _ in result.members]}
    else:
        from flaml import AutoML

        frame = pd.read_csv(train)
        X, y = frame.drop(columns=[target]), frame[target]
        automl = AutoML()
        automl.fit(
            X,
            y,
            task="regression" if task == "regression" else "classification",
            metric=METRIC[task],
            time_budget=budget,
            n_jobs=2,
            seed=0,
            verbose=0,
        )
        fitted = time.perf_counter()
        X_test = test_frame.drop(columns=[target])
        output = automl.predict(X_test) if task == "regression" else automl.predict_proba(X_test)
        classes = list(automl.classes_) if task != "regression" else None
        detail = {"chosen": [automl.best_estimator]}
    score = _score(task, test_frame[target].to_numpy(), np.asarray(output, dtype=np.float64), classes)
    return {"score": score, "after_fit_s": time.perf_counter() - fitted, **detail}


def _score(task, y, output, classes):
    from sklearn import metrics

    if task == "regression":
        return float(metrics.root_mean_squared_error(y, output))
    y = np.asarray([str(v) for v in y])
    classes = [str(c) for c in classes]
    if task == "binary":
        return float(metrics.roc_auc_score(y == classes[1], output[:, 1]))
    return float(metrics.log_loss(y, output, labels=classes))


def _dummy(task, y_train, y_test):
    from sklearn import metrics

    if task == "regression":
        return float(metrics.root_mean_squared_error(y_test, np.full(len(y_test), y_train.mean())))
    if task == "binary":
        return 0.5
    labels, counts = np.unique(y_train.astype(str), return_counts=True)
    prior = np.tile(counts / counts.sum(), (len(y_test), 1))
    return float(metrics.log_loss(y_test.astype(str), prior, labels=labels))


# -- the benchmark ------------------------------------------------------------------------------------------------
def outer_folds(name: str, k: int, workdir: Path):
    """Write the outer train/test files of ``name`` (stratified for classification, seed 0)."""
    import pandas as pd

    from fieldguide.data import splits

    target, task, drop = SPECS[name]
    with gzip.open(DATASETS / f"{name}.csv.gz", "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, keep_default_na=False, na_values=[""]).drop(columns=drop)
    labels = frame[target].astype(str).to_numpy() if task != "regression" else np.zeros(len(frame))
    folds = splits.stratified_kfold(labels, k=max(k, 5), seed=0)
    for fold, (train, test) in zip(range(k), folds, strict=False):
        paths = workdir / f"{name}-{fold}-train.csv", workdir / f"{name}-{fold}-test.csv"
        frame.iloc[train].to_csv(paths[0], index=False)
        frame.iloc[test].to_csv(paths[1], index=False)
        dummy = _dummy(task, frame[target].iloc[train].to_numpy(), frame[target].iloc[test].to_numpy())
        yield fold, paths, dummy


def run(system, paths, target, task, budget, workdir):
    env = {**os.environ, "FIELDGUIDE_HOME": str(workdir / "home")}
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            system,
            str(paths[0]),
            str(paths[1]),
            target,
            task,
            str(budget),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
    )
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {
            "error": done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"exit {done.returncode}"
        }
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["overrun"] = (wall - result["after_fit_s"]) / budget - 1.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", default=",".join(REDUCED), help="comma-separated names, or 'all'")
    parser.add_argument("--budget", type=float, default=20.0)
    parser.add_argument("--folds", type=int, default=1, help="outer folds per dataset (of 5 stratified)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        system, train, test, target, task, budget = args.child
        print(json.dumps(run_child(system, train, test, target, task, float(budget))))
        return
    if not DATASETS.is_dir():
        print(f"skipped: the shared datasets are not at {DATASETS}")
        return
    systems = ["fieldguide"]
    if importlib.util.find_spec("flaml") is None:
        print("FLAML is not installed (pip install flaml): running fieldguide alone")
    else:
        systems.append("flaml")
    names = list(SPECS) if args.datasets == "all" else args.datasets.split(",")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        workdir = Path(tmp)
        for name in names:
            target, task, _ = SPECS[name]
            for fold, paths, dummy in outer_folds(name, args.folds, workdir):
                runs = {s: run(s, paths, target, task, args.budget, workdir) for s in systems}
                scores = {s: r.get("score") for s, r in runs.items()}
                sign = 1.0 if task == "binary" else -1.0
                valid = [v for v in scores.values() if v is not None]
                best = max(valid, key=lambda v: sign * v) if valid else None
                for system, result in runs.items():
                    score = result.get("score")
                    normalized = (
                        (score - dummy) / (best - dummy)
                        if score is not None and best != dummy
                        else float("nan")
                    )
                    rows.append(
                        {
                            "dataset": name,
                            "fold": fold,
                            "system": system,
                            "metric": METRIC[task],
                            "score": float("nan") if score is None else score,
                            "normalized": normalized,
                            "wall_s": result.get("wall_s", float("nan")),
                            "overrun": result.get("overrun", float("nan")),
                            "chosen": ",".join(result.get("chosen", [])) or result.get("error", ""),
                        }
                    )
                    print(json.dumps(rows[-1]), flush=True)
    columns = ["dataset", "fold", "system", "metric", "score", "normalized", "wall_s", "overrun", "chosen"]
    print(table(rows, columns))
    summary = []
    for system in systems:
        mine = [r for r in rows if r["system"] == system]
        summary.append(
            {
                "system": system,
                "mean normalized": float(np.nanmean([r["normalized"] for r in mine])),
                "max overrun": float(np.nanmax([r["overrun"] for r in mine])),
                "runs over +10 %": sum(r["overrun"] > 0.10 for r in mine),
            }
        )
    print(table(summary, ["system", "mean normalized", "max overrun", "runs over +10 %"]))
    out = ROOT / "results" / "bench_search.json"
    out.write_text(
        json.dumps({"budget_s": args.budget, "folds": args.folds, "rows": rows, "summary": summary}, indent=1)
    )


if __name__ == "__main__":
    main()
