"""``fieldguide models``: list, show, alias and delete registered model versions.

Only Typer and the standard library load here; the registry (SQLAlchemy) and Rich load inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from fieldguide import _options

if TYPE_CHECKING:
    from fieldguide.registry import ModelVersion, Registry

models_app = typer.Typer(
    name="models", help="Versioned models: list, show, alias, delete, export.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    """Add the ``models`` verbs to ``app``."""
    app.add_typer(models_app, name="models")


@models_app.command("list")
def list_models(
    registry: str | None = _options.REGISTRY, artifacts: Path | None = _options.ARTIFACTS
) -> None:
    """List the registered models with their latest version and aliases."""
    with _reporting_errors() as console, _open(registry, artifacts) as reg:
        from rich.table import Table

        names = reg.list_models()
        if not names:
            console.print(f"no models registered in {reg.url}", markup=False)
            return
        table = Table("model", "versions", "latest", "aliases", "registered", title=reg.url)
        for name in names:
            versions = reg.versions(name)
            aliases = ", ".join(f"{alias}→{version}" for alias, version in reg.aliases(name).items())
            table.add_row(name, str(len(versions)), str(versions[-1].version), aliases, _when(versions[-1]))
        console.print(table)


@models_app.command("show")
def show(
    name: str = typer.Argument(..., help="Model name."),
    ref: str | None = typer.Argument(None, help="Version number or alias. Default: every version."),
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
) -> None:
    """Show a model's versions, or one version's metrics, params, lineage and files."""
    with _reporting_errors() as console, _open(registry, artifacts) as reg:
        from rich.table import Table

        if ref is None:
            table = Table("version", "aliases", "registered", "metrics", "description", title=name)
            for found in reg.versions(name):
                table.add_row(
                    str(found.version),
                    ", ".join(found.aliases),
                    _when(found),
                    ", ".join(f"{key}={_short(value)}" for key, value in found.metrics.items()),
                    found.description,
                )
            console.print(table)
            return
        found = reg.get(name, ref)
        table = Table("field", "value", title=f"{name} version {found.version}", show_header=False)
        rows = {
            "aliases": ", ".join(found.aliases) or "-",
            "registered": _when(found),
            "description": found.description or "-",
            "path": str(found.path),
            "checksum": found.checksum,
            "files": f"{len(found.files)} ({found.size:,} bytes)",
        }
        rows |= {f"metric {key}": _short(value) for key, value in found.metrics.items()}
        for section in ("params", "lineage", "tags"):
            rows |= {f"{section} {key}": _short(value) for key, value in getattr(found, section).items()}
        for field, value in rows.items():
            table.add_row(field, value)
        console.print(table)


@models_app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Model name."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias to set, e.g. champion."),
    version: str = typer.Argument(..., help="Version number (or another alias) it should point to."),
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
) -> None:
    """Point ALIAS of model NAME at VERSION."""
    with _reporting_errors() as console, _open(registry, artifacts) as reg:
        previous = reg.aliases(name).get(alias_name)
        reg.set_alias(name, alias_name, version)
        now = reg.aliases(name)[alias_name]
        was = f" (was {previous})" if previous is not None else ""
        console.print(f"{name}: {alias_name} → version {now}{was}", markup=False)


@models_app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number to delete."),
    force: bool = typer.Option(False, "--force", help="Delete even if aliases point to it (removes them)."),
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
) -> None:
    """Delete one version of model NAME and its artifact."""
    with _reporting_errors() as console, _open(registry, artifacts) as reg:
        reg.delete(name, version, force=force)
        console.print(f"deleted {name} version {version}", markup=False)


@models_app.command("export")
def export(
    name: str = typer.Argument(..., help="Model name."),
    ref: str = typer.Argument("champion", help="Version number or alias."),
    onnx_path: Path = typer.Option(
        ..., "--onnx", help="Where to write the pipeline as one ONNX model (.onnx)."
    ),
    check: str | None = typer.Option(
        None,
        "--check",
        help="A table (CSV/Parquet/JSON lines, or a database URL with --query) to score with both the pipeline "
        "and the ONNX model in onnxruntime; exits 1 if their answers differ.",
        show_default=False,
    ),
    query: str | None = _options.QUERY,
    registry: str | None = _options.REGISTRY,
    artifacts: Path | None = _options.ARTIFACTS,
) -> None:
    r"""Export version REF of model NAME as one ONNX model.

    The featurizer, the model and the labels in one graph, which any ONNX runtime can score without fieldguide.
    Needs the onnx extra: pip install 'fieldguide\[onnx]'.
    """
    with _reporting_errors() as console, _open(registry, artifacts) as reg:
        from fieldguide.cli import table_source
        from fieldguide.errors import ExportError
        from fieldguide.pipeline import Pipeline, check_onnx, save_onnx
        from fieldguide.pipeline._onnx import describe_inputs

        if query is not None and check is None:
            raise ExportError("--query: it gives the --check table's SQL; give --check with a database URL")
        table = None if check is None else table_source(check, query, "--check")
        if not onnx_path.parent.is_dir():
            raise ExportError(f"--onnx: the directory {onnx_path.parent} does not exist")
        found = reg.get(name, ref)
        pipeline = Pipeline.load(reg.open(name, found.version))
        model = save_onnx(pipeline, onnx_path)
        size, kind = onnx_path.stat().st_size, type(pipeline.model).__name__
        console.print(
            f"wrote {onnx_path} ({size:,} bytes): {name} version {found.version}, {kind}", markup=False
        )
        console.print(f"inputs: {describe_inputs(pipeline)}", markup=False)
        console.print(f"outputs: {', '.join(o.name for o in model.graph.output)}", markup=False)
        if check is None:
            return
        from fieldguide.data import read

        result = check_onnx(pipeline, model, read(table))
        console.print(
            f"check on {table}: {result['rows']:,} rows, largest difference {result['max_difference']:.2g}, "
            f"{result['label_mismatches']} label(s) differ: {'agree' if result['ok'] else 'DISAGREE'}",
            markup=False,
        )
        if not result["ok"]:
            raise typer.Exit(1)


@contextmanager
def _open(registry: str | None, artifacts: Path | None) -> Iterator[Registry]:
    from fieldguide.registry import Registry

    with Registry(registry, artifact_root=artifacts) as reg:
        yield reg


@contextmanager
def _reporting_errors() -> Iterator[Any]:
    """Yield a Rich console; a FieldguideError becomes one red line on stderr and its exit code."""
    from rich.console import Console

    from fieldguide.errors import FieldguideError

    try:
        yield Console()
    except FieldguideError as err:
        Console(stderr=True, soft_wrap=True).print(
            f"error: {err}", style="red", markup=False, highlight=False
        )
        raise typer.Exit(err.exit_code) from None


def _when(found: ModelVersion) -> str:
    return found.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return value if isinstance(value, str) else json.dumps(value)
