"""Save and load fitted estimators as safe, checksummed bundles: JSON + safetensors, never pickle.

A bundle is a directory written atomically (it appears complete or not at all, and is never overwritten)::

    manifest.json          {"format": "fieldguide.bundle", "format_version": 1, "files": {name: sha256}}
    meta.json              JSON metadata (for an estimator: class name, get_params(), scalar attributes, version)
    tensors.safetensors    the arrays, by name

Loading verifies every checksum in the manifest before parsing anything, reads only regular files (no links,
pipes or devices, no file the manifest does not list), looks the estimator class up in an allow-list of fieldguide
estimators (it never imports a name read from a file) and never unpickles. Adapters
(``fieldguide.models.adapters``) give their learned state as plain data through ``__fieldguide_state__()`` and take
it back through ``__fieldguide_restore__(state)``; an ensemble's members are nested ``{"estimator": ...}`` entries.
Any problem raises :class:`~fieldguide.errors.ArtifactError` naming the file and what is wrong.

The checksums catch a damaged or edited file, not a forger: whoever can write a bundle can write its manifest
too. A forged bundle still holds only plain data, so loading it runs no code; and the structures the tree and
booster adapters hand to scikit-learn's, LightGBM's and XGBoost's native code (node indices, a booster's model
text), which those libraries trust, are checked first (``fieldguide.models._native``): every split leads down to
a leaf of its own tree and reads one of the estimator's columns, so a forged one is refused instead of crashing
the process that predicts with it. A forger can still make a model predict whatever they like: load bundles only
from a registry or directory you trust.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from fieldguide import __version__
from fieldguide._files import atomic_directory, sha256_bytes
from fieldguide.errors import ArtifactError

FORMAT = "fieldguide.bundle"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
META = "meta.json"
TENSORS = "tensors.safetensors"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def write_bundle(path: str | os.PathLike, meta: dict, tensors: dict[str, np.ndarray]) -> Path:
    """Write ``meta`` (JSON-serialisable) and ``tensors`` (numeric/bool arrays) as a bundle directory at ``path``.

    >>> import tempfile, numpy as np
    >>> target = Path(tempfile.mkdtemp()) / "bundle"
    >>> _ = write_bundle(target, {"note": "hi"}, {"w": np.zeros(3)})
    >>> read_bundle(target)[0]["note"]
    'hi'
    """
    target = Path(path)
    if os.path.lexists(target):
        raise ArtifactError(f"{target}: already exists; bundles are never overwritten")
    try:
        arrays = safetensors.numpy.save({k: np.require(v, requirements="C") for k, v in tensors.items()})
    except Exception as err:  # safetensors raises its own error types (an unsupported dtype, say)
        raise ArtifactError(f"{target}: cannot store the arrays ({err})") from None
    files = {META: json.dumps(meta, indent=1, sort_keys=True).encode(), TENSORS: arrays}
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "files": {name: sha256_bytes(data) for name, data in files.items()},
    }
    try:
        with atomic_directory(target) as staging:
            for name, data in files.items():
                (staging / name).write_bytes(data)
            (staging / MANIFEST).write_bytes(json.dumps(manifest, indent=1).encode())
    except OSError as err:
        raise ArtifactError(f"{target}: cannot write the bundle ({err.strerror or err})") from None
    return target


def _read_json(file: Path, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"{file}: not valid JSON ({err})") from None
    except RecursionError:
        raise ArtifactError(f"{file}: nested too deeply to be a bundle's JSON") from None


def _read_file(file: Path) -> bytes:
    """The bytes of a regular file: a link is not followed, and a pipe or device is refused before it is read
    (either could stall or exhaust a reader)."""
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ArtifactError(f"{file}: missing from the bundle") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise ArtifactError(f"{file}: a symbolic link; a bundle holds only regular files") from None
        raise ArtifactError(f"{file}: cannot be read ({err.strerror or err})") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ArtifactError(f"{file}: not a regular file; a bundle holds only regular files")
        return handle.read()


def read_bundle(path: str | os.PathLike) -> tuple[dict, dict[str, np.ndarray]]:
    """Read a bundle written by :func:`write_bundle`, verifying the manifest's checksums; returns (meta, tensors)."""
    root = Path(path)
    manifest_file = root / MANIFEST
    manifest = _read_json(manifest_file, _read_file(manifest_file))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArtifactError(f"{manifest_file}: expected format {FORMAT!r}, found {manifest!r:.80}")
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(
            f"{manifest_file}: expected format_version 1 to {FORMAT_VERSION}, found {version!r}"
        )
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_file}: format_version {version!r} is newer than this fieldguide ({__version__}) reads "
            f"(<= {FORMAT_VERSION}); upgrade fieldguide"
        )
    checksums = manifest.get("files")
    if (
        not isinstance(checksums, dict)
        or set(checksums) != {META, TENSORS}
        or not all(isinstance(v, str) for v in checksums.values())
    ):
        raise ArtifactError(
            f"{manifest_file}: expected checksums of {META} and {TENSORS}, found {checksums!r:.80}"
        )
    unlisted = sorted(p.name for p in root.iterdir() if p.name not in (MANIFEST, *checksums))
    if unlisted:
        raise ArtifactError(f"{root / unlisted[0]}: not in the manifest; the bundle was modified")
    contents = {}
    for name, expected in checksums.items():
        if not _SAFE_NAME.match(name):  # pragma: no cover - guarded by the set comparison above
            raise ArtifactError(f"{manifest_file}: unsafe file name {name!r}")
        data = _read_file(root / name)
        if sha256_bytes(data) != expected:
            raise ArtifactError(
                f"{root / name}: SHA-256 does not match the manifest's; the file or {MANIFEST} was modified"
            )
        contents[name] = data
    meta = _read_json(root / META, contents[META])
    try:
        tensors = safetensors.numpy.load(contents[TENSORS])
    except Exception as err:  # safetensors raises its own error types
        raise ArtifactError(f"{root / TENSORS}: not a valid safetensors file ({err})") from None
    return meta, tensors


