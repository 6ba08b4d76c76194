"""Versioned model artifacts with aliases, over SQLite or PostgreSQL.

How a registration stays atomic: the artifact is copied and checksummed into a staging directory under the
artifact root (``atomic_directory``: complete or absent); then one transaction allocates the version number,
inserts the row, renames the staged directory to ``<root>/<name>/<version>`` and commits. A process killed
before the commit leaves no row, only a directory nothing points to: staging is swept once its process is gone,
and a renamed-but-uncommitted directory is cleared by the next writer that is handed the same number.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shutil
import socket
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fieldguide import __version__, _config
from fieldguide._files import _fsync_dir, atomic_directory
from fieldguide.errors import RegistryError
from fieldguide.registry import _artifacts, _store
from fieldguide.registry._store import aliases as _aliases
from fieldguide.registry._store import events as _events
from fieldguide.registry._store import models as _models
from fieldguide.registry._store import versions as _versions

_NAME = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{_store.NAME_MAX - 1}}}")
_ALIAS = re.compile(
    rf"[A-Za-z][A-Za-z0-9._-]{{0,{_store.NAME_MAX - 1}}}"
)  # never all digits: "3" is a version


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of a model: where its files are and what was recorded with it.

    ``path`` is the artifact directory; use :meth:`Registry.open` to get it verified against ``files``
    (relative path -> ``{"sha256", "bytes"}``). ``checksum`` is the SHA-256 of that manifest.
    """

    name: str
    version: int
    created_at: datetime
    path: Path
    checksum: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    lineage: dict[str, Any]
    tags: dict[str, Any]
    description: str
    aliases: tuple[str, ...]
    files: dict[str, dict[str, Any]] = field(repr=False)

    @property
    def size(self) -> int:
        """Total bytes of the artifact's files."""
        return sum(int(entry["bytes"]) for entry in self.files.values())


@dataclass(frozen=True)
class Event:
    """One entry of a model's audit trail (registrations, aliases, deletions, and what others record)."""

    id: int
    name: str
    version: int | None
    kind: str
    detail: dict[str, Any]
    actor: str
    created_at: datetime


