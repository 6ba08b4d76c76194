"""Compare the zoo side by side on the same folds and recommend the simplest model that is not worse.

>>> from fieldguide.compare import compare
"""

from fieldguide._lazy import exports

# Public names load on first use, so `fieldguide --help` does not import this capability.
__getattr__, __dir__ = exports(
    __name__,
    {
        "ALPHA": "_compare",
        "Candidate": "_compare",
        "Comparison": "_compare",
        "Recommendation": "_compare",
        "compare": "_compare",
        "zoo": "_compare",
        "METRICS": "_metrics",
        "Metric": "_metrics",
        "print_summary": "_render",
    },
)

__all__ = [
    "ALPHA",
    "METRICS",
    "Candidate",
    "Comparison",
    "Metric",
    "Recommendation",
    "compare",
    "print_summary",
    "zoo",
]
