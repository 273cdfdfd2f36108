"""The dependency rule: the domain core imports nothing from the outer layers or frameworks."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[1] / "src" / "huifang" / "domain"
ALLOWED_THIRD_PARTY: set[str] = set()


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_the_standard_library_and_itself() -> None:
    offenders = []
    for path in sorted(DOMAIN.rglob("*.py")):
        for name in imported_modules(path):
            top = name.split(".")[0]
            if name.startswith("huifang.domain") or top == "__future__":
                continue
            if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                continue
            offenders.append(f"{path.name}: {name}")
    assert offenders == []
