"""R blocks in pipelines: values to and from Python and SQL, logs, errors, timeouts."""

from __future__ import annotations

import datetime as dt
import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from support import ProjectFolder, RecordingObserver, cairn

from cairn import service
from cairn.ids import BlockName
from cairn.runtime.runner import Outcome

pytestmark = pytest.mark.skipif(
    shutil.which("Rscript") is None,
    reason="R is not installed (the test command installs r-base-core and r-cran-jsonlite "
    "from Debian's packages when it runs as root)")


@pytest.fixture(autouse=True)
def parse_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test parses its R blocks afresh, into its own cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def run(project: ProjectFolder, observer: RecordingObserver) -> service.RunResult:
    result = service.run_pipeline(project.load(), "p", observer)
    failures = {b: o.failure for b, o in observer.outcomes.items() if o.failure}
    assert result.status == "success", failures
    return result


def output(project: ProjectFolder, block: str, name: str) -> object:
    return service.read_output(project.load(), "p", block, output=name)[name]


FRAME = """
    import datetime as dt
    import pandas as pd

    frame = pd.DataFrame({
        "n": pd.array([1, -2, None], dtype="Int64"),
        "x": [0.1 + 0.2, None, -1e-300],
        "s": ["", None, "a,b\\nc é 日本"],
        "flag": pd.array([True, None, False], dtype="boolean"),
        "day": [dt.date(2024, 2, 29), None, dt.date(1969, 12, 31)],
        "at": pd.to_datetime(["2024-03-31 03:30:00.123456", None, "1900-01-01 00:00:00.000001"],
                             format="ISO8601").tz_localize("Europe/Berlin"),
    })
"""


def test_python_to_r_to_python_keeps_every_value(project: ProjectFolder,
                                                 observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "frame.py": FRAME,
        # What R sees, checked in R: types, exact double, empty vs missing strings, time zone.
        "copy.R": """
            seen <- list(
              types = lapply(frame, function(v) class(v)[1]),
              exact = frame$x[1] == 0.1 + 0.2,
              missing = lapply(frame, function(v) which(is.na(v))),
              empty = frame$s[1] == "",
              text = frame$s[3],
              tz = attr(frame$at, "tzone"),
              clock = format(frame$at[1], "%H:%M:%OS6")
            )
            copy <- frame
        """,
        "check.py": "dtypes = {c: str(t) for c, t in copy.dtypes.items()}\n",
    })
    run(project, observer)
    assert output(project, "copy", "seen") == {
        "types": {"n": "integer", "x": "numeric", "s": "character", "flag": "logical",
                  "day": "Date", "at": "POSIXct"},
        "exact": True,
        "missing": {"n": 3, "x": 2, "s": 2, "flag": 2, "day": 2, "at": 2},
        "empty": True,
        "text": "a,b\nc é 日本",
        "tz": "Europe/Berlin",
        "clock": "03:30:00.123456",
    }
    # As the next Python block gets it, straight from R.
    assert output(project, "check", "dtypes") == {
        "n": "Int32", "x": "float64", "s": "str", "flag": "boolean", "day": "object",
        "at": "datetime64[us, Europe/Berlin]"}
    copy = output(project, "copy", "copy")
    assert isinstance(copy, pd.DataFrame)
    expected = pd.DataFrame({
        "n": pd.array([1, -2, None], dtype="Int32"),
        "x": [0.1 + 0.2, None, -1e-300],
        "s": ["", None, "a,b\nc é 日本"],
        "flag": pd.array([True, None, False], dtype="boolean"),
        "day": [dt.date(2024, 2, 29), None, dt.date(1969, 12, 31)],
        "at": pd.to_datetime(["2024-03-31 03:30:00.123456", None, "1900-01-01 00:00:00.000001"],
                             format="ISO8601").tz_localize("Europe/Berlin").as_unit("us"),
    })
    pd.testing.assert_frame_equal(copy, expected)
    assert copy["x"][0] == 0.1 + 0.2 and copy["s"][0] == "" and pd.isna(copy["s"][1])


