"""Model registry and GGUF header checks, on the real SmolLM2 GGUF and damaged copies of it."""

from __future__ import annotations

import asyncio

import json
import os
import shutil
import struct
from pathlib import Path

import pytest

from appliance.engine.default_model import (
    DEFAULT_MODEL_ID,
    DEFAULT_MODEL_SHA256,
    ensure_default_model,
    locate_default_model,
)
from appliance.engine.gguf import ArraySummary, ModelFileError, read_gguf_header
from appliance.engine.registry import (
    DuplicateModel,
    InvalidModelId,
    ModelRegistry,
    ModelRegistryError,
    RegistryIndexError,
    UnknownModel,
)


def copy_model(
    source: Path, target: Path, *, size: int | None = None, flip_at: int | None = None
) -> Path:
    """A private copy of a model, optionally cut to ``size`` bytes or with one byte inverted."""
    shutil.copyfile(source, target)
    if size is not None:
        os.truncate(target, size)
    if flip_at is not None:
        flip_byte(target, flip_at)
    return target


def flip_byte(path: Path, offset: int) -> None:
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0xFF]))


def flip_in_tensor_data(path: Path) -> int:
    """An offset inside the tensor data of ``path`` (past the header)."""
    header = read_gguf_header(path)
    return header.data_offset + header.tensors[len(header.tensors) // 2].offset + 7


@pytest.fixture(scope="session")
def real_model() -> Path:
    return locate_default_model()


@pytest.fixture(scope="session")
def corrupted_model(real_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("corrupted") / "flipped.gguf"
    return copy_model(real_model, target, flip_at=flip_in_tensor_data(real_model))


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry.for_data_dir(tmp_path / "data")


def stored_files(registry: ModelRegistry) -> list[str]:
    if not registry.models_dir.exists():
        return []
    names = (p.name for p in registry.models_dir.iterdir())
    return sorted(name for name in names if name.endswith((".gguf", ".partial")))


# ---- GGUF header ---------------------------------------------------------------------------


def test_header_of_default_model_describes_smollm2(real_model: Path) -> None:
    header = read_gguf_header(real_model)
    assert header.version == 3
    assert header.architecture == "llama"
    assert header.context_length == 8192
    assert header.name is not None and "smollm2" in header.name.lower()
    assert header.metadata["general.license"] == "apache-2.0"
    assert header.metadata["general.languages"] == ["en"]
    vocabulary = header.metadata["tokenizer.ggml.tokens"]
    assert vocabulary == ArraySummary("string", header.metadata["llama.vocab_size"])
    assert header.tensor_count == len({t.name for t in header.tensors}) > 0
    assert {t.ggml_type for t in header.tensors} >= {"Q4_1", "F32"}
    # The tensors the header declares end exactly at the end of the file.
    assert header.required_size == header.file_size == real_model.stat().st_size


def _gguf(kv: bytes, kv_count: int, version: int = 3) -> bytes:
    return b"GGUF" + struct.pack("<IQQ", version, 0, kv_count) + kv


def _key(name: str, type_id: int, payload: bytes) -> bytes:
    return struct.pack("<Q", len(name)) + name.encode() + struct.pack("<I", type_id) + payload


def _string(text: str) -> bytes:
    return struct.pack("<Q", len(text.encode())) + text.encode()


def test_every_metadata_value_type_is_decoded(tmp_path: Path) -> None:
    words = b"".join(_string(f"w{i}") for i in range(100))
    fields = [
        _key("general.architecture", 8, _string("toy")),
        _key("u8", 0, struct.pack("<B", 250)),
        _key("i8", 1, struct.pack("<b", -5)),
        _key("u16", 2, struct.pack("<H", 65000)),
        _key("i16", 3, struct.pack("<h", -30000)),
        _key("u32", 4, struct.pack("<I", 4_000_000_000)),
        _key("toy.context_length", 5, struct.pack("<i", 2048)),
        _key("f32", 6, struct.pack("<f", 0.5)),
        _key("flag", 7, struct.pack("<?", True)),
        _key("u64", 10, struct.pack("<Q", 2**63)),
        _key("i64", 11, struct.pack("<q", -(2**40))),
        _key("f64", 12, struct.pack("<d", 1.25)),
        _key("small", 9, struct.pack("<IQ", 8, 2) + _string("a") + _string("bc")),
        _key("big", 9, struct.pack("<IQ", 4, 1000) + struct.pack("<1000I", *range(1000))),
        _key("words", 9, struct.pack("<IQ", 8, 100) + words),
    ]
    path = tmp_path / "toy.gguf"
    path.write_bytes(_gguf(b"".join(fields), len(fields)))
    header = read_gguf_header(path)
    assert header.metadata == {
        "general.architecture": "toy",
        "u8": 250,
        "i8": -5,
        "u16": 65000,
        "i16": -30000,
        "u32": 4_000_000_000,
        "toy.context_length": 2048,
        "f32": 0.5,
        "flag": True,
        "u64": 2**63,
        "i64": -(2**40),
        "f64": 1.25,
        "small": ["a", "bc"],
        "big": ArraySummary("uint32", 1000),
        "words": ArraySummary("string", 100),
    }
    assert header.context_length == 2048
    assert header.tensor_count == 0


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "not a GGUF file (empty file)"),
        (b"PK\x03\x04 this is a zip", "not a GGUF file (bad magic)"),
        (_gguf(b"", 0, version=4), "unsupported GGUF version 4"),
        (_gguf(b"", 0, version=1), "unsupported GGUF version 1"),
        (_gguf(b"", 0), "missing general.architecture in metadata"),
        (_gguf(_key("general.architecture", 13, b""), 1), "unknown metadata value type 13"),
        (_gguf(_key("general.architecture", 8, struct.pack("<Q", 10**6)), 1), "truncated"),
    ],
)
def test_malformed_headers_are_refused_with_reason(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="^" + reason.replace("(", r"\(").replace(")", r"\)")):
        read_gguf_header(path)


