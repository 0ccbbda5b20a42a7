#!/usr/bin/env bash
# Install Cairn and run the example pipeline (DuckDB warehouse, SQLite history; no server).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "Cairn needs Python 3.11 or newer (python3 is $(python3 -V))" >&2; exit 1; }
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .

.venv/bin/cairn run example --project examples/shop
.venv/bin/cairn show example revenue_by_region --project examples/shop
