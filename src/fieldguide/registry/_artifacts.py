"""Artifact directories on disk: copying with checksums, verifying, and recognizing abandoned staging.

A version's artifact is a directory of regular files (JSON, safetensors, boosters' model text). Its manifest maps
each file's path (relative, ``/``-separated) to its SHA-256 and size; the manifest lives in the database, so a file
edited, removed or added on disk is caught by :func:`verify`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from fieldguide._files import CHUNK, sha256_bytes
from fieldguide.errors import ArtifactError

Manifest = dict[str, dict[str, int | str]]

STAGING = ".staging"  # under the artifact root; model names cannot start with a dot
STALE_AFTER_S = 24 * 3600  # staging left by another host, or a reused pid, is removed after this long
PROGRESS_FROM_BYTES = 64 << 20
FAULT_ENV = "FIELDGUIDE_REGISTRY_FAULT"  # names a step at which the process kills itself (crash tests)


def _host_tag() -> str:
    """Identifies where a process id means something: this host and, in a container, its PID namespace."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return sha256_bytes(f"{socket.gethostname()}/{namespace}".encode())[:8]


_HOST = _host_tag()
# A staging name, possibly inside atomic_directory's ".<name>.<random>.partial" temporary sibling.
_STAGING_NAME = re.compile(r"\.?([0-9a-f]{8})-(\d+)-[0-9a-f]{32}")


def fault(step: str) -> None:
    """Kill this process with SIGKILL when ``FIELDGUIDE_REGISTRY_FAULT`` names ``step`` (crash tests)."""
    if os.environ.get(FAULT_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def staging_name() -> str:
    """A unique staging directory name that records which host and process owns it."""
    return f"{_HOST}-{os.getpid()}-{uuid.uuid4().hex}"


def is_abandoned(entry: Path) -> bool:
    """Whether a staging entry's owner is gone: a dead process on this host, or older than a day."""
    match = _STAGING_NAME.match(entry.name)
    if match and match[1] == _HOST and not _alive(int(match[2])):
        return True
    return time.time() - entry.lstat().st_mtime > STALE_AFTER_S


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def manifest_checksum(files: Manifest) -> str:
    """One SHA-256 for a whole artifact: the hash of its canonical manifest."""
    return sha256_bytes(json.dumps(files, sort_keys=True, separators=(",", ":")).encode())


def _regular_files(root: Path) -> list[str]:
    """Relative paths of the files under ``root``; refuses links and special files, which a copy could not
    reproduce faithfully (and a link could leak files from elsewhere into the store)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath, entry)
            if path.is_symlink():
                raise ArtifactError(f"{path} is a symbolic link; artifacts hold regular files only")
        for entry in filenames:
            path = Path(dirpath, entry)
            if not path.is_file():
                raise ArtifactError(f"{path} is not a regular file; artifacts hold regular files only")
            found.append(path.relative_to(root).as_posix())
    return sorted(found)


def copy_into(source: Path, target: Path) -> Manifest:
    """Copy the files of ``source`` into the empty directory ``target``, read-only, hashing on the way."""
    if not source.is_dir():
        raise ArtifactError(f"artifact directory {source} does not exist or is not a directory")
    names = _regular_files(source)
    if not names:
        raise ArtifactError(f"artifact directory {source} holds no files; expected the pipeline's files")
    files: Manifest = {}
    with _progress(f"copying {source.name}", sum((source / n).stat().st_size for n in names)) as advance:
        for name in names:
            destination = target / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            files[name] = _hash(source / name, advance, copy_to=destination)
            destination.chmod(0o444)
            fault("copying")
    return files


def verify(directory: Path, files: Manifest, what: str) -> None:
    """Raise :class:`ArtifactError` naming every file of ``directory`` that differs from the manifest."""
    if not directory.is_dir():
        raise ArtifactError(f"{what}: artifact directory {directory} is missing")
    present = set(_regular_files(directory))
    problems = [f"{directory / n} is missing" for n in sorted(files.keys() - present)]
    problems += [f"{directory / n} was added after registration" for n in sorted(present - files.keys())]
    expected = {n: files[n] for n in sorted(files.keys() & present)}
    with _progress(f"verifying {what}", sum(int(e["bytes"]) for e in expected.values())) as advance:
        for name, entry in expected.items():
            found = _hash(directory / name, advance)
            if found["sha256"] != entry["sha256"]:
                problems.append(
                    f"{directory / name} was modified after registration "
                    f"(sha256 {str(found['sha256'])[:12]}…, expected {str(entry['sha256'])[:12]}…)"
                )
    if problems:
        raise ArtifactError(f"{what} failed verification, refusing to use it: " + "; ".join(problems))


def _hash(path: Path, advance: Callable[[int], None], copy_to: Path | None = None) -> dict[str, int | str]:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as source, open(copy_to, "xb") if copy_to else nullcontext() as sink:
        while block := source.read(CHUNK):
            digest.update(block)
            if sink:
                sink.write(block)
            size += len(block)
            advance(len(block))
    return {"sha256": digest.hexdigest(), "bytes": size}


@contextmanager
def _progress(description: str, total: int) -> Iterator[Callable[[int], None]]:
    """A transient Rich progress bar over ``total`` bytes, shown only when there are enough to wait for."""
    if total < PROGRESS_FROM_BYTES:
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (*Progress.get_default_columns()[:-1], DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_interactive) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)
