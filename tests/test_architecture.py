"""The shape of the code: imports point one way, and the mock server cannot mirror the client.

Read from the source with `ast`, so a stray import fails here before it tangles the layers.
"""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "batch_uploader"
TESTS = Path(__file__).resolve().parent
CLI = "batch_uploader.cli"
MOCK = "batch_uploader.mock"
# What the mock server may take from the rest of the package: the vendor's contract and
# plumbing that knows nothing of requests, images or reports.
MOCK_MAY_IMPORT = frozenset(
    {
        "batch_uploader.api",
        "batch_uploader.errors",
        "batch_uploader.hosts",
        "batch_uploader.eventloop",
    }
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The package's modules that `path` imports (`from batch_uploader import api` included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if submodule in known else node.module)
    return {name for name in found if name in known}


def inside(module: str, *packages: str) -> bool:
    """Whether `module` is one of `packages` or a module in them."""
    return any(module == package or module.startswith(f"{package}.") for package in packages)


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(path, known) - {name} for name, path in found.items()}


def test_the_import_graph_has_no_cycle() -> None:
    graph = import_graph()
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_the_library_imports_neither_the_command_line_nor_the_mock_server() -> None:
    for name, imported in import_graph().items():
        if inside(name, CLI, MOCK, "batch_uploader.__main__"):
            continue
        wrong = {module for module in imported if inside(module, CLI, MOCK)}
        assert not wrong, f"{name} imports {sorted(wrong)}"


def test_library_modules_import_modules_not_the_package() -> None:
    """`from batch_uploader import X` inside the package would run the whole package first."""
    for name, imported in import_graph().items():
        if name != "batch_uploader":
            assert "batch_uploader" not in imported, f"{name} imports the package itself"


def test_the_mock_server_imports_nothing_of_the_client_side() -> None:
    graph = import_graph()
    mock_modules = [name for name in graph if inside(name, MOCK)]
    assert len(mock_modules) >= 3, "the mock server's modules moved; update this test"
    for name in mock_modules:
        outside = {module for module in graph[name] if not inside(module, MOCK)}
        assert outside <= MOCK_MAY_IMPORT, f"{name} imports {sorted(outside - MOCK_MAY_IMPORT)}"


def test_a_forbidden_import_is_caught(tmp_path: Path) -> None:
    """The check above reads imports the way they are written in the package."""
    source = tmp_path / "server.py"
    source.write_text(
        "from batch_uploader.client import Answer\nfrom batch_uploader import images\n"
        "from batch_uploader import RunSettings\nimport aiohttp\n"
    )
    known = {"batch_uploader", "batch_uploader.client", "batch_uploader.images"}
    assert imports_of(source, known) == known


def test_no_test_module_imports_another() -> None:
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                target = node.module or ""
                assert not target.split(".")[-1].startswith("test_"), (
                    f"{path.name} imports {target}"
                )
