#!/usr/bin/env bash
# Build the web UI (web/) into src/cairn/server/static, which `cairn serve` serves, and
# record the hash of its sources there (tests/server/test_bundle.py checks it).
# Needs Node 20.19+ and npm. Usage: bash scripts/build-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "building the web UI needs Node.js and npm" >&2; exit 1; }

(cd web && npm ci --no-audit --no-fund && npm run build)

python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
"$python" scripts/web_source_hash.py > src/cairn/server/static/SOURCE_HASH
echo "built src/cairn/server/static ($(du -sh src/cairn/server/static | cut -f1)), SOURCE_HASH $(cat src/cairn/server/static/SOURCE_HASH)"
