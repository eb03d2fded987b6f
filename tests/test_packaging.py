"""The folders map onto `matthan.*` import names; a wheel must carry every sub-package."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOTS = {
    "edge": "matthan.edge",
    "recognizers": "matthan.recognizers",
    "integration": "matthan.integration",
    "benchmarks": "matthan.benchmarks",
    "models": "matthan.models",
}


def test_every_python_package_folder_is_listed_in_pyproject() -> None:
    """Regression: recognizers/faces was importable in the editable install but missing from wheels."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    assert {config["package-dir"][name] for name in listed if name in config["package-dir"]} <= set(ROOTS)
    found = set()
    for folder, name in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *relative.parts]))
    assert found == listed


def test_no_bare_top_level_import_names() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(name.startswith("matthan.") for name in config["packages"])


def test_every_file_of_a_shipped_model_goes_into_the_wheel() -> None:
    """A model's folder (ONNX, card, a third-party licence its weights derive from) must match the
    package data of `matthan.models`, or an installed matthan lacks it."""
    from fnmatch import fnmatch

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["matthan.models"]
    store = REPO / "models"
    files = [p.relative_to(store).as_posix() for p in store.glob("*/*/*") if p.is_file()]
    assert any(f.endswith("LICENSE-YuNet") for f in files)  # plate-detector 1.1.0 derives from YuNet
    assert [f for f in files if not any(fnmatch(f, pat) for pat in patterns)] == []
