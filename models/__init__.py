"""The model store (`matthan.models`).

Models this project trains live in this folder as `<name>/<version>/model.onnx` with a `card.md`,
and are listed in `manifest.json` with their sha256. Third-party weights (YuNet, dlib's face
embedding) are never committed: a command of ours converts or copies them into the user's model
store (`$MATTHAN_MODEL_STORE`, default `~/.local/share/matthan/models`) with a manifest of the same
form. Loading always checks the hash.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: where models trained by this project live (this folder)
PROJECT_MODELS = Path(__file__).resolve().parent


class ModelMissingError(RuntimeError):
    """A model is absent or its file does not match the manifest; the message names the fix."""


def store_dir() -> Path:
    """The user's model store for third-party weights converted by our commands."""
    env = os.environ.get("MATTHAN_MODEL_STORE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "matthan" / "models"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelEntry:
    """One manifest entry: where the file is, its hash, and what it expects."""

    name: str
    version: str
    path: Path
    sha256: str
    meta: dict[str, Any]


def _read_manifest(root: Path) -> dict[str, Any]:
    manifest = root / "manifest.json"
    if not manifest.is_file():
        return {}
    data = json.loads(manifest.read_text())
    models = data.get("models", {})
    if not isinstance(models, dict):
        raise ModelMissingError(f"{manifest}: 'models' must be an object")
    return models


def register(root: Path, name: str, version: str, file: Path, meta: dict[str, Any]) -> ModelEntry:
    """Record `file` (already under `root/<name>/<version>/`) in `root/manifest.json`."""
    manifest = root / "manifest.json"
    models = _read_manifest(root)
    entry = {
        "version": version,
        "file": str(file.relative_to(root)),
        "sha256": sha256_of(file),
        **meta,
    }
    models[name] = entry
    root.mkdir(parents=True, exist_ok=True)
    tmp = manifest.with_suffix(".tmp")
    tmp.write_text(json.dumps({"models": models}, indent=2, sort_keys=True) + "\n")
    tmp.replace(manifest)
    return ModelEntry(name, version, file, entry["sha256"], meta)


def resolve(name: str, fix_command: str) -> ModelEntry:
    """Find model `name` in this project's folder, then in the user's store; check its sha256.

    Raises :class:`ModelMissingError` naming `fix_command` (the command that makes the model).
    """
    for root in (PROJECT_MODELS, store_dir()):
        entry = _read_manifest(root).get(name)
        if entry is None:
            continue
        path = root / entry["file"]
        if not path.is_file():
            raise ModelMissingError(f"model {name!r}: {path} is missing; run `{fix_command}`")
        actual = sha256_of(path)
        if actual != entry["sha256"]:
            raise ModelMissingError(
                f"model {name!r}: {path} has sha256 {actual[:12]}…, manifest says "
                f"{entry['sha256'][:12]}…; run `{fix_command}` again"
            )
        meta = {k: v for k, v in entry.items() if k not in {"file", "sha256", "version"}}
        return ModelEntry(name, str(entry["version"]), path, actual, meta)
    raise ModelMissingError(f"model {name!r} is not installed; run `{fix_command}`")
