"""Registry of GGUF models, each pinned by its sha256.

The index is a small JSON file, re-read on every call and rewritten atomically under a file lock,
so a CLI import is seen at once by a running service. Import always copies the file into the
registry's directory (never a hard link: the operator's file and ours must not share an inode) and
checks the GGUF header and the hash; ``verify`` re-checks both, and refuses a stored file that has
more than one link, belongs to another user or that group or others may write.

The engine loads what it verified, not the path again: ``sealed_copy`` copies the file into a sealed
memory file (memfd, no further writes possible) while hashing it, checks the hash and header of that
copy, and llama.cpp maps the copy. Re-verifying after a load would leave a window (bytes changed and
changed back during the load); a private file alone would still trust the page cache of a file the
service user can write. The cost is the model's size in memory, which a mapped model takes anyway.
"""

from __future__ import annotations

import builtins
import contextlib
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from appliance.engine.gguf import GGUFHeader, ModelFileError, read_gguf_header

MODEL_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
SHA256_PATTERN = re.compile(r"^[0-9a-f]{64}$")
HASH_CHUNK = 1024 * 1024
INDEX_FORMAT = 1
MODEL_KINDS = ("chat", "embedding")

ChangeHook = Callable[[str, dict[str, Any]], None]


class ModelRegistryError(ValueError):
    """A registry request that cannot be honoured (bad id, duplicate, unreadable index)."""


class InvalidModelId(ModelRegistryError):
    pass


class DuplicateModel(ModelRegistryError):
    pass


class RegistryIndexError(ModelRegistryError):
    pass


class UnknownModel(KeyError):
    """No model is registered under the requested id."""

    def __init__(self, model_id: str) -> None:
        super().__init__(f"unknown model {model_id!r}")
        self.model_id = model_id

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True)
class ModelEntry:
    id: str
    path: Path
    sha256: str
    size: int
    architecture: str
    context_length: int | None
    name: str | None
    added_at: str  # ISO 8601, UTC
    kind: str = "chat"  # "chat" (chat and text completions) or "embedding" (POST /v1/embeddings only)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelEntry:
        return cls(**{**data, "path": Path(data["path"])})


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def validate_model_id(model_id: str) -> str:
    if not MODEL_ID_PATTERN.fullmatch(model_id):
        raise InvalidModelId(
            f"invalid model id {model_id!r}: use 1-64 letters, digits, '.', '_', ':' or '-', "
            "starting with a letter or digit"
        )
    return model_id


def normalize_sha256(value: str) -> str:
    digest = value.strip().lower()
    if not SHA256_PATTERN.fullmatch(digest):
        raise ModelRegistryError("invalid sha256: expected 64 hexadecimal digits")
    return digest


