"""What may name a pipeline: one folder name under pipelines/, never a path.

The CLI, the API and the loader all ask here, so `cairn run /abs/dir`, `../x` or a name too
long for the file system is refused the same way everywhere, before any file is touched.
"""

from __future__ import annotations

import re

from cairn.errors import CairnError, Problem

# Letters and digits of any script, then also `_`, `-` and `.`; a leading `.` or `_` hides
# a folder (drafts, helpers), and `/`, `\`, NUL and control characters would make a path.
_PIPELINE_NAME = re.compile(r"[^\W_][\w.-]*")
MAX_NAME_CHARACTERS = 100
# File systems limit a name to 255 bytes; a run folder adds nothing to it, a temporary
# file adds a few dozen: keep well below.
_MAX_NAME_BYTES = 200
HINT = ("a pipeline name is a folder name in pipelines/: letters, digits, _, - and ., "
        f"starting with a letter or digit, at most {MAX_NAME_CHARACTERS} characters")


def check_pipeline_name(name: str) -> str:
    """`name` if it can name a pipeline; otherwise a `bad-name` problem saying why."""
    if not name:
        reason = "is empty"
    elif len(name) > MAX_NAME_CHARACTERS or len(name.encode("utf-8")) > _MAX_NAME_BYTES:
        reason = f"is longer than {MAX_NAME_CHARACTERS} characters"
    elif any(separator in name for separator in ("/", "\\")):
        reason = "is a path, not a name"
    elif not _PIPELINE_NAME.fullmatch(name):
        reason = "holds characters a pipeline name cannot hold"
    else:
        return name
    shown = name if len(name) <= 60 else name[:60] + "..."
    raise CairnError(Problem("bad-name", f"{shown!r} cannot name a pipeline: it {reason}",
                             hint=HINT))
