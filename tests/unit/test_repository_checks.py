"""Repository-wide rules as tests: generated code is current, the layering holds, and the
test tree keeps its own rules.

The first two also run as their own steps in scripts/test.sh; here they fail `pytest` alone
too. The test-tree rules: every integration and e2e module carries its tier's marker (so
`-m integration` and `-m e2e` select all of it), and no module under tests/ imports a test
module or a conftest (shared helpers live in tests/support/). Both read the files with `ast`,
without importing them.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TESTS = ROOT / "tests"


def test_committed_protobuf_code_equals_a_fresh_regeneration() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_layering_contracts_are_kept() -> None:
    """hostagent never imports controller; common imports neither; policies do no I/O."""
    run = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout


def _is_mark(node: ast.expr, tier: str) -> bool:
    """`pytest.mark.<tier>`, bare or called with arguments."""
    if isinstance(node, ast.Call):
        node = node.func
    return (
        isinstance(node, ast.Attribute)
        and node.attr == tier
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "mark"
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "pytest"
    )


def module_marked(tree: ast.Module, tier: str) -> bool:
    """Whether the module-level `pytestmark` is `pytest.mark.<tier>` or a list or tuple
    holding it."""
    for statement in tree.body:
        if isinstance(statement, ast.Assign):
            targets, value = statement.targets, statement.value
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
            targets, value = [statement.target], statement.value
        else:
            continue
        if not any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in targets):
            continue
        marks = value.elts if isinstance(value, (ast.List, ast.Tuple)) else [value]
        if any(_is_mark(mark, tier) for mark in marks):
            return True
    return False


def unmarked_modules(tests: Path, tier: str) -> list[str]:
    """The `test_*.py` files under tests/<tier> whose `pytestmark` lacks the tier's mark."""
    return [
        str(path.relative_to(tests.parent))
        for path in sorted((tests / tier).rglob("test_*.py"))
        if not module_marked(ast.parse(path.read_text(), str(path)), tier)
    ]


@pytest.mark.parametrize("tier", ["integration", "e2e"])
def test_every_module_of_a_marked_tier_carries_its_marker(tier: str) -> None:
    assert (TESTS / tier).is_dir()
    unmarked = unmarked_modules(TESTS, tier)
    assert unmarked == [], f"add `pytestmark = pytest.mark.{tier}` to: " + ", ".join(unmarked)


FORBIDDEN_PACKAGES = ("tests.unit", "tests.integration", "tests.e2e")


def _forbidden(module: str) -> bool:
    return (
        any(module == p or module.startswith(p + ".") for p in FORBIDDEN_PACKAGES)
        or module == "conftest"
        or module.endswith(".conftest")
    )


def imports_of_tests(path: Path, tests: Path) -> list[str]:
    """The imports of test modules and conftests in one file, as `file:line: import`
    (relative imports resolved)."""
    tree = ast.parse(path.read_text(), str(path))
    package = path.relative_to(tests.parent).parent.parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            shown = "import " + ", ".join(modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve it against the file's own package
                parent = package[: len(package) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names = [alias.name for alias in node.names]
            # `from tests import unit` and `from . import conftest` name modules too.
            modules = [base, *(f"{base}.{name}" for name in names)]
            shown = f"from {base} import " + ", ".join(names)
        else:
            continue
        if any(_forbidden(module) for module in modules):
            found.append(f"{path.relative_to(tests.parent)}:{node.lineno}: {shown}")
    return found


def test_no_module_imports_a_test_module_or_a_conftest() -> None:
    """Shared definitions go to tests/support/; conftests only define fixtures."""
    found = [hit for path in sorted(TESTS.rglob("*.py")) for hit in imports_of_tests(path, TESTS)]
    assert found == [], "move what is shared into tests/support/:\n" + "\n".join(found)


def test_the_marker_check_names_each_module_without_its_tier_mark(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "integration" / "store").mkdir(parents=True)
    modules = {
        "test_single.py": "pytestmark = pytest.mark.integration\n",
        "test_listed.py": "pytestmark = [pytest.mark.timeout(9), pytest.mark.integration]\n",
        "store/test_tuple.py": "pytestmark: Any = (pytest.mark.integration,)\n",
        "test_none.py": "import pytest\n",
        "test_other_tier.py": "pytestmark = pytest.mark.e2e\n",
        "store/test_in_a_function.py": "def f():\n    pytestmark = pytest.mark.integration\n",
        "helper.py": "",
    }
    for name, text in modules.items():
        (tests / "integration" / name).write_text(text)
    assert unmarked_modules(tests, "integration") == [
        "tests/integration/store/test_in_a_function.py",
        "tests/integration/test_none.py",
        "tests/integration/test_other_tier.py",
    ]


def test_the_import_check_names_test_modules_and_conftests(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    (tests / "unit" / "policy").mkdir(parents=True)
    path = tests / "unit" / "policy" / "test_x.py"
    path.write_text(
        "from tests.support.placement_builders import host\n"
        "import tests.support.etcd\n"
        "from tests.unit.policy.test_y import helper\n"
        "from tests.integration.conftest import StoreFactory\n"
        "import tests.e2e.test_z\n"
        "from tests import integration\n"
        "from . import test_y\n"
        "from .. import conftest\n"
        "def f():\n"
        "    from tests.unit import helpers\n"
    )
    assert imports_of_tests(path, tests) == [
        f"tests/unit/policy/test_x.py:{line}: {shown}"
        for line, shown in [
            (3, "from tests.unit.policy.test_y import helper"),
            (4, "from tests.integration.conftest import StoreFactory"),
            (5, "import tests.e2e.test_z"),
            (6, "from tests import integration"),
            (7, "from tests.unit.policy import test_y"),
            (8, "from tests.unit import conftest"),
            (10, "from tests.unit import helpers"),
        ]
    ]
