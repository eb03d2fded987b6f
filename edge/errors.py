"""Errors that reach the user as one line."""

from __future__ import annotations


class CommandError(RuntimeError):
    """An error the user can fix: printed as one line without a traceback (unless --debug)."""
