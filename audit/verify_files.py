"""Reading an export as hostile input, for the offline verifier (standard library only).

Only regular files are read, never through a symbolic link, a FIFO or a device; each file has a size cap
and JSON nested too deeply to parse is a verdict like any other (`VerifyError`).
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from audit.format import HEADS_FILE, PROOFS_FILE, ROTATIONS_FILE

MAX_RECORD_LINE = 1 << 20  # one record's canonical JSON; the appliance writes a few KB
MAX_SMALL_FILE = 1 << 20  # manifest, checkpoint, public key, fingerprint, signature
MAX_FILE_BYTES = {HEADS_FILE: 1 << 30, ROTATIONS_FILE: 64 << 20, PROOFS_FILE: 64 << 20}  # read whole
MAX_HASHED_FILE = 1 << 40  # any file the manifest lists, hashed in blocks (records.jsonl included)
_FILE_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a device"),
               (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a directory"))


class VerifyError(Exception):
    """The export does not verify; `seq` names the first broken record when there is one."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        super().__init__(reason if seq is None else f"record {seq}: {reason}")
        self.reason = reason
        self.seq = seq


def open_regular(path: Path, max_bytes: int) -> BinaryIO:
    """`path` opened for reading if it is a regular file of at most `max_bytes`; VerifyError otherwise.

    Opened without following a symbolic link and without blocking (a FIFO would hang a plain open), then
    judged by what was opened (fstat), so the file cannot be swapped between the check and the read.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise VerifyError(f"{path.name} is missing from {path.parent}") from None
    except OSError as exc:
        kind = _kind_of(os.lstat(path).st_mode) if os.path.lexists(path) else None
        reason = f"is {kind}; an export holds regular files only" if kind else f"cannot be read: {exc.strerror}"
        raise VerifyError(f"{path.name} {reason}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise VerifyError(f"{path.name} is {_kind_of(info.st_mode)}; an export holds regular files only")
        if info.st_size > max_bytes:
            raise VerifyError(f"{path.name} is {info.st_size} bytes, over the {max_bytes} an export may hold there")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a regular file, read in blocks."""
    digest = hashlib.sha256()
    with open_regular(path, MAX_HASHED_FILE) as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_file(directory: Path, name: str) -> bytes:
    """The whole of export file `name`, within its size cap."""
    with open_regular(directory / name, MAX_FILE_BYTES.get(name, MAX_SMALL_FILE)) as stream:
        try:
            return stream.read()
        except OSError as exc:
            raise VerifyError(f"{name} cannot be read: {exc.strerror}") from None


def load_json(data: bytes, name: str) -> Any:
    """`data` (from file `name`) parsed as JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise VerifyError(f"{name} is not valid JSON (or nested too deeply)") from None


def json_lines(directory: Path, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of export file `name`, each of which must be a JSON object."""
    for number, line in enumerate(read_file(directory, name).splitlines(), start=1):
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            raise VerifyError(f"{name} line {number} is not valid JSON (or nested too deeply)") from None
        if not isinstance(value, dict):
            raise VerifyError(f"{name} line {number} is not a JSON object")
        yield number, value


def regular_files(directory: Path) -> Iterator[str]:
    """Every file under `directory` (relative, '/'-separated); VerifyError for anything but regular files
    and directories. Symbolic links are never followed."""
    for root, folders, files in os.walk(directory, followlinks=False):
        for name in folders + files:
            path = Path(root) / name
            mode = path.lstat().st_mode
            if stat.S_ISDIR(mode):
                continue
            relative = path.relative_to(directory).as_posix()
            if not stat.S_ISREG(mode):
                raise VerifyError(f"{relative} is {_kind_of(mode)}; an export holds regular files only")
            yield relative


def _kind_of(mode: int) -> str:
    """What a file of `mode` is, for a verdict."""
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
