"""Personal data: detection over Polars string columns and masking of single values.

Detection is vectorised in Polars (regexes over whole columns); only candidate values go through the slower
Luhn checksum (NumPy) and the ``phonenumbers`` matcher (a bounded sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl

EMAIL = r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
CARD_DIGITS = r"^\d{13,19}$"
SSN = r"^\d{3}-\d{2}-\d{4}$"
PHONE_CANDIDATE = r"^\+?[\d\s().-]{9,22}$"
PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "BR", "CA", "IL")
PHONE_SAMPLE = 2000
KINDS = {
    "email": "email addresses",
    "card": "card numbers (Luhn-valid)",
    "phone": "phone numbers",
    "national_id": "national ids (US SSN)",
}

_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_CARD_IN_TEXT = re.compile(r"(?<!\d)\d(?:[ -]?\d){12,18}(?!\d)")
_SSN_IN_TEXT = re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)")


@dataclass(frozen=True)
class PiiHit:
    """Personal data found in one column: ``kind`` in {email, card, phone, national_id} (see ``KINDS``)."""

    column: str
    kind: str
    count: int  # rows
    share: float  # of the column's non-null rows
    values: list  # up to 5 of the matching raw values (to find example rows; never shown unmasked)


def luhn_valid(digits: np.ndarray | list[str] | str) -> np.ndarray | bool:
    """Luhn checksum of digit strings (vectorised); a single string gives a single bool.

    Example:
        >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
        (True, False)
    """
    if isinstance(digits, str):
        return bool(luhn_valid([digits])[0])
    values = list(digits)
    if not values:
        return np.zeros(0, dtype=bool)
    width = max(len(v) for v in values)
    # Right-align every number in a zero-padded matrix: leading zeros do not change a Luhn sum.
    padded = np.frombuffer("".join(v.rjust(width, "0") for v in values).encode(), dtype=np.uint8)
    matrix = (padded.reshape(len(values), width) - ord("0")).astype(np.int64)
    doubled = matrix[:, ::-1][:, 1::2] * 2
    total = matrix[:, ::-1][:, 0::2].sum(axis=1) + (doubled - 9 * (doubled > 9)).sum(axis=1)
    return total % 10 == 0


def _ssn_valid(values: pl.Series) -> pl.Series:
    """US SSN rules: area not 000, 666 or 9xx; group not 00; serial not 0000."""
    area, group, serial = values.str.slice(0, 3), values.str.slice(4, 2), values.str.slice(7, 4)
    return ~(area.is_in(["000", "666"]) | area.str.starts_with("9") | (group == "00") | (serial == "0000"))


def _phone_valid(value: str) -> bool:
    import phonenumbers

    for region in PHONE_REGIONS:
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


def scan(distinct: dict[str, pl.DataFrame]) -> list[PiiHit]:
    """Personal data in columns given as their distinct values with counts (``fieldguide.data.value_counts``).

    Integer columns are checked for card numbers only: ids stored as numbers look like phone numbers.
    """
    return [hit for name, counts in distinct.items() for hit in _scan_column(name, counts)]


def _scan_column(name: str, counts: pl.DataFrame) -> list[PiiHit]:
    text = counts.schema["value"] == pl.String
    frame = counts.select(
        pl.col("value").alias("raw"), pl.col("value").cast(pl.String).str.strip_chars().alias("v"), "count"
    ).drop_nulls("v")
    n = frame["count"].sum()
    if n == 0:
        return []
    found: list[tuple[str, pl.DataFrame, float | None]] = []  # kind, matching values, share (None: exact)
    digits = frame.with_columns(d=pl.col("v").str.replace_all(r"[ -]", "")).filter(
        pl.col("d").str.contains(CARD_DIGITS) & pl.col("v").str.contains(r"^[\d -]+$")
    )
    found.append(
        ("card", digits.filter(pl.Series(luhn_valid(digits["d"].to_list()), dtype=pl.Boolean)), None)
    )
    if text:
        found.append(("email", frame.filter(pl.col("v").str.contains(EMAIL)), None))
        ssn = frame.filter(pl.col("v").str.contains(SSN))
        found.append(("national_id", ssn.filter(_ssn_valid(ssn["v"])), None))
        digit_count = pl.col("v").str.count_matches(r"\d")
        phones = frame.filter(
            pl.col("v").str.contains(PHONE_CANDIDATE)
            & digit_count.is_between(9, 15)
            & ~pl.col("v").str.contains(SSN)
        )
        if phones.height:
            sample = phones.sample(min(PHONE_SAMPLE, phones.height), seed=0)
            valid = sample.filter(pl.Series([_phone_valid(v) for v in sample["v"]], dtype=pl.Boolean))
            # The share of rows holding valid numbers, estimated from the sample of candidates.
            share = valid["count"].sum() / sample["count"].sum() * phones["count"].sum() / n
            found.append(("phone", valid, share))
    return [
        PiiHit(name, kind, round(s * n), s, rows["raw"].head(5).to_list())
        for kind, rows, share in found
        if rows.height
        for s in [rows["count"].sum() / n if share is None else share]
    ]


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    host, dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{host[:1]}***{dot}{tld}"


def mask_card(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return "**** **** **** " + digits[-4:]


def mask_digits(value: str, keep: int = 2) -> str:
    """Every digit but the last ``keep`` becomes ``*`` (phones, national ids)."""
    positions = [i for i, ch in enumerate(value) if ch.isdigit()]
    hidden = set(positions[: max(len(positions) - keep, 0)])
    return "".join("*" if i in hidden else ch for i, ch in enumerate(value))


def mask(value: object, kind: str | None = None) -> object:
    """A value safe to show: personal data of ``kind`` masked, and emails, Luhn-valid card numbers and SSNs
    masked wherever they appear in text.

    Example:
        >>> mask("jane.doe@example.com"), mask("4111-1111-1111-1111"), mask("+1 415 555 0123", "phone")
        ('j***@e***.com', '**** **** **** 1111', '+* *** *** **23')
    """
    if not isinstance(value, str):
        if kind is None or value is None:
            return value
        value = str(value)
    if kind == "phone":
        return mask_digits(value)
    if kind == "national_id":
        return mask_digits(value, keep=0)
    value = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group()), value)
    value = _SSN_IN_TEXT.sub(lambda m: mask_digits(m.group(), keep=0), value)
    return _CARD_IN_TEXT.sub(
        lambda m: mask_card(m.group()) if luhn_valid(re.sub(r"\D", "", m.group())) else m.group(), value
    )
