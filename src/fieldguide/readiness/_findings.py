"""Findings, the table of checks, and the level a set of findings earns."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

Severity = Literal["pass", "warn", "fail", "block"]
SEVERITIES: tuple[str, ...] = ("pass", "warn", "fail", "block")
LEVELS: tuple[str, ...] = ("C4", "C3", "C2", "C1", "B3", "B2", "B1", "A3", "A2", "A1")
JSON_VERSION = 1


def percent(share: float) -> str:
    """``0.0123`` -> ``"1.23%"``."""
    return f"{100 * share:.3g}%"


@dataclasses.dataclass(frozen=True)
class Check:
    """One row of the checklist: ``guards`` is the lowest level that needs this check to pass."""

    id: str
    guards: str
    what: str
    action: str

    @property
    def band(self) -> str:
        return self.id[0]


CHECKS: dict[str, Check] = {
    c.id: c
    for c in (
        Check(
            "C-1 load", "C3", "the file loads and parses", "Fix the file so that it parses (see the message)."
        ),
        Check(
            "C-2 schema", "C2", "rows, named columns and a schema", "Provide a table with a header and rows."
        ),
        Check(
            "C-3 personal-data",
            "C1",
            "no emails, phones, card numbers or national ids",
            "Drop, hash or tokenise the column before modelling; check the legal basis for keeping it.",
        ),
        Check(
            "B-1 missing-spellings",
            "B3",
            "one spelling of missing per column",
            (
                "Read these spellings as null (read(..., null_values=[...]); a number such as 0 as null in its own "
                "column only) or fix them at the source."
            ),
        ),
        Check(
            "B-2 mixed-types",
            "B3",
            "numbers and text are not mixed in a column",
            "Fix or null the stray values so that the column has one type.",
        ),
        Check(
            "B-3 category-variants",
            "B3",
            "each category has one spelling",
            "Normalise the spellings (case, spaces, punctuation) to one per category.",
        ),
        Check(
            "B-4 units",
            "B3",
            "no segment recorded in another unit or scale",
            "Convert the flagged segment to the unit of the others, and fix the upstream source.",
        ),
        Check(
            "B-5 duplicates",
            "B2",
            "no duplicate rows (identifiers ignored)",
            "Drop the duplicates, or find out why records were entered twice.",
        ),
        Check(
            "B-6 conflicting-labels",
            "B2",
            "equal features never carry different targets",
            "Check the labelling of these rows; resolve or drop the conflicts.",
        ),
        Check(
            "B-7 missing-rate",
            "B2",
            "columns are mostly filled",
            "Find out why values are missing; drop the column or impute with a missing indicator.",
        ),
        Check(
            "B-8 constant",
            "B1",
            "no column holds a single value",
            "Drop the column: it carries no information.",
        ),
        Check(
            "B-9 identifiers",
            "B1",
            "identifier-like columns are declared as identifiers",
            "Leave the column out (--ignore NAME, or role 'identifier' in a schema): it must never be a feature.",
        ),
        Check(
            "B-10 outliers",
            "B1",
            "few extreme values (beyond 3 IQR, raw and log scale)",
            "Check the flagged values for entry or unit errors; clip or drop the impossible ones.",
        ),
        Check(
            "B-11 time-coverage",
            "B1",
            "no empty periods in a datetime column",
            "Find out why the periods are empty; do not train or evaluate across the gap unawares.",
        ),
        Check(
            "A-1 target",
            "A3",
            "the target is present, filled and sane",
            "Name an existing target column with at least two classes (or varying finite values).",
        ),
        Check(
            "A-2 class-balance",
            "A2",
            "enough examples per class",
            "Collect more examples of the rare classes, merge them, or use class weights.",
        ),
        Check(
            "A-3 leakage",
            "A2",
            "no feature, identifier or small sum of features predicts the target almost perfectly",
            "Leave the column(s) out (--ignore) unless known before the target is; check how they were recorded.",
        ),
        Check(
            "A-4 learnability",
            "A1",
            "a simple model beats a dummy baseline (corrected resampled t-test)",
            "Look for more informative features or more rows; check that the target is what you meant.",
        ),
    )
}


@dataclasses.dataclass(frozen=True)
class Finding:
    """The result of one check on one column (or on the table).

    value: the measured number (a rate, a count, a score) or ``None``.
    threshold: the rule that set the severity, in words (``">5% fail"``).
    examples: up to 5 rows, ``{"row": index, column: masked value, ...}``.
    """

    id: str
    severity: Severity
    message: str
    value: float | int | None = None
    threshold: str | None = None
    columns: tuple[str, ...] = ()
    examples: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        if self.id not in CHECKS:
            raise ValueError(f"finding id: expected one of {list(CHECKS)}, found {self.id!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"finding {self.id}: severity must be one of {SEVERITIES}, found {self.severity!r}"
            )

    @property
    def band(self) -> str:
        return CHECKS[self.id].band

    @property
    def blocks(self) -> str:
        return CHECKS[self.id].guards

    @property
    def action(self) -> str:
        return CHECKS[self.id].action

    @property
    def lowers_level(self) -> bool:
        return self.severity in ("fail", "block")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "band": self.band,
            "blocks": self.blocks,
            "severity": self.severity,
            "message": self.message,
            "action": self.action,
            "value": self.value,
            "threshold": self.threshold,
            "columns": list(self.columns),
            "examples": list(self.examples),
        }


def level_of(findings: list[Finding], has_target: bool) -> str:
    """The highest level whose checks, and those of every level below, pass (warnings do not lower it)."""
    top = "A1" if has_target else "B1"
    blocked = [LEVELS.index(f.blocks) for f in findings if f.lowers_level]
    ceiling = min([LEVELS.index(top), *(b - 1 for b in blocked)])
    return LEVELS[max(ceiling, 0)]


@dataclasses.dataclass
class Report:
    """What :func:`fieldguide.readiness.check` found: the level, the findings, and a profile of the columns.

    columns: one dict per column: name, kind, role, missing (rate).
    plots: per flagged numeric column, ``{"why": "units" | "outliers" | "zeros", "values": [...]}`` (a sample) for the
        HTML report; never serialised to JSON.
    sampled: for a table streamed in passes (``check(..., sample=N)``), the rows of the seeded sample that the
        row by row checks read; ``None`` when every check read every row.
    """

    source: str
    n_rows: int
    n_columns: int
    target: str | None
    task: str | None
    findings: list[Finding]
    columns: list[dict[str, Any]]
    plots: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict, repr=False)
    sampled: int | None = None  # rows of the sample that row by row checks read; None: they read every row

    @property
    def level(self) -> str:
        return level_of(self.findings, self.target is not None)

    def meets(self, level: str) -> bool:
        """Whether the report's level is at least ``level`` (one of ``LEVELS``)."""
        if level not in LEVELS:
            raise ValueError(f"level: expected one of {', '.join(LEVELS)}, found {level!r}")
        return LEVELS.index(self.level) >= LEVELS.index(level)

    def sorted_findings(self) -> list[Finding]:
        """Findings by band (C, B, A), worst severity first within a band."""
        bands = "CBA"
        return sorted(self.findings, key=lambda f: (bands.index(f.band), -SEVERITIES.index(f.severity), f.id))

    def to_dict(self) -> dict[str, Any]:
        return {
            "fieldguide_readiness": JSON_VERSION,
            "source": self.source,
            "level": self.level,
            "levels": list(LEVELS),
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "sampled_rows": self.sampled,
            "target": self.target,
            "task": self.task,
            "counts": {s: sum(f.severity == s for f in self.findings) for s in SEVERITIES},
            "findings": [f.to_dict() for f in self.sorted_findings()],
            "columns": self.columns,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str, allow_nan=False)
