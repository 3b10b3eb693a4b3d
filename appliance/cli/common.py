"""What every CLI command shares: the data-dir option and one-line errors."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, NoReturn

import typer

DataDirOption = Annotated[Path, typer.Option("--data-dir", envvar="APPLIANCE_DATA_DIR", help="Appliance data directory.")]


def fail(message: str) -> NoReturn:
    """One readable line per problem on stderr, exit code 1."""
    for line in message.splitlines() or [message]:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(1)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Expected failures (bad config, refused file, unavailable store) become one line, not a traceback."""
    try:
        yield
    except typer.Exit:
        raise
    except (ValueError, KeyError, OSError, RuntimeError) as exc:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        fail(message or type(exc).__name__)
