"""Shared pieces of the search tests: a small seeded churn table on disk and one search run reused by the tests."""

from __future__ import annotations

import pytest

from fieldguide.data.synthetic import customers

# Quick, deterministic members (single-threaded booster, a tree, kNN) keep the searches to seconds.
FAST = ["LGBMClassifier", "DecisionTreeClassifier", "KNeighborsClassifier"]
TRIALS = 8


@pytest.fixture(scope="session")
def churn_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "churn.csv"
    customers(400, seed=1).write_csv(path)
    return path


@pytest.fixture(scope="session")
def registry_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    return f"sqlite:///{home / 'registry.db'}"


@pytest.fixture(scope="session")
def searched(churn_csv, registry_url, tmp_path_factory):
    """A reproducible search (8 trials, seed 0) on the churn file, registered and exported."""
    from fieldguide.registry import Registry
    from fieldguide.search import search

    export = tmp_path_factory.mktemp("export") / "rebuild.py"
    registry = Registry(registry_url, artifact_root=tmp_path_factory.mktemp("artifacts"))
    result = search(
        churn_csv,
        "churn",
        budget=None,
        trials=TRIALS,
        seed=0,
        models=FAST,
        registry=registry,
        export=export,
        progress=False,
    )
    yield result, registry
    registry.close()
