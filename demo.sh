#!/usr/bin/env bash
# Set up and play the use case on a fresh Debian/Ubuntu machine (README: "Two commands").
# Installs Prometheus (apt; optional — without it the gate judges the load test's numbers),
# creates .venv with pipeline-steps, then runs `pipeline-steps demo`. Extra arguments go to
# the demo, e.g.  bash demo.sh --test-duration 30 --keep
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v prometheus >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq prometheus python3-venv >/dev/null || \
      echo "note: could not install prometheus/python3-venv with apt; continuing" >&2
  fi
fi

if [ ! -x .venv/bin/pipeline-steps ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
exec .venv/bin/pipeline-steps demo "$@"
