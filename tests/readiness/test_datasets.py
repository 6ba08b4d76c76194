"""The shared real datasets are graded end to end without crashing (skipped when /work/shared is absent)."""

import json
from pathlib import Path

import pytest

from fieldguide.readiness import LEVELS, check

DATASETS = Path("/work/shared/datasets")
TARGETS = {
    "adult": "class",
    "ames_housing": "SalePrice",
    "bank_marketing": "y",
    "bike_sharing_hour": "cnt",
    "california_housing": "median_house_value",
    "credit_default": "default.payment.next.month",
    "diamonds": "price",
    "letter_recognition": "lettr",
    "penguins": "species",
    "pima_diabetes": "Outcome",
    "telco_churn": "Churn",
    "wine_quality": "quality",
}


@pytest.fixture(autouse=True)
def small_model_budget(monkeypatch):
    """Band A on 1,000 sampled rows: these tests are about real files not crashing, not about model quality."""
    from fieldguide.readiness import _appropriate

    monkeypatch.setattr(_appropriate, "ROW_BUDGET", 1000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_shared_dataset_is_graded(name):
    path = DATASETS / f"{name}.csv.gz"
    if not path.exists():
        pytest.skip(f"{path} is not present (the shared datasets are optional)")
    report = check(path, target=TARGETS[name])
    assert report.level in LEVELS and report.n_rows > 0
    assert not [f for f in report.findings if f.id in ("C-1 load", "C-2 schema") and f.lowers_level]
    assert {f.id for f in report.findings} >= {"A-1 target", "B-5 duplicates", "C-3 personal-data"}
    json.loads(report.to_json())  # serialisable, no NaN


@pytest.mark.slow
def test_known_defects_of_shared_datasets():
    """Facts stated in the datasets' MANIFEST: telco's customerID is an identifier, Ames spells missing two ways,
    wine has many duplicate rows (the UCI data repeats measurements)."""
    if not DATASETS.exists():
        pytest.skip(f"{DATASETS} is not present")
    telco = check(DATASETS / "telco_churn.csv.gz")
    assert any(c["name"] == "customerID" and c["kind"] == "identifier" for c in telco.columns)
    ames = check(DATASETS / "ames_housing.csv.gz")
    assert any(f.id == "B-1 missing-spellings" and f.severity == "fail" for f in ames.findings)
    wine = check(DATASETS / "wine_quality.csv.gz")
    (dups,) = [f for f in wine.findings if f.id == "B-5 duplicates"]
    assert dups.severity == "fail" and dups.value > 0.05
