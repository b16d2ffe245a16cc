"""The one error every driver raises: a library's own exceptions never leave a driver."""

from __future__ import annotations


class BackendError(Exception):
    """The backend could not observe or act; the message names what and why."""
