"""Fixtures shared by every test directory."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

# Each run compiles from scratch, so that no result depends on what an earlier run (or the user's own work) left
# in JAX's persistent compilation cache, into a cache of its own that the run's workers share: they inherit this
# variable from the process that starts them, which removes the directory at exit. The cache's switches are
# tested in subprocesses (tests/core/test_trainer.py).
if "PYTEST_XDIST_WORKER" not in os.environ:
    os.environ["FIELDGUIDE_CACHE"] = tempfile.mkdtemp(prefix="fieldguide-test-cache-")
    atexit.register(shutil.rmtree, os.environ["FIELDGUIDE_CACHE"], ignore_errors=True)

POSTGRES_URL = os.environ.get("FIELDGUIDE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@functools.cache
def _postgres_unreachable() -> str | None:
    """Why the test PostgreSQL cannot be used, or None when it can."""
    try:
        engine = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
    except Exception as err:
        return f"PostgreSQL at {POSTGRES_URL} is unreachable: {str(err).splitlines()[0]}"
    return None


@pytest.fixture
def postgres_schema_url() -> Iterator[str]:
    """A URL whose connections use a fresh PostgreSQL schema, dropped afterwards; skips when none is reachable.

    Tests share the one ``test`` database, so each gets its own schema (``search_path``) and leaves nothing.
    """
    reason = _postgres_unreachable()
    if reason:
        pytest.skip(reason)
    schema = f"fieldguide_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, poolclass=sa.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(autouse=True)
def _stay_under_the_memory_map_limit():
    """A test worker compiles thousands of programs; each XLA:CPU executable holds memory maps, and past Linux's
    vm.max_map_count the next compilation aborts the worker. The trainer guards its own fits every few fits; this
    looks before every test, for programs compiled outside it."""
    from fieldguide.core._learner import release_compiled_code_if_crowded

    release_compiled_code_if_crowded(force_check=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A fresh, empty database for the registry or the prediction log: a SQLite file, or a PostgreSQL schema
    dropped afterwards (every test using it runs on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fieldguide.db'}"
    else:
        yield request.getfixturevalue("postgres_schema_url")


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for the whole session (tests using it share the ``ray`` xdist group, one worker).
    It declares one GPU, with no device behind it: Ray schedules GPUs by count and tells each task its own through
    ``CUDA_VISIBLE_DEVICES``, which is what the back end's GPU options are checked by."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    if started:
        ray.shutdown()