def test_r_to_sql_to_r(project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "scores.R": """
            scores <- data.frame(id = 1:4, name = c("a", "b", NA, "d"),
                                 score = c(0.5, 2.25, NA, 1 / 3))
        """,
        "top.sql": "SELECT id, name, score FROM scores WHERE score > 0.4 ORDER BY score DESC\n",
        "events.sql": """
            SELECT 10000000000 AS big, DATE '2024-01-02' AS day, 1.5::DECIMAL(10, 2) AS price,
                   TIMESTAMPTZ '2024-01-02 03:04:05+00' AS at
        """,
        "back.R": """
            back <- top
            seen <- list(names = names(top), classes = lapply(events, function(v) class(v)[1]),
                         big = events$big, day = format(events$day), price = events$price,
                         at = format(events$at, "%Y-%m-%d %H:%M:%S", tz = "UTC"))
        """,
    })
    run(project, observer)
    back = output(project, "back", "back")
    assert isinstance(back, pd.DataFrame)
    assert back.to_dict("list") == {"id": [2, 1], "name": ["b", "a"], "score": [2.25, 0.5]}
    assert output(project, "back", "seen") == {
        "names": ["id", "name", "score"],
        # BIGINT beyond 32 bits arrives as a double; R has no 64-bit integer.
        "classes": {"big": "numeric", "day": "Date", "price": "numeric", "at": "POSIXct"},
        "big": 10000000000, "day": "2024-01-02", "price": 1.5, "at": "2024-01-02 03:04:05"}


def test_scalars_and_lists_cross_as_json(project: ProjectFolder,
                                         observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "values.py": """
            count = 3
            ratio = 0.1 + 0.2
            words = ["a", "b"]
            settings = {"k": 1, "flag": True, "nested": {"name": "x"}}
        """,
        "use.R": """
            seen <- list(count = count * 2L, exact = ratio == 0.1 + 0.2, words = toupper(words),
                         k = settings$k, flag = isTRUE(settings$flag),
                         name = settings$nested$name)
            one <- 1L
            tenth <- 0.1 + 0.2
            vector <- c(1.5, NA, 3)
            named <- list(a = "x", b = list(c = TRUE))
            fit <- lm(y ~ x, data = data.frame(x = 1:3, y = c(2, 4, 6)))
        """,
    })
    run(project, observer)
    assert output(project, "use", "seen") == {
        "count": 6, "exact": True, "words": ["A", "B"], "k": 1, "flag": True, "name": "x"}
    assert output(project, "use", "one") == 1
    # JSON from R keeps 15 significant digits, unlike data frame columns.
    assert output(project, "use", "tenth") == 0.3
    assert output(project, "use", "vector") == [1.5, None, 3]
    assert output(project, "use", "named") == {"a": "x", "b": {"c": True}}
    stored = service.read_output(project.load(), "p", "use")
    assert "fit" not in stored  # a model cannot leave R; the log says so
    assert ("use", "stderr", "Warning: output fit (lm) cannot leave R; not stored") in \
        observer.lines


def test_context_and_variables_are_visible(project: ProjectFolder,
                                           observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "info.R": """
            info <- list(run = context$run_id, pipeline = context$pipeline,
                         block = context$block, attempt = context$attempt,
                         threshold = threshold * 2, listed = context$variables$threshold)
        """,
    }, "variables:\n  threshold: 5\n")
    result = run(project, observer)
    assert output(project, "info", "info") == {
        "run": result.run_id, "pipeline": "p", "block": "info", "attempt": 1,
        "threshold": 10, "listed": 5}


def test_print_message_and_warnings_reach_the_logs(project: ProjectFolder,
                                                   observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "noisy.R": """
            print(1:3)
            cat("plain", "text\\n")
            message("for information")
            x <- as.integer("seven")
            warning("careful")
            message("two\nlines")
            x
        """,
    })
    result = run(project, observer)
    # stdout and stderr are two pipes: each keeps its order, not their interleaving.
    streams = {stream: [line for block, s, line in observer.lines if s == stream]
               for stream in ("stdout", "stderr", "log")}
    assert streams == {
        "stdout": ["[1] 1 2 3", "plain text", "[1] NA"],  # visible values print, as in Rscript
        "stderr": ["Warning (line 4): NAs introduced by coercion", "Warning (line 5): careful"],
        # message() is information, as Python's logging.info: not a red stderr line.
        "log": ["INFO R: for information", "INFO R: two", "INFO R: lines"],
    }
    log = service.variable_store(project.load()).log_path(
        result.run_id, BlockName("noisy")).read_text()
    assert "plain text\n" in log and "[stderr] Warning (line 5): careful\n" in log
    assert "[log] INFO R: for information\n" in log


