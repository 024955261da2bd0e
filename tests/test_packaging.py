"""What `pip install -e .` makes importable: every application package, from any folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_INSTALLED = {"tests", "benchmarks", "migrations"}  # run from a checkout only


def test_every_application_package_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    installed = {p.removesuffix("*") for p in patterns}
    packages = {path.parent.name for path in ROOT.glob("*/__init__.py")} - NOT_INSTALLED
    # `tend serve` runs as a console script, whose sys.path does not hold the checkout:
    # a package missing here imports in the tests but not for a user.
    assert packages == installed
