"""The fitted pipeline: schema + featurizer + model + reference statistics + lineage, saved as a safe artifact."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl
from sklearn.base import clone, is_classifier, is_regressor

from fieldguide import __version__, io
from fieldguide._files import atomic_directory, sha256_file
from fieldguide.data import Featurizer, Schema, Violation, infer_schema
from fieldguide.data._schema import as_frame, typed_column
from fieldguide.errors import ArtifactError, DataError, SchemaError
from fieldguide.pipeline import _lineage, _reference

FORMAT = "fieldguide.pipeline"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PIPELINE = "pipeline.json"
SCHEMA = "schema.json"
FEATURIZER = "featurizer.json"
REFERENCE = "reference.json"
MODEL = "model"  # an io bundle directory
_REQUIRED = (PIPELINE, SCHEMA, FEATURIZER, REFERENCE, f"{MODEL}/{io.MANIFEST}")
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*$")
_LISTED_KINDS = 10  # (column, rule) pairs a schema error's message shows; the error holds every violation
TASKS = ("binary", "multiclass", "regression")


class Pipeline:
    """A model with everything needed to use it on new data the way it was trained.

    Features always go through ``Schema.validate*`` and ``Featurizer.transform*``: one code path for training,
    batch prediction and serving, so they cannot skew. Build one with :meth:`fit` (or :meth:`load`).

    Attributes: ``task`` (``"binary"``, ``"multiclass"`` or ``"regression"``), ``target``, ``schema``,
    ``featurizer``, ``model`` (fitted on class ids ``0..k-1`` for classifiers), ``classes_`` (the labels as they
    appear in the data, sorted; ``None`` for regression), ``reference`` (training statistics for monitoring),
    ``metrics`` (a dict you may fill; saved with the pipeline) and ``lineage``. A classifier's prediction is its
    most probable class when the model gives probabilities (so labels and probabilities always agree), else the
    model's own ``predict``.

    Example:
        >>> from fieldguide.data.synthetic import customers
        >>> from fieldguide.models import LogisticRegression
        >>> pipe = Pipeline.fit(customers(300), target="churn", model=LogisticRegression())
        >>> pipe.task, pipe.classes_
        ('binary', [0, 1])
        >>> record = customers(1, seed=9).drop("churn").to_dicts()[0]
        >>> sorted(pipe.predict_records([record])[0])
        ['prediction', 'probabilities']
    """

    def __init__(
        self,
        *,
        task: str,
        target: str,
        featurizer: Featurizer,
        model: Any,
        classes: Sequence[Any] | None,
        reference: dict[str, Any],
        lineage: dict[str, Any],
        metrics: dict[str, Any] | None = None,
    ) -> None:
        if task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {task!r}")
        self.task = task
        self.target = target
        self.featurizer = featurizer
        self.model = model
        self.classes_ = None if classes is None else list(classes)
        self.reference = reference
        self.lineage = lineage
        self.metrics = {} if metrics is None else metrics

    @property
    def schema(self) -> Schema:
        """The training schema (the featurizer's: one source of truth)."""
        return self.featurizer.schema

    def __repr__(self) -> str:
        return f"Pipeline(task={self.task!r}, target={self.target!r}, model={type(self.model).__name__})"

    # -- fitting ---------------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        df: Any,
        target: str,
        model: Any,
        schema: Schema | None = None,
        seed: int = 0,
        config: Mapping[str, Any] | None = None,
    ) -> Pipeline:
        """Fit the featurizer and a clone of ``model`` on a table (Polars, pandas, Arrow or dict of columns).

        schema: the table's schema; inferred when ``None``. The target column gets role ``target``.
        seed: given to the model as ``random_state`` when it has one left at ``None``; recorded in the lineage.
        config: JSON-ready settings that produced this pipeline, recorded in the lineage.

        Raises ``SchemaError`` when ``target`` is not a column or the table breaks ``schema`` (listing every
        violation), ``DataError`` for a target with missing values, fewer than two classes, or an unusable kind.
        """
        frame = as_frame(df)
        config = dict(config or {})
        try:
            json.dumps(config, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise DataError(f"config: must be JSON-ready (numbers, strings, lists, dicts); {err}") from None
        schema, task, classes, y = encode_target(frame, target, schema)
        _refuse(schema.validate(frame), "training table")
        mismatched = is_classifier(model) if task == "regression" else is_regressor(model)
        if mismatched:
            kind = "classifier" if task == "regression" else "regressor"
            raise DataError(
                f"model: {type(model).__name__} is a {kind}, but target {target!r} makes a {task} task"
            )

        featurizer = Featurizer(schema).fit(frame)
        X = featurizer.transform(frame)
        model = clone(model)
        if model.get_params(deep=False).get("random_state", seed) is None:
            model.set_params(random_state=seed)
        model.fit(X, y)

        pipe = cls(
            task=task,
            target=target,
            featurizer=featurizer,
            model=model,
            classes=classes,
            reference={},
            lineage=_lineage.lineage(frame, model=model, seed=seed, config=config),
        )
        predictions, probabilities = pipe._outputs(X)
        pipe.reference = {
            "features": _reference.feature_statistics(frame, schema),
            "target": _reference.numeric_summary(y)
            if classes is None
            else _reference.class_counts(np.asarray(classes)[y], classes),
            "prediction": _reference.prediction_statistics(predictions, probabilities, classes),
        }
        return pipe

    # -- predicting ------------------------------------------------------------------------------------------

    def _outputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Predictions (original labels or values) and class probabilities (``None`` when not available)."""
        if X.shape[0] == 0:  # estimators refuse empty input; an empty batch has empty answers
            empty = np.empty(
                0, dtype=np.float64 if self.classes_ is None else np.asarray(self.classes_).dtype
            )
            return empty, None if self.classes_ is None else np.empty((0, len(self.classes_)))
        if self.classes_ is None:
            return np.asarray(self.model.predict(X), dtype=np.float64), None
        if not hasattr(self.model, "predict_proba"):
            return np.asarray(self.classes_)[np.asarray(self.model.predict(X)).astype(np.int64)], None
        # scikit-learn's rule, one model call instead of two: the label is always the most probable class
        proba = np.asarray(self.model.predict_proba(X), dtype=np.float64)
        return np.asarray(self.classes_)[proba.argmax(axis=1)], proba

    def _table_features(self, df: Any) -> np.ndarray:
        frame = as_frame(df)
        _refuse(self.schema.validate(frame, require_target=False), "table")
        return self.featurizer.transform(frame)

    def predict(self, df: Any) -> np.ndarray:
        """Predicted labels (classifiers) or values (regressors) for each row of a table.

        Raises ``SchemaError`` listing every violation of the training schema (warnings such as unknown
        categories do not stop prediction).
        """
        return self._outputs(self._table_features(df))[0]

    def predict_proba(self, df: Any) -> np.ndarray:
        """Class probabilities, shape (rows, classes), columns in the order of ``classes_``."""
        if self.classes_ is None:
            raise DataError(
                f"predict_proba: the pipeline's task is regression ({self.target!r}); use predict"
            )
        if not hasattr(self.model, "predict_proba"):
            raise DataError(f"predict_proba: {type(self.model).__name__} does not give probabilities")
        return self._outputs(self._table_features(df))[1]

    def predict_records(
        self, records: Sequence[Mapping[str, Any]], *, validate: bool = True
    ) -> list[dict[str, Any]]:
        """Predictions for JSON records: ``[{"prediction": label_or_value, "probabilities": {label: p}}]``.

        ``probabilities`` is present for classifiers that give them. Records are validated against the training
        schema first; any error raises ``SchemaError`` listing every violation (``.violations`` holds them).
        ``validate=False`` skips that check for records the caller has already validated against this schema
        (the server does, once per micro-batch); unvalidated bad records then fail inside the featurizer.
        """
        if validate:
            _refuse(self.schema.validate_records(records), "records")
        predictions, probabilities = self._outputs(self.featurizer.transform_records(records))
        out = []
        for i, prediction in enumerate(predictions.tolist()):
            row: dict[str, Any] = {"prediction": prediction}
            if probabilities is not None:
                row["probabilities"] = {
                    str(label): p for label, p in zip(self.classes_, probabilities[i].tolist(), strict=True)
                }
            out.append(row)
        return out

    # -- artifact --------------------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the pipeline as a new directory of JSON + safetensors (+ native booster text), checksummed.

        ``manifest.json`` maps every file's relative path to its SHA-256. The directory appears complete or not
        at all, and an existing path is never overwritten.
        """
        target = Path(path)
        if target.exists():
            raise ArtifactError(f"{target}: already exists; artifacts are never overwritten")
        header = {
            "format": FORMAT,
            "task": self.task,
            "target": self.target,
            "classes": self.classes_,
            "metrics": self.metrics,
            "lineage": self.lineage,
        }
        texts = {
            PIPELINE: header,
            SCHEMA: self.schema.to_dict(),
            FEATURIZER: self.featurizer.to_dict(),
            REFERENCE: self.reference,
        }
        with atomic_directory(target) as staging:
            for name, content in texts.items():
                try:
                    text = json.dumps(content, indent=1, ensure_ascii=False, allow_nan=False)
                except (TypeError, ValueError) as err:
                    raise ArtifactError(f"{name}: cannot be written as JSON ({err})") from None
                (staging / name).write_text(text, encoding="utf-8")
            io.save(self.model, staging / MODEL)
            files = {
                file.relative_to(staging).as_posix(): sha256_file(file)
                for file in sorted(staging.rglob("*"))
                if file.is_file()
            }
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "fieldguide_version": __version__,
                "files": files,
            }
            (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike) -> Pipeline:
        """Read a pipeline written by :meth:`save`, verifying every checksum and the format version first.

        Never executes code from the artifact: JSON and safetensors only, the model class looked up in the zoo's
        allow-list. Raises ``ArtifactError`` naming the file for anything missing, extra, modified or too new.
        """
        root = Path(path)
        _verify(root)
        header = _json(root / PIPELINE)
        try:
            schema = Schema.from_dict(_json(root / SCHEMA))
        except SchemaError as err:
            raise ArtifactError(f"{root / SCHEMA}: {err}") from None
        featurizer = Featurizer.from_dict(_json(root / FEATURIZER))
        if featurizer.schema != schema:
            raise ArtifactError(f"{root / FEATURIZER}: its schema differs from {root / SCHEMA}")
        if not isinstance(header, dict) or header.get("task") not in TASKS:
            raise ArtifactError(f"{root / PIPELINE}: expected an object with 'task' one of {TASKS}")
        try:
            return cls(
                task=header["task"],
                target=header["target"],
                featurizer=featurizer,
                model=io.load(root / MODEL),
                classes=header["classes"],
                reference=_json(root / REFERENCE),
                lineage=header["lineage"],
                metrics=header["metrics"],
            )
        except KeyError as err:
            raise ArtifactError(f"{root / PIPELINE}: missing field {err}") from None


