"""environment.yml (the conda route) names everything pyproject.toml installs."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent

# PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {"redis": "redis-py"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return match.group(0).lower().replace("_", "-")


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    # Markers like `; python_version < "3.11"` are conda's business (python pin).
    return {
        CONDA_NAMES.get(_name(req), _name(req))
        for req in requirements
        if "python_version" not in req
    }


def environment_packages() -> set[str]:
    lines = (REPO / "environment.yml").read_text().splitlines()
    return {
        _name(line.strip()[2:])
        for line in lines
        if line.strip().startswith("- ") and not line.strip().startswith("- pip:")
    }


def test_environment_names_every_pyproject_dependency() -> None:
    missing = pyproject_requirements() - environment_packages()
    assert not missing, f"environment.yml lacks {sorted(missing)}"


def test_environment_has_the_binaries() -> None:
    assert {"redis-server", "nodejs", "python", "pip"} <= environment_packages()
