"""Scoring an exported model in onnxruntime: fieldguide's ONNX export of a pipeline against skl2onnx's export of the
same pipeline built by hand in scikit-learn (``ColumnTransformer``: median imputation + standard scaling for the
numbers, one-hot with unknown categories ignored for the rest; then the model), on the same rows.

Both graphs take the table's raw columns (numbers with NaN for missing: double for fieldguide, float for skl2onnx,
whose Imputer onnxruntime runs in float only; categories as strings) and give labels and probabilities. The model is a logistic regression, or with ``--model lgbm`` a LightGBM classifier
(fieldguide's adapter against ``lightgbm.LGBMClassifier`` registered with onnxmltools' converter in skl2onnx). Each
time is the best of ``--repeats`` loops of ``--calls`` session runs (fewer for the larger batches), after a warm-up
run; the export itself is timed once. Printed beside: the file size, and the largest difference between each
graph's probabilities and its own library's ``predict_proba``.

    python benchmarks/bench_onnx.py [--data ../shared/datasets/telco_churn.csv.gz --target Churn] [--model lgbm]

Without ``--data`` the seeded customer table (``fieldguide.data.synthetic.customers``, 20,000 rows) is used.
``--agreement ../shared/datasets`` instead prints ``check_onnx`` of a few models on each shared table.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import per_call, table

SIZES = (1, 100, 10_000)


def fieldguide_side(frame: pl.DataFrame, target: str, model: str):
    from fieldguide.models import LogisticRegression, adapters
    from fieldguide.pipeline import Pipeline, onnx_inputs, to_onnx

    estimator = LogisticRegression() if model == "logistic" else adapters.LGBMClassifier(n_jobs=1)
    pipe = Pipeline.fit(frame, target, estimator)
    start = time.perf_counter()
    exported = to_onnx(pipe)
    seconds = time.perf_counter() - start
    return exported, seconds, lambda rows: onnx_inputs(pipe, rows), pipe.predict_proba


def sklearn_side(frame: pl.DataFrame, target: str, model: str, feature_kinds: dict[str, str]):
    from skl2onnx import to_onnx, update_registered_converter
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numbers = [c for c, kind in feature_kinds.items() if kind == "double"]
    strings = [c for c, kind in feature_kinds.items() if kind == "string"]
    prepare = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numbers),
            ("strings", OneHotEncoder(handle_unknown="ignore", sparse_output=False), strings),
        ]
    )
    if model == "logistic":
        estimator = LogisticRegression(max_iter=1000)
    else:
        import lightgbm
        from onnxmltools.convert.lightgbm.operator_converters.LightGbm import convert_lightgbm
        from skl2onnx.common.shape_calculator import calculate_linear_classifier_output_shapes

        update_registered_converter(
            lightgbm.LGBMClassifier,
            "LightGbmLGBMClassifier",
            calculate_linear_classifier_output_shapes,
            convert_lightgbm,
            options={"nocl": [True, False], "zipmap": [True, False, "columns"]},
        )
        estimator = lightgbm.LGBMClassifier(n_jobs=1, verbose=-1)
    pipe = Pipeline([("prepare", prepare), ("model", estimator)])
    X = _sklearn_frame(frame, numbers, strings)
    pipe.fit(X, frame.get_column(target).to_numpy())
    types = [(c, FloatTensorType([None, 1])) for c in numbers] + [
        (c, StringTensorType([None, 1])) for c in strings
    ]
    start = time.perf_counter()
    exported = to_onnx(
        pipe,
        initial_types=types,
        target_opset={"": 15, "ai.onnx.ml": 2},
        options={id(estimator): {"zipmap": False}},
    )
    seconds = time.perf_counter() - start

    def feeds(rows: pl.DataFrame) -> dict:
        columns = _sklearn_frame(rows, numbers, strings)
        feeds = {c: columns[c].to_numpy(np.float32).reshape(-1, 1) for c in numbers}
        return feeds | {c: columns[c].to_numpy().reshape(-1, 1) for c in strings}

    return exported, seconds, feeds, lambda rows: pipe.predict_proba(_sklearn_frame(rows, numbers, strings))


def _sklearn_frame(frame: pl.DataFrame, numbers: list[str], strings: list[str]):
    """The columns as scikit-learn's side reads them: numbers as float (NaN for missing), strings as str ('' for
    missing), in a pandas DataFrame."""
    return frame.select(
        [pl.col(c).cast(pl.Float64).fill_null(float("nan")) for c in numbers]
        + [pl.col(c).cast(pl.String).fill_null("") for c in strings]
    ).to_pandas()


SHARED = {  # table: (target, columns to leave out)
    "ames_housing.csv.gz": ("SalePrice", ["Order", "PID"]),
    "adult.csv.gz": ("class", []),
    "penguins.csv.gz": ("species", []),
    "bike_sharing_hour.csv.gz": ("cnt", ["instant", "casual", "registered"]),
    "telco_churn.csv.gz": ("Churn", ["customerID"]),
}


def agreement(folder: Path) -> None:
    """``check_onnx`` of a linear model, LightGBM and (for classes) an MLP on up to 5,000 rows of each shared table."""
    from fieldguide.data import infer_schema, read
    from fieldguide.models import LogisticRegression, MLPClassifier, Ridge, adapters
    from fieldguide.pipeline import Pipeline, check_onnx, to_onnx

    rows = []
    for name, (target, ignore) in SHARED.items():
        frame = read(folder / name).drop(ignore)
        frame = frame.sample(min(frame.height, 5000), seed=0)
        schema = infer_schema(frame, target=target)
        numeric = schema[target].kind == "numeric"
        models = (
            [Ridge(), adapters.LGBMRegressor(n_jobs=1)]
            if numeric
            else [LogisticRegression(), adapters.LGBMClassifier(n_jobs=1), MLPClassifier(max_iter=20)]
        )
        for model in models:
            pipe = Pipeline.fit(frame, target, model, schema=schema)
            exported = to_onnx(pipe)
            result = check_onnx(pipe, exported, frame)
            rows.append(
                {"table": name, "model": type(model).__name__, "bytes": exported.ByteSize(), **result}
            )
    print(table(rows, list(rows[0])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="a CSV/Parquet table (default: the seeded customer table)")
    parser.add_argument("--target", default="churn")
    parser.add_argument("--ignore", default="customer_id", help="comma-separated columns to leave out")
    parser.add_argument("--model", choices=["logistic", "lgbm"], default="logistic")
    parser.add_argument("--calls", type=int, default=2000, help="session runs per loop for one row")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--agreement",
        type=Path,
        metavar="DATASETS",
        help="instead: check_onnx on the shared tables in this folder",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if args.agreement:
        agreement(args.agreement)
        return

    import onnxruntime

    from fieldguide.data import infer_schema, labelled_rows, read, typed_frame
    from fieldguide.data.synthetic import customers
    from fieldguide.pipeline._onnx import _ONNX_KINDS

    frame = customers(20_000, seed=0) if args.data is None else read(args.data)
    frame = frame.drop([c for c in args.ignore.split(",") if c in frame.columns])
    schema = infer_schema(frame, target=args.target)
    frame = labelled_rows(frame, schema, args.target)
    # scikit-learn's side has no datetime encoding: both sides see only the numeric and categorical columns
    kinds = {
        s.name: _ONNX_KINDS[s.kind]
        for s in schema.features
        if s.kind in ("numeric", "boolean", "categorical")
    }
    # typed as the schema reads them (booleans spelt Yes/No become true/false), the same table for both sides
    typed = typed_frame(schema, frame.select(list(kinds)))
    frame = typed.with_columns(frame.get_column(args.target).cast(pl.String))
    fit, score = frame.head(int(frame.height * 0.75)), frame.tail(frame.height - int(frame.height * 0.75))
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3

    sides = {
        "fieldguide": fieldguide_side(fit, args.target, args.model),
        "skl2onnx": sklearn_side(fit, args.target, args.model, kinds),
    }
    sizes = sorted({min(size, score.height) for size in SIZES})
    rows, timings = [], {}
    for name, (exported, export_s, feeds, proba) in sides.items():
        session = onnxruntime.InferenceSession(
            exported.SerializeToString(), options, ["CPUExecutionProvider"]
        )
        outputs = [o.name for o in session.get_outputs()]
        which = outputs.index("probabilities")
        got = session.run(None, feeds(score))[which]
        row = {
            "exporter": name,
            "export s": round(export_s, 3),
            "bytes": len(exported.SerializeToString()),
            "max |Δp| vs own library": float(np.max(np.abs(got - proba(score)))),
        }
        for size in sizes:
            batch = feeds(score.head(size))
            calls = max(5, args.calls // size)
            timings[name, size] = per_call(lambda f, s=session: s.run(None, f), batch, calls, args.repeats)
            row[f"{size} rows µs"] = round(timings[name, size] * 1e6, 1)
        rows.append(row)
    print(f"{frame.height} rows ({score.height} scored), {len(kinds)} feature columns, model {args.model}")
    print(table(rows, list(rows[0])))
    for size in sizes:
        ratio = timings["skl2onnx", size] / timings["fieldguide", size]
        print(f"{size} rows: fieldguide's graph ×{ratio:.2f} the speed of skl2onnx's")


if __name__ == "__main__":
    main()
