"""`appliance models`: import, list, verify and remove GGUF models in the registry."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from appliance.cli.common import DataDirOption, one_line_errors
from appliance.engine.registry import ModelEntry, ModelRegistry

models_app = typer.Typer(
    help="Manage the registry of GGUF models (each pinned by sha256).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def open_registry(data_dir: Path) -> ModelRegistry:
    """The registry the commands read (DATA_DIR/models)."""
    return ModelRegistry.for_data_dir(data_dir)


@contextlib.contextmanager
def changing_registry(data_dir: Path) -> Iterator[ModelRegistry]:
    """The registry for a change. In an initialised data directory every change is written to the
    audit log first, and refused if the log cannot take it."""
    from appliance.auditing import audited_registry, open_audit
    from appliance.config import load_settings
    from appliance.datadir import DataDir

    data = DataDir(data_dir)
    if not data.initialised:
        yield open_registry(data_dir)
        return
    store = open_audit(load_settings(data_dir=data_dir))
    try:
        yield audited_registry(data, store)
    finally:
        store.close()


def _describe(entry: ModelEntry) -> str:
    context = entry.context_length if entry.context_length is not None else "?"
    return (
        f"{entry.id}  kind={entry.kind}  arch={entry.architecture}  ctx={context}  size={entry.size}  "
        f"sha256={entry.sha256}"
    )


@models_app.command("import")
def import_command(
    path: Annotated[Path, typer.Argument(help="GGUF file to import.")],
    model_id: Annotated[str, typer.Option("--id", help="Id to register the model under.")],
    sha256: Annotated[
        str | None, typer.Option("--sha256", help="Refuse the file unless it has this hash.")
    ] = None,
    kind: Annotated[
        str, typer.Option("--kind", help="chat (chat and text completions) or embedding (/v1/embeddings).")
    ] = "chat",
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Check a GGUF file, hash it and copy it into the registry."""
    with one_line_errors(), changing_registry(data_dir) as registry:
        entry = registry.import_model(path, model_id, expected_sha256=sha256, kind=kind)
    typer.echo(f"imported {_describe(entry)}")


@models_app.command("list")
def list_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    data_dir: DataDirOption = Path("data"),
) -> None:
    """List registered models."""
    with one_line_errors():
        entries = open_registry(data_dir).list()
    if as_json:
        typer.echo(json.dumps([entry.to_json() for entry in entries], indent=2))
    elif not entries:
        typer.echo("no models registered")
    else:
        for entry in entries:
            typer.echo(_describe(entry))


@models_app.command("verify")
def verify_command(
    model_id: Annotated[
        str | None, typer.Argument(help="Model to verify (default: all).")
    ] = None,
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Re-check header and sha256 of registered models; exit 1 if any fails."""
    registry = open_registry(data_dir)
    with one_line_errors():
        if model_id is None:
            results = registry.verify_all()
        else:
            results = [registry.check(model_id)]
    for checked_id, ok, reason in results:
        typer.echo(f"ok      {checked_id}" if ok else f"FAILED  {checked_id}: {reason}")
    if not results:
        typer.echo("no models registered")
    if not all(ok for _, ok, _ in results):
        raise typer.Exit(1)


@models_app.command("remove")
def remove_command(
    model_id: Annotated[str, typer.Argument(help="Model to unregister.")],
    data_dir: DataDirOption = Path("data"),
) -> None:
    """Unregister a model and delete its stored copy."""
    with one_line_errors(), changing_registry(data_dir) as registry:
        entry = registry.remove(model_id)
    typer.echo(f"removed {entry.id}")


if __name__ == "__main__":
    models_app()
