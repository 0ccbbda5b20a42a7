"""Find what R blocks define and read, with R's own parser (`getParseData` in `Rscript`).

Starting R costs a few hundred milliseconds, so results are cached by file content and all
files that miss the cache are parsed by one `Rscript` call.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, Problem
from cairn.text_file import read_text

_PARSER = Path(__file__).parent / "r" / "parse.R"
INSTALL_HINT = (
    "install R with its data.table and jsonlite packages, e.g. on Debian or Ubuntu: "
    "apt-get install r-base-core r-cran-data.table r-cran-jsonlite"
)


@dataclass
class RAnalysis:
    defines: dict[str, int]
    references: dict[str, int]


def rscript(filename: str | None = None) -> str:
    """The `Rscript` program, or a problem saying how to install R."""
    program = shutil.which("Rscript")
    if program is None:
        raise CairnError(Problem("r-missing", "R blocks need R, and Rscript is not on PATH",
                                 file=filename, hint=INSTALL_HINT))
    return program


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "cairn" / "r-parse"


def _key(source: bytes) -> str:
    parser = _PARSER.read_bytes()
    return hashlib.sha256(parser + b"\0" + source).hexdigest()


def _result(path: Path, raw: dict[str, Any]) -> RAnalysis:
    if "error" in raw:
        raise CairnError(Problem("syntax-error", f"R syntax error: {raw['error']}",
                                 file=str(path), line=raw.get("line"),
                                 hint="fix the R syntax at that line"))
    # Names starting with a dot are hidden in R, and private to the block here; `context`
    # is the run's, set by run.R, as in Python blocks.
    defines = {k: int(v) for k, v in (raw.get("defines") or {}).items() if not k.startswith(".")}
    references = {k: int(v) for k, v in (raw.get("references") or {}).items()
                  if not k.startswith(".") and k != "context"}
    return RAnalysis(defines, references)


def analyze_r(paths: Sequence[Path]) -> dict[Path, RAnalysis | CairnError]:
    """Analyse R block files; a file's syntax error is returned in its place, not raised."""
    unreadable: dict[Path, CairnError] = {}
    for path in paths:
        try:
            read_text(path)
        except CairnError as error:
            unreadable[path] = error
    paths = [path for path in paths if path not in unreadable]
    cache = _cache_dir()
    keys = {path: _key(path.read_bytes()) for path in paths}
    raw: dict[Path, dict[str, Any]] = {}
    missing = []
    for path, key in keys.items():
        cached = cache / f"{key}.json"
        if cached.is_file():
            raw[path] = json.loads(cached.read_text())
        else:
            missing.append(path)
    if missing:
        completed = subprocess.run([rscript(str(missing[0])), str(_PARSER), *map(str, missing)],
                                   capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            raise CairnError(Problem("r-parser", "R could not parse the R blocks: "
                                     + completed.stderr.strip()[-500:], file=str(missing[0]),
                                     hint=INSTALL_HINT))
        parsed = json.loads(completed.stdout)
        cache.mkdir(parents=True, exist_ok=True)
        for path in missing:
            raw[path] = parsed[str(path)]
            temporary = cache / f".{keys[path]}.{os.getpid()}.tmp"
            temporary.write_text(json.dumps(raw[path]))
            temporary.replace(cache / f"{keys[path]}.json")
    results: dict[Path, RAnalysis | CairnError] = dict(unreadable)
    for path in paths:
        try:
            results[path] = _result(path, raw[path])
        except CairnError as error:
            results[path] = error
    return results
