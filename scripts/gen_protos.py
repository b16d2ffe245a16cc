"""Regenerate the committed protobuf/gRPC code under protos/numaplane/v1.

The generator versions are pinned in pyproject.toml (dev extra): grpcio-tools and
mypy-protobuf. The proto directory equals the import path (numaplane.v1), so the
generated imports need no rewriting. `--check` regenerates into a temporary
directory and fails when the committed files differ (CI runs it as a test).
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
PACKAGE = PROTO_ROOT / "numaplane" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out_root: Path) -> list[Path]:
    """Run protoc (from grpcio-tools) with the mypy-protobuf plugins into out_root."""
    from grpc_tools import protoc  # imported late: only the dev extra has it

    protos = sorted(PACKAGE.glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    bindir = Path(sys.executable).parent  # the venv's plugins, not whatever is on PATH
    args = [
        "protoc",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *[str(p.relative_to(PROTO_ROOT)) for p in protos],
    ]
    code = protoc.main(args)
    if code != 0:
        raise SystemExit(f"protoc failed with exit code {code}")
    return sorted(
        p for p in (out_root / "numaplane" / "v1").iterdir() if p.name.endswith(GENERATED_SUFFIXES)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed code is stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        if args.check:
            stale = [
                p.name
                for p in fresh
                if not (PACKAGE / p.name).exists() or not filecmp.cmp(p, PACKAGE / p.name, False)
            ]
            committed = {p.name for p in PACKAGE.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}
            extra = sorted(committed - {p.name for p in fresh})
            if stale or extra:
                print(f"generated code differs: stale={stale} extra={extra}; "
                      "run scripts/gen_protos.py")
                return 1
            print(f"generated code is current ({len(fresh)} files)")
            return 0
        for p in fresh:
            shutil.copyfile(p, PACKAGE / p.name)
        print(f"wrote {len(fresh)} files to {PACKAGE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