class ModelRegistry:
    """GGUF models under ``models_dir``, indexed in ``index_file``.

    ``on_change(event, details)`` is called with ``"model_import"`` or ``"model_remove"`` and
    ``{"id", "sha256", "size"}`` before the change is committed; if it raises, nothing changes.
    """

    def __init__(
        self, models_dir: Path, index_file: Path, on_change: ChangeHook | None = None
    ) -> None:
        self.models_dir = Path(models_dir)
        self.index_file = Path(index_file)
        self._on_change = on_change
        self._cache: tuple[tuple[int, int, int], dict[str, ModelEntry]] | None = None

    @classmethod
    def for_data_dir(cls, data_dir: Path, on_change: ChangeHook | None = None) -> ModelRegistry:
        """Registry of data dir D: files in ``D/models``, index ``D/models/registry.json``."""
        models_dir = Path(data_dir) / "models"
        return cls(models_dir, models_dir / "registry.json", on_change)

    # ---- reading -------------------------------------------------------------------------

    def list(self) -> list[ModelEntry]:
        return sorted(self._load().values(), key=lambda entry: entry.id)

    def get(self, model_id: str) -> ModelEntry:
        try:
            return self._load()[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    def verify(self, model_id: str) -> ModelEntry:
        """Re-check the header and hash of a registered model; raise ModelFileError if changed."""
        entry = self.get(model_id)
        try:
            _check_file(entry)
        except ModelFileError as exc:
            raise ModelFileError(f"model {model_id!r}: {exc}") from None
        return entry

    @contextlib.contextmanager
    def sealed_copy(self, model_id: str) -> Iterator[tuple[ModelEntry, Path]]:
        """The entry and a path to a sealed in-memory copy of its file, hashed and header-checked as copied;
        what is loaded from that path is exactly what was verified. The copy goes when the block ends
        (a model already mapped from it keeps its pages)."""
        entry = self.get(model_id)
        try:
            with _sealed_memory_copy(entry) as path:
                yield entry, path
        except ModelFileError as exc:
            raise ModelFileError(f"model {model_id!r}: {exc}") from None

    def check(self, model_id: str) -> tuple[str, bool, str]:
        """(id, ok, reason) for one registered model; reason is "ok" when it passed."""
        try:
            _check_file(self.get(model_id))
        except ModelFileError as exc:
            return model_id, False, str(exc)
        return model_id, True, "ok"

    def verify_all(self) -> builtins.list[tuple[str, bool, str]]:  # `list` here is the method above
        """``check`` of every registered model, by id."""
        return [self.check(entry.id) for entry in self.list()]

    # ---- changing ------------------------------------------------------------------------

    def import_model(
        self,
        path: Path,
        model_id: str,
        expected_sha256: str | None = None,
        kind: str = "chat",
    ) -> ModelEntry:
        """Check, hash and register a copy of a GGUF file, stored as ``<id>.gguf`` (mode 0600)."""
        validate_model_id(model_id)
        if kind not in MODEL_KINDS:
            raise ModelRegistryError(f"unknown model kind {kind!r}; choose one of {', '.join(MODEL_KINDS)}")
        expected = normalize_sha256(expected_sha256) if expected_sha256 is not None else None
        source = Path(path).absolute()
        if not source.is_file():
            raise ModelFileError(f"no such file: {source}")
        _refuse_duplicate(self._load(), model_id)
        self.models_dir.mkdir(parents=True, exist_ok=True)

        with self._staged(source, model_id) as staged:
            header = read_gguf_header(staged)
            digest = sha256_file(staged)
            if expected is not None and digest != expected:
                raise ModelFileError(
                    f"sha256 mismatch: expected {expected[:12]}..., file has {digest[:12]}..."
                )
            final = self._stored_path(model_id)
            entry = replace(_entry(model_id, final, digest, header), kind=kind)
            with self._locked():
                entries = self._load()
                _refuse_duplicate(entries, model_id)
                self._notify("model_import", entry)
                os.replace(staged, final)
                self._save({**entries, model_id: entry})
        return entry

    def remove(self, model_id: str) -> ModelEntry:
        """Unregister a model; its file is deleted only if it lives in the registry's directory."""
        with self._locked():
            entries = self._load()
            if model_id not in entries:
                raise UnknownModel(model_id)
            entry = entries.pop(model_id)
            self._notify("model_remove", entry)
            self._save(entries)
        if entry.path == self._stored_path(model_id):
            entry.path.unlink(missing_ok=True)
        return entry

    # ---- internals -----------------------------------------------------------------------

    def _stored_path(self, model_id: str) -> Path:
        return self.models_dir.absolute() / f"{model_id}.gguf"

    @contextlib.contextmanager
    def _staged(self, source: Path, model_id: str) -> Iterator[Path]:
        """Yield a private copy (0600, its own inode) of `source` in models_dir, to check and then keep."""
        staged = self.models_dir / f".{model_id}.{secrets.token_hex(8)}.partial"
        try:
            with (
                open(source, "rb") as original,
                open(os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as copy,
            ):
                shutil.copyfileobj(original, copy, HASH_CHUNK)
                copy.flush()
                os.fsync(copy.fileno())
            yield staged
        finally:
            staged.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.index_file.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.index_file.with_name(self.index_file.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _load(self) -> dict[str, ModelEntry]:
        """The index as on disk; re-parsed only when the file changed (the request path asks often)."""
        try:
            stat = self.index_file.stat()
            version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            if self._cache is None or self._cache[0] != version:
                self._cache = (version, self._parse(self.index_file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return {}
        return dict(self._cache[1])

    def _parse(self, raw: str) -> dict[str, ModelEntry]:
        try:
            data = json.loads(raw)
            if data.get("format") != INDEX_FORMAT:
                raise ValueError(f"unknown index format {data.get('format')!r}")
            entries = (ModelEntry.from_json(item) for item in data["models"])
            # Stored copies are indexed by file name, so the data directory can move.
            base = self.models_dir.absolute()
            return {entry.id: replace(entry, path=base / entry.path) for entry in entries}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RegistryIndexError(
                f"model index {self.index_file} is unreadable: {one_line_reason(exc)}"
            ) from None

    def _save(self, entries: dict[str, ModelEntry]) -> None:
        document = {
            "format": INDEX_FORMAT,
            "models": [self._indexed(entries[key]) for key in sorted(entries)],
        }
        handle, name = tempfile.mkstemp(
            prefix=f".{self.index_file.name}.", suffix=".tmp", dir=self.index_file.parent
        )
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2)
                out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(name, self.index_file)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise

    def _indexed(self, entry: ModelEntry) -> dict[str, Any]:
        document = entry.to_json()
        if entry.path == self._stored_path(entry.id):
            document["path"] = entry.path.name
        return document

    def _notify(self, event: str, entry: ModelEntry) -> None:
        """Tell the hook (e.g. the audit log) before the change is committed; if it raises,
        the change is not made."""
        if self._on_change is not None:
            self._on_change(event, {"id": entry.id, "sha256": entry.sha256, "size": entry.size, "model_kind": entry.kind})


def _refuse_duplicate(entries: dict[str, ModelEntry], model_id: str) -> None:
    if model_id in entries:
        raise DuplicateModel(f"model id {model_id!r} is already registered")


def _check_file(entry: ModelEntry) -> None:
    with _sealed_memory_copy(entry):
        pass


@contextlib.contextmanager
def _sealed_memory_copy(entry: ModelEntry) -> Iterator[Path]:
    """A sealed memfd holding the entry's file, hashed as it is copied; its /proc path while the block runs.

    ModelFileError when the stored file is not private (see _open_private), its hash is not the registered
    one or its header is bad."""
    source = _open_private(entry.path)
    memory = os.memfd_create(f"model-{entry.id}", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        digest = hashlib.sha256()
        with os.fdopen(source, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
                _write_all(memory, chunk)
        fcntl.fcntl(memory, fcntl.F_ADD_SEALS,
                    fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
        path = Path(f"/proc/self/fd/{memory}")
        read_gguf_header(path)
        if digest.hexdigest() != entry.sha256:
            raise ModelFileError(
                f"sha256 mismatch: registered {entry.sha256[:12]}..., file now {digest.hexdigest()[:12]}..."
            )
        yield path
    except OSError as exc:
        raise ModelFileError(one_line_reason(exc)) from None
    finally:
        os.close(memory)


def _open_private(path: Path) -> int:
    """A read descriptor of `path` if it is a regular file with one link, owned by this user and writable
    by no one else (so the bytes verified are the only bytes under that name); ModelFileError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ModelFileError(f"no such file: {path}") from None
    except OSError as exc:
        raise ModelFileError(f"{one_line_reason(exc)} (a model file must not be a symbolic link)") from None
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "not a regular file"
    elif info.st_nlink != 1:
        problem = f"has {info.st_nlink} hard links; another name could change its bytes (re-import it)"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to user id {info.st_uid}, not this service's ({os.geteuid()})"
    elif info.st_mode & 0o022:
        problem = f"mode {stat.S_IMODE(info.st_mode):04o} lets group or others write it (chmod 600 {path})"
    if problem is not None:
        os.close(fd)
        raise ModelFileError(f"{path} {problem}")
    return fd


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _entry(model_id: str, path: Path, digest: str, header: GGUFHeader) -> ModelEntry:
    return ModelEntry(
        id=model_id,
        path=path,
        sha256=digest,
        size=header.file_size,
        architecture=header.architecture,
        context_length=header.context_length,
        name=header.name,
        added_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def one_line_reason(exc: BaseException) -> str:
    """One line for an error: strerror for OS errors, the message otherwise."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
