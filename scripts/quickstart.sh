#!/usr/bin/env bash
# Install Cairn (and R, for the example's R block) and run the example pipeline:
# a DuckDB warehouse and SQLite run history inside examples/shop, no server to start.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_venv .
ensure_r
.venv/bin/cairn run example --project examples/shop
.venv/bin/cairn show example top_customers --project examples/shop