class EncodedTarget(NamedTuple):
    schema: Schema
    task: str
    classes: list[Any] | None
    y: np.ndarray


def encode_target(df: Any, target: str, schema: Schema | None = None) -> EncodedTarget:
    """The schema (inferred when ``None``) with ``target`` as its target, the task, the classes (the target's
    distinct values, sorted; ``None`` for regression) and ``y`` (class ids ``0..k-1``, or the values), exactly as
    :meth:`Pipeline.fit` encodes them. Raises as :meth:`Pipeline.fit` does for an unusable target.

    >>> from fieldguide.data.synthetic import customers
    >>> encoded = encode_target(customers(50), "contract")
    >>> encoded.task, encoded.classes, encoded.y[:3].tolist()
    ('multiclass', ['month-to-month', 'one-year', 'two-year'], [1, 0, 0])
    """
    frame = as_frame(df)
    if target not in frame.columns:
        raise SchemaError(f"target {target!r} is not a column; columns are {frame.columns}")
    schema = _with_target(infer_schema(frame, target=target) if schema is None else schema, target)
    return EncodedTarget(schema, *_encode_target(frame, schema[target]))


# -- helpers -----------------------------------------------------------------------------------------------------


def _refuse(violations: list[Violation], what: str) -> None:
    """Raise ``SchemaError`` with every error-level violation in ``violations`` (warnings pass); its message
    shows the first of each column and rule, with how many more rows break it, for at most ten of them."""
    errors = [v for v in violations if v.severity == "error"]
    if errors:
        alike: dict[tuple[str, str], list[Violation]] = {}
        for v in errors:
            alike.setdefault((v.column, v.rule), []).append(v)
        shown = [
            same[0].message + (f" (and {len(same) - 1} more row(s) like it)" if len(same) > 1 else "")
            for same in list(alike.values())[:_LISTED_KINDS]
        ]
        if len(alike) > _LISTED_KINDS:
            shown.append(f"and {len(alike) - _LISTED_KINDS} more kind(s) of violation")
        err = SchemaError(f"{what}: {len(errors)} schema violation(s): {'; '.join(shown)}")
        err.violations = errors
        raise err


