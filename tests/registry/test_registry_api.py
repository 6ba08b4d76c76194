"""The registry's Python API on SQLite and PostgreSQL: round trips, aliases, deletes, tampering, bad input."""

from __future__ import annotations

import doctest
import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from fieldguide.errors import ArtifactError, RegistryError
from fieldguide.registry import Registry, _registry


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree(directory: Path) -> dict[str, bytes]:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_round_trip_keeps_files_and_metadata(registry, artifact):
    source = artifact(seed=1)
    found = registry.register(
        "churn",
        source,
        metrics={"roc_auc": 0.91, "log_loss": np.float32(0.25)},
        params={"C": 1.0, "penalty": "l2"},
        lineage={"data": "sha256:abc", "code": "0.1.0", "source": Path("data/churn.csv")},
        tags={"team": "growth"},
        description="first try",
    )
    assert (found.name, found.version, found.aliases) == ("churn", 1, ())
    assert found.metrics == {"roc_auc": 0.91, "log_loss": 0.25}
    assert found.lineage["source"] == "data/churn.csv"
    assert found.description == "first try"
    assert found.path == registry.artifact_root / "churn" / "1"
    # The manifest holds exactly the source's files, with checksums computed independently here.
    expected = {p.relative_to(source).as_posix(): sha256(p) for p in source.rglob("*") if p.is_file()}
    assert {name: entry["sha256"] for name, entry in found.files.items()} == expected
    assert found.size == sum(p.stat().st_size for p in source.rglob("*") if p.is_file())
    assert registry.open("churn", 1) == found.path
    assert tree(found.path) == tree(source)
    assert registry.get("churn", 1) == found
    # The store holds a copy: changing the source afterwards changes nothing.
    (source / "pipeline.json").write_text("{}")
    registry.open("churn", 1)


def test_get_by_number_text_alias_and_latest(registry, artifact):
    for seed in range(3):
        registry.register("churn", artifact(seed), metrics={"seed": seed})
    registry.set_alias("churn", "champion", 2)
    assert registry.get("churn").version == 3
    assert registry.get("churn", 2).metrics == {"seed": 1}
    assert registry.get("churn", "2").version == 2
    assert registry.get("churn", "champion").version == 2
    assert registry.get("churn", "champion").aliases == ("champion",)
    assert registry.open("churn", "champion") == registry.artifact_root / "churn" / "2"
    assert [v.version for v in registry.versions("churn")] == [1, 2, 3]
    assert registry.list_models() == ["churn"]


def test_each_model_counts_its_own_versions(registry, artifact):
    assert registry.register("churn", artifact(1)).version == 1
    assert registry.register("fraud", artifact(2)).version == 1
    assert registry.register("churn", artifact(3)).version == 2
    assert registry.list_models() == ["churn", "fraud"]


def test_reopening_the_same_database_sees_everything(registry_url, artifact_root, artifact):
    with Registry(registry_url, artifact_root=artifact_root) as first:
        first.register("churn", artifact(1))
    with Registry(registry_url, artifact_root=artifact_root) as second:
        assert second.open("churn", 1).is_dir()


def test_default_registry_lives_under_fieldguide_home(tmp_path, artifact):
    with Registry() as registry:
        registry.register("churn", artifact(1))
        assert registry.artifact_root == (tmp_path / "home" / "artifacts").resolve()
    assert (tmp_path / "home" / "registry.db").is_file()
    assert (tmp_path / "home" / "artifacts" / "churn" / "1" / "pipeline.json").is_file()


