"""The hash of the web UI's sources, written to the built bundle as SOURCE_HASH.

A test compares it with the sources, so a change to web/ without rebuilding the bundle in
src/cairn/server/static fails. Usage: python scripts/web_source_hash.py [REPO_ROOT]
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP_FILES = ("package.json", "package-lock.json", "index.html", "vite.config.ts")


def source_files(web: Path) -> list[Path]:
    """The files the bundle is built from, in sorted order of their path under web/."""
    files = [web / name for name in TOP_FILES if (web / name).is_file()]
    files += sorted(web.glob("tsconfig*.json"))
    files += [p for p in (web / "src").rglob("*") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(web).as_posix())


def source_hash(root: Path = ROOT) -> str:
    """sha256 over "relative path\\0content\\0" of every source file, in sorted path order."""
    web = root / "web"
    digest = hashlib.sha256()
    for path in source_files(web):
        digest.update(path.relative_to(web).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


if __name__ == "__main__":
    print(source_hash(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT))
