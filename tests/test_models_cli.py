"""`appliance models` run as a real process (python -m appliance.cli.models) on real GGUF files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.engine.default_model import DEFAULT_MODEL_SHA256, locate_default_model
from tests.test_registry import copy_model, flip_byte, flip_in_tensor_data

REPO = Path(__file__).resolve().parents[1]


def models_cli(*args: str | Path, data_dir: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "APPLIANCE_DATA_DIR"}
    if data_dir is not None:
        env["APPLIANCE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli.models", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def real_model() -> Path:
    return locate_default_model()


def test_import_list_verify_default_model(real_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    imported = models_cli(
        "import", real_model, "--id", "smol", "--sha256", DEFAULT_MODEL_SHA256, "--data-dir", data
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.startswith("imported smol ")
    assert f"sha256={DEFAULT_MODEL_SHA256}" in imported.stdout
    assert (data / "models" / "smol.gguf").stat().st_size == real_model.stat().st_size

    listed = models_cli("list", "--json", "--data-dir", data)
    assert listed.returncode == 0, listed.stderr
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["sha256"], entry["architecture"], entry["context_length"]) == (
        "smol", DEFAULT_MODEL_SHA256, "llama", 8192
    )

    assert models_cli("list", "--data-dir", data).stdout.startswith("smol  kind=chat  arch=llama  ctx=8192")
    verified = models_cli("verify", "--data-dir", data)
    assert (verified.returncode, verified.stdout) == (0, "ok      smol\n")


def test_data_dir_comes_from_environment(real_model: Path, tmp_path: Path) -> None:
    assert models_cli("import", real_model, "--id", "smol", data_dir=tmp_path).returncode == 0
    assert models_cli("list", data_dir=tmp_path).stdout.startswith("smol ")
    elsewhere = models_cli("list", "--data-dir", tmp_path / "elsewhere")
    assert elsewhere.stdout == "no models registered\n"


@pytest.mark.parametrize("size_delta", [-1, -(2**20)])
def test_truncated_file_is_refused(real_model: Path, tmp_path: Path, size_delta: int) -> None:
    size = real_model.stat().st_size + size_delta
    damaged = copy_model(real_model, tmp_path / "cut.gguf", size=size)
    result = models_cli("import", damaged, "--id", "cut", "--data-dir", tmp_path)
    full = real_model.stat().st_size
    assert_one_line_error(result, f"truncated: header declares {full} bytes, file has {size}")
    assert models_cli("list", "--data-dir", tmp_path).stdout == "no models registered\n"


def test_corrupted_file_is_refused_against_pinned_hash(real_model: Path, tmp_path: Path) -> None:
    offset = flip_in_tensor_data(real_model)
    damaged = copy_model(real_model, tmp_path / "flipped.gguf", flip_at=offset)
    pinned = models_cli(
        "import", damaged, "--id", "m", "--sha256", DEFAULT_MODEL_SHA256, "--data-dir", tmp_path
    )
    assert_one_line_error(pinned, "sha256 mismatch: expected b179c9523d0e...")
    unpinned = models_cli("import", damaged, "--id", "m", "--data-dir", tmp_path)
    assert unpinned.returncode == 0, unpinned.stderr
    assert f"sha256={DEFAULT_MODEL_SHA256}" not in unpinned.stdout


def test_verify_reports_each_model_and_fails_on_a_changed_one(
    real_model: Path, tmp_path: Path
) -> None:
    private = copy_model(real_model, tmp_path / "private.gguf")
    assert models_cli("import", real_model, "--id", "good", "--data-dir", tmp_path).returncode == 0
    assert models_cli("import", private, "--id", "changed", "--data-dir", tmp_path).returncode == 0
    stored = tmp_path / "models" / "changed.gguf"
    flip_byte(stored, flip_in_tensor_data(stored))

    result = models_cli("verify", "--data-dir", tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(
        "FAILED  changed: sha256 mismatch: registered b179c9523d0e..., file now "
    )
    assert lines[1:] == ["ok      good"]
    assert models_cli("verify", "good", "--data-dir", tmp_path).returncode == 0
    assert models_cli("verify", "changed", "--data-dir", tmp_path).returncode == 1


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["verify", "ghost"], "unknown model 'ghost'"),
        (["remove", "ghost"], "unknown model 'ghost'"),
        (["import", "missing.gguf", "--id", "m"], "no such file: "),
        (["import", "{model}", "--id", "../escape"], "invalid model id '../escape'"),
        (["import", "{model}", "--id", "m", "--sha256", "xyz"], "invalid sha256"),
        (["import", "{readme}", "--id", "m"], "not a GGUF file (bad magic)"),
    ],
)
def test_bad_requests_get_one_line(
    real_model: Path, tmp_path: Path, args: list[str], fragment: str
) -> None:
    readme = tmp_path / "notes.gguf"
    readme.write_text("plain text, not a model\n")
    filled = [a.format(model=real_model, readme=readme) for a in args]
    assert_one_line_error(models_cli(*filled, "--data-dir", tmp_path), fragment)


def test_duplicate_id_is_refused_and_remove_frees_it(real_model: Path, tmp_path: Path) -> None:
    assert models_cli("import", real_model, "--id", "m", "--data-dir", tmp_path).returncode == 0
    assert_one_line_error(
        models_cli("import", real_model, "--id", "m", "--data-dir", tmp_path),
        "model id 'm' is already registered",
    )
    removed = models_cli("remove", "m", "--data-dir", tmp_path)
    assert (removed.returncode, removed.stdout) == (0, "removed m\n")
    assert not (tmp_path / "models" / "m.gguf").exists()
    assert real_model.is_file()
    assert models_cli("import", real_model, "--id", "m", "--data-dir", tmp_path).returncode == 0