@pytest.mark.parametrize(
    ("tamper", "named"),
    [
        ("edit", "model.safetensors was modified"),
        ("delete", "booster.txt is missing"),
        ("add", "featurizer/extra.json was added"),
    ],
)
def test_tampered_artifact_is_refused_naming_the_file(registry, artifact, tamper, named):
    path = registry.register("churn", artifact(1)).path
    registry.open("churn")
    if tamper == "edit":
        target = path / "model.safetensors"
        target.chmod(0o644)
        data = bytearray(target.read_bytes())
        data[-1] ^= 0x01
        target.write_bytes(bytes(data))
    elif tamper == "delete":
        (path / "booster.txt").unlink()
    else:
        (path / "featurizer" / "extra.json").write_text("{}")
    with pytest.raises(ArtifactError, match=named) as caught:
        registry.open("churn", 1)
    assert str(path) in str(caught.value)


def test_missing_artifact_directory_is_refused(registry, artifact):
    path = registry.register("churn", artifact(1)).path
    os.rename(path, path.with_name("moved"))
    with pytest.raises(ArtifactError, match=r"artifact directory .* is missing"):
        registry.open("churn")


def test_aliases_are_unique_per_model_and_move(registry, artifact):
    for seed in range(3):
        registry.register("churn", artifact(seed))
    registry.register("fraud", artifact(9))
    registry.set_alias("churn", "champion", 1)
    registry.set_alias("churn", "champion", 3)  # moves; never two champions
    registry.set_alias("churn", "challenger", "champion")  # an alias may name another alias's version
    registry.set_alias("fraud", "champion", 1)
    assert registry.aliases("churn") == {"challenger": 3, "champion": 3}
    assert registry.aliases("fraud") == {"champion": 1}
    assert registry.get("churn", 3).aliases == ("challenger", "champion")
    registry.remove_alias("churn", "challenger")
    assert registry.aliases("churn") == {"champion": 3}
    moves = [(e.version, e.detail) for e in registry.events("churn") if e.kind == "alias"]
    assert moves[:2] == [
        (1, {"alias": "champion", "previous": None}),
        (3, {"alias": "champion", "previous": 1}),
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda r: r.set_alias("churn", "champion", 7), "no version 7; its versions: 1"),
        (lambda r: r.set_alias("churn", "3", 1), "alias '3' is not valid"),
        (lambda r: r.get("churn", "staging"), "no alias 'staging'; its aliases: none"),
        (lambda r: r.remove_alias("churn", "staging"), "no alias 'staging'"),
        (lambda r: r.get("fraud"), "no model named 'fraud' in registry .*; it holds churn"),
        (lambda r: r.get("churn", 2.0), "alias 2.0 is not valid"),
    ],
)
def test_unknown_references_are_named(registry, artifact, call, message):
    registry.register("churn", artifact(1))
    with pytest.raises(RegistryError, match=message):
        call(registry)


def test_delete_refuses_an_aliased_version_unless_forced(registry, artifact):
    for seed in range(3):
        registry.register("churn", artifact(seed))
    registry.set_alias("churn", "champion", 2)
    with pytest.raises(RegistryError, match="version 2 is the target of alias champion"):
        registry.delete("churn", 2)
    assert registry.open("churn", 2).is_dir()
    registry.delete("churn", 2, force=True)
    assert registry.aliases("churn") == {}
    assert not (registry.artifact_root / "churn" / "2").exists()
    with pytest.raises(RegistryError, match="no version 2; its versions: 1, 3"):
        registry.get("churn", 2)
    registry.delete("churn", 3)
    # Numbers are never reused: a cached "churn v3" can never silently mean another model.
    assert registry.register("churn", artifact(7)).version == 4
    kinds = [(e.kind, e.version) for e in registry.events("churn")]
    assert ("delete", 2) in kinds and ("delete", 3) in kinds
    forced = next(e for e in registry.events("churn") if e.kind == "delete" and e.version == 2)
    assert forced.detail == {"aliases_removed": ["champion"], "force": True}


def test_deleting_every_version_leaves_no_model_listed(registry, artifact):
    registry.register("churn", artifact(1))
    registry.delete("churn", 1)
    assert registry.list_models() == []
    assert registry.versions("churn") == []
    with pytest.raises(RegistryError, match="no versions left"):
        registry.get("churn")


