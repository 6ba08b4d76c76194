"""Where fieldguide keeps its files, and the CLI's defaults: from flags, environment variables, a TOML file, or
built-in defaults, in that order of precedence.

``FIELDGUIDE_HOME`` (default ``./.fieldguide``) holds the registry database and artifacts;
``FIELDGUIDE_REGISTRY`` overrides the registry's SQLAlchemy URL (default SQLite under the home);
``FIELDGUIDE_CACHE`` (default ``$XDG_CACHE_HOME/fieldguide``, else ``~/.cache/fieldguide``) holds compiled programs.
``fieldguide.toml`` (or ``[tool.fieldguide]`` of ``pyproject.toml``, or ``$FIELDGUIDE_CONFIG``, or ``--config``)
may set the three as ``home``, ``registry`` and ``cache`` (for the Python API too), and any verb's option defaults
in a table named after the verb: see :func:`apply_config`.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any


def home() -> Path:
    """The fieldguide home directory (not created here): ``FIELDGUIDE_HOME``, else the configuration file's
    ``home``, else ``./.fieldguide``."""
    return Path(_setting("home") or ".fieldguide").expanduser()


def registry_url() -> str:
    """The registry's SQLAlchemy URL: ``FIELDGUIDE_REGISTRY``, else the configuration file's ``registry``, else
    SQLite under :func:`home`."""
    return _setting("registry") or f"sqlite:///{(home() / 'registry.db').resolve()}"


def cache_dir() -> Path:
    """Per-user cache (the JAX persistent compilation cache lives here): ``FIELDGUIDE_CACHE``, else the
    configuration file's ``cache``, else ``$XDG_CACHE_HOME/fieldguide`` or ``~/.cache/fieldguide``."""
    given = _setting("cache")
    if given:
        return Path(given).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fieldguide"


def _setting(key: str) -> str | None:
    """``key``'s environment variable, else the value the configuration file in effect gives it, else None."""
    value = os.environ.get(_SETTINGS[key])
    if value:
        return value
    path = config_file()
    return None if path is None else file_settings(path).get(key)


# -- the TOML file ----------------------------------------------------------------------------------------------

CONFIG_FILE = "fieldguide.toml"
# top-level keys of the file, and the environment variable that overrides each
_SETTINGS = {"home": "FIELDGUIDE_HOME", "registry": "FIELDGUIDE_REGISTRY", "cache": "FIELDGUIDE_CACHE"}


def config_file(given: str | os.PathLike | None = None) -> Path | None:
    """The configuration file in use: ``given`` (``--config``), else ``$FIELDGUIDE_CONFIG``, else
    ``./fieldguide.toml`` when it exists, else ``[tool.fieldguide]`` of ``./pyproject.toml`` when it has one."""
    if given is not None or os.environ.get("FIELDGUIDE_CONFIG"):
        path = Path(given if given is not None else os.environ["FIELDGUIDE_CONFIG"]).expanduser()
        if not path.is_file():
            from fieldguide.errors import ConfigError

            source = "--config" if given is not None else "FIELDGUIDE_CONFIG"
            raise ConfigError(f"{source}: {path} is not a file")
        return path
    if Path(CONFIG_FILE).is_file():
        return Path(CONFIG_FILE)
    pyproject = Path("pyproject.toml")
    if pyproject.is_file() and "fieldguide" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    return None


