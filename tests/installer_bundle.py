"""Build offline bundles for the installer suites, and install them as hospital IT would."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The target's own Python (a Debian python3), not the project's virtual environment.
SYSTEM_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else shutil.which("python3") or sys.executable


@dataclass(frozen=True)
class Bundle:
    directory: Path
    tarball: Path
    fingerprint: str
    manifest_sha256: str
    build_output: str


def keygen(out: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "installer", "keygen", "--out", str(out)], cwd=REPO,
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


def build_bundle(source: Path, key: Path, out: Path) -> Bundle:
    """`python -m installer build` run from the source tree `source` (its installer, its version)."""
    result = subprocess.run([sys.executable, "-m", "installer", "build", "--key", str(key), "--out", str(out)],
                            cwd=source, capture_output=True, text=True, timeout=3000)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    fields = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    directory = Path(result.stdout.splitlines()[0].split(" ", 1)[1])
    return Bundle(directory, directory.with_name(directory.name + ".tar"), fields["publisher key fingerprint"],
                  fields["MANIFEST sha256"], result.stdout + result.stderr)


def source_tree_at_version(destination: Path, version: str) -> Path:
    """A copy of this repository's tracked files with pyproject's version set to `version` (a rebuild)."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (REPO / name).is_file() and not name.startswith(".venv"):
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    pyproject = destination / "pyproject.toml"
    text = pyproject.read_text()
    current = text.split('version = "', 1)[1].split('"', 1)[0]
    pyproject.write_text(text.replace(f'version = "{current}"', f'version = "{version}"', 1))
    return destination


def linked_copy(bundle: Path, destination: Path) -> Path:
    """A copy of a bundle directory made of hard links (cheap); `rewrite` before changing a file."""
    shutil.copytree(bundle, destination, copy_function=os.link)
    return destination


def rewrite(path: Path, data: bytes) -> None:
    """Replace a (possibly hard-linked) file's content without touching the other links."""
    path.unlink()
    path.write_bytes(data)


def run_install(bundle: Path, prefix: Path, data_dir: Path, *args: str, offline: bool = True) -> subprocess.CompletedProcess[str]:
    """`python3 BUNDLE/install.py ...` with the target's Python, inside a network namespace with no network."""
    command = [SYSTEM_PYTHON, str(bundle / "install.py"), "--prefix", str(prefix), "--data-dir", str(data_dir), *args]
    return subprocess.run((["unshare", "-n"] if offline else []) + command, capture_output=True, text=True, timeout=1200)


def offline_install_and_chat(bundle: Bundle, prefix: Path, data_dir: Path) -> dict:
    """tests/installer_offline.py inside `unshare -n`: install, selftest, one chat completion."""
    result = subprocess.run(["unshare", "-n", SYSTEM_PYTHON, str(REPO / "tests" / "installer_offline.py"),
                             str(bundle.directory), str(prefix), str(data_dir), bundle.fingerprint],
                            capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])
