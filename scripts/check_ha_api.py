"""Check that every Home Assistant name the integration imports exists in given HA releases.

For releases that cannot run here (HA 2026.3+ needs Python 3.14), this reads the
wheels instead of importing them:

    pip download homeassistant==2026.11.0 --no-deps --ignore-requires-python -d wheels/
    .venv/bin/python scripts/check_ha_api.py wheels/homeassistant-*.whl

Prints, per wheel, the imported names it lacks (or "all present"); exits 1 if any is
missing. docs/compatibility.md says what else was read by hand.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path
import re
import sys
import zipfile

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "camera_alerts"


def imported_names() -> dict[str, set[str]]:
    """Return {module: names} for every `from homeassistant... import ...` in the integration."""
    names: dict[str, set[str]] = defaultdict(set)
    for path in INTEGRATION.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("homeassistant"):
                names[node.module].update(alias.name for alias in node.names)
    return names


def parse(source: str) -> ast.Module:
    """Parse HA source on this Python; 3.14's unparenthesised `except A, B:` is rewritten."""
    source = re.sub(
        r"^(\s*except\*?\s+)([^():\n]+,[^():\n]+?)((?:\s+as\s+\w+)?\s*:)", r"\1(\2)\3", source, flags=re.MULTILINE
    )
    return ast.parse(source)


def defines(tree: ast.Module, name: str) -> bool:
    """Return whether a module defines, assigns or imports `name` anywhere."""
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and node.name == name:
            return True
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return True
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return True
        if isinstance(node, ast.TypeAlias) and node.name.id == name:
            return True
        if isinstance(node, ast.Import | ast.ImportFrom) and any(
            (alias.asname or alias.name.split(".")[-1]) == name for alias in node.names
        ):
            return True
    return False


def missing_in(wheel: Path, wanted: dict[str, set[str]]) -> list[str]:
    """Return the imported modules and names a wheel lacks."""
    with zipfile.ZipFile(wheel) as archive:
        files = set(archive.namelist())
        missing = []
        for module, names in sorted(wanted.items()):
            base = module.replace(".", "/")
            source = next((f for f in (f"{base}.py", f"{base}/__init__.py") if f in files), None)
            if source is None:
                missing.append(module)
                continue
            tree = parse(archive.read(source).decode())
            for name in sorted(names):
                submodule = {f"{base}/{name}.py", f"{base}/{name}/__init__.py"} & files
                if not defines(tree, name) and not submodule:
                    missing.append(f"{module}.{name}")
    return missing


def main() -> int:
    """Check each wheel named on the command line."""
    wanted = imported_names()
    failed = False
    for wheel in map(Path, sys.argv[1:]):
        missing = missing_in(wheel, wanted)
        failed |= bool(missing)
        print(f"{wheel.name}: {', '.join(missing) if missing else 'all present'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
