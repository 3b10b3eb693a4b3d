"""The data directory: where the audit store, keys, API keys and models live."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class DataDir:
    root: Path

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def model_index(self) -> Path:
        return self.models_dir / "registry.json"

    @property
    def keys_dir(self) -> Path:
        """Audit signing key, HMAC key and capture master key (files 0600, directory 0700)."""
        return self.root / "keys"

    @property
    def api_keys(self) -> Path:
        return self.root / "api_keys.json"

    @property
    def marker(self) -> Path:
        return self.root / ".initialised"

    @property
    def version_file(self) -> Path:
        """The appliance version that last initialised or upgraded this directory."""
        return self.root / "appliance_version"

    @property
    def initialised(self) -> bool:
        return self.marker.is_file()

    def create(self) -> None:
        for folder in (self.root, self.models_dir):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
