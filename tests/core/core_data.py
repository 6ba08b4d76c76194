"""Seeded data for the core tests: small, so each case compiles and converges in well under a second."""

from __future__ import annotations

import numpy as np

N, D = 200, 5
TRUE_COEF = np.array([1.0, -2.0, 0.0, 0.5, 0.0])


def features(seed: int = 0, n: int = N) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, D))


def target(kind: str, X: np.ndarray, seed: int = 1) -> np.ndarray:
    """A target of the given kind drawn from a linear model on ``X``."""
    rng = np.random.default_rng(seed)
    eta = X @ TRUE_COEF
    if kind == "real":
        return eta + 0.5 + rng.normal(size=len(X))
    if kind == "binary":
        return (rng.random(len(X)) < 1 / (1 + np.exp(-eta))).astype(int)
    if kind == "sign":
        return np.where(rng.random(len(X)) < 1 / (1 + np.exp(-2 * eta)), 1, -1)
    if kind == "multiclass":
        logits = np.stack([eta, -eta, 0.5 * X[:, 2]], axis=1)
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        return np.array([rng.choice(3, p=row) for row in p])
    mu = np.exp(0.3 * eta)
    if kind == "count":
        return rng.poisson(mu).astype(float)
    if kind == "positive":
        return rng.gamma(shape=2.0, scale=mu / 2.0)
    if kind == "tweedie":  # compound Poisson-gamma: exact zeros and positive amounts
        counts = rng.poisson(mu)
        return np.array([rng.gamma(2.0, 0.5, size=c).sum() for c in counts])
    raise ValueError(kind)
