"""The `cairn` command: a thin shell over `cairn.service`."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cairn.cli_alerts import alerts_app
from cairn.cli_checkpoints import checkpoints
from cairn.cli_clean import clean
from cairn.cli_generate import explain, fix, generate
from cairn.cli_stats import stats
from cairn.cli_stream import stream
from cairn.cli_streams import streams_app
from cairn.errors import CairnError
from cairn.times import shown

app = typer.Typer(
    help="Cairn runs data pipelines made of Python, SQL and R block files.\n\n"
    "Blocks are files in pipelines/<name>/; Cairn infers which block depends on which "
    "from the names they define and read.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ProjectOption = Annotated[
    Path | None,
    typer.Option("--project", "-p", help="Project folder (default: the nearest folder upwards "
                 "holding cairn.yaml).", show_default=False),
]


_CANCELLED_EXIT = 130  # as a shell reports a command stopped by Ctrl-C

# Set by the global --profile and --log-format options, before any command runs.
_profile: str | None = None
_log_format: str | None = None


@app.callback()
def _options(
    profile: Annotated[str | None, typer.Option(
        "--profile", help="Profile of io_config.yaml to use (default: $CAIRN_PROFILE, else "
        "'default').", show_default=False)] = None,
    log_format: Annotated[str | None, typer.Option(
        "--log-format", help="text, or json: one JSON object per line (runs, the scheduler, "
        "the server), for log shippers (default: `log_format` of cairn.yaml, else text).",
        show_default=False)] = None,
) -> None:
    global _profile, _log_format
    if log_format not in (None, "text", "json"):
        from cairn.errors import Problem

        raise CairnError(Problem("bad-option", f"--log-format must be text or json, not "
                                 f"{log_format!r}"))
    _profile = profile
    _log_format = log_format


def _logs_as_json(project: Any) -> bool:
    return (_log_format or project.settings.log_format) == "json"


def _log_cairn_records(project: Any) -> None:
    """Send Cairn's own log records (the scheduler's) to stderr, as text or JSON lines."""
    from cairn.monitor.json_logs import JsonFormatter, TextFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if _logs_as_json(project) else TextFormatter())
    logger = logging.getLogger("cairn")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # a run's routing handler on the root must not see them


def _project(path: Path | None) -> Any:
    from cairn.project.config import find_project

    return find_project(path, profile=_profile)


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    # An explicit file: while a run routes sys.stdout to blocks, the display must not be.
    file = sys.stderr if stderr else sys.stdout
    # Piped output is read by tools and people alike: do not cut it at 80 columns.
    width = None if file.isatty() else 200
    return Console(file=file, highlight=False, soft_wrap=True, width=width)


def _parse_variables(pairs: list[str]) -> dict[str, Any]:
    from cairn.errors import Problem
    from cairn.project.yaml_file import parse_yaml

    variables: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CairnError(Problem("bad-variable", f"--var expects KEY=VALUE, got {pair!r}"))
        variables[key.strip()] = parse_yaml(value, f"--var {key.strip()}")[0] if value else ""
    return variables


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the project in.")],
) -> None:
    """Create a project with an example pipeline (`cairn run example` runs it)."""
    import shutil

    from rich.markup import escape

    from cairn.errors import Problem

    template = Path(__file__).parent / "example"
    if directory.exists() and any(directory.iterdir()):
        raise CairnError(Problem("not-empty", f"{directory} exists and is not empty",
                                 hint="choose a new folder name"))
    shutil.copytree(template, directory, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".cairn", "__pycache__", "output"))
    # Already there (`cairn init .`): the next step is the run itself, not a `cd`.
    here = directory.resolve() == Path.cwd().resolve()
    where = "this folder" if here else str(directory)
    steps = ([] if here else [f"cd {directory}"]) + ["cairn run example",
                                                     "cairn serve   # the web notebook"]
    _console().print(f"Created a Cairn project in [bold]{escape(where)}[/]. Next:\n"
                     + "\n".join(f"  {escape(step)}" for step in steps))


@app.command()
def run(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name (a folder in pipelines/).")],
    var: Annotated[list[str], typer.Option("--var", help="Run variable KEY=VALUE "
                   "(repeatable; VALUE is read as YAML, so 3 is a number).")] = [],  # noqa: B006
    block: Annotated[list[str], typer.Option("--block", "-b", help="Run only this block "
                     "(repeatable); others' latest outputs are used.")] = [],  # noqa: B006
    downstream: Annotated[bool, typer.Option(help="With --block: also run what depends "
                          "on it.")] = False,
    upstream: Annotated[bool, typer.Option(help="With --block: also run what it depends "
                        "on.")] = False,
    resume: Annotated[str | None, typer.Option(
        help="Finish an interrupted or failed run without re-running its successful blocks: "
        "RUN id, or 'latest' (what a bare --resume means).", show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not echo block logs.")] = False,
    run_id: Annotated[str | None, typer.Option(hidden=True, help="Id for the new run (the "
                      "server picks it to follow the run).")] = None,
    project: ProjectOption = None,
) -> None:
    """Run a pipeline's blocks in dependency order, with live progress and logs."""
    from cairn import service
    from cairn.cli_display import ProgressDisplay, styled, summary_table

    found = _project(project)
    variables = _parse_variables(var)
    pipeline_model, graph = service.checked_plan(found, pipeline, variables)
    _print_problems(graph.warnings, "warning")
    if resume is not None and (block or var):
        from cairn.errors import Problem

        raise CairnError(Problem("bad-options", "--resume reruns a run as it was; it cannot "
                                 "be combined with --block or --var"))
    if _logs_as_json(found):
        status = _run_as_json(found, pipeline, variables, block, downstream, upstream, resume,
                              run_id)
        if status != "success":
            raise typer.Exit(_CANCELLED_EXIT if status == "cancelled" else 1)
        return
    total = len(service.select_blocks(pipeline_model, graph, block, downstream, upstream))
    console = _console()
    with ProgressDisplay(console, total, show_logs=not quiet) as display:
        result = service.run_pipeline(found, pipeline, display, variables, block, downstream,
                                      upstream, resume, run_id)
    console.print(summary_table(display, [b for b in graph.order if b in result.blocks],
                                result.blocks))
    verb = "resumed run" if result.resumed else "run"
    console.print(f"{verb} [bold]{result.run_id}[/] {styled(result.status)}")
    if result.status != "success":
        console.print(f"[dim]logs: cairn logs {result.run_id} · resume: cairn run {pipeline} "
                      f"--resume {result.run_id}[/]")
        raise typer.Exit(_CANCELLED_EXIT if result.status == "cancelled" else 1)


