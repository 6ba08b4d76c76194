"""Real processes: a writer SIGKILLed at every step of ``register``, and several writers at once."""

from __future__ import annotations

import multiprocessing
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from registry_workers import register_many, write_artifact

from fieldguide.errors import RegistryError
from fieldguide.registry import Registry

WORKERS = Path(__file__).with_name("registry_workers.py")
STEPS = ["copying", "staged", "allocated", "renamed", "committed"]


def run_child(
    url: str, root: Path, source: Path, loops: int = 1, fault: str | None = None
) -> subprocess.Popen:
    env = {**os.environ, "FIELDGUIDE_REGISTRY_FAULT": fault or ""}
    command = [sys.executable, str(WORKERS), url, str(root), str(source), str(loops)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def assert_consistent(registry: Registry) -> list[int]:
    """Every version opens (checksums hold), and after cleanup the disk holds exactly those versions."""
    numbers = [found.version for found in registry.versions("churn")]
    for number in numbers:
        registry.open("churn", number)
    registry.cleanup()
    assert sorted(p.name for p in (registry.artifact_root / "churn").iterdir()) == sorted(map(str, numbers))
    assert list((registry.artifact_root / ".staging").iterdir()) == []
    return numbers


@pytest.mark.parametrize("step", STEPS)
def test_writer_killed_at_each_step_leaves_only_complete_versions(registry_url, registry, artifact, step):
    registry.register("churn", artifact(0))
    child = run_child(registry_url, registry.artifact_root, artifact(1, tensor_bytes=1 << 20), fault=step)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == -9, stderr  # SIGKILL, at the step named

    visible = [found.version for found in registry.versions("churn")]
    assert visible == ([1, 2] if step == "committed" else [1])
    if step == "renamed":  # the directory is in place but its row was never committed: invisible
        assert (registry.artifact_root / "churn" / "2").is_dir()
        with pytest.raises(RegistryError, match="no version 2"):
            registry.open("churn", 2)
    assert assert_consistent(registry) == visible
    # The store keeps working: the next version takes the next free number and opens.
    after = registry.register("churn", artifact(2))
    assert after.version == visible[-1] + 1
    assert registry.open("churn", after.version) == after.path


def test_next_writer_replaces_a_directory_left_between_rename_and_commit(registry_url, registry, artifact):
    registry.register("churn", artifact(0))
    child = run_child(registry_url, registry.artifact_root, artifact(1), fault="renamed")
    child.communicate(timeout=120)
    orphan = registry.artifact_root / "churn" / "2"
    assert orphan.is_dir()
    source = artifact(2)
    found = registry.register("churn", source)  # handed number 2 again, without calling cleanup()
    assert found.version == 2
    assert registry.open("churn", 2) == orphan
    assert (orphan / "model.safetensors").read_bytes() == (source / "model.safetensors").read_bytes()


def test_writers_killed_after_random_delays(registry_url, registry, artifact):
    registry.register("churn", artifact(0))
    source = artifact(1, tensor_bytes=4 << 20)
    rng = random.Random(7)
    printed = 0
    for _ in range(3):
        child = run_child(registry_url, registry.artifact_root, source, loops=100)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 1.5))
        child.kill()
        stdout, _ = child.communicate(timeout=60)
        printed += len(stdout.split())
    numbers = assert_consistent(registry)
    # Each reported registration is there; at most one per kill finished without getting to say so.
    assert 1 + printed <= len(numbers) <= 1 + printed + 3
    assert numbers == sorted(set(numbers))


def test_concurrent_writers_on_a_fresh_database_get_distinct_versions(registry_url, artifact_root, tmp_path):
    # Nothing exists yet: the writers also race to create the tables and the model's first row.
    writers, each = 4, 5
    jobs = [(registry_url, str(artifact_root), w, each, str(tmp_path / "scratch")) for w in range(writers)]
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        results = [row for rows in pool.starmap(register_many, jobs) for row in rows]
    assert sorted(version for version, _, _ in results) == list(range(1, writers * each + 1))
    assert len({checksum for _, checksum, _ in results}) == writers * each
    with Registry(registry_url, artifact_root=artifact_root) as registry:
        for version, checksum, seed in results:
            found = registry.get("churn", version)
            assert (found.checksum, found.tags) == (checksum, {"seed": seed})
            opened = registry.open("churn", version)
            expected = write_artifact(tmp_path / "expected" / str(seed), seed)
            assert (opened / "model.safetensors").read_bytes() == (
                expected / "model.safetensors"
            ).read_bytes()
        assert_consistent(registry)


def test_cleanup_removes_only_what_no_row_points_to(registry, artifact):
    registry.register("churn", artifact(1))
    root = registry.artifact_root
    stray_version = root / "churn" / "7"  # e.g. a delete killed after its commit, before removing files
    stray_version.mkdir()
    (root / "churn" / "notes.txt").write_text("not ours to remove")
    (root / "unknown" / "1").mkdir(parents=True)  # a name without a row may be a first registration in flight
    staging = root / ".staging"
    foreign_fresh = staging / f"deadbeef-1-{'a' * 32}"  # another host's writer, still within the day
    foreign_stale = staging / f"deadbeef-2-{'b' * 32}"
    for path in (foreign_fresh, foreign_stale):
        path.mkdir()
    day_and_a_bit = time.time() - 25 * 3600
    os.utime(foreign_stale, (day_and_a_bit, day_and_a_bit))
    assert sorted(registry.cleanup()) == sorted([stray_version, foreign_stale])
    assert (
        foreign_fresh.is_dir()
        and (root / "unknown" / "1").is_dir()
        and (root / "churn" / "notes.txt").exists()
    )
    registry.open("churn", 1)