def _with_target(schema: Schema, target: str) -> Schema:
    if target not in schema:
        raise SchemaError(f"target {target!r} is not in the schema; columns are {schema.names}")
    if schema.target not in (None, target):
        raise SchemaError(f"target {target!r}: the schema's target is {schema.target!r}")
    return schema.replace(target, role="target")


def _encode_target(frame: pl.DataFrame, spec: Any) -> tuple[str, list[Any] | None, np.ndarray]:
    """(task, classes, y): classes are the target's distinct values, sorted; ``y`` their ids (or the values)."""
    raw = frame.get_column(spec.name)
    if spec.kind == "numeric":
        values = frame.select(typed_column(spec, raw.dtype)).to_series().to_numpy().astype(np.float64)
        bad = int(np.sum(~np.isfinite(values)))
        if bad:
            raise DataError(
                f"target {spec.name!r}: {bad} missing or non-finite value(s); drop or fix those rows"
            )
        return "regression", None, values
    if spec.kind not in ("categorical", "boolean"):
        raise DataError(
            f"target {spec.name!r}: expected a numeric, categorical or boolean column, found {spec.kind}"
        )
    if isinstance(raw.dtype, pl.Categorical | pl.Enum):
        raw = raw.cast(pl.String)
    if raw.null_count():
        raise DataError(
            f"target {spec.name!r}: {raw.null_count()} missing value(s); drop or label those rows"
        )
    classes = sorted(raw.unique().to_list())
    if len(classes) < 2:
        raise DataError(f"target {spec.name!r}: needs at least 2 classes, found only {classes}")
    ids = raw.replace_strict(classes, list(range(len(classes))), return_dtype=pl.Int64).to_numpy()
    return ("binary" if len(classes) == 2 else "multiclass"), classes, ids