# ---- import, list, get ---------------------------------------------------------------------


def test_import_default_model_pins_its_hash(registry: ModelRegistry, real_model: Path) -> None:
    entry = registry.import_model(
        real_model, DEFAULT_MODEL_ID, expected_sha256=DEFAULT_MODEL_SHA256
    )
    assert entry.sha256 == DEFAULT_MODEL_SHA256
    assert entry.size == real_model.stat().st_size
    assert entry.path == registry.models_dir.absolute() / f"{DEFAULT_MODEL_ID}.gguf"
    assert entry.path.read_bytes()[:4] == b"GGUF"
    assert (entry.architecture, entry.context_length) == ("llama", 8192)
    assert registry.list() == [entry]
    # A fresh registry over the same index (another process) sees the same entry.
    reopened = ModelRegistry(registry.models_dir, registry.index_file)
    assert reopened.get(DEFAULT_MODEL_ID) == entry
    assert reopened.verify(DEFAULT_MODEL_ID) == entry
    assert stored_files(registry) == [f"{DEFAULT_MODEL_ID}.gguf"]


def test_several_models_are_listed_by_id(registry: ModelRegistry, real_model: Path) -> None:
    registry.import_model(real_model, "zeta")
    registry.import_model(real_model, "alpha:v1")
    assert [entry.id for entry in registry.list()] == ["alpha:v1", "zeta"]
    assert registry.verify_all() == [("alpha:v1", True, "ok"), ("zeta", True, "ok")]


def test_ensure_default_model_imports_once(registry: ModelRegistry) -> None:
    first = ensure_default_model(registry)
    assert first.sha256 == DEFAULT_MODEL_SHA256
    assert ensure_default_model(registry) == first
    assert len(registry.list()) == 1


