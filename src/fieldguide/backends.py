"""Where :func:`fieldguide.compare.compare`'s folds and :func:`fieldguide.search.search`'s trials run.

Both take ``backend="local"`` or ``"ray"`` by name, or a back end built here with options::

    from fieldguide.backends import get_backend
    compare(table, "churn", backend=get_backend("local", n_jobs=4))
    search(table, "churn", backend=get_backend("ray", address="auto", gpus_per_task=0.25))

See :class:`LocalBackend` and :class:`RayBackend` for what each option does.
"""

from fieldguide._backend import BACKENDS, Backend, LocalBackend, RayBackend, TaskError, get_backend

__all__ = ["BACKENDS", "Backend", "LocalBackend", "RayBackend", "TaskError", "get_backend"]
