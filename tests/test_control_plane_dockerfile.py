"""The control-plane image (./Dockerfile) cannot be built here (no registry); this checks it copies
every package the project installs and installs the protocol package before the project."""

from __future__ import annotations

import re
import tomllib

from tests.conftest import REPO_ROOT

DOCKERFILE = (REPO_ROOT / "Dockerfile").read_text()


def test_every_installed_package_and_the_protocol_are_copied() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    packages = {pattern.rstrip("*") for pattern in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\S+)/ \1/$", DOCKERFILE, flags=re.MULTILINE))
    assert packages | {"protocol"} <= copied, (packages | {"protocol"}) - copied


def test_the_protocol_is_installed_with_the_project() -> None:
    assert re.search(r"pip install --no-cache-dir \./protocol \.", DOCKERFILE)
