"""AutoML under a time budget: model and hyperparameter search (Optuna), pruning of bad trials, greedy ensemble
selection, the refit as a ``Pipeline``, registration, and export as readable Python.

>>> from fieldguide.search import search
"""

from fieldguide._lazy import exports

# Public names load on first use, so `fieldguide --help` does not import this capability.
__getattr__, __dir__ = exports(
    __name__,
    {
        "print_summary": "_render",
        "SearchResult": "_search",
        "TrialRecord": "_search",
        "search": "_search",
        "DEFAULT_MODELS": "_space",
    },
)

__all__ = ["DEFAULT_MODELS", "SearchResult", "TrialRecord", "print_summary", "search"]
