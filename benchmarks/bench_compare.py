"""fieldguide's ``compare`` against the same comparison glued by hand in scikit-learn, on the shared datasets.

Both sides cross-validate the same model families on the same 2 × 5 stratified folds (fieldguide's
``splits.stratified_kfold``, seed 0) with the task's metric: ROC AUC (binary), log loss (multiclass), RMSE
(regression). The hand-glued peer is what a scikit-learn user writes: a ``ColumnTransformer`` (median imputation
and scaling for numbers, most-frequent imputation and one-hot encoding for the other columns, dense) before each model,
and ``cross_validate`` over the fold list, one model after another. Its models are scikit-learn's own (and
LightGBM's), at their defaults with ``random_state=0``; fieldguide's are its zoo's, at theirs, with the dummy
baseline it always adds, the t-tests and the recommendation.

Each side runs in a fresh Python process and times its comparison after imports and reading the table (JIT
compilation included for fieldguide, from its persistent cache when an earlier run filled it). Not run by the
tests.

    python benchmarks/bench_compare.py                       # penguins, telco churn, Ames housing
    python benchmarks/bench_compare.py --datasets california_housing
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

DATASETS = Path(os.environ.get("FIELDGUIDE_DATASETS", "/work/shared/datasets"))
# name: (target, task, identifier or leaking columns left out)
SPECS = {
    "penguins": ("species", "multiclass", []),
    "telco_churn": ("Churn", "binary", ["customerID"]),
    "ames_housing": ("SalePrice", "regression", ["Order", "PID"]),
    "california_housing": ("median_house_value", "regression", []),
    "adult": ("class", "binary", []),
}
DEFAULT = ["penguins", "telco_churn", "ames_housing"]
MODELS = {
    "classification": [
        "LogisticRegression",
        "KNeighborsClassifier",
        "DecisionTreeClassifier",
        "RandomForestClassifier",
        "LGBMClassifier",
    ],
    "regression": [
        "Ridge",
        "KNeighborsRegressor",
        "DecisionTreeRegressor",
        "RandomForestRegressor",
        "LGBMRegressor",
    ],
}
FOLDS, REPEATS, SEED = 5, 2, 0


def _models(task: str) -> list[str]:
    return MODELS["regression" if task == "regression" else "classification"]


def run_fieldguide(name: str) -> dict:
    from fieldguide.compare import compare

    target, task, drop = SPECS[name]
    start = time.perf_counter()
    result = compare(
        DATASETS / f"{name}.csv.gz",
        target,
        models=_models(task),
        ignore=drop,
        folds=FOLDS,
        repeats=REPEATS,
        seed=SEED,
        progress=False,
    )
    wall = time.perf_counter() - start
    scores = dict(zip(result.summary["model"], result.summary["score_mean"], strict=True))
    return {"wall_s": wall, "scores": scores, "recommended": result.recommendation.model}


def _peer_estimator(model: str):
    from lightgbm import LGBMClassifier, LGBMRegressor
    from sklearn import dummy, ensemble, linear_model, neighbors, tree

    built = {
        "LogisticRegression": lambda: linear_model.LogisticRegression(),
        "Ridge": lambda: linear_model.Ridge(),
        "KNeighborsClassifier": lambda: neighbors.KNeighborsClassifier(),
        "KNeighborsRegressor": lambda: neighbors.KNeighborsRegressor(),
        "DecisionTreeClassifier": lambda: tree.DecisionTreeClassifier(random_state=SEED),
        "DecisionTreeRegressor": lambda: tree.DecisionTreeRegressor(random_state=SEED),
        "RandomForestClassifier": lambda: ensemble.RandomForestClassifier(random_state=SEED, n_jobs=-1),
        "RandomForestRegressor": lambda: ensemble.RandomForestRegressor(random_state=SEED, n_jobs=-1),
        "LGBMClassifier": lambda: LGBMClassifier(random_state=SEED, verbose=-1),
        "LGBMRegressor": lambda: LGBMRegressor(random_state=SEED, verbose=-1),
        "DummyClassifier": lambda: dummy.DummyClassifier(),
        "DummyRegressor": lambda: dummy.DummyRegressor(),
    }
    return built[model]()


def run_peer(name: str) -> dict:
    import pandas as pd
    from sklearn.compose import ColumnTransformer, make_column_selector
    from sklearn.impute import SimpleImputer
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from fieldguide.data import splits

    target, task, drop = SPECS[name]
    with gzip.open(DATASETS / f"{name}.csv.gz", "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, keep_default_na=False, na_values=[""]).drop(columns=drop)
    frame = frame[frame[target].notna()]
    X, y = frame.drop(columns=[target]), frame[target].to_numpy()
    labels = y.astype(str) if task != "regression" else np.zeros(len(y))
    folds = list(splits.stratified_kfold(labels, k=FOLDS, seed=SEED, repeats=REPEATS))
    scoring = {"binary": "roc_auc", "multiclass": "neg_log_loss", "regression": "neg_root_mean_squared_error"}
    sign = 1.0 if task == "binary" else -1.0
    start = time.perf_counter()
    features = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                make_column_selector(dtype_include="number"),
            ),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")
                ),
                make_column_selector(dtype_exclude="number"),
            ),
        ],
        sparse_threshold=0.0,  # dense, as fieldguide's features are: forests on a sparse one-hot crawl
    )
    scores = {}
    dummy = "DummyRegressor" if task == "regression" else "DummyClassifier"
    for model in [*_models(task), dummy]:
        pipe = make_pipeline(features, _peer_estimator(model))
        done = cross_validate(pipe, X, y, cv=folds, scoring=scoring[task], error_score="raise")
        scores[model] = sign * float(np.mean(done["test_score"]))
    return {"wall_s": time.perf_counter() - start, "scores": scores}


def child(system: str, name: str) -> dict:
    return run_fieldguide(name) if system == "fieldguide" else run_peer(name)


def run(system: str, name: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", system, name], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--datasets", default=",".join(DEFAULT), help=f"comma-separated, of {', '.join(SPECS)}"
    )
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    if not DATASETS.is_dir():
        print(f"skipped: the shared datasets are not at {DATASETS}")
        return
    rows, scores = [], []
    for name in args.datasets.split(","):
        ours, peer = run("fieldguide", name), run("scikit-learn", name)
        for side, result in (("fieldguide", ours), ("scikit-learn", peer)):
            if "error" in result:
                print(f"{name}, {side}: {result['error']}")
        if "error" in ours or "error" in peer:
            continue
        rows.append(
            {
                "dataset": name,
                "fieldguide s": ours["wall_s"],
                "scikit-learn s": peer["wall_s"],
                "×": peer["wall_s"] / ours["wall_s"],
                "recommended": ours["recommended"],
            }
        )
        for model, score in peer["scores"].items():
            scores.append(
                {
                    "dataset": name,
                    "model": model,
                    "fieldguide": ours["scores"].get(model, float("nan")),
                    "scikit-learn": score,
                }
            )
    print(table(rows, ["dataset", "fieldguide s", "scikit-learn s", "×", "recommended"]))
    print()
    print(table(scores, ["dataset", "model", "fieldguide", "scikit-learn"]))


if __name__ == "__main__":
    main()
