"""Greedy ensemble selection (Caruana, Niculescu-Mizil, Crew & Ksikes, ICML 2004) over out-of-fold predictions.

Start from an empty ensemble; each round adds, with replacement, the model whose addition gives the best score of
the averaged predictions (probabilities for classifiers); the answer is the best ensemble seen over the rounds,
as integer weights (how often each model was added).
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
