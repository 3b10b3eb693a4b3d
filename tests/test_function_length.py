"""House rule: no function in the four packages is longer than 50 lines (its `def` line to its last line)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("appliance", "policies", "audit", "installer")
MAX_LINES = 50


def function_lengths(source: str) -> list[tuple[str, int]]:
    """(qualified name, lines from `def` to its last line) of every function and method in a module."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert child.end_lineno is not None
                found.append((prefix + child.name, child.end_lineno - child.lineno + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return found


def test_the_measure_counts_def_to_last_line_and_names_nested_functions() -> None:
    body = "\n".join(f"        x{i} = {i}" for i in range(50))
    source = f"class Box:\n    @staticmethod\n    def pack():\n        def inner():\n            pass\n{body}\n"
    assert function_lengths(source) == [("Box.pack", 53), ("Box.pack.inner", 2)]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_function_is_longer_than_50_lines(package: str) -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{name}:{length}"
        for path in sorted((ROOT / package).rglob("*.py"))
        for name, length in function_lengths(path.read_text(encoding="utf-8"))
        if length > MAX_LINES
    ]
    assert not offenders, f"functions over {MAX_LINES} lines (file:function:lines): " + ", ".join(offenders)
