"""Luhn checksum, personal-data detection and masking."""

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fieldguide.data import value_counts
from fieldguide.readiness import luhn_valid, mask
from fieldguide.readiness._pii import scan


def luhn_reference(number: str) -> bool:
    """The textbook algorithm, digit by digit."""
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d * 2 > 9 else d * 2
        total += d
    return total % 10 == 0


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("4111111111111111", True),  # Visa test number
        ("5500005555555559", True),  # Mastercard test number
        ("378282246310005", True),  # Amex test number
        ("6011111111111117", True),  # Discover test number
        ("4111111111111112", False),
        ("1234567812345678", False),
    ],
)
def test_luhn_known_numbers(number, valid):
    assert luhn_valid(number) is valid


@given(st.lists(st.text(alphabet="0123456789", min_size=13, max_size=19), min_size=1, max_size=30))
def test_vectorised_luhn_matches_reference(numbers):
    assert luhn_valid(numbers).tolist() == [luhn_reference(n) for n in numbers]


@pytest.mark.parametrize(
    ("value", "kind", "masked"),
    [
        ("jane.doe@example.com", None, "j***@e***.com"),
        ("4111 1111 1111 1111", None, "**** **** **** 1111"),
        ("4111-1111-1111-1111", "card", "**** **** **** 1111"),
        (4111111111111111, "card", "**** **** **** 1111"),
        ("call (212) 736-4821", "phone", "call (***) ***-**21"),
        ("123-45-6789", None, "***-**-****"),
        ("write to jane@example.com today", None, "write to j***@e***.com today"),
        ("order 4111111111111112", None, "order 4111111111111112"),  # not Luhn-valid: not a card
        (42, None, 42),
        (None, "email", None),
    ],
)
def test_mask(value, kind, masked):
    assert mask(value, kind) == masked


def test_scan_finds_each_kind_and_skips_lookalikes():
    df = pl.DataFrame(
        {
            "email": ["a@example.com", "b@example.org", "not an email", None],
            "card": ["4111 1111 1111 1111", "4111 1111 1111 1112", "x", "y"],
            "ssn": ["123-45-6789", "000-12-3456", "666-12-3456", "900-12-3456"],  # only the first is valid
            "phone": ["+44 20 7946 0958", "(212) 736-4821", "hello", "12"],
            "amount": ["12.50", "3", "7", "1000000"],
        }
    )
    hits = {(h.column, h.kind): h for h in scan({c: value_counts(df[c]) for c in df.columns})}
    assert set(hits) == {("email", "email"), ("card", "card"), ("ssn", "national_id"), ("phone", "phone")}
    assert hits[("email", "email")].count == 2 and hits[("email", "email")].share == pytest.approx(2 / 3)
    assert hits[("card", "card")].count == 1 and hits[("card", "card")].values == ["4111 1111 1111 1111"]
    assert hits[("ssn", "national_id")].count == 1
    assert hits[("phone", "phone")].count == 2


def test_long_integer_card_numbers_are_found():
    from fieldguide.readiness import check

    cards = [4111111111111111, 5500005555555559, 6011111111111117] * 10
    report = check(pl.DataFrame({"card": cards, "x": np.arange(30.0)}))
    (pii,) = [f for f in report.findings if f.id == "C-3 personal-data"]
    assert pii.severity == "block" and pii.columns == ("card",)
    assert all(e["card"].startswith("**** ") for e in pii.examples)
    assert report.level == "C2"
