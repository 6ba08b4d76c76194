"""Data readiness: grade a table on Lawrence's data readiness levels, band C, then B, then A.

The ladder, worst to best, and what each level needs (every check of that level and of all levels below it must
pass; a *warning* is reported but does not lower the level; *fail* and *block* do):

======  ==========================================================================================
C4      nothing is known: the file does not load (``C-1 load`` fails)
C3      it loads, but has no rows or columns, or breaks a stored schema (``C-2 schema``)
C2      it has a schema, but holds personal data (``C-3 personal-data`` blocks)
C1      accessible: loads, has a schema, no personal data
B3      (C1 plus) values mean one thing: ``B-1 missing-spellings``, ``B-2 mixed-types``,
        ``B-3 category-variants``, ``B-4 units``
B2      (B3 plus) records are faithful: ``B-5 duplicates``, ``B-6 conflicting-labels``, ``B-7 missing-rate``
B1      (B2 plus) columns are usable: ``B-8 constant``, ``B-9 identifiers``, ``B-10 outliers``,
        ``B-11 time-coverage``. The best level without a target.
A3      (B1 plus, with a target) the target is present, filled and sane: ``A-1 target``
A2      (A3 plus) enough examples per class (``A-2 class-balance``) and no leakage (``A-3 leakage``)
A1      (A2 plus) learnable: a simple model beats a dummy baseline, Nadeau–Bengio corrected
        resampled t-test (``A-4 learnability``)
======  ==========================================================================================

Each finding has an ``id`` (``"B-5 duplicates"``), a ``band``, the level it ``blocks``, a ``severity``
(pass, warn, fail, block), a ``value``, a ``threshold``, the ``columns`` involved, and up to five ``examples``
(rows, with personal data masked: ``j***@e***.com``, ``**** **** **** 1234``).

JSON (``Report.to_json()``, ``fieldguide check --json``), version 1::

    {"fieldguide_readiness": 1, "source": str, "level": "B2", "levels": ["C4", ..., "A1"],
     "n_rows": int, "n_columns": int, "sampled_rows": int | null, "target": str | null, "task": "classification" | "regression" | null,
     "counts": {"pass": int, "warn": int, "fail": int, "block": int},
     "findings": [{"id", "band", "blocks", "severity", "message", "action", "value", "threshold",
                   "columns": [str], "examples": [{"row": int, column: value, ...}]}],
     "columns": [{"name", "kind", "role", "missing"}]}

Findings are sorted by band (C, B, A), worst first.

A table larger than memory: ``check(path, sample=N)`` (``fieldguide check FILE --sample N``) reads a Parquet
file, directory or glob in streaming passes and holds a seeded sample of about N of its rows. What is counted is
counted over every row: missing values and their spellings, duplicates and conflicting labels (by row hash, in as
many passes over slices of the hashes as memory needs), constant and identifier columns, values beyond the
outlier fences, classes of the target, time coverage, and the text checks of columns with at most 100,000
distinct values. What needs rows side by side reads the sample, and says so: schema inference, the fences'
quantiles, units, band A's models, and the text checks of columns with more distinct values. A Parquet table
larger than a quarter of the free memory (a container's limit included) is streamed this way without asking,
with a sample of 1,000,000 rows; ``sampled_rows`` in the JSON says how many rows the sample holds (``null`` when
every check read every row).

>>> from fieldguide.readiness import check
>>> from fieldguide.readiness._demo import demo_table
>>> report = check(demo_table(seed=0), target="churn")
>>> report.level
'C2'
"""

from fieldguide._lazy import exports

# Public names load on first use, so `fieldguide --help` does not import this capability.
__getattr__, __dir__ = exports(
    __name__,
    {
        "check": "_check",
        "CHECKS": "_findings",
        "LEVELS": "_findings",
        "Finding": "_findings",
        "Report": "_findings",
        "luhn_valid": "_pii",
        "mask": "_pii",
    },
)

__all__ = ["CHECKS", "LEVELS", "Finding", "Report", "check", "luhn_valid", "mask"]
