"""The built web UI in src/cairn/server/static is present and built from the current web/."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "cairn" / "server" / "static"
REBUILD = "run `bash scripts/build-web.sh` and commit src/cairn/server/static"


def _hashing() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "web_source_hash", ROOT / "scripts" / "web_source_hash.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_bundle_is_built() -> None:
    index = STATIC / "index.html"
    assert index.is_file(), f"{index} is missing: {REBUILD}"
    html = index.read_text(encoding="utf-8")
    assert './assets/' in html, "index.html must load its assets by relative paths"
    for asset in ("js", "css"):
        assert list((STATIC / "assets").glob(f"*.{asset}")), f"no .{asset} in the bundle: {REBUILD}"


def test_the_bundle_matches_the_sources() -> None:
    recorded = STATIC / "SOURCE_HASH"
    assert recorded.is_file(), f"{recorded} is missing: {REBUILD}"
    expected = _hashing().source_hash(ROOT)
    assert recorded.read_text(encoding="utf-8").strip() == expected, (
        f"the web UI sources in web/ changed since the bundle was built: {REBUILD}"
    )