def _run_as_json(found: Any, pipeline: str, variables: dict[str, Any], block: list[str],
                 downstream: bool, upstream: bool, resume: str | None,
                 run_id: str | None) -> str:
    """`cairn run` with JSON logs: the run's events as JSON lines on stdout; its status."""
    import time

    from cairn import service
    from cairn.monitor.json_logs import JsonRunLog

    if resume is None:
        run_id = run_id or service.new_run_id()  # known before the run, for every line
    else:  # the run to resume, found as run_pipeline finds it
        metadata = service.open_metadata(found)
        try:
            record = (metadata.latest_run(pipeline) if resume == "latest"
                      else metadata.find_run(resume, pipeline))
        finally:
            metadata.close()
        run_id = record.id if record is not None else None
    log = JsonRunLog(sys.stdout, pipeline, run_id)
    pipeline_model, graph = service.checked_plan(found, pipeline, variables)
    log.run_started(service.select_blocks(pipeline_model, graph, block, downstream, upstream),
                    resume is not None)
    started = time.monotonic()
    result = service.run_pipeline(found, pipeline, log, variables, block, downstream,
                                  upstream, resume, run_id)
    log.run_finished(result.status, result.blocks, time.monotonic() - started)
    return result.status


@app.command()
def graph(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    format: Annotated[str, typer.Option("--format", "-f",
                      help="text, json, mermaid or dot.")] = "text",
    project: ProjectOption = None,
) -> None:
    """Show the pipeline's blocks and the inferred dependencies between them."""
    from cairn import service
    from cairn.errors import Problem
    from cairn.graph.render import FORMATS, render
    from cairn.io.secrets import redact

    if format not in FORMATS:
        raise CairnError(Problem("bad-format", f"unknown format {format!r}",
                                 hint="use one of " + ", ".join(FORMATS)))
    found = _project(project)
    pipeline_model, graph_model = service.plan(found, pipeline)
    print(redact(render(graph_model, pipeline_model.blocks, format,
                        service.block_notes(found, pipeline_model))))
    if format != "json":
        _print_problems(graph_model.problems)
        _print_problems(graph_model.warnings, "warning")
    if graph_model.problems:
        raise typer.Exit(2)


