"""Errors for people: each names the file, column, field or parameter, what was expected and what was found."""

from __future__ import annotations


class FieldguideError(Exception):
    """Base of every error fieldguide raises on purpose. The CLI prints these without a traceback."""

    exit_code = 2


class DataError(FieldguideError, ValueError):
    """A table could not be read or does not have the shape or types expected."""


class SchemaError(DataError):
    """A table or record does not match a schema."""


class ArtifactError(FieldguideError):
    """An artifact is missing, tampered with, or written by an incompatible version."""


class RegistryError(FieldguideError):
    """A registry operation failed: unknown model, version or alias, or a conflicting write."""


class ExportError(FieldguideError):
    """A pipeline holds something an export format cannot express (a column kind, a model, an operation), or the
    export's optional dependencies are missing."""


class ConfigError(FieldguideError):
    """The configuration file cannot be read, or names a verb, option or setting that does not exist."""
