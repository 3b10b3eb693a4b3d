"""Read and check a GGUF model header without loading the model.

The reader memory-maps the file and walks the header: magic, version, metadata key/values and
tensor infos. It then checks that every tensor's data lies inside the file, so a truncated or
mangled file is refused with a one-line reason before llama.cpp ever sees it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4
# Arrays longer than this are summarised (type and length) instead of decoded.
MAX_DECODED_ARRAY = 64


class ModelFileError(ValueError):
    """A model file is missing, malformed or not the bytes that were registered."""


# GGUF metadata value types: id -> (name, struct format or None for string/array).
_SCALAR_FORMATS: dict[int, tuple[str, str]] = {
    0: ("uint8", "<B"),
    1: ("int8", "<b"),
    2: ("uint16", "<H"),
    3: ("int16", "<h"),
    4: ("uint32", "<I"),
    5: ("int32", "<i"),
    6: ("float32", "<f"),
    7: ("bool", "<?"),
    10: ("uint64", "<Q"),
    11: ("int64", "<q"),
    12: ("float64", "<d"),
}
_TYPE_STRING = 8
_TYPE_ARRAY = 9

# ggml tensor types: id -> (name, elements per block, bytes per block).
_QK_K = 256
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", _QK_K, 84),
    11: ("Q3_K", _QK_K, 110),
    12: ("Q4_K", _QK_K, 144),
    13: ("Q5_K", _QK_K, 176),
    14: ("Q6_K", _QK_K, 210),
    15: ("Q8_K", _QK_K, 292),
    16: ("IQ2_XXS", _QK_K, 66),
    17: ("IQ2_XS", _QK_K, 74),
    18: ("IQ3_XXS", _QK_K, 98),
    19: ("IQ1_S", _QK_K, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", _QK_K, 110),
    22: ("IQ2_S", _QK_K, 82),
    23: ("IQ4_XS", _QK_K, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", _QK_K, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", _QK_K, 54),
    35: ("TQ2_0", _QK_K, 66),
    39: ("MXFP4", 32, 17),
}


@dataclass(frozen=True)
class ArraySummary:
    """Stand-in for a long metadata array (e.g. a tokenizer vocabulary) that was skipped."""

    item_type: str
    length: int


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]
    ggml_type: str
    offset: int  # relative to the start of the data section
    nbytes: int


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: tuple[TensorInfo, ...]
    alignment: int
    data_offset: int  # absolute file offset of the tensor data section
    required_size: int  # bytes the header says the file must have at least
    file_size: int

    @property
    def tensor_count(self) -> int:
        return len(self.tensors)

    @property
    def architecture(self) -> str:
        return self.metadata["general.architecture"]

    @property
    def name(self) -> str | None:
        value = self.metadata.get("general.name")
        return value if isinstance(value, str) else None

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Cursor:
    """Bounds-checked little-endian reads over a memory map."""

    def __init__(self, buffer: mmap.mmap, size: int) -> None:
        self._buffer = buffer
        self._size = size
        self.pos = 0

    def _need(self, count: int) -> None:
        if count < 0 or self.pos + count > self._size:
            raise ModelFileError(
                f"truncated: header runs past the end of the file ({self._size} bytes)"
            )

    def unpack(self, fmt: str) -> Any:
        count = struct.calcsize(fmt)
        self._need(count)
        (value,) = struct.unpack_from(fmt, self._buffer, self.pos)
        self.pos += count
        return value

    def skip(self, count: int) -> None:
        self._need(count)
        self.pos += count

    def raw_string(self) -> bytes:
        length = self.unpack("<Q")
        self._need(length)
        data = self._buffer[self.pos : self.pos + length]
        self.pos += length
        return data

    def string(self, what: str) -> str:
        try:
            return self.raw_string().decode("utf-8")
        except UnicodeDecodeError:
            raise ModelFileError(f"invalid UTF-8 in {what}") from None

    def skip_string(self) -> None:
        self.skip(self.unpack("<Q"))


def _read_value(cursor: _Cursor, value_type: int, key: str) -> Any:
    if value_type in _SCALAR_FORMATS:
        return cursor.unpack(_SCALAR_FORMATS[value_type][1])
    if value_type == _TYPE_STRING:
        return cursor.string(f"metadata value of {key}")
    if value_type == _TYPE_ARRAY:
        return _read_array(cursor, key)
    raise ModelFileError(f"unknown metadata value type {value_type} for key {key}")


def _read_array(cursor: _Cursor, key: str) -> list[Any] | ArraySummary:
    item_type = cursor.unpack("<I")
    length = cursor.unpack("<Q")
    if item_type == _TYPE_ARRAY:
        raise ModelFileError(f"nested metadata arrays are not supported (key {key})")
    if length <= MAX_DECODED_ARRAY:
        return [_read_value(cursor, item_type, key) for _ in range(length)]
    if item_type in _SCALAR_FORMATS:
        name, fmt = _SCALAR_FORMATS[item_type]
        cursor.skip(length * struct.calcsize(fmt))
    elif item_type == _TYPE_STRING:
        name = "string"
        for _ in range(length):
            cursor.skip_string()
    else:
        raise ModelFileError(f"unknown metadata array item type {item_type} for key {key}")
    return ArraySummary(item_type=name, length=length)


def _read_tensor_info(cursor: _Cursor, alignment: int) -> TensorInfo:
    name = cursor.string("tensor name")
    n_dims = cursor.unpack("<I")
    if not 1 <= n_dims <= MAX_DIMS:
        raise ModelFileError(f"tensor {name} has {n_dims} dimensions (1..{MAX_DIMS} allowed)")
    shape = tuple(cursor.unpack("<Q") for _ in range(n_dims))
    type_id = cursor.unpack("<I")
    offset = cursor.unpack("<Q")
    if type_id not in GGML_TYPES:
        raise ModelFileError(f"tensor {name} has unknown ggml type {type_id}")
    type_name, block_size, block_bytes = GGML_TYPES[type_id]
    if shape[0] % block_size:
        raise ModelFileError(
            f"tensor {name}: first dimension {shape[0]} is not a multiple of the "
            f"{type_name} block size {block_size}"
        )
    if offset % alignment:
        raise ModelFileError(f"tensor {name}: data offset {offset} is not {alignment}-aligned")
    elements = 1
    for dim in shape:
        elements *= dim
    return TensorInfo(name, shape, type_name, offset, elements // block_size * block_bytes)


def _alignment(metadata: dict[str, Any]) -> int:
    value = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0 or value & (value - 1):
        raise ModelFileError(f"general.alignment must be a power of two, got {value!r}")
    return value


def _parse(buffer: mmap.mmap, size: int) -> GGUFHeader:
    cursor = _Cursor(buffer, size)
    if size < 4 or buffer[:4] != GGUF_MAGIC:
        raise ModelFileError("not a GGUF file (bad magic)")
    cursor.skip(4)
    version = cursor.unpack("<I")
    if version not in SUPPORTED_VERSIONS:
        raise ModelFileError(f"unsupported GGUF version {version}")
    tensor_count = cursor.unpack("<Q")
    kv_count = cursor.unpack("<Q")

    metadata: dict[str, Any] = {}
    for _ in range(kv_count):
        key = cursor.string("metadata key")
        if key in metadata:
            raise ModelFileError(f"duplicate metadata key {key}")
        metadata[key] = _read_value(cursor, cursor.unpack("<I"), key)
    if not isinstance(metadata.get("general.architecture"), str):
        raise ModelFileError("missing general.architecture in metadata")
    alignment = _alignment(metadata)

    tensors = tuple(_read_tensor_info(cursor, alignment) for _ in range(tensor_count))
    names = {tensor.name for tensor in tensors}
    if len(names) != len(tensors):
        raise ModelFileError("duplicate tensor names in header")

    data_offset = -(-cursor.pos // alignment) * alignment
    if tensors:
        required = data_offset + max(tensor.offset + tensor.nbytes for tensor in tensors)
    else:
        required = cursor.pos  # no data section, so no padding is needed
    if required > size:
        raise ModelFileError(f"truncated: header declares {required} bytes, file has {size}")
    return GGUFHeader(version, metadata, tensors, alignment, data_offset, required, size)


def read_gguf_header(path: Path) -> GGUFHeader:
    """Parse and check the GGUF header of ``path``; raise ModelFileError with a reason if bad."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if size == 0:
                raise ModelFileError("not a GGUF file (empty file)")
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                return _parse(buffer, size)
    except FileNotFoundError:
        raise ModelFileError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise ModelFileError(f"not a file: {path}") from None
