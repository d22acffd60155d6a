"""The public API: each sub-package's ``__all__`` resolves, the notebooks import from it, docs/api.md lists it."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))
from api_reference import PACKAGES, api_markdown  # noqa: E402

NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def notebook_imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from ganon_utils... import name`` in the notebook's code cells."""
    found = []
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        for node in ast.walk(ast.parse("".join(cell["source"]))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ganon_utils"):
                found += [(str(node.module), alias.name) for alias in node.names]
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(f"ganon_utils.{package}")
    assert [name for name in module.__all__ if not hasattr(module, name)] == []
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.stem)
def test_notebooks_import_sub_packages_not_their_modules(notebook: Path) -> None:
    inside = [
        f"{module}.{name}"
        for module, name in notebook_imports(notebook)
        if module.split(".")[1] in PACKAGES and module.count(".") > 1
    ]
    assert inside == []
    for module, name in notebook_imports(notebook):
        if module.count(".") == 1 and module.split(".")[1] in PACKAGES:
            exported = importlib.import_module(module).__all__
            assert name in exported or importlib.util.find_spec(f"{module}.{name}"), f"{module}.{name} is not public"


def test_docs_api_page_is_current() -> None:
    assert (REPO / "docs" / "api.md").read_text() == api_markdown(), "run: python scripts/api_reference.py > docs/api.md"