@app.command()
def runs(
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline's runs.")] = None,
    limit: Annotated[int, typer.Option(help="How many runs to list.")] = 20,
    project: ProjectOption = None,
) -> None:
    """List recent runs, newest first."""
    import json

    from rich.table import Table

    from cairn import service
    from cairn.cli_display import block_counts, styled

    metadata = service.open_metadata(_project(project))
    try:
        records = metadata.list_runs(pipeline, limit)
        table = Table(title="Runs", title_justify="left")
        for column in ("run", "pipeline", "status", "started", "duration", "blocks",
                       "trigger"):
            table.add_column(column, no_wrap=True)
        for record in records:
            table.add_row(record.id, record.pipeline, styled(record.status),
                          shown(record.started_at),
                          f"{record.duration_s:.2f}s" if record.duration_s is not None else "",
                          block_counts(metadata.block_runs(record.id),
                                       len(json.loads(record.blocks))),
                          record.trigger or "")
    finally:
        metadata.close()
    _console().print(table if records else "no runs yet")


@app.command()
def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id, a unique prefix or "
                      "suffix of it, or 'latest'.")],
    block: Annotated[str | None, typer.Argument(help="Only this block's logs.")] = None,
    project: ProjectOption = None,
) -> None:
    """Print the logs (stdout, stderr, logging) and errors of a run's blocks, and the time
    and rows of each statement of a SQL block."""
    import json

    from cairn import service
    from cairn.cli_display import profile_table
    from cairn.errors import Problem
    from cairn.ids import BlockName, RunId

    found = _project(project)
    metadata = service.open_metadata(found)
    try:
        record = metadata.find_run(run_id)
        attempts = metadata.block_runs(record.id)
    finally:
        metadata.close()
    names = list(dict.fromkeys(a.block for a in attempts))
    if block is not None and block not in names:
        raise CairnError(Problem("unknown-block", f"run {record.id} has no block {block!r}",
                                 hint="blocks in this run: " + ", ".join(names)))
    store = service.variable_store(found)
    console = _console()
    for name in [block] if block else names:
        last = [a for a in attempts if a.block == name][-1]
        console.rule(f"{name} · {last.status}")
        path = store.log_path(RunId(record.id), BlockName(name))
        if path.exists():
            sys.stdout.write(path.read_text(encoding="utf-8"))
            sys.stdout.flush()
        if last.error:
            console.print(last.error, style="red", markup=False)
        if last.profile:  # a SQL block: where its time went, statement by statement
            console.print(profile_table(json.loads(last.profile), "SQL statements"))


