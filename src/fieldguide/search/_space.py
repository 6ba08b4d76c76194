"""The search space: the zoo's hyperparameter spaces (plain data in ``ZooEntry.space``) as Optuna suggestions.

The model is a categorical choice; each model's parameters are conditional on it, named ``<model>.<param>`` so
that TPE models them separately. Sampled floats are rounded to ``SIGNIFICANT`` digits before use, so the
parameters a trial ran with are exactly the ones the exported script writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fieldguide.errors import FieldguideError

MODEL = "model"
SIGNIFICANT = 4
# Searched by default: the members that win on tables under a budget (boosters, forests) and one strong linear
# model. kNN and the MLP are left to ``models=``: kNN's all-or-nothing probabilities won small CVs by luck and
# lost badly on log loss out of sample, and the MLP pays seconds of JIT compilation per new shape.
DEFAULT_MODELS = {
    "classification": (
        "LGBMClassifier",
        "XGBClassifier",
        "RandomForestClassifier",
        "ExtraTreesClassifier",
        "LogisticRegression",
    ),
    "regression": (
        "LGBMRegressor",
        "XGBRegressor",
        "RandomForestRegressor",
        "ExtraTreesRegressor",
        "Ridge",
    ),
}
# First trials: each model at a sensible configuration inside its space, before TPE explores.
STARTING_POINTS = {
    "LGBMClassifier": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20},
    "LGBMRegressor": {"n_estimators": 200, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20},
    "LogisticRegression": {"C": 1.0, "penalty": "l2"},
    "Ridge": {"alpha": 1.0},
    "ExtraTreesClassifier": {"n_estimators": 100, "max_features": "sqrt", "min_samples_leaf": 1},
    "ExtraTreesRegressor": {"n_estimators": 100, "max_features": 1.0, "min_samples_leaf": 1},
}


@dataclass(frozen=True)
class Candidate:
    """A zoo member the search may pick: its class, its space and how simple it is."""

    name: str
    estimator: type
    space: dict
    complexity: int

    def fixed(self, seed: int) -> dict[str, Any]:
        """Parameters every trial sets: the seed, and one thread per fit (``n_jobs=1``): trials run in parallel
        on Ray, and threads fighting over the cores of a shared machine made boosters ten times slower."""
        accepted = self.estimator().get_params()
        return {key: value for key, value in (("random_state", seed), ("n_jobs", 1)) if key in accepted}

    def build(self, params: dict[str, Any], seed: int) -> Any:
        """An unfitted estimator with ``params`` and the ``fixed`` ones."""
        return self.estimator(**params, **self.fixed(seed))


def candidates(task: str, y_values: Any, models: list[str] | None) -> list[Candidate]:
    """The zoo members searched for ``task`` (``models`` by name, or ``DEFAULT_MODELS``).

    Classifiers must give probabilities (ensembles average them); regressors whose target must be non-negative or
    positive are left out when the target is not. Raises ``FieldguideError`` for an unknown or unusable name.
    """
    from fieldguide.models import ZOO

    kind = "regression" if task == "regression" else "classification"
    fits = {"real": True, "non-negative": bool((y_values >= 0).all()), "positive": bool((y_values > 0).all())}
    for_task = {entry.name: entry for entry in ZOO if task in entry.tasks and entry.complexity > 0}
    available = {name: entry for name, entry in for_task.items() if fits[entry.target]}
    if models is None:
        names = [name for name in DEFAULT_MODELS[kind] if name in available]
    else:
        unknown = [name for name in models if name not in for_task]
        if unknown:
            raise FieldguideError(
                f"models: unknown {', '.join(map(repr, unknown))} for a {task} target; "
                f"expected names from {', '.join(for_task)}"
            )
        unfit = [name for name in models if name not in available]
        if unfit:
            needs = ", ".join(f"{name} needs a {for_task[name].target} target" for name in unfit)
            raise FieldguideError(f"models: {needs}; the target is not")
        names = list(dict.fromkeys(models))
    chosen = [available[name] for name in names]
    if kind == "classification":
        blind = [entry.name for entry in chosen if not hasattr(entry.estimator(), "predict_proba")]
        if blind:
            raise FieldguideError(
                f"models: {', '.join(blind)} gives no class probabilities, which the search scores and "
                "ensembles; choose other models"
            )
    return [Candidate(e.name, e.estimator, dict(e.space), e.complexity) for e in chosen]


def suggest(trial: Any, pool: list[Candidate]) -> tuple[Candidate, dict[str, Any]]:
    """Ask ``trial`` (an Optuna trial) for a model and its hyperparameters, as the estimator takes them."""
    name = trial.suggest_categorical(MODEL, [c.name for c in pool])
    candidate = next(c for c in pool if c.name == name)
    params = {}
    for param, spec in candidate.space.items():
        key = f"{name}.{param}"
        kind = spec[0]
        if kind == "categorical":
            # Optuna stores choices as plain scalars: tuples such as hidden layer sizes travel by index.
            choices = spec[1]
            params[param] = choices[trial.suggest_categorical(key, list(range(len(choices))))]
        elif kind in ("float", "log_float"):
            value = trial.suggest_float(key, spec[1], spec[2], log=kind == "log_float")
            params[param] = _round(value)
        elif kind in ("int", "log_int"):
            params[param] = trial.suggest_int(key, spec[1], spec[2], log=kind == "log_int")
        else:
            raise FieldguideError(f"{name}.space[{param!r}]: unknown kind {kind!r}")
    return candidate, params


def starting_point(candidate: Candidate) -> dict[str, Any]:
    """Optuna's fixed parameters for a first trial of ``candidate`` (``STARTING_POINTS`` inside its space)."""
    fixed: dict[str, Any] = {MODEL: candidate.name}
    for param, value in STARTING_POINTS.get(candidate.name, {}).items():
        spec = candidate.space[param]
        fixed[f"{candidate.name}.{param}"] = spec[1].index(value) if spec[0] == "categorical" else value
    return fixed


def _round(value: float) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, SIGNIFICANT - 1 - math.floor(math.log10(abs(value))))