def test_record_event_builds_an_audit_trail(registry, artifact):
    registry.register("churn", artifact(1))
    event = registry.record_event("churn", 1, kind="promote", detail={"forced": True, "delta": 0.01})
    assert (event.name, event.version, event.kind) == ("churn", 1, "promote")
    assert event.actor and event.created_at.tzinfo is not None
    assert [e.kind for e in registry.events("churn")] == ["register", "promote"]
    assert registry.events("churn")[-1] == event
    with pytest.raises(RegistryError, match="no model named 'fraud'"):
        registry.record_event("fraud", kind="forget")
    with pytest.raises(RegistryError, match="event kind 'no spaces' is not valid"):
        registry.record_event("churn", kind="no spaces")


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a/b", "two words", "x" * 129, "café", None])
def test_bad_model_names_are_refused_before_anything_is_written(registry, artifact, name):
    with pytest.raises(
        RegistryError, match=f"model name {name!r} is not valid".replace("(", r"\(")
    ) as caught:
        registry.register(name, artifact(1))
    assert "letters, digits" in str(caught.value)
    assert not registry.artifact_root.exists() or not any(registry.artifact_root.rglob("*.json"))


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("metrics", {"roc_auc": math.nan}, "metrics must hold JSON values"),
        ("params", {"solver": object()}, "params must hold JSON values.*object"),
        ("tags", ["not", "a", "mapping"], "tags must be a mapping, got list"),
    ],
)
def test_metadata_must_be_json(registry, artifact, field, value, message):
    with pytest.raises(RegistryError, match=message):
        registry.register("churn", artifact(1), **{field: value})


def test_bad_sources_are_refused_naming_the_path(registry, tmp_path, artifact):
    with pytest.raises(ArtifactError, match="does not exist"):
        registry.register("churn", tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="holds no files"):
        registry.register("churn", tmp_path / "empty")
    source = artifact(1)
    (source / "secrets").symlink_to("/etc/hostname")
    with pytest.raises(ArtifactError, match="secrets is a symbolic link"):
        registry.register("churn", source)
    assert registry.list_models() == []


def test_a_database_from_a_newer_fieldguide_is_refused(registry_url, artifact_root):
    with (
        Registry(registry_url, artifact_root=artifact_root) as registry,
        registry._engine.begin() as connection,
    ):
        connection.execute(sa.text("UPDATE fieldguide_meta SET value = '99' WHERE key = 'registry_schema'"))
    with pytest.raises(RegistryError, match="schema version 99, written by a newer fieldguide"):
        Registry(registry_url, artifact_root=artifact_root)


def test_passwords_never_show(tmp_path):
    url = "postgresql+psycopg://fieldguide:s3cret-pw@127.0.0.1:1/registry"
    with pytest.raises(RegistryError) as caught:
        Registry(url, artifact_root=tmp_path)
    assert "s3cret-pw" not in str(caught.value)
    assert "fieldguide:***@127.0.0.1:1" in str(caught.value)
    with pytest.raises(RegistryError, match="supports sqlite and postgresql") as caught:
        Registry("mysql://root:s3cret-pw@db/registry")
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(RegistryError, match="not a database URL") as caught:
        Registry("not a url://user:s3cret-pw@host")
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_repr_masks_the_password(registry_url, tmp_path):
    url = sa.make_url(registry_url).set(password="s3cret-pw").render_as_string(hide_password=False)
    with Registry(url, artifact_root=tmp_path) as registry:  # trust auth accepts and ignores the password
        assert "s3cret-pw" not in repr(registry) and "***" in repr(registry)


def test_docstring_example_runs():
    assert doctest.testmod(_registry).failed == 0


def test_importing_the_cli_module_does_not_load_sqlalchemy():
    code = "import sys, fieldguide.registry.cli; assert 'sqlalchemy' not in sys.modules, 'sqlalchemy loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