class Registry:
    """Versioned model artifacts with aliases such as ``champion``, in SQLite or PostgreSQL.

    Args:
        url: SQLAlchemy URL of the database; default ``FIELDGUIDE_REGISTRY``, else SQLite under
            ``FIELDGUIDE_HOME``. Its password is never shown: :attr:`url` is masked.
        artifact_root: directory holding ``<name>/<version>/`` artifacts (shared storage for a team);
            default ``FIELDGUIDE_HOME/artifacts``.

    Example:
        >>> import pathlib, tempfile
        >>> tmp = pathlib.Path(tempfile.mkdtemp())
        >>> (tmp / "pipeline").mkdir()
        >>> _ = (tmp / "pipeline" / "model.json").write_text('{"coef": [0.5]}')
        >>> reg = Registry(f"sqlite:///{tmp}/registry.db", artifact_root=tmp / "artifacts")
        >>> reg.register("churn", tmp / "pipeline", metrics={"roc_auc": 0.91}).version
        1
        >>> reg.set_alias("churn", "champion", 1)
        >>> reg.get("churn", "champion").metrics
        {'roc_auc': 0.91}
        >>> sorted(p.name for p in reg.open("churn", "champion").iterdir())
        ['model.json']
        >>> reg.close()
    """

    def __init__(self, url: str | None = None, *, artifact_root: str | os.PathLike | None = None) -> None:
        raw = url or _config.registry_url()
        self.url = _store.hide_password(raw)
        self.artifact_root = Path(artifact_root or _config.home() / "artifacts").expanduser().resolve()
        self._password = _password(raw)
        self._engine = _store.create_engine(raw)
        self._writer = self._engine.execution_options(**_store.WRITE)
        try:
            with self._transaction() as connection:  # reading first: no write lock for an existing registry
                current = _store.schema_version(connection, self.url) == _store.SCHEMA_VERSION
            if not current:
                with self._transaction(write=True) as connection:
                    _store.initialize(connection, self.url)
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Registry({self.url!r}, artifact_root={str(self.artifact_root)!r})"

    def close(self) -> None:
        """Close the database connections."""
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------------------

    def register(
        self,
        name: str,
        source: str | os.PathLike,
        *,
        metrics: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        lineage: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
        description: str = "",
    ) -> ModelVersion:
        """Copy the artifact directory ``source`` into the store as the next version of ``name``.

        Every file is checksummed; metrics, params, lineage (data fingerprint, code version, config) and tags
        are stored as JSON. Atomic: a process killed at any point leaves either this version complete or no
        trace of it, and concurrent writers always get distinct versions.
        """
        _check(name, "model name", _NAME)
        given = {"metrics": metrics, "params": params, "lineage": lineage, "tags": tags}
        record = {key: _json_object(key, value) for key, value in given.items()}
        if not isinstance(description, str):
            raise RegistryError(f"description must be a string, got {type(description).__name__}")
        self._sweep_staging()
        staged = self.artifact_root / _artifacts.STAGING / _artifacts.staging_name()
        with atomic_directory(staged) as building:
            files = _artifacts.copy_into(Path(source), building)
        _artifacts.fault("staged")
        checksum = _artifacts.manifest_checksum(files)
        try:
            with self._transaction(write=True) as connection:
                version = self._allocate(connection, name)
                _artifacts.fault("allocated")
                target = self.artifact_root / name / str(version)
                # A directory here was left by a writer killed between its rename and its commit: no row points
                # to it, and while we hold this model's lock nobody else can be placing the same version.
                shutil.rmtree(target, ignore_errors=True)
                connection.execute(
                    sa.insert(_versions).values(
                        name=name,
                        version=version,
                        created_at=_now(),
                        path=f"{name}/{version}",
                        checksum=checksum,
                        files=files,
                        description=description,
                        **record,
                    )
                )
                detail = {"checksum": checksum, "files": len(files), "fieldguide": __version__}
                self._log(connection, name, version, "register", detail)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.rename(staged, target)
                _fsync_dir(target.parent)
                _artifacts.fault("renamed")
        finally:
            shutil.rmtree(staged, ignore_errors=True)  # already gone once renamed into place
        _artifacts.fault("committed")
        return self.get(name, version)

    def set_alias(self, name: str, alias: str, version: int | str) -> None:
        """Point ``alias`` (e.g. ``champion``) of model ``name`` at ``version`` (a number or another alias)."""
        _check(alias, "alias", _ALIAS)
        with self._transaction(write=True) as connection:
            self._lock(connection, name)
            target = self._resolve(connection, name, version)
            key = (_aliases.c.name == name) & (_aliases.c.alias == alias)
            previous = connection.execute(sa.select(_aliases.c.version).where(key)).scalar()
            if previous is None:
                statement = sa.insert(_aliases).values(
                    name=name, alias=alias, version=target, updated_at=_now()
                )
            else:
                statement = sa.update(_aliases).where(key).values(version=target, updated_at=_now())
            connection.execute(statement)
            self._log(connection, name, target, "alias", {"alias": alias, "previous": previous})

    def remove_alias(self, name: str, alias: str) -> None:
        """Remove ``alias`` of model ``name``; the version it pointed to stays."""
        _check(alias, "alias", _ALIAS)
        with self._transaction(write=True) as connection:
            self._lock(connection, name)
            version = self._resolve(connection, name, alias)
            key = (_aliases.c.name == name) & (_aliases.c.alias == alias)
            connection.execute(sa.delete(_aliases).where(key))
            self._log(connection, name, version, "unalias", {"alias": alias})

    def delete(self, name: str, version: int, *, force: bool = False) -> None:
        """Delete one version and its artifact; refused while an alias points to it, unless ``force``
        (which removes those aliases too). Version numbers are never reused."""
        if isinstance(version, bool) or not isinstance(version, int):
            raise RegistryError(f"version to delete must be an integer, got {version!r}")
        with self._transaction(write=True) as connection:
            self._lock(connection, name)
            self._resolve(connection, name, version)
            pointing = list(
                connection.execute(
                    sa.select(_aliases.c.alias)
                    .where((_aliases.c.name == name) & (_aliases.c.version == version))
                    .order_by(_aliases.c.alias)
                ).scalars()
            )
            if pointing and not force:
                raise RegistryError(
                    f"model {name!r} version {version} is the target of alias {', '.join(pointing)}; "
                    "point the alias elsewhere first, or delete with force (--force) to remove it too"
                )
            connection.execute(
                sa.delete(_aliases).where(_aliases.c.name == name, _aliases.c.version == version)
            )
            connection.execute(
                sa.delete(_versions).where(_versions.c.name == name, _versions.c.version == version)
            )
            self._log(connection, name, version, "delete", {"aliases_removed": pointing, "force": force})
        # After the commit: a crash here leaves a directory no row points to, which cleanup() removes.
        shutil.rmtree(self.artifact_root / name / str(version), ignore_errors=True)

    def record_event(
        self, name: str, version: int | None = None, *, kind: str, detail: Mapping[str, Any] | None = None
    ) -> Event:
        """Append an entry to model ``name``'s audit trail, e.g. ``kind="promote"`` with the gate's verdict."""
        _check(kind, "event kind", _NAME)
        if version is not None and (isinstance(version, bool) or not isinstance(version, int) or version < 1):
            raise RegistryError(f"event version must be a positive integer or None, got {version!r}")
        payload = _json_object("detail", detail)
        with self._transaction(write=True) as connection:
            self._lock(connection, name)
            event_id = self._log(connection, name, version, kind, payload)
            row = connection.execute(sa.select(_events).where(_events.c.id == event_id)).one()
        return _event(row)

    def cleanup(self) -> list[Path]:
        """Remove what interrupted writers left behind (invisible to readers either way); returns the paths.

        Staging directories go once their process is gone (or after a day, when owned by another host);
        version directories without a row go under their model's lock. A first registration of a new name
        killed before its commit is cleared by the next registration of that name.
        """
        removed = self._sweep_staging()
        if not self.artifact_root.is_dir():
            return removed
        for folder in sorted(
            p for p in self.artifact_root.iterdir() if p.is_dir() and _NAME.fullmatch(p.name)
        ):
            with self._transaction(write=True) as connection:
                locked = sa.select(_models.c.name).where(_models.c.name == folder.name).with_for_update()
                if connection.execute(locked).scalar() is None:
                    continue
                kept = set(
                    connection.execute(
                        sa.select(_versions.c.path).where(_versions.c.name == folder.name)
                    ).scalars()
                )
                for entry in sorted(folder.iterdir()):
                    if entry.name.isdigit() and f"{folder.name}/{entry.name}" not in kept:
                        shutil.rmtree(entry, ignore_errors=True)
                        removed.append(entry)
        return removed

    # -- reading -------------------------------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Names of the models that have at least one version, sorted."""
        with self._transaction() as connection:
            query = sa.select(_versions.c.name).distinct().order_by(_versions.c.name)
            return list(connection.execute(query).scalars())

    def versions(self, name: str) -> list[ModelVersion]:
        """Every version of model ``name``, oldest first."""
        with self._transaction() as connection:
            self._require(connection, name)
            return self._load(connection, name)

    def get(self, name: str, ref: int | str | None = None) -> ModelVersion:
        """Version ``ref`` of model ``name``: a number, an alias such as ``"champion"``, or None for the latest."""
        with self._transaction() as connection:
            version = self._resolve(connection, name, ref)
            return self._load(connection, name, version)[0]

    def open(self, name: str, ref: int | str | None = None) -> Path:
        """The artifact directory of ``get(name, ref)``, after checking every file against its checksum.

        Raises :class:`~fieldguide.errors.ArtifactError` naming each file modified, missing or added.
        """
        found = self.get(name, ref)
        _artifacts.verify(found.path, found.files, f"model {name!r} version {found.version}")
        return found.path

    def aliases(self, name: str) -> dict[str, int]:
        """Model ``name``'s aliases and the versions they point to."""
        with self._transaction() as connection:
            self._require(connection, name)
            query = sa.select(_aliases.c.alias, _aliases.c.version).where(_aliases.c.name == name)
            return dict(connection.execute(query.order_by(_aliases.c.alias)).all())

    def events(self, name: str) -> list[Event]:
        """Model ``name``'s audit trail, oldest first."""
        with self._transaction() as connection:
            self._require(connection, name)
            query = sa.select(_events).where(_events.c.name == name).order_by(_events.c.id)
            return [_event(row) for row in connection.execute(query)]

    # -- internals -----------------------------------------------------------------------------------------

    @contextmanager
    def _transaction(self, write: bool = False) -> Iterator[sa.Connection]:
        try:
            with (self._writer if write else self._engine).begin() as connection:
                yield connection
        except sa.exc.DBAPIError as err:
            reason = str(err.orig or err).strip().splitlines()[0]
            if self._password:
                reason = reason.replace(self._password, "***")
            raise RegistryError(f"registry database {self.url}: {reason}") from err

    def _allocate(self, connection: sa.Connection, name: str) -> int:
        """The next version number of ``name``; the row update locks the model until the transaction ends."""
        _store.insert_ignoring_duplicates(connection, _models, name=name, last_version=0, created_at=_now())
        bump = (
            sa.update(_models)
            .where(_models.c.name == name)
            .values(last_version=_models.c.last_version + 1)
            .returning(_models.c.last_version)
        )
        return connection.execute(bump).scalar_one()

    def _require(self, connection: sa.Connection, name: str, lock: bool = False) -> None:
        _check(name, "model name", _NAME)
        query = sa.select(_models.c.name).where(_models.c.name == name)
        if connection.execute(query.with_for_update() if lock else query).scalar() is None:
            known = self._names(connection)
            listing = f"; it holds {', '.join(known)}" if known else "; it holds no models yet"
            raise RegistryError(f"no model named {name!r} in registry {self.url}{listing}")

    def _lock(self, connection: sa.Connection, name: str) -> None:
        """Serialize writers of one model (PostgreSQL row lock; SQLite's BEGIN IMMEDIATE already does)."""
        self._require(connection, name, lock=True)

    def _names(self, connection: sa.Connection) -> list[str]:
        query = sa.select(_versions.c.name).distinct().order_by(_versions.c.name).limit(20)
        return list(connection.execute(query).scalars())

    def _resolve(self, connection: sa.Connection, name: str, ref: int | str | None) -> int:
        self._require(connection, name)
        of_model = _versions.c.name == name
        if ref is None:
            latest = connection.execute(sa.select(sa.func.max(_versions.c.version)).where(of_model)).scalar()
            if latest is None:
                raise RegistryError(f"model {name!r} has no versions left; all were deleted")
            return latest
        if isinstance(ref, str) and ref.isascii() and ref.isdigit():
            ref = int(ref)  # "3" from the command line
        if isinstance(ref, int) and not isinstance(ref, bool):
            if (
                connection.execute(
                    sa.select(_versions.c.version).where(of_model, _versions.c.version == ref)
                ).scalar()
                is None
            ):
                known = connection.execute(
                    sa.select(_versions.c.version).where(of_model).order_by(_versions.c.version)
                )
                listing = ", ".join(str(v) for v in known.scalars()) or "none"
                raise RegistryError(f"model {name!r} has no version {ref}; its versions: {listing}")
            return ref
        _check(ref, "alias", _ALIAS)
        key = (_aliases.c.name == name) & (_aliases.c.alias == ref)
        version = connection.execute(sa.select(_aliases.c.version).where(key)).scalar()
        if version is None:
            known = connection.execute(
                sa.select(_aliases.c.alias).where(_aliases.c.name == name).order_by(_aliases.c.alias)
            )
            listing = ", ".join(known.scalars()) or "none"
            raise RegistryError(f"model {name!r} has no alias {ref!r}; its aliases: {listing}")
        return version

    def _load(self, connection: sa.Connection, name: str, version: int | None = None) -> list[ModelVersion]:
        pointing: dict[int, list[str]] = defaultdict(list)
        query = sa.select(_aliases.c.alias, _aliases.c.version).where(_aliases.c.name == name)
        for alias, target in connection.execute(query.order_by(_aliases.c.alias)):
            pointing[target].append(alias)
        rows = sa.select(_versions).where(_versions.c.name == name).order_by(_versions.c.version)
        if version is not None:
            rows = rows.where(_versions.c.version == version)
        return [
            ModelVersion(
                name=row.name,
                version=row.version,
                created_at=_utc(row.created_at),
                path=self.artifact_root / row.path,
                checksum=row.checksum,
                metrics=row.metrics,
                params=row.params,
                lineage=row.lineage,
                tags=row.tags,
                description=row.description,
                aliases=tuple(pointing[row.version]),
                files=row.files,
            )
            for row in connection.execute(rows)
        ]

    def _log(self, connection: sa.Connection, name: str, version: int | None, kind: str, detail: dict) -> int:
        values = {
            "name": name,
            "version": version,
            "kind": kind,
            "detail": detail,
            "actor": _actor(),
            "created_at": _now(),
        }
        return connection.execute(sa.insert(_events).values(**values)).inserted_primary_key[0]

    def _sweep_staging(self) -> list[Path]:
        staging = self.artifact_root / _artifacts.STAGING
        removed = []
        for entry in sorted(staging.iterdir()) if staging.is_dir() else ():
            try:
                abandoned = _artifacts.is_abandoned(entry)
            except FileNotFoundError:  # swept by a concurrent writer
                continue
            if abandoned:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
        return removed


