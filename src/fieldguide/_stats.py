"""Statistics shared across capabilities (readiness now, model comparison later)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class CorrectedTTest:
    """Result of :func:`corrected_resampled_ttest`: mean and corrected sd of the differences, t, df and p."""

    mean: float
    sd: float
    t: float
    df: int
    p: float


def corrected_resampled_ttest(
    differences: np.ndarray, n_train: int, n_test: int, alternative: str = "greater"
) -> CorrectedTTest:
    """Nadeau–Bengio corrected resampled t-test on per-fold score differences (model minus baseline).

    Folds of repeated k-fold cross-validation overlap, so the naive t-test is overconfident; Nadeau and Bengio
    (2003) inflate the variance: ``var * (1/J + n_test/n_train)`` with ``J`` differences, ``df = J - 1``.

    Args:
        differences: one score difference per fold (J = k * repeats values).
        n_train, n_test: rows in each training and test fold.
        alternative: ``"greater"`` (the model is better), ``"less"`` or ``"two-sided"``.

    Example:
        >>> import numpy as np
        >>> result = corrected_resampled_ttest(np.array([0.02, 0.03, 0.01, 0.04, 0.02]), n_train=80, n_test=20)
        >>> round(result.t, 3), result.df
        (3.138, 4)
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size < 2:
        raise ValueError(f"differences: expected at least 2 per-fold values, found shape {d.shape}")
    if n_train <= 0 or n_test <= 0:
        raise ValueError(f"n_train and n_test must be positive, found {n_train} and {n_test}")
    if alternative not in ("greater", "less", "two-sided"):
        raise ValueError(f"alternative: expected 'greater', 'less' or 'two-sided', found {alternative!r}")
    j = d.size
    mean = float(d.mean())
    sd = math.sqrt(float(d.var(ddof=1)) * (1.0 / j + n_test / n_train))
    # Identical differences (sd 0): the sign alone decides.
    t = mean / sd if sd > 0 else (math.copysign(math.inf, mean) if mean else 0.0)
    dist = stats.t(df=j - 1)
    p = {"greater": dist.sf(t), "less": dist.cdf(t), "two-sided": 2 * dist.sf(abs(t))}[alternative]
    return CorrectedTTest(mean=mean, sd=sd, t=float(t), df=j - 1, p=float(min(p, 1.0)))