@app.command()
def show(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    block: Annotated[str, typer.Argument(help="Block whose output to print, or the name of "
                     "an output (its block is found).")],
    run_id: Annotated[str | None, typer.Option("--run", help="Output of this run instead of "
                      "the latest successful one.")] = None,
    output: Annotated[str | None, typer.Option(help="Which output, for a block with several "
                      "(default: the one named after the block, else all).")] = None,
    format: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    limit: Annotated[int, typer.Option(help="Rows to print.")] = 20,
    project: ProjectOption = None,
) -> None:
    """Print a block's output: DataFrames as a table, CSV or JSON; other values as text."""
    import json

    from cairn import service
    from cairn.cli_display import limited, to_pandas, value_table
    from cairn.errors import Problem
    from cairn.runtime.values import table_kind

    if format not in ("table", "csv", "json"):
        raise CairnError(Problem("bad-format", f"unknown format {format!r}",
                                 hint="use table, csv or json"))
    # Tables in databases are fetched only as far as they are shown.
    values = service.read_output(_project(project), pipeline, block, run_id, output, limit)
    if format != "table" and len(values) > 1:
        raise CairnError(Problem("several-outputs", f"block {block} has several outputs: "
                                 + ", ".join(values), hint="choose one with --output NAME"))
    console = _console()
    for name, value in values.items():
        kind = table_kind(value)
        if format == "table":
            console.print(value_table(value, limit, name))
        elif kind is not None:
            frame = to_pandas(value, kind).head(limit)
            text = frame.to_csv(index=False) if format == "csv" else frame.to_json(
                orient="records", date_format="iso")
            sys.stdout.write(text.rstrip("\n") + "\n")
        else:
            value, note = limited(value, limit)
            sys.stdout.write((json.dumps(value, default=repr) if format == "json"
                              else str(value)) + "\n")
            if note:  # on stderr: the output stays valid JSON or CSV
                _console(stderr=True).print(f"[dim]{note}[/]")


connections_app = typer.Typer(help="The connections of io_config.yaml: list and test them.",
                              no_args_is_help=True)
app.add_typer(connections_app, name="connections")


@connections_app.command("list")
def connections_list(project: ProjectOption = None) -> None:
    """List the active profile's connections, with passwords and secrets masked."""
    from cairn.io.check import describe
    from cairn.io.config import load_connections

    found = _project(project)
    rows = [(c.name, c.kind, describe(c)) for c in load_connections(found).values()]
    _console().print(_plain_table(f"Connections (profile {found.profile})",
                                  ("name", "kind", "where"), rows))


@connections_app.command("test")
def connections_test(
    name: Annotated[str | None, typer.Argument(help="Only this connection.")] = None,
    project: ProjectOption = None,
) -> None:
    """Check that connections answer (SELECT 1, or list the files URL); exit 1 if one fails."""
    from cairn.io.check import check_connection
    from cairn.io.config import get_connection, load_connections

    found = _project(project)
    chosen = [get_connection(found, name)] if name else list(load_connections(found).values())
    from rich.text import Text

    results = [(c, check_connection(c)) for c in chosen]
    rows = [(c.name, c.kind, Text("ok", "green") if reason is None else Text("failed", "red"),
             reason or "") for c, reason in results]
    _console().print(_plain_table(f"Connections (profile {found.profile})",
                                  ("name", "kind", "status", "reason"), rows))
    if any(reason is not None for _, reason in results):
        raise typer.Exit(1)


