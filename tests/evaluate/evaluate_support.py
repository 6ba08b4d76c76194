"""Planted holdouts for the gate: seeded tables whose true model is known, and pipelines fitted on them
(a module of its own, not conftest: ``from conftest import`` finds whichever directory's conftest loaded last)."""

from __future__ import annotations

import numpy as np
import polars as pl

from fieldguide.models.adapters import GaussianNB
from fieldguide.pipeline import Pipeline

SEGMENTS = ("a", "b", "c")


def planted(
    n: int, seed: int, *, reverse_in: str | None = None, bias_against: str | None = None
) -> pl.DataFrame:
    """``x0, x1`` standard normal, ``segment`` (a 45 %, b 40 %, c 15 %), ``group`` (g1/g2, no effect) and ``y``.

    True log-odds 1.5·x0 + 1.5·x1; ``reverse_in``: in that segment x1 works the other way (−1.5·x1).
    ``bias_against``: half of that group's positive labels are recorded as 0 (a biased training set).
    """
    rng = np.random.default_rng(seed)
    x0, x1 = rng.normal(size=(2, n))
    segment = rng.choice(SEGMENTS, n, p=[0.45, 0.40, 0.15])
    group = rng.choice(["g1", "g2"], n)
    sign = np.where(segment == reverse_in, -1.0, 1.0)
    y = rng.random(n) < 1 / (1 + np.exp(-(1.5 * x0 + 1.5 * sign * x1)))
    if bias_against is not None:
        y &= ~((group == bias_against) & (rng.random(n) < 0.5))
    return pl.DataFrame({"x0": x0, "x1": x1, "segment": segment, "group": group, "y": y.astype(np.int64)})


def fit(train: pl.DataFrame, columns: list[str], model=None) -> Pipeline:
    """A pipeline for ``y`` that sees only ``columns`` of ``train``."""
    return Pipeline.fit(train.select([*columns, "y"]), target="y", model=model or GaussianNB())
