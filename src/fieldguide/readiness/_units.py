"""B-4 unit and scale inconsistencies and B-11 time coverage.

A unit change shows as segments of a column (by a categorical column, or by period of a datetime column) whose
quantiles are one another's times a conversion factor, or an affine map for Celsius/Fahrenheit; with no segment
column, as two clusters of log10|x| a factor apart.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from fieldguide.readiness._findings import Finding, percent
from fieldguide.readiness._table import Table

FACTORS = {
    10: "x10",
    100: "x100 (e.g. units vs cents, m vs cm)",
    1000: "x1000 (e.g. seconds vs milliseconds, kg vs g)",
    60: "x60 (e.g. minutes vs seconds)",
    3600: "x3600 (e.g. hours vs seconds)",
    2.54: "x2.54 (inches vs centimetres)",
    1 / 0.3048: "x3.281 (metres vs feet)",
    1.609: "x1.609 (miles vs kilometres)",
    2.2046: "x2.2046 (kilograms vs pounds)",
}
# A scaled segment: the median ratio within 2% of a factor and the other quantiles' within 6%, widened to three
# standard errors of the (log) quantiles when segments are small, up to 10% and 15%.
MEDIAN_TOLERANCE, MEDIAN_CAP = 0.02, 0.10
SPREAD_TOLERANCE, SPREAD_CAP = 0.06, 0.15
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
# Standard error of a log-quantile is about c_p · sd / sqrt(n) for normal log values: c_p = sqrt(p(1-p)) / φ(z_p).
SE_FACTOR = (1.71, 1.36, 1.2533, 1.36, 1.71)
MIN_SEGMENT_ROWS = 50
SAME_MEDIAN = 0.10  # other segments must look like the reference
MAX_SEGMENTS = 20
TIME_SEGMENTS = 8
MIN_GAP_DECADES = 0.3
PERIODS = (
    ("1h", 3600),
    ("1d", 86400),
    ("1w", 7 * 86400),
    ("1mo", 30.44 * 86400),
    ("1q", 91.3 * 86400),
    ("1y", 365.25 * 86400),
)
MIN_ROWS_PER_PERIOD = 20


def units(t: Table) -> list[Finding]:
    """B-4: segment-wise scale factors, Celsius/Fahrenheit, and log-scale clusters a factor apart."""
    numeric = [n for n in t.of_kind("numeric")]
    if not numeric:
        return [Finding("B-4 units", "pass", "no numeric columns")]
    findings: list[Finding] = []
    for segment, key, over_time in _segmentations(t):
        quantiles = (
            t.sample.lazy()
            .select(key.alias("\x00segment"), *[t.typed(n) for n in numeric])
            .group_by("\x00segment")
            .agg(
                pl.len().alias("\x00rows"),
                *[pl.col(n).quantile(q).alias(f"{n}\x00{q}") for n in numeric for q in QUANTILES],
                *[pl.col(n).count().alias(f"{n}\x00count") for n in numeric],
            )
            .sort(["\x00rows", "\x00segment"], descending=[True, False])  # the reference segment first
            .collect()
        )
        if not 2 <= quantiles.height <= MAX_SEGMENTS:
            continue
        columns = quantiles.to_dict(as_series=False)
        for name in numeric:
            if name == segment or any(name in f.columns for f in findings):
                continue
            match = _segment_match(columns, name, over_time)
            if match:
                seg_value, ref_value, relation = match
                rows = t.df.select(key.eq(seg_value).fill_null(False).arg_true().head(5)).to_series()
                findings.append(
                    Finding(
                        "B-4 units",
                        "warn",
                        f"{name}: where {segment} = {seg_value}, values are {relation} those where "
                        f"{segment} = {ref_value}",
                        threshold="segment quantiles a conversion factor apart (median within 2%): warn",
                        columns=(name, segment),
                        examples=t.examples(rows, [name, segment]),
                    )
                )
                t.flagged[name] = "units"
    for name in numeric:
        if any(name in f.columns for f in findings):
            continue
        finding = _log_clusters(t, name)
        if finding:
            findings.append(finding)
            t.flagged[name] = "units"
    return findings or [Finding("B-4 units", "pass", "no segment or cluster a conversion factor apart")]


def _segmentations(t: Table) -> list[tuple[str, pl.Expr, bool]]:
    """(name, expression, over time) of each way to cut the rows: categorical columns, and time segments."""
    cuts = [
        (n, pl.col(n).cast(pl.String), False) for n in t.of_kind("categorical", "boolean", features_only=True)
    ]
    for name in t.of_kind("datetime", features_only=True):
        # Equal-count time segments, earliest first: a switch at any date leaves the later segments in the new unit.
        rank = t.typed(name).rank("ordinal") * TIME_SEGMENTS // (pl.len() + 1)
        cuts.append((name, pl.when(t.typed(name).is_not_null()).then(rank).cast(pl.String), True))
    return cuts


def _segment_match(columns: dict[str, list], name: str, over_time: bool) -> tuple[str, str, str] | None:
    """A segment whose quantiles are a factor (or the °C/°F map) from the reference segment's, when every other
    segment looks like the reference (medians within 10%). Time segments may have one in between: the period in
    which the unit changed. The reference is the first segment: the largest, or the earliest of the equal time
    segments. ``columns`` holds per-segment quantiles and counts as lists.
    """
    counts = columns[f"{name}\x00count"]
    kept = [i for i, c in enumerate(counts) if c >= MIN_SEGMENT_ROWS]
    if len(kept) < 2:
        return None
    profiles = {i: [columns[f"{name}\x00{q}"][i] for q in QUANTILES] for i in kept}
    first, segments = kept[0], columns["\x00segment"]
    ref = profiles[first]
    matches, others = [], 0
    for i in kept[1:]:
        seg = profiles[i]
        relation = _scaled(ref, seg, counts[first], counts[i]) or _celsius_fahrenheit(ref, seg)
        if relation:
            matches.append((str(segments[i]), str(segments[first]), relation))
        elif not _alike(ref, seg):
            others += 1
    # A unit mix-up is one factor: segments at different factors are real differences, not units.
    one_factor = len({relation for _, _, relation in matches}) == 1
    return matches[0] if matches and one_factor and others <= int(over_time) else None


def _alike(ref: list[float | None], seg: list[float | None]) -> bool:
    a, b = ref[2], seg[2]
    return a is not None and b is not None and abs(b - a) <= SAME_MEDIAN * max(abs(a), abs(b))


def _scaled(ref: list[float], seg: list[float], n_ref: int, n_seg: int) -> str | None:
    if any(v is None or v <= 0 for v in (*ref, *seg)):
        return None
    ratios = [s / r for s, r in zip(seg, ref, strict=True)]
    # Spread of log values, pooled from both segments' interquartile ranges.
    sd = (math.log(ref[3] / ref[1]) + math.log(seg[3] / seg[1])) / 2 / 1.349
    se = [c * sd * math.sqrt(1 / n_ref + 1 / n_seg) for c in SE_FACTOR]
    tolerance = [
        min(
            max(3 * e, MEDIAN_TOLERANCE if i == 2 else SPREAD_TOLERANCE), MEDIAN_CAP if i == 2 else SPREAD_CAP
        )
        for i, e in enumerate(se)
    ]
    for factor, label in FACTORS.items():
        for f, direction in ((factor, "larger"), (1 / factor, "smaller")):
            if all(abs(math.log(r / f)) <= tol for r, tol in zip(ratios, tolerance, strict=True)):
                return f"{label.split(' ')[0]} {direction} than"
    return None


def _celsius_fahrenheit(ref: list[float], seg: list[float]) -> str | None:
    if any(v is None for v in (*ref, *seg)):
        return None
    for a, b, label in (
        (ref, seg, "°F where the others look like °C:"),
        (seg, ref, "°C where the others look like °F:"),
    ):
        spread = b[4] - b[0]
        if spread <= 0:
            continue
        predicted = [1.8 * x + 32 for x in a]
        if all(abs(p - y) <= SPREAD_TOLERANCE * spread for p, y in zip(predicted, b, strict=True)) and a != b:
            return f"{label} an affine map 1.8x+32 from"
    return None


def _log_clusters(t: Table, name: str) -> Finding | None:
    """Two well-separated clusters of log10|x| whose medians are a conversion factor apart."""
    values = t.sample.select(t.typed(name)).to_series().drop_nulls()
    values = values.filter(values != 0)
    if values.len() < 2 * MIN_SEGMENT_ROWS:
        return None
    x = np.sort(np.log10(np.abs(values.to_numpy())))
    x = x[np.isfinite(x)]
    n = x.size
    # Split at the widest gap between consecutive sorted values within the central 90% (both clusters >= 5%).
    lo, hi = int(0.05 * n), int(0.95 * n)
    if hi - lo < 2:
        return None
    gaps = np.diff(x[lo:hi])
    cut = lo + int(np.argmax(gaps)) + 1
    low, high = x[:cut], x[cut:]
    if min(low.size, high.size) < MIN_SEGMENT_ROWS:
        return None
    q = lambda a, p: float(np.quantile(a, p))  # noqa: E731
    iqr_low, iqr_high = q(low, 0.75) - q(low, 0.25), q(high, 0.75) - q(high, 0.25)
    if iqr_low <= 0 or iqr_high <= 0 or not 2 / 3 <= iqr_low / iqr_high <= 1.5:
        return None
    # Two clusters, not one long tail: an empty stretch at least MIN_GAP_DECADES wide and as wide as the clusters.
    if high[0] - low[-1] < max(MIN_GAP_DECADES, (iqr_low + iqr_high) / 2):
        return None
    distance = q(high, 0.5) - q(low, 0.5)
    se = SE_FACTOR[2] * (iqr_low + iqr_high) / 2 / 1.349 * math.sqrt(1 / low.size + 1 / high.size)
    tolerance = min(max(3 * se, math.log10(1 + MEDIAN_TOLERANCE)), math.log10(1 + MEDIAN_CAP))
    for factor, label in FACTORS.items():
        if abs(distance - math.log10(factor)) <= tolerance:
            share = high.size / n
            threshold = 10 ** ((q(low, 0.95) + q(high, 0.05)) / 2)
            rows = t.df.select(
                t.typed(name).abs().gt(threshold).fill_null(False).arg_true().head(5)
            ).to_series()
            return Finding(
                "B-4 units",
                "warn",
                f"{name}: two clusters {label.split(' ')[0]} apart ({percent(share)} of values above "
                f"{threshold:.3g}); {label}",
                value=round(share, 6),
                threshold="log10|x| clusters a conversion factor apart (within 2%): warn",
                columns=(name,),
                examples=t.examples(rows, [name]),
            )
    return None


def time_coverage(t: Table) -> list[Finding]:
    """B-11: empty periods between the first and last timestamp of each datetime column."""
    findings = []
    names = t.of_kind("datetime")
    stats = t.aggregate(
        [
            e
            for n in names
            for e in (
                t.typed(n).min().alias(f"{n}\x00min"),
                t.typed(n).max(),
                t.typed(n).count().alias(f"{n}\x00n"),
            )
        ]
    )
    for name in names:
        start, end, count = stats[f"{name}\x00min"], stats[name], stats[f"{name}\x00n"]
        if count < 2 * MIN_ROWS_PER_PERIOD:
            continue
        span = (end - start).total_seconds()
        period = next(
            (
                p
                for p, seconds in PERIODS
                if span / seconds >= 2 and count / (span / seconds + 1) >= MIN_ROWS_PER_PERIOD
            ),
            None,
        )
        if period is None:
            continue
        present = t.collect(t.lazy.select(t.typed(name).dt.truncate(period)).unique()).to_series()
        expected = pl.datetime_range(start, end, period, eager=True).dt.truncate(period)
        empty = expected.filter(~expected.is_in(present.drop_nulls().implode()))
        if empty.len():
            shown = ", ".join(str(v)[: 10 if period != "1h" else 16] for v in empty.head(5))
            findings.append(
                Finding(
                    "B-11 time-coverage",
                    "warn",
                    f"{name}: {empty.len()} empty period(s) of {period} between {start} and {end} "
                    f"(first: {shown})",
                    value=empty.len(),
                    threshold=f"any empty {period} period (>= {MIN_ROWS_PER_PERIOD} rows expected each): warn",
                    columns=(name,),
                )
            )
    return findings or [Finding("B-11 time-coverage", "pass", "no empty periods in datetime columns")]
