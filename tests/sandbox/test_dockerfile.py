"""The sandbox image cannot be built here (no image registry), so this checks that what
sandbox/Dockerfile installs and runs matches what the runtime and the Kubernetes backend
expect: versions, paths, the user, the entrypoint."""

from __future__ import annotations

import ast
import json
import re
import sys
import tomllib

from openinspect_protocol import launch

from backend_jobs.sandboxes import kubernetes_manifests
from tests.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "sandbox" / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
PACKAGE_JSON = json.loads((REPO_ROOT / "package.json").read_text())
REQUIREMENTS = dict(line.split("==") for line in (REPO_ROOT / "sandbox" / "requirements.txt").read_text().splitlines()
                    if line and not line.startswith("#"))


def instruction(name: str) -> list[str]:
    """Every value of a Dockerfile instruction (continuation lines joined)."""
    joined = DOCKERFILE.replace("\\\n", " ")
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.+)$", joined, flags=re.MULTILINE)]


def pinned(name: str) -> str:
    deps = PYPROJECT["project"]["dependencies"] + PYPROJECT["project"]["optional-dependencies"]["test"]
    for dep in deps:
        match = re.match(rf"^{re.escape(name)}(\[[^\]]*\])?==(.+)$", dep, flags=re.IGNORECASE)
        if match:
            return match.group(2)
    raise AssertionError(f"{name} is not pinned in pyproject.toml")


def test_debian_with_python_312_and_node_22() -> None:
    bases = instruction("FROM")
    assert any(re.match(r"python:3\.12(\.\d+)?-slim-bookworm$", b) for b in bases), bases
    assert any(re.match(r"node:22(\.\d+)*-bookworm-slim\b", b) for b in bases), bases
    installs = " ".join(instruction("RUN"))
    for package in ("git", "ripgrep", "tini"):
        assert re.search(rf"apt-get install[^&]*\b{package}\b", installs), package


def test_opencode_is_the_pinned_version() -> None:
    (version,) = re.findall(r"opencode-ai@([\d.]+)", DOCKERFILE)
    assert version == PACKAGE_JSON["dependencies"]["opencode-ai"]
    env = " ".join(instruction("ENV"))
    # npm -g puts the binary here; the runtime reads this variable (sandbox/config.py).
    assert "OPENINSPECT_OPENCODE_BIN=/usr/local/bin/opencode" in env
    assert any(name == "OPENINSPECT_OPENCODE_BIN" for name, _, _ in launch.settings_table())


def test_playwright_with_chromium() -> None:
    runs = " ".join(instruction("RUN"))
    assert f"playwright=={pinned('playwright')}" in runs
    assert re.search(r"playwright install [^&]*chromium", runs)


def test_the_runtimes_python_dependencies_are_installed_at_the_projects_pins() -> None:
    third_party = set()
    files = sorted((REPO_ROOT / "sandbox").rglob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else [])
            third_party |= {n.split(".")[0] for n in names}
    third_party -= set(sys.stdlib_module_names) | {"sandbox", "openinspect_protocol", "__future__"}
    assert third_party == set(REQUIREMENTS), "sandbox/requirements.txt lists exactly what the runtime imports"
    for name, version in REQUIREMENTS.items():
        assert version == pinned(name), name
    assert "pip install --no-cache-dir -r /opt/openinspect/sandbox/requirements.txt" in " ".join(instruction("RUN"))


def test_the_runtime_is_copied_where_pythonpath_points() -> None:
    copies = instruction("COPY")
    assert "sandbox/ /opt/openinspect/sandbox/" in copies
    assert "PYTHONPATH=/opt/openinspect" in " ".join(instruction("ENV"))
    # Nothing of the control plane is copied beside the runtime: only the sandbox and the protocol.
    assert not [c for c in copies if "openinspect_app" in c or "openinspect_core" in c or "backend_jobs" in c]


def test_the_protocol_is_installed_as_a_package() -> None:
    runs = instruction("RUN")
    assert "protocol/ /opt/openinspect/protocol/" in instruction("COPY")
    assert "pip install --no-cache-dir /opt/openinspect/protocol" in " ".join(runs)
    project = tomllib.loads((REPO_ROOT / "protocol" / "pyproject.toml").read_text())["project"]
    assert project["name"] == "openinspect-protocol"
    # The control plane pins the same protocol version it installs from protocol/.
    root = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"openinspect-protocol=={project['version']}" in root
    # Its dependencies are pinned at the control plane's versions.
    for requirement in project["dependencies"]:
        name, version = requirement.split("==")
        assert version == pinned(name), name


def test_user_and_entrypoint_match_the_job() -> None:
    assert instruction("USER") == [str(kubernetes_manifests.SANDBOX_UID)]
    assert json.loads(instruction("ENTRYPOINT")[0]) == ["/usr/bin/tini", "--"]
    assert json.loads(instruction("CMD")[0]) == list(kubernetes_manifests.SANDBOX_ARGS)
    env = " ".join(instruction("ENV"))
    assert f"OPENINSPECT_WORKSPACE={kubernetes_manifests.WORKSPACE}" in env