def check_model_name(name: object) -> None:
    """Raise ``RegistryError`` unless ``name`` is a valid model name (what :meth:`Registry.register` accepts)."""
    _check(name, "model name", _NAME)


def _check(value: object, what: str, pattern: re.Pattern[str]) -> None:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        first = "a letter" if pattern is _ALIAS else "a letter or digit"
        raise RegistryError(
            f"{what} {value!r} is not valid: expected 1 to {_store.NAME_MAX} letters, digits, '-', '_' or '.', "
            f"starting with {first}"
        )


def _json_object(field_name: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    """``value`` as plain JSON (NumPy scalars and arrays become numbers and lists), or a RegistryError."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RegistryError(f"{field_name} must be a mapping, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(dict(value), allow_nan=False, default=_plain))
    except (TypeError, ValueError) as err:
        raise RegistryError(
            f"{field_name} must hold JSON values (finite numbers, text, lists, mappings): {err}"
        ) from None


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON")


def _password(url: str) -> str | None:
    try:
        return sa.make_url(url).password
    except sa.exc.ArgumentError:
        return None


def _event(row: sa.Row) -> Event:
    return Event(row.id, row.name, row.version, row.kind, row.detail, row.actor, _utc(row.created_at))


def _now() -> datetime:
    return datetime.now(UTC)


def _utc(moment: datetime) -> datetime:
    """SQLite hands datetimes back without a zone; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no user name in some containers
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