class TimedObserver(RecordingObserver):
    """Also notes when each line and each block's end arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.times: dict[str, float] = {}

    def block_output(self, block: BlockName, stream: str, line: str) -> None:
        super().block_output(block, stream, line)
        self.times[line] = time.monotonic()

    def block_finished(self, block: BlockName, outcome: Outcome) -> None:
        super().block_finished(block, outcome)
        self.times[f"end of {block}"] = time.monotonic()


def test_output_arrives_while_the_block_runs(project: ProjectFolder) -> None:
    project.pipeline("p", {"slow.R": 'cat("first\\n")\nSys.sleep(0.8)\nslow <- TRUE\n'})
    observer = TimedObserver()
    run(project, observer)
    assert observer.times["end of slow"] - observer.times["first"] > 0.5


def test_block_names_live_in_the_global_environment(project: ProjectFolder,
                                                    observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "a.py": "a = 1\n",
        "b.R": """
            b <<- a + 1
            a * 3 ->> d
            seen <- list(names = ls(), attached = "package:jsonlite" %in% search(),
                         runner = exists("spec") || exists("work"))
        """,
    })
    run(project, observer)
    assert service.read_output(project.load(), "p", "b", output="b") == {"b": 2}
    assert output(project, "b", "d") == 3
    # Only the inputs, context and the block's own names: nothing of the script running it.
    assert output(project, "b", "seen") == {
        "names": ["a", "b", "context", "d"], "attached": False, "runner": False}


@pytest.mark.parametrize(("source", "line", "message", "logged"), [
    pytest.param("""
        x <- 1
        y <- x + 1
        z <- log(-1)
        stop("no good: ", y)
        print("never")
    """, 4, "Error: no good: 2", ["Warning (line 3): NaNs produced"], id="stop-at-top-level"),
    pytest.param("""
        check <- function(v) {
          if (v > 1) stop("too big: ", v)
          v
        }
        a <- check(1)
        b <- sapply(
          c(1, 2),
          check
        )
    """, 6, "Error in FUN(X[[i]], ...): too big: 2", [], id="inside-a-function"),
    pytest.param("total <- sum(missing_thing)\n", 1,
                 "Error: object 'missing_thing' not found", [], id="unknown-name"),
])
def test_r_error_gives_message_and_line(project: ProjectFolder, observer: RecordingObserver,
                                        source: str, line: int, message: str,
                                        logged: list[str]) -> None:
    project.pipeline("p", {"bad.R": source})
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "failed"
    failure = observer.outcomes["bad"].failure
    assert failure is not None
    assert (failure.message, failure.line) == (message, line)
    assert failure.file is not None and failure.file.endswith("bad.R")
    assert [text for _, _, text in observer.lines] == logged  # nothing ran after the error


def test_missing_rscript_is_a_problem_with_an_install_hint(
        project: ProjectFolder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project.pipeline("p", {"a.R": "a <- 1\n"})
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    result = cairn("run", "p", cwd=project.root)
    assert result.returncode == 2, result.stdout + result.stderr
    shown = result.stdout + result.stderr
    assert "Rscript is not on PATH" in shown
    assert "apt-get install r-base-core" in shown


def r_processes(root: Path) -> list[int]:
    """Live R processes running a block of the project at `root` (their working folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if (not entry.name.isdigit() or b"run.R" not in (entry / "cmdline").read_bytes()
                    or (entry / "cwd").resolve() != root.resolve()):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:  # ended meanwhile, or not ours to look at
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="reads /proc")
@pytest.mark.parametrize("how", ["in-process", "cli"])
def test_timeout_kills_the_r_process(project: ProjectFolder, observer: RecordingObserver,
                                     how: str) -> None:
    project.pipeline("p", {"slow.R": "cat(\"working...\")\nSys.sleep(30)\nslow <- 1\n"},
                     "blocks:\n  - name: slow\n    timeout: 1\n")
    started = time.monotonic()
    if how == "cli":  # the process ends right after the run: R must not outlive it
        assert cairn("run", "p", "--quiet", cwd=project.root).returncode == 1
    else:
        result = service.run_pipeline(project.load(), "p", observer)
        assert result.blocks == {"slow": "failed"}
        failure = observer.outcomes["slow"].failure
        assert failure is not None and "timed out after 1 s" in failure.message
    assert time.monotonic() - started < 8
    deadline = time.monotonic() + 2  # the block's thread kills R at its next instruction
    while r_processes(project.root) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert r_processes(project.root) == []
