"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004) over out-of-fold predictions.

Start from an empty ensemble; each round adds, with replacement, the model whose addition gives the best score of
the averaged predictions (probabilities for classifiers); the answer is the best ensemble seen over the rounds,
as integer weights (how often each model was added).

The score ``select`` returns is measured on the rows it chose on, so it flatters the ensemble: given enough
models, it finds a blend that fits those rows' noise. ``cross_fitted`` measures the procedure on rows it did not
see, which is the score a search reports and compares with its best single model.
"""

from __future__ import annotations

import numpy as np

from fieldguide.compare._metrics import Metric
from fieldguide.search._evaluate import score

ROUNDS = 30
POOL = 10  # the best trials ensemble selection chooses from


def select(
    outputs: list[np.ndarray], y: np.ndarray, metric: Metric, task: str, rounds: int = ROUNDS
) -> tuple[list[int], float]:
    """Weights (one count per output) of the best greedy ensemble and its score.

    ``outputs``: each model's out-of-fold predictions on the same rows, best model first (ties go to it).

    Example:
        >>> import numpy as np
        >>> from fieldguide.compare import METRICS
        >>> y = np.array([0.0, 1.0, 2.0, 3.0])
        >>> low, high = y - 1.0, y + 1.0  # each off by 1; their average is exact
        >>> select([low, high], y, METRICS["rmse"], "regression")
        ([1, 1], 0.0)
    """
    sign = 1.0 if metric.greater_is_better else -1.0
    counts = np.zeros(len(outputs), dtype=np.int64)
    total = np.zeros_like(outputs[0])
    best_counts, best_score = counts.copy(), -np.inf
    for size in range(1, rounds + 1):
        scores = [score(metric, task, y, (total + output) / size) for output in outputs]
        chosen = int(np.argmax(sign * np.asarray(scores)))
        counts[chosen] += 1
        total = total + outputs[chosen]
        if sign * scores[chosen] > sign * best_score or size == 1:
            best_counts, best_score = counts.copy(), scores[chosen]
    return best_counts.tolist(), float(best_score)


def cross_fitted(
    outputs: list[np.ndarray], y: np.ndarray, metric: Metric, task: str, seed: int, rounds: int = ROUNDS
) -> float | None:
    """Ensemble selection's score on rows it did not choose on: the rows are split in two halves (class by class
    for classifiers), the weights chosen on each half are scored on the other, and the two scores averaged.
    None when a half cannot be scored (a metric undefined on it, such as AUC on a half with one class).

    Example:
        >>> import numpy as np
        >>> from fieldguide.compare import METRICS
        >>> y = np.arange(8.0)
        >>> cross_fitted([y - 1.0, y + 1.0], y, METRICS["rmse"], "regression", seed=0)
        0.0
    """
    halves = _halves(y, task, seed)
    scores = []
    for chosen_on, scored_on in (halves, halves[::-1]):
        counts, _ = select([o[chosen_on] for o in outputs], y[chosen_on], metric, task, rounds)
        blend = sum(c * o[scored_on] for c, o in zip(counts, outputs, strict=True)) / sum(counts)
        try:
            scores.append(score(metric, task, y[scored_on], blend))
        except ValueError:
            return None
    return float(np.mean(scores))


def _halves(y: np.ndarray, task: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two halves of ``range(len(y))`` in random order; for classifiers each class is split evenly."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(len(y))] if task == "regression" else [np.flatnonzero(y == c) for c in np.unique(y)]
    first, second = [], []
    for rows in groups:
        rows = rng.permutation(rows)
        first.append(rows[: len(rows) // 2])
        second.append(rows[len(rows) // 2 :])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
