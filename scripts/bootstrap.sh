#!/usr/bin/env bash
# Make .venv ready for numaplane: a virtualenv with the project (editable) and its dev
# extra (every role's extra and the test tools); as root, also the Debian packages the
# real-component tests use.
# Idempotent and quick when nothing changed (a stamp holds pyproject.toml's hash).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "numaplane needs Python 3.11 or newer (found: $("$PY" --version 2>&1))" >&2
    exit 1
fi

# System packages: only as root, only what is missing. The list grows with the
# backends that have real-component tests (libvirt, QEMU, a kernel for virtme-ng).
# libvirt-dev + pkg-config: libvirt-python builds against them (libvirt backend, test
# driver). qemu-system-x86, linux-image-amd64, busybox-static: virtme-ng boots a real
# NUMA kernel and balloon guests for the e2e tier.
APT_PACKAGES=(${NUMAPLANE_APT_PACKAGES:-libvirt-dev pkg-config qemu-system-x86 linux-image-amd64 busybox-static})
if [ "$(id -u)" = 0 ] && [ "${#APT_PACKAGES[@]}" -gt 0 ] && command -v apt-get >/dev/null; then
    missing=()
    for p in "${APT_PACKAGES[@]}"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "bootstrap: apt-get install ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
fi

if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.numaplane-stamp
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[dev]'
    echo "$want" > "$stamp"
fi