# -- estimators ------------------------------------------------------------------------------------------------


def _encode(value: Any, name: str, tensors: dict[str, np.ndarray]) -> Any:
    """A JSON description of ``value``; arrays go to ``tensors`` under ``name``."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        tensors[name] = value
        return {"tensor": name}
    if isinstance(value, np.ndarray) and all(isinstance(v, str) for v in value.ravel()):
        return {"strings": value.tolist(), "dtype": value.dtype.str if value.dtype.kind == "U" else "object"}
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return {"value": value}
    if isinstance(value, list | tuple):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, f"{name}.{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: _encode(v, f"{name}.{k}", tensors) for k, v in value.items()}}
    if _allowed_classes().get(type(value).__name__) is type(value):  # an ensemble's members
        return {"estimator": _describe(value, f"{name}.", tensors)}
    raise ArtifactError(
        f"{name}: cannot store a {type(value).__name__} safely (arrays, numbers, strings only)"
    )


# each kind of entry, and the JSON type its content must have
_KINDS = {
    "tensor": str,
    "strings": list,
    "value": (type(None), bool, int, float, str),
    "list": list,
    "tuple": list,
    "dict": dict,
    "estimator": dict,
}


def _decode(node: Any, tensors: dict[str, np.ndarray], where: str) -> Any:
    keys = set(node) if isinstance(node, dict) else set()
    kinds = keys & _KINDS.keys()
    kind = kinds.pop() if len(kinds) == 1 else None
    if kind is None or keys != ({kind, "dtype"} if kind == "strings" else {kind}):
        raise ArtifactError(f"{where}: malformed entry {node!r:.80}")
    content = node[kind]
    if not isinstance(content, _KINDS[kind]):
        raise ArtifactError(f"{where}: a {kind!r} entry holds a {type(content).__name__}: {content!r:.80}")
    if kind == "tensor":
        if content not in tensors:
            raise ArtifactError(f"{where}: tensor {content!r} missing from {TENSORS}")
        return tensors[content]
    if kind == "strings":
        return _strings(content, node["dtype"], where)
    if kind == "value":
        return content
    if kind in ("list", "tuple"):
        items = [_decode(v, tensors, where) for v in content]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {k: _decode(v, tensors, where) for k, v in content.items()}
    return _build(content, tensors, where)


# the widest fixed-width string dtype a bundle may ask for (a forged '<U999999999' would allocate gigabytes)
_MAX_STRING_WIDTH = 1 << 16


def _strings(content: list, dtype: Any, where: str) -> np.ndarray:
    """A 'strings' entry as the array it was: object, or fixed-width with its stored width (NumPy's
    ``unique`` keeps its input's width, and a multi-output model writes every output's labels into an array of
    the first output's dtype: narrowed to its own longest label, it would truncate the others)."""
    values = np.asarray(content, dtype=object)
    if not all(isinstance(v, str) for v in values.ravel()):
        raise ArtifactError(f"{where}: a 'strings' entry holds more than strings: {content!r:.80}")
    if dtype == "object":
        return values
    longest = max((len(v) for v in values.ravel()), default=0)
    width = dtype[2:] if isinstance(dtype, str) and dtype[:2] in ("<U", ">U", "|U") else ""
    if not (width.isdigit() and longest <= int(width) <= max(longest, _MAX_STRING_WIDTH)):
        raise ArtifactError(
            f"{where}: a 'strings' entry's dtype should be 'object' or '<U<width>' with a width from "
            f"{longest} (its longest string) to {_MAX_STRING_WIDTH}, found {dtype!r:.40}"
        )
    return values.astype(f"<U{int(width)}")


def _allowed_classes() -> dict[str, type]:
    from fieldguide.models import ZOO
    from fieldguide.models.adapters import SAVABLE

    return {cls.__name__: cls for cls in (*(entry.estimator for entry in ZOO), *SAVABLE)}


def _learned_state(estimator: Any) -> dict[str, Any]:
    """The learned attributes (``name_``) as plain data; adapters say how via ``__fieldguide_state__``."""
    hook = getattr(estimator, "__fieldguide_state__", None)
    if hook is None:
        return {k: v for k, v in vars(estimator).items() if k.endswith("_") and not k.startswith("_")}
    from sklearn.exceptions import NotFittedError

    try:
        return hook()
    except NotFittedError:
        return {}


def _describe(estimator: Any, prefix: str, tensors: dict[str, np.ndarray]) -> dict[str, Any]:
    """Class name, parameters and learned state (empty when unfitted) of an allow-listed estimator.

    The parameters are those the state was fitted with (a zoo estimator keeps them): ``set_params`` after a fit
    does not change what the estimator predicts until it is refitted, so neither does it change the bundle."""
    params = getattr(estimator, "_fit_params", None)
    return {
        "class": type(estimator).__name__,
        "params": _encode(
            estimator.get_params(deep=False) if params is None else params, f"{prefix}params", tensors
        ),
        "attributes": _encode(_learned_state(estimator), f"{prefix}attributes", tensors),
    }


def _build(node: Any, tensors: dict[str, np.ndarray], where: str) -> Any:
    """The estimator a ``_describe`` node describes; only allow-listed classes, only plain data."""
    allowed = _allowed_classes()
    name = node.get("class") if isinstance(node, dict) else None
    if not isinstance(name, str) or name not in allowed:
        raise ArtifactError(
            f"{where}: class {name!r:.80} is not a fieldguide estimator; allowed: {', '.join(sorted(allowed))}"
        )
    params = _decode(node.get("params"), tensors, where)
    attributes = _decode(node.get("attributes"), tensors, where)
    for part, value in (("params", params), ("attributes", attributes)):
        if not isinstance(value, dict):
            raise ArtifactError(
                f"{where}: {name}'s {part} must be a 'dict' entry, found {type(value).__name__}"
            )
    retired = getattr(allowed[name], "_retired_params", ())  # written by earlier versions, meaningless now
    params = {key: value for key, value in params.items() if key not in retired}
    try:
        estimator = allowed[name](**params)
    except TypeError as err:
        raise ArtifactError(f"{where}: parameters do not fit {name} ({err})") from None
    bad = [k for k in attributes if not (k.endswith("_") and not k.startswith("_"))]
    if bad:
        raise ArtifactError(f"{where}: {bad} are not learned attributes (they must end with '_')")
    restore = getattr(estimator, "__fieldguide_restore__", None)
    try:
        if restore is not None and attributes:  # an ensemble's members' parameters are unfitted estimators
            restore(attributes)
        else:
            for key, value in attributes.items():
                setattr(estimator, key, value)
    except ArtifactError:
        raise
    except Exception as err:  # whatever the state's library raises on it: the file, not the caller, is wrong
        raise ArtifactError(
            f"{where}: cannot restore the fitted {name} ({type(err).__name__}: {err})"
        ) from None
    return estimator


def save(estimator: Any, path: str | os.PathLike) -> Path:
    """Save a fitted fieldguide estimator as a bundle directory at ``path`` (which must not exist yet).

    >>> import tempfile, numpy as np
    >>> from fieldguide.models import Ridge
    >>> model = Ridge(alpha=1.0).fit(np.eye(3), np.arange(3.0))
    >>> target = save(model, Path(tempfile.mkdtemp()) / "ridge")
    >>> np.allclose(load(target).predict(np.eye(3)), model.predict(np.eye(3)))
    True
    """
    name = type(estimator).__name__
    if _allowed_classes().get(name) is not type(estimator):
        raise ArtifactError(f"{name}: only fieldguide estimators can be saved")
    tensors: dict[str, np.ndarray] = {}
    meta = {"kind": "estimator", "fieldguide_version": __version__, **_describe(estimator, "", tensors)}
    if not meta["attributes"]["dict"]:
        raise ArtifactError(f"{name}: the estimator is not fitted; fit it before saving")
    return write_bundle(path, meta, tensors)


def load(path: str | os.PathLike) -> Any:
    """Load an estimator saved by :func:`save`; refuses tampered files, unknown classes and future formats."""
    meta, tensors = read_bundle(path)
    where = str(Path(path) / META)
    if not isinstance(meta, dict) or meta.get("kind") != "estimator":
        raise ArtifactError(
            f"{where}: not an estimator bundle (kind {meta.get('kind') if isinstance(meta, dict) else meta!r})"
        )
    if meta.get("attributes") == {"dict": {}}:
        raise ArtifactError(f"{where}: holds no learned attributes; only fitted estimators are saved")
    try:
        return _build(meta, tensors, where)
    except RecursionError:
        raise ArtifactError(f"{where}: entries nested too deeply to be an estimator") from None
