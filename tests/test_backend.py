"""Execution back ends: in-process, spawned processes and a real local Ray instance give the same ordered results."""

from __future__ import annotations

import math
import operator
import os
import sys

import pytest

from fieldguide._backend import _GPU_MEMORY_VARIABLES, LocalBackend, TaskError, get_backend
from fieldguide.errors import FieldguideError

ITEMS = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0]
# Ray starts its daemons with fork + exec, which JAX warns about when another test has imported it
pytestmark = [pytest.mark.filterwarnings("ignore:os.fork:RuntimeWarning"), pytest.mark.xdist_group("ray")]


@pytest.fixture(scope="module")
def ray_backend(ray_session):
    return get_backend("ray")


def _backends(ray_backend):
    return {
        "in-process": get_backend("local"),
        "processes": get_backend("local", n_jobs=2),
        "ray": ray_backend,
    }


def test_every_backend_returns_results_in_item_order(ray_backend):
    expected = [math.sqrt(x) for x in ITEMS]
    for name, backend in _backends(ray_backend).items():
        assert backend.map(math.sqrt, ITEMS, show_progress=False) == expected, name


def test_shared_object_is_passed_to_every_task(ray_backend):
    shared = ["a", "b"]
    for name, backend in _backends(ray_backend).items():
        assert backend.map(operator.mul, [2, 0, 1], shared=shared) == [shared * 2, [], shared], name


def test_on_result_sees_every_task_once(ray_backend):
    for name, backend in _backends(ray_backend).items():
        seen: dict[int, float] = {}
        backend.map(math.sqrt, ITEMS, on_result=seen.__setitem__, show_progress=False)
        assert seen == {i: math.sqrt(x) for i, x in enumerate(ITEMS)}, name


def test_a_failing_task_is_named_in_the_caller(ray_backend):
    for name, backend in _backends(ray_backend).items():
        names = [f"fold {i}" for i in range(4)]
        with pytest.raises(
            TaskError, match=r"Rooting: task 2 \(fold 2\) failed: ValueError: math domain"
        ) as info:
            backend.map(math.sqrt, [4.0, 1.0, -1.0, 9.0], description="Rooting", names=names)
        assert info.value.task == 2, name
        assert isinstance(info.value.__cause__, ValueError), name


def test_worker_processes_take_a_gpus_memory_as_they_go_unless_told_otherwise(monkeypatch):
    """JAX takes 75 % of a GPU's memory at its first operation, so a second worker on that GPU would find it
    taken: workers allocate as they go instead, unless the user set one of JAX's memory variables."""
    for name in _GPU_MEMORY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    backend = get_backend("local", n_jobs=2)
    asked = ["XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"]
    assert backend.map(os.getenv, asked, show_progress=False) == ["false", None]
    assert "XLA_PYTHON_CLIENT_PREALLOCATE" not in os.environ  # the caller's own environment is left alone
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", ".3")
    assert backend.map(os.getenv, asked, show_progress=False) == [None, ".3"]


def test_ray_tasks_see_only_the_gpus_they_asked_for(ray_backend, monkeypatch):
    """On a cluster with GPUs (the test instance declares one), Ray leaves them all visible to a task that asked
    for none, where each task's JAX would claim 75 % of the first GPU: such tasks see none and fit on the CPU. A
    task given a share sees its GPU and allocates memory as it goes, unless the caller set JAX's variables."""
    for name in _GPU_MEMORY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    asked = ["CUDA_VISIBLE_DEVICES", "XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION"]
    assert ray_backend.map(os.getenv, asked, show_progress=False) == ["", None, None]
    shared = get_backend("ray", gpus_per_task=0.5)
    assert shared.map(os.getenv, asked, show_progress=False) == ["0", "false", None]
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", ".3")
    assert shared.map(os.getenv, asked, show_progress=False) == ["0", None, ".3"]


@pytest.mark.parametrize("gpus", [-1, 1.5, "1"])
def test_ray_refuses_a_gpu_count_it_cannot_schedule(ray_session, gpus):
    with pytest.raises(FieldguideError, match=rf"gpus_per_task: expected 0, a fraction .* found {gpus!r}"):
        get_backend("ray", gpus_per_task=gpus)


def test_default_is_in_process_and_bad_options_are_refused():
    assert LocalBackend().n_jobs == 1
    assert LocalBackend(n_jobs=-1).n_jobs >= 1
    with pytest.raises(FieldguideError, match="n_jobs: expected a positive number"):
        LocalBackend(n_jobs=0)
    with pytest.raises(FieldguideError, match="backend: expected one of local, ray, found 'dask'"):
        get_backend("dask")
    with pytest.raises(ValueError, match="names: expected one per item"):
        get_backend("local").map(abs, [1, 2], names=["only one"])


def test_ray_missing_gives_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # makes ``import ray`` raise ImportError
    with pytest.raises(
        FieldguideError, match=r"Ray is not installed; install it with pip install 'fieldguide\[ray\]'"
    ):
        get_backend("ray")
