"""The built distribution installs one import name, and nothing in the working folder can
shadow it.

numaplane's folders are source roots of one namespace package (`numaplane`); before,
the wheel installed `common`, `controller`, `hostagent` and `bench` as top-level names,
so another distribution's `common/` (or a `common/` in the folder a command ran from)
replaced ours. These tests build the real wheel and run the real console script.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy of the project's files (tracked, or new and not ignored), so the
    # build's own folders never land in the checkout and local clutter is not packaged.
    source, out = tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    # No build isolation: the test venv has setuptools, and CI needs no index for this.
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, cwd=out,
    )
    [built] = out.glob("numaplane-*.whl")
    return built


def test_the_wheel_installs_numaplane_alone(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        [top_level] = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert z.read(top_level).decode().split() == ["numaplane"]
    roots = {n.split("/", 1)[0] for n in names}
    assert {r for r in roots if not r.endswith(".dist-info")} == {"numaplane"}
    # Every part of the namespace is there, data files included.
    for part in ("numaplane/v1/state_pb2.py", "numaplane/common/topology.py",
                 "numaplane/controller/server.py", "numaplane/hostagent/agent.py",
                 "numaplane/bench/scenarios/parallel-boot.yaml"):
        assert part in names, part
    assert not any(n.startswith("numaplane/__init__") for n in names)  # a namespace


def _shadowing_folder(tmp: Path) -> Path:
    """A folder holding its own common/, controller/, hostagent/ and bench/ packages."""
    for name in ("common", "controller", "hostagent", "bench"):
        pkg = tmp / name
        pkg.mkdir()
        (pkg / "__init__.py").write_text(f"raise ImportError('the wrong {name} was imported')\n")
    return tmp


def test_commands_run_from_a_folder_with_its_own_common_and_controller(tmp_path: Path) -> None:
    here = _shadowing_folder(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    cli = subprocess.run([str(VENV_BIN / "numaplane"), "--help"], cwd=here, env=env,
                         capture_output=True, text=True, check=False)
    assert cli.returncode == 0, cli.stderr
    assert "Usage: numaplane" in cli.stdout
    imported = subprocess.run(
        [sys.executable, "-c", "import numaplane.controller.server, numaplane.hostagent.agent,"
         " numaplane.bench.cli; print('numaplane imported', flush=True); import common"],
        cwd=here, env=env, capture_output=True, text=True, check=False,
    )
    # numaplane's modules import; after them, `import common` finds the folder's own
    # package (which refuses): the folder really was first on the path.
    assert "numaplane imported" in imported.stdout, imported.stderr
    assert "the wrong common was imported" in imported.stderr
    ok = subprocess.run(
        [sys.executable, "-c", "import numaplane.controller.server; print('ok')"],
        cwd=here, env=env, capture_output=True, text=True, check=False,
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "ok", ok.stderr
