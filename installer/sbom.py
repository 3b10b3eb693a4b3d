"""A CycloneDX SBOM (JSON, spec 1.6) of everything in a bundle: each wheel as a PyPI library with its
purl and sha256, each model as a machine-learning model, the installer and packs as files."""
from __future__ import annotations

import re
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from cyclonedx.model import HashAlgorithm, HashType
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import DisjunctiveLicense, License, LicenseExpression
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from installer.models import BundledModel

SBOM_FILE = "sbom.cdx.json"


def wheel_licenses(path: Path) -> list[License]:
    """The wheel's declared licence (METADATA License-Expression, else a short License field)."""
    with zipfile.ZipFile(path) as wheel:
        member = next((name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")), None)
        if member is None:
            return []
        headers = HeaderParser().parsestr(wheel.read(member).decode("utf-8", errors="replace"))
    if headers.get("License-Expression"):
        return [LicenseExpression(headers["License-Expression"].strip())]
    declared = (headers.get("License") or "").strip()
    return [DisjunctiveLicense(name=declared)] if declared and "\n" not in declared and len(declared) < 80 else []


def wheel_component(path: Path, sha256: str) -> Component:
    """A wheel as a library: name and version from its file name (PEP 427), purl pkg:pypi/..."""
    name, version = path.name.split("-")[:2]
    name = re.sub(r"[-_.]+", "-", name).lower()
    return Component(name=name, version=version, type=ComponentType.LIBRARY, bom_ref=f"wheel:{path.name}",
                     purl=PackageURL("pypi", name=name, version=version, qualifiers={"file_name": path.name}),
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)], licenses=wheel_licenses(path))


def model_component(model: BundledModel) -> Component:
    return Component(name=model.id, type=ComponentType.MACHINE_LEARNING_MODEL, bom_ref=f"model:{model.id}",
                     description=f"GGUF {model.file}", hashes=[HashType(alg=HashAlgorithm.SHA_256, content=model.sha256)])


def file_component(relative: str, sha256: str) -> Component:
    return Component(name=relative, type=ComponentType.FILE, bom_ref=f"file:{relative}",
                     hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)])


def write_sbom(bundle: Path, version: str, hashes: dict[str, str], models: list[BundledModel]) -> Path:
    """SBOM_FILE in `bundle`; `hashes` maps every other bundle file (relative path) to its sha256."""
    bom = Bom()
    root = Component(name="compliance-appliance", version=version, type=ComponentType.APPLICATION,
                     bom_ref="compliance-appliance")
    bom.metadata.component = root
    model_files = {model.file for model in models}
    parts = [model_component(model) for model in models]
    for relative, sha in sorted(hashes.items()):
        if relative.startswith("wheels/"):
            parts.append(wheel_component(bundle / relative, sha))
        elif relative not in model_files:
            parts.append(file_component(relative, sha))
    for part in parts:
        bom.components.add(part)
    bom.register_dependency(root, parts)
    target = bundle / SBOM_FILE
    target.write_text(JsonV1Dot6(bom).output_as_string(indent=2))
    return target
