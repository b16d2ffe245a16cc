#!/usr/bin/env bash
# Start a demo cluster on embedded defaults: an etcd this project starts itself, a
# controller and simulated hosts. Extra arguments go to `numaplane demo`
# (e.g. `scripts/demo.sh --headless --duration 30 --hosts 6`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/numaplane demo "$@"