def _json(file: Path) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{file}: not readable JSON ({err})") from None


def _verify(root: Path) -> None:
    """Check the manifest's format, version and the SHA-256 of every file; refuse missing and unlisted files."""
    manifest_file = root / MANIFEST
    if not manifest_file.is_file():
        raise ArtifactError(f"{manifest_file}: missing; {root} is not a saved pipeline")
    manifest = _json(manifest_file)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{manifest_file}: expected format {FORMAT!r}, found {str(manifest)[:80]}")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_file}: format_version {version!r}, but fieldguide {__version__} reads only "
            f"{FORMAT_VERSION}; written by fieldguide {manifest.get('fieldguide_version')!r}"
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise ArtifactError(f"{manifest_file}: expected 'files' mapping paths to SHA-256 digests")
    unsafe = sorted(name for name in files if not _SAFE_PATH.match(name))
    if unsafe:
        raise ArtifactError(f"{manifest_file}: unsafe file path(s) {unsafe}")
    links = sorted(str(p) for p in root.rglob("*") if p.is_symlink())
    if links:
        raise ArtifactError(f"{links[0]}: symbolic links are not allowed in an artifact")
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()} - {MANIFEST}
    missing = sorted(set(files) - on_disk) + sorted(set(_REQUIRED) - set(files))
    if missing:
        raise ArtifactError(f"{root / missing[0]}: missing from the artifact")
    unlisted = sorted(on_disk - set(files))
    if unlisted:
        raise ArtifactError(f"{root / unlisted[0]}: not in the manifest; the artifact was modified")
    for name, expected in sorted(files.items()):
        if sha256_file(root / name) != expected:
            raise ArtifactError(f"{root / name}: SHA-256 does not match the manifest; the file was modified")