def test_import_always_copies_into_a_private_file_of_its_own(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    source = copy_model(real_model, tmp_path / "operator.gguf")  # same file system as the registry
    entry = registry.import_model(source, "m", expected_sha256=DEFAULT_MODEL_SHA256)
    stored, original = entry.path.stat(), source.stat()
    assert stored.st_ino != original.st_ino  # not a hard link: the operator's file is not ours
    assert (stored.st_nlink, original.st_nlink) == (1, 1)
    assert stored.st_mode & 0o777 == 0o600
    flip_byte(source, flip_in_tensor_data(source))  # the operator's file changes: the registry's does not
    assert registry.verify("m") == entry


def test_a_stored_model_with_a_second_link_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    os.link(entry.path, tmp_path / "back-door.gguf")  # whoever holds this name could change the bytes
    with pytest.raises(ModelFileError, match=r"^model 'm': .* has 2 hard links; another name could change its bytes"):
        registry.verify("m")
    assert registry.verify_all()[0][1] is False
    (tmp_path / "back-door.gguf").unlink()
    assert registry.verify("m") == entry


def test_a_stored_model_others_may_write_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    os.chmod(entry.path, 0o664)
    with pytest.raises(ModelFileError, match=r"mode 0664 lets group or others write it \(chmod 600 "):
        registry.verify("m")


def test_a_stored_model_replaced_by_a_symbolic_link_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    entry.path.unlink()
    entry.path.symlink_to(real_model)
    with pytest.raises(ModelFileError, match="must not be a symbolic link"):
        registry.verify("m")


def test_bytes_changed_after_loading_do_not_reach_the_loaded_model(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    """llama.cpp maps the sealed copy it was given, so rewriting the stored file in place (same inode,
    after the hash check) changes nothing the model computes; on a mapping of the file it would.
    (Imported from a private copy: on a registry that hard-links, the rewrite must not reach the
    installed package's file.)"""
    from appliance.config import EngineConfig
    from appliance.engine.engine import Engine
    from appliance.engine.runtime import SamplingParams
    from appliance.engine.scheduler import submit

    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    engine = Engine(registry, EngineConfig(threads=1, context_length=256, parallel=1))
    try:
        worker = engine.load("m")

        async def generate() -> str:
            prompt = worker.runtime.prepare_text("The capital of France is", 8)
            return "".join([d.text async for d in submit(worker, prompt, SamplingParams(temperature=0)).deltas()])

        before = asyncio.run(generate())
        assert before.strip()
        header = read_gguf_header(entry.path)
        with open(entry.path, "r+b") as handle:  # every weight overwritten in place
            handle.seek(header.data_offset)
            handle.write(b"\x11" * (entry.size - header.data_offset))
        assert asyncio.run(generate()) == before
    finally:
        engine.close()
    with pytest.raises(ModelFileError, match="sha256 mismatch"):  # and the next load is refused
        Engine(registry, EngineConfig(threads=1, context_length=256)).load("m")


@pytest.mark.parametrize("cut", ["first-mib", "minus-last-byte"])
def test_truncated_model_is_refused_at_import(
    registry: ModelRegistry, real_model: Path, tmp_path: Path, cut: str
) -> None:
    full = real_model.stat().st_size
    if cut == "first-mib":  # cuts through the 1.7 MB header (tokenizer vocabulary)
        size, reason = 2**20, f"truncated: header runs past the end of the file ({2**20} bytes)"
    else:
        size, reason = full - 1, f"truncated: header declares {full} bytes, file has {full - 1}"
    damaged = copy_model(real_model, tmp_path / "cut.gguf", size=size)
    with pytest.raises(ModelFileError) as caught:
        registry.import_model(damaged, "cut")
    assert str(caught.value) == reason
    assert registry.list() == []
    assert stored_files(registry) == []


def test_corrupted_copy_imports_with_its_own_hash(
    registry: ModelRegistry, corrupted_model: Path
) -> None:
    entry = registry.import_model(corrupted_model, "flipped")
    assert entry.sha256 != DEFAULT_MODEL_SHA256
    assert registry.verify("flipped") == entry


def test_corrupted_copy_is_refused_against_the_pinned_hash(
    registry: ModelRegistry, corrupted_model: Path
) -> None:
    reason = r"^sha256 mismatch: expected b179c9523d0e\.\.\., file has [0-9a-f]{12}\.\.\.$"
    with pytest.raises(ModelFileError, match=reason):
        registry.import_model(
            corrupted_model, "flipped", expected_sha256=DEFAULT_MODEL_SHA256.upper()
        )
    assert registry.list() == []
    assert stored_files(registry) == []


def test_invalid_expected_hash_is_refused(registry: ModelRegistry, real_model: Path) -> None:
    with pytest.raises(ModelRegistryError, match="^invalid sha256: expected 64 hexadecimal digit"):
        registry.import_model(real_model, "m", expected_sha256="b179c952")


def test_missing_file_is_refused(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="^no such file: "):
        registry.import_model(tmp_path / "absent.gguf", "m")


@pytest.mark.parametrize(
    "bad_id", ["", "-lead", ".hidden", "a b", "a/b", "../up", "x" * 65, "naïve", "id\n"]
)
def test_bad_ids_are_refused(registry: ModelRegistry, real_model: Path, bad_id: str) -> None:
    with pytest.raises(InvalidModelId, match="^invalid model id "):
        registry.import_model(real_model, bad_id)
    assert registry.list() == []


def test_duplicate_id_is_refused_and_keeps_the_first(
    registry: ModelRegistry, real_model: Path, corrupted_model: Path
) -> None:
    first = registry.import_model(real_model, "m")
    with pytest.raises(DuplicateModel, match="^model id 'm' is already registered$"):
        registry.import_model(corrupted_model, "m")
    assert registry.list() == [first]
    assert registry.verify("m") == first


def test_unknown_model(registry: ModelRegistry) -> None:
    with pytest.raises(UnknownModel) as caught:
        registry.get("nope")
    assert str(caught.value) == "unknown model 'nope'"
    with pytest.raises(KeyError):
        registry.verify("nope")


# ---- verify after registration -------------------------------------------------------------


def test_model_changed_after_registration_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    source = copy_model(real_model, tmp_path / "private.gguf")
    entry = registry.import_model(source, "m", expected_sha256=DEFAULT_MODEL_SHA256)
    registry.import_model(real_model, "untouched")
    flip_byte(entry.path, flip_in_tensor_data(entry.path))
    reason = r"^model 'm': sha256 mismatch: registered b179c9523d0e\.\.\., file now [0-9a-f]{12}\.\.\.$"
    with pytest.raises(ModelFileError, match=reason):
        registry.verify("m")
    results = dict((model_id, (ok, reason)) for model_id, ok, reason in registry.verify_all())
    assert results["untouched"] == (True, "ok")
    assert results["m"][0] is False and results["m"][1].startswith("sha256 mismatch")


def test_truncated_after_registration_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    with open(entry.path, "r+b") as handle:
        handle.truncate(entry.size - 4096)
    reason = r"^model 'm': truncated: header declares \d+ bytes, file has \d+$"
    with pytest.raises(ModelFileError, match=reason):
        registry.verify("m")


def test_deleted_after_registration_is_refused(
    registry: ModelRegistry, real_model: Path, tmp_path: Path
) -> None:
    entry = registry.import_model(copy_model(real_model, tmp_path / "private.gguf"), "m")
    entry.path.unlink()
    assert registry.verify_all() == [("m", False, f"no such file: {entry.path}")]


# ---- remove, hook, index -------------------------------------------------------------------


def test_change_hook_sees_import_and_remove(tmp_path: Path, real_model: Path) -> None:
    events: list[tuple[str, dict]] = []
    registry = ModelRegistry.for_data_dir(
        tmp_path, on_change=lambda event, details: events.append((event, details))
    )
    entry = registry.import_model(real_model, "m")
    registry.remove("m")
    details = {"id": "m", "sha256": entry.sha256, "size": entry.size, "model_kind": "chat"}
    assert events == [("model_import", details), ("model_remove", details)]
    assert registry.list() == []
    assert stored_files(registry) == []


def test_failing_hook_leaves_registry_unchanged(tmp_path: Path, real_model: Path) -> None:
    def refuse(event: str, details: dict) -> None:
        raise RuntimeError("audit store unavailable")

    registry = ModelRegistry.for_data_dir(tmp_path, on_change=refuse)
    with pytest.raises(RuntimeError):
        registry.import_model(real_model, "m")
    assert registry.list() == []
    assert stored_files(registry) == []


def test_index_is_plain_json_without_leftovers(registry: ModelRegistry, real_model: Path) -> None:
    entry = registry.import_model(real_model, "m")
    document = json.loads(registry.index_file.read_text())
    assert document["models"] == [{**entry.to_json(), "path": "m.gguf"}]
    names = [p.name for p in registry.models_dir.iterdir()]
    assert [name for name in names if name.endswith((".tmp", ".partial"))] == []


def test_corrupt_index_is_refused_and_kept(registry: ModelRegistry, real_model: Path) -> None:
    registry.import_model(real_model, "m")
    registry.index_file.write_text('{"format": 1, "models": [')
    with pytest.raises(RegistryIndexError, match="is unreadable: "):
        registry.list()
    with pytest.raises(RegistryIndexError):
        registry.import_model(real_model, "other")
    assert registry.index_file.read_text() == '{"format": 1, "models": ['


def test_data_directory_can_move(tmp_path: Path, real_model: Path) -> None:
    before = ModelRegistry.for_data_dir(tmp_path / "old")
    entry = before.import_model(real_model, "m")
    (tmp_path / "old").rename(tmp_path / "new")
    after = ModelRegistry.for_data_dir(tmp_path / "new")
    assert after.verify("m").path == tmp_path / "new" / "models" / "m.gguf"
    assert after.get("m").sha256 == entry.sha256


def test_kind_is_recorded_and_checked(tmp_path: Path, real_model: Path) -> None:
    registry = ModelRegistry.for_data_dir(tmp_path)
    assert registry.import_model(real_model, "e", kind="embedding").kind == "embedding"
    assert ModelRegistry.for_data_dir(tmp_path).get("e").kind == "embedding"  # persisted in the index
    with pytest.raises(ModelRegistryError, match="unknown model kind 'vision'"):
        registry.import_model(real_model, "v", kind="vision")