def _plain_table(title: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    """A table whose strings are shown as they are: a URL or a reason may hold `[`."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(cell) if isinstance(cell, str) else cell for cell in row))
    return table


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 6789,
    token: Annotated[str | None, typer.Option(
        envvar="CAIRN_TOKEN", help="Token every API call must carry; required to listen on "
        "anything but 127.0.0.1.", show_default=False)] = None,
    scheduler: Annotated[bool, typer.Option(help="Also run the scheduler (triggers fire "
                         "while the server runs).")] = True,
    allow_host: Annotated[list[str] | None, typer.Option(
        envvar="CAIRN_ALLOW_HOSTS", help="A host name the server answers to besides localhost, "
        "127.0.0.1, ::1 and --host (repeat it for several; '*' for any, with a token only). "
        "Other Host headers are refused, so no web page can reach the server by rebinding "
        "its DNS name.", show_default=False)] = None,
    project: ProjectOption = None,
) -> None:
    """Start the web notebook and API (the UI at http://HOST:PORT/), and the scheduler."""
    import uvicorn

    from cairn.errors import Problem
    from cairn.monitor.json_logs import uvicorn_log_config
    from cairn.server.app import create_app
    from cairn.server.auth import check_binding
    from cairn.server.port import port_refusal

    allowed_hosts = [*(allow_host or []), *([] if host in ("0.0.0.0", "::", "") else [host])]
    refusal = check_binding(host, token, allowed_hosts)
    if refusal:
        raise CairnError(Problem("unsafe-binding", refusal))
    found = _project(project)
    busy = port_refusal(host, port)
    if busy:  # before anything claims to serve, and before the scheduler starts
        raise CairnError(Problem("port-in-use", busy))
    url = f"http://{host}:{port}/"
    _log_cairn_records(found)
    if _logs_as_json(found):  # the token stays out of shipped logs
        logging.getLogger("cairn.server").info("serving %s at %s", found.root, url)
    else:
        _console().print(f"Cairn serves {found.root} at [bold]{url}"
                         f"{f'?token={token}' if token else ''}[/] (Ctrl-C stops it)")
    uvicorn.run(create_app(found, token, scheduler, allowed_hosts), host=host, port=port,
                log_level="warning", log_config=uvicorn_log_config(_logs_as_json(found)),
                timeout_graceful_shutdown=3)


@app.command()
def scheduler(
    max_runs: Annotated[int, typer.Option(help="Runs this scheduler keeps going at once.")] = 4,
    tick: Annotated[float, typer.Option(help="Seconds between checks for due triggers.")] = 0.5,
    project: ProjectOption = None,
) -> None:
    """Run the pipelines' triggers: start each scheduled run once, in its own process.

    Several schedulers may share one PostgreSQL metadata database; each (trigger, time)
    still runs once. Stop with Ctrl-C; runs already started go on."""
    import signal
    import threading

    from cairn.schedule.scheduler import Scheduler

    found = _project(project)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    _log_cairn_records(found)
    if _logs_as_json(found):
        logging.getLogger("cairn.scheduler").info("scheduler for %s started", found.root)
    else:
        _console().print(f"Cairn scheduler for {found.root} (Ctrl-C stops it)")
    try:
        Scheduler(found, max_runs=max_runs, tick_seconds=tick).run(stop)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def backfill(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name.")],
    start: Annotated[str, typer.Option(help="First execution date (ISO, e.g. 2026-01-01).")],
    end: Annotated[str, typer.Option(help="Last execution date (ISO), included.")],
    every: Annotated[str, typer.Option(help="Step between dates: 1d, 6h, 30m, 90 (s).")] = "1d",
    max_parallel: Annotated[int, typer.Option(help="Runs going at once.")] = 2,
    var: Annotated[list[str], typer.Option("--var", help="Run variable KEY=VALUE "
                   "(repeatable).")] = [],  # noqa: B006
    project: ProjectOption = None,
) -> None:
    """Run a pipeline once per execution date between START and END (blocks read it as
    context.execution_date). Running the same backfill again resumes it."""
    from datetime import datetime, timedelta

    from cairn.errors import Problem
    from cairn.project.triggers import parse_interval
    from cairn.schedule.backfill import backfill as run_backfill
    from cairn.schedule.backfill import execution_dates

    try:
        first, last = datetime.fromisoformat(start), datetime.fromisoformat(end)
        step = timedelta(seconds=parse_interval(every))
    except ValueError as error:
        raise CairnError(Problem("bad-dates", str(error),
                                 hint="dates as 2026-01-01 or 2026-01-01T06:00")) from None
    console = _console()
    result = run_backfill(_project(project), pipeline, execution_dates(first, last, step),
                          _parse_variables(var), max_parallel, console.print)
    failed = [date for date, status in result.statuses.items() if status != "success"]
    console.print(f"backfill {result.group}: {len(result.statuses) - len(failed)} of "
                  f"{len(result.statuses)} dates succeeded")
    if failed:
        console.print("not successful: " + ", ".join(failed) + " (run the same command "
                      "again to resume)")
        raise typer.Exit(1)


@app.command()
def triggers(
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline's triggers.")] = None,
    pause: Annotated[str | None, typer.Option(help="Pause this trigger (of PIPELINE).",
                                              show_default=False)] = None,
    resume: Annotated[str | None, typer.Option(help="Resume this trigger (of PIPELINE).",
                                               show_default=False)] = None,
    project: ProjectOption = None,
) -> None:
    """List triggers with their next fire times; pause or resume one."""
    from rich.table import Table

    from cairn.schedule.listing import list_triggers, set_paused

    found = _project(project)
    for name, paused in ((pause, True), (resume, False)):
        if name is not None:
            set_paused(found, pipeline, name, paused)
    table = Table(title="Triggers", title_justify="left")
    for column in ("pipeline", "trigger", "when", "catch-up", "state", "next"):
        table.add_column(column, no_wrap=True)
    for row in list_triggers(found, pipeline):
        table.add_row(row.pipeline, row.trigger, row.when, row.catch_up,
                      "paused" if row.paused else "active",
                      shown(row.next_fire))
    _console().print(table if table.row_count else "no triggers")


app.command("stats")(stats)
app.command("clean")(clean)
app.command("checkpoints")(checkpoints)
app.command("stream")(stream)
app.command("generate")(generate)
app.command("explain")(explain)
app.command("fix")(fix)

sql_app = typer.Typer(help="SQL tools.", no_args_is_help=True)
app.add_typer(sql_app, name="sql")
app.add_typer(alerts_app, name="alerts")
app.add_typer(streams_app, name="streams")


@sql_app.command("transpile")
def sql_transpile(
    query: Annotated[str, typer.Argument(help="The SQL, or @FILE to read it from a file.")],
    source: Annotated[str, typer.Option("--from", help="Dialect it is written in.")] = "duckdb",
    target: Annotated[str, typer.Option("--to", help="Dialect to translate it to.")] = "postgres",
) -> None:
    """Translate SQL from one dialect to another (sqlglot), e.g. DuckDB to PostgreSQL.

    A SQL block can do this on every run instead: `-- cairn: dialect=duckdb` (or `dialect:`
    in pipeline.yaml) runs a block written in DuckDB SQL on its connection's database."""
    from cairn.blocks.sql_analysis import transpile

    text = Path(query[1:]).read_text(encoding="utf-8") if query.startswith("@") else query
    print(transpile(text, source, target))


def _print_problems(problems: list[Any], severity: str = "error") -> None:
    from rich.markup import escape

    from cairn.io.secrets import redact

    console = _console(stderr=True)
    style = "red" if severity == "error" else "yellow"
    for problem in problems:
        console.print(f"[{style}]{severity}:[/] {escape(redact(problem.describe()))}")


def _bare_resume_means_latest(argv: list[str]) -> list[str]:
    """`--resume` takes an optional run id; with none it resumes the latest run."""
    fixed = list(argv)
    for index, argument in enumerate(fixed):
        if argument == "--resume" and (index + 1 == len(fixed)
                                       or fixed[index + 1].startswith("-")):
            fixed.insert(index + 1, "latest")
            break
    return fixed


def main() -> None:
    try:
        app(_bare_resume_means_latest(sys.argv[1:]))
    except CairnError as error:
        _print_problems(error.problems)
        sys.exit(2)
