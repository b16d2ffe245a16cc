#!/usr/bin/env bash
# Run every check CI runs: generated-code drift, lint, types, layering, then all tests
# (unit, integration with a real etcd and real gRPC, and the slow e2e tier).
# Extra arguments go to pytest (e.g. `scripts/test.sh -m "not e2e"`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/.venv/bin:$PATH"

echo "== generated protobuf code"
python scripts/gen_protos.py --check
echo "== ruff"
ruff check .
echo "== mypy --strict"
mypy
echo "== import layering"
lint-imports
echo "== pytest"
set +e
python -m pytest -q -p no:cacheprovider "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$code"
