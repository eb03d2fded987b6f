"""The edge agent (`matthan.edge`): camera sources, the per-camera pipeline, the event spool and
publisher, and the command line."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("matthan")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+unknown"
