"""fieldguide: from a table to a served, monitored, retrainable model.

The public surface lives in the capability packages: ``fieldguide.core`` (the three elements and the trainer),
``fieldguide.models`` (the zoo as scikit-learn estimators), ``fieldguide.data``, ``fieldguide.readiness``,
``fieldguide.registry``, ``fieldguide.io``, and ``fieldguide.backends`` (where compare's folds and search's trials
run). Importing ``fieldguide`` itself is cheap: nothing heavy (JAX, Polars) is imported until a capability is
used.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