def read_config(path: Path) -> dict[str, Any]:
    """The file's fieldguide table (all of ``fieldguide.toml``, or ``[tool.fieldguide]`` of a pyproject.toml)."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("fieldguide", {})
    return data


def apply_config(path: Path, data: dict[str, Any], commands: dict[str, Any]) -> dict[str, Any]:
    """Put the file's settings in effect: ``home``, ``registry`` and ``cache`` become the environment variables
    the environment does not set already (relative paths are read from the file's directory), and the tables
    named after verbs (``[train]``, ``[models.export]``) become those verbs' option defaults.

    commands: the CLI's verbs by name (Click commands or groups). Returns Click's ``default_map`` (keyed by each
    option's parameter name). Raises ``ConfigError`` naming the file and key for anything unknown.
    """
    for key, value in file_settings(path, data).items():  # for the worker processes a verb starts, too
        os.environ.setdefault(_SETTINGS[key], value)
    tables = {k: v for k, v in data.items() if k not in _SETTINGS}
    return _defaults(path, tables, commands, "")


def file_settings(path: Path, data: dict[str, Any] | None = None) -> dict[str, str]:
    """``home``, ``registry`` and ``cache`` as the file (its contents ``data``, read when None) sets them, read as
    it means them (:func:`file_value`)."""
    from fieldguide.errors import ConfigError

    found = {}
    data = read_config(path) if data is None else data
    for key in _SETTINGS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{path}: {key} must be a non-empty string, found {value!r}")
        found[key] = file_value(path, key, value)
    return found


def settings(path: Path | None) -> list[tuple[str, str, str]]:
    """``(key, value, origin)`` of ``home``, ``registry`` (its password hidden) and ``cache`` in effect, origin
    being ``file``, the environment variable, or ``default``."""
    from sqlalchemy.engine import make_url

    from_file = file_settings(path) if path else {}
    values = {"home": home().resolve(), "registry": registry_url(), "cache": cache_dir()}
    found = []
    for key, variable in _SETTINGS.items():
        value = str(values[key])
        if key == "registry":
            value = make_url(value).render_as_string(hide_password=True)
        given = os.environ.get(variable)
        if given and given != from_file.get(key):
            origin = f"${variable}"
        else:
            origin = "file" if key in from_file else "default"
        found.append((key, value, origin))
    return found


def option_tables(path: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """The file's verb tables as written, nested ones flattened: ``[("train", {...}), ("models export", {...})]``."""

    def flat(tables: dict[str, Any], where: str) -> list[tuple[str, dict[str, Any]]]:
        found = []
        for name, table in tables.items():
            if not isinstance(table, dict) or (not where and name in _SETTINGS):
                continue
            nested = {k: v for k, v in table.items() if isinstance(v, dict)}
            options = {k: v for k, v in table.items() if not isinstance(v, dict)}
            if options:
                found.append((f"{where}{name}", options))
            found.extend(flat(nested, f"{where}{name} "))
        return found

    return flat(read_config(path), "") if path else []


def file_value(path: Path, key: str, value: str) -> str:
    """A setting as the file means it: a path relative to the file's directory, or a URL as written."""
    if key == "registry" and "://" in value:
        return value
    return str((path.parent / Path(value).expanduser()).resolve())


def _defaults(path: Path, tables: dict[str, Any], commands: dict[str, Any], where: str) -> dict[str, Any]:
    from fieldguide.errors import ConfigError

    found: dict[str, Any] = {}
    for name, table in tables.items():
        command = commands.get(name)
        if command is None:
            known = sorted(commands) + ([] if where else sorted(_SETTINGS))
            raise ConfigError(
                f"{path}: unknown {'key' if not where else 'verb'} {where}{name!r}; known: {known}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{where}{name}] must be a table of options, found {table!r}")
        sub = getattr(command, "commands", None)
        if sub is not None:  # a group such as `models`: its tables are its verbs'
            found[name] = _defaults(path, table, sub, f"{where}{name}.")
            continue
        options = {}
        for param in command.params:
            if getattr(param, "param_type_name", "") != "option" or param.name == "help":
                continue
            for flag in param.opts:
                bare = flag.lstrip("-")
                options[bare] = options[bare.replace("-", "_")] = param
        defaults = {}
        for key, value in table.items():
            param = options.get(key)
            if param is None:
                listed = sorted({p.opts[0].lstrip("-") for p in options.values()})
                raise ConfigError(f"{path}: [{where}{name}] has no option {key!r}; its options: {listed}")
            if isinstance(value, list) and not getattr(param, "multiple", False):
                value = ",".join(str(v) for v in value)  # a comma-separated option: --ignore a,b
            defaults[param.name] = value
        found[name] = defaults
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    """The file's contents, parsed once per version of the file (``home()`` and the others ask on every call)."""
    from fieldguide.errors import ConfigError

    try:
        stamp = path.stat().st_mtime_ns
    except OSError as err:
        raise ConfigError(f"{path}: not readable ({err})") from None
    return _parsed(str(path.resolve()), stamp)


@functools.lru_cache(maxsize=8)
def _parsed(path: str, stamp: int) -> dict[str, Any]:
    import tomllib

    from fieldguide.errors import ConfigError

    try:
        with open(path, "rb") as file:
            return tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"{path}: not readable TOML ({err})") from None
