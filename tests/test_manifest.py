"""The manifest against the Home Assistant the suite runs on (2025.4.4 or 2026.2.3).

Home Assistant installs an integration's requirements, and its dependencies', before
it imports the integration. These tests read the installed HA's own pins and core
manifests, and the integration's imports, so a requirement that fights HA or a
package that HA would not install shows up here instead of on a user's system.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
import importlib.metadata
import json
from pathlib import Path
import sys

import homeassistant
from homeassistant.const import Platform, __version__ as HA_VERSION
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).parent.parent
INTEGRATION = ROOT / "custom_components" / "camera_alerts"
MANIFEST = json.loads((INTEGRATION / "manifest.json").read_text())
HA_ROOT = Path(homeassistant.__file__).parent

# Components a custom integration may import without declaring them (hassfest's list):
# entity platforms are set up by forwarding to them, the others are always loaded or
# are base classes without requirements.
ALWAYS_ALLOWED = {platform.value for platform in Platform} | {
    "device_automation",
    "diagnostics",
    "homeassistant",
}


def _manifest_requirements() -> list[Requirement]:
    return [Requirement(line) for line in MANIFEST["requirements"]]


def _ha_pins() -> dict[str, set[str]]:
    """Every exact version the running HA pins: package constraints and core manifests."""
    pins: dict[str, set[str]] = {}

    def add(line: str) -> None:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            return
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins.setdefault(canonicalize_name(requirement.name), set()).add(spec.version)

    for line in (HA_ROOT / "package_constraints.txt").read_text().splitlines():
        add(line)
    for manifest in (HA_ROOT / "components").glob("*/manifest.json"):
        for line in json.loads(manifest.read_text()).get("requirements", []):
            add(line)
    return pins


def test_requirements_txt_mirrors_the_manifest() -> None:
    lines = [
        line.strip()
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines == MANIFEST["requirements"]


def test_requirements_accept_what_home_assistant_pins() -> None:
    """A range HA's own pin falls outside would make HA reinstall it at every start."""
    pins = _ha_pins()
    checked = set()
    for requirement in _manifest_requirements():
        name = canonicalize_name(requirement.name)
        assert not any(spec.operator == "==" for spec in requirement.specifier), (
            f"{requirement} is an exact pin"
        )
        for version in pins.get(name, ()):
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{requirement} refuses {name}=={version}, which Home Assistant "
                f"{HA_VERSION} pins"
            )
            checked.add(name)
    # numpy, Pillow and PyAV are pinned by every HA this suite runs on, psutil by
    # systemmonitor; the check above must have seen them.
    assert {"numpy", "pillow", "av", "psutil"} <= checked


def _components(tree: ast.AST) -> Iterator[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.startswith("homeassistant.components."):
                yield node.module.split(".")[2]
            elif node.module == "homeassistant.components":
                yield from (alias.name for alias in node.names)


def test_imported_components_are_declared() -> None:
    """A component imported from must be declared when it has requirements.

    HA installs the requirements of `dependencies` and `after_dependencies` before it
    imports the integration: `camera` brings PyTurboJPEG (imported by
    homeassistant.components.camera itself) and `mqtt` brings paho-mqtt.
    """
    declared = set(MANIFEST.get("dependencies", [])) | set(MANIFEST.get("after_dependencies", []))
    own_platforms = {path.stem for path in INTEGRATION.glob("*.py")}
    imported = {
        component
        for path in INTEGRATION.rglob("*.py")
        for component in _components(ast.parse(path.read_text()))
    }
    assert imported, "the integration imports HA components"
    for component in sorted(imported):
        manifest = json.loads((HA_ROOT / "components" / component / "manifest.json").read_text())
        if manifest.get("requirements"):
            assert component in declared, f"{component} has requirements but is not declared"
        else:
            assert component in declared | ALWAYS_ALLOWED | own_platforms, component
    assert "camera" in MANIFEST["dependencies"]


def _requires(distribution: str, seen: set[str]) -> None:
    """Add `distribution` and everything it requires (unconditionally) to `seen`."""
    name = canonicalize_name(distribution)
    if name in seen:
        return
    seen.add(name)
    try:
        requires = importlib.metadata.requires(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return
    for line in requires:
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            _requires(requirement.name, seen)


def _module_level_imports(tree: ast.Module) -> Iterator[str]:
    """Top-level packages imported when the module loads, outside optional blocks."""
    for node in tree.body:
        if isinstance(node, ast.Import):
            yield from (alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split(".")[0]


def test_every_import_is_installed_by_home_assistant() -> None:
    """Each third-party package the integration imports at load time is one HA installs.

    That is: a manifest requirement, something it requires, or something HA's core
    or a declared dependency requires. numpy was missing on HA 2026.2, where HA's core
    no longer requires it.
    """
    installed: set[str] = set()
    for requirement in _manifest_requirements():
        _requires(requirement.name, installed)
    _requires("homeassistant", installed)
    for component in MANIFEST.get("dependencies", []) + MANIFEST.get("after_dependencies", []):
        manifest = json.loads((HA_ROOT / "components" / component / "manifest.json").read_text())
        for line in manifest.get("requirements", []):
            _requires(Requirement(line).name, installed)

    providers = importlib.metadata.packages_distributions()
    stdlib = sys.stdlib_module_names
    missing = {}
    for path in INTEGRATION.rglob("*.py"):
        for module in _module_level_imports(ast.parse(path.read_text())):
            if module in stdlib or module in {"homeassistant", "custom_components", "__future__"}:
                continue
            distributions = {canonicalize_name(dist) for dist in providers.get(module, [])}
            if not distributions & installed:
                missing[module] = path.relative_to(INTEGRATION)
    assert missing == {}
    assert {"numpy", "pillow"} <= installed
