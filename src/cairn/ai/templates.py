"""Blocks written without a model: a template picked by the description's keywords, filled
with the names, columns and connections of the pipeline's context."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from cairn.ai import template_code as code
from cairn.ai.context import GenerationContext
from cairn.errors import CairnError, Problem, closest


@dataclass
class TemplateBlock:
    code: str
    template: str  # the template's name, e.g. "deduplicate"


# Tried in this order: "deduplicate customers by email" is a deduplication, not an aggregate.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "export": ("export", "write", "save", "upload", "store"),
    "load": ("load", "read", "import", "ingest", "fetch"),
    "deduplicate": ("deduplicate", "dedupe", "dedup", "duplicates", "duplicate", "distinct",
                    "unique"),
    "join": ("join", "merge", "combine", "enrich"),
    "cast": ("cast", "convert", "types", "type", "parse"),
    "filter": ("filter", "where", "only", "exclude", "select"),
    "aggregate": ("aggregate", "per", "group", "sum", "total", "count", "average", "mean",
                  "daily", "weekly", "monthly"),
}
SQL_KINDS = {"duckdb", "sqlite", "postgres", "mysql", "sqlalchemy"}
_FILE = re.compile(r"\.(csv|tsv|parquet|pq|json|jsonl|ndjson)(\.(gz|bz2|xz|zst|zip))?$", re.I)


@dataclass
class Request:
    """A description, read: its words, and the pipeline it is meant for."""

    description: str
    language: str
    name: str
    context: GenerationContext

    @property
    def words(self) -> list[str]:
        return re.findall(r"[A-Za-z_]\w*", self.description)

    def has(self, *words: str) -> bool:
        lowered = {w.lower() for w in self.words}
        return any(w in lowered for w in words)

    def path(self) -> str | None:
        for token in self.description.split():
            token = token.strip("\"'`,;()[]").rstrip(".")
            if _FILE.search(token):
                return token
        return None

    def connection(self, kinds: set[str]) -> str | None:
        named = {c["name"]: c["kind"] for c in self.context.connections if c["kind"] in kinds}
        return next((w for w in self.words if w in named), None)

    def upstreams(self) -> list[str]:
        """Outputs of other blocks named in the description, in the order it names them; else
        the output with most of the columns it names (the last one on a tie)."""
        outputs = [o for o in self.context.outputs() if o != self.name]
        named = list(dict.fromkeys(w for w in self.words if w in outputs))
        if named:
            return named
        if not outputs:
            raise _no_template(self, "the pipeline has no block output to work on")
        words = set(self.words)
        matches = [len(words.intersection(self.columns(o))) for o in outputs]
        return [max(reversed(outputs), key=lambda o: matches[outputs.index(o)])]

    def columns(self, output: str) -> list[str]:
        return [c["name"] for c in self.context.schemas.get(output, []) if c["name"]]

    def column_after(self, words: str, output: str, strict: bool = True) -> str | None:
        """The column named after one of `words` ("by email"), checked against the schema;
        not `strict`, only a column the schema has counts ("the latest one" names none)."""
        found = re.search(rf"\b(?:{words})\s+(?:the\s+)?(\w+)", self.description, re.I)
        if found is None:
            return None
        column, known = found.group(1), self.columns(output)
        if not strict:
            return column if column in known else None
        if known and column not in known:
            raise CairnError(Problem("unknown-column", f"{output} has no column {column!r}",
                                     hint=closest(column, known)))
        return column

    def typed_columns(self, output: str, pattern: str) -> list[str]:
        schema = self.context.schemas.get(output, [])
        return [c["name"] for c in schema if c["name"] and re.search(pattern, c["type"], re.I)]


def from_template(description: str, language: str, name: str,
                  context: GenerationContext) -> TemplateBlock:
    """The block a built-in template writes for the description, in `language`."""
    request = Request(description, language, name, context)
    for template, words in KEYWORDS.items():
        if request.has(*words) and (chosen := _TEMPLATES[template](request)) is not None:
            return _labelled(chosen, request)
    if request.path() and (chosen := _load(request)) is not None:
        return _labelled(chosen, request)
    raise _no_template(request, "no template matches this description")


def _labelled(block: TemplateBlock, request: Request) -> TemplateBlock:
    """The block with a first comment saying what it was asked to do and how it was written
    (after a SQL settings header, which must stay first)."""
    mark = "-- " if request.language == "sql" else "# "
    about = " ".join(request.description.split())
    comment = f"{mark}{about}\n{mark}(written by Cairn's `{block.template}` template)\n"
    header, _, rest = block.code.partition("\n")
    if header.startswith("-- cairn:"):
        return TemplateBlock(f"{header}\n{comment}{rest}", block.template)
    return TemplateBlock(comment + block.code, block.template)


def _no_template(request: Request, why: str) -> CairnError:
    known = "; ".join(f"{t}: {', '.join(w)}" for t, w in KEYWORDS.items())
    return CairnError(Problem("no-template", f"{why}: {request.description!r}",
                              hint=f"templates and their keywords: {known}"))


def _only(request: Request, template: str, languages: tuple[str, ...]) -> None:
    if request.language not in languages:
        raise CairnError(Problem(
            "no-template", f"the {template} template has no {request.language} version",
            hint="it is written in " + " and ".join(languages) + ": pass --language "
            + languages[0] + ", or configure a model in cairn.yaml (`ai: provider:`)"))


def _export(request: Request) -> TemplateBlock | None:
    path = request.path()
    connection = request.connection({"files"} if path else SQL_KINDS)
    if path is None and connection is None:
        return None
    _only(request, "export", ("python",))
    upstream = request.upstreams()[0]
    if path is not None:
        return TemplateBlock(code.export_file(request.name, upstream, path, connection),
                             "export-file")
    table = (re.search(r"\btable\s+(\w+)", request.description, re.I)
             or re.search(r"\b(?:as|into)\s+(\w+)", request.description, re.I))
    return TemplateBlock(code.export_table(request.name, upstream, table.group(1) if table
                                           else request.name, connection or ""), "export-table")


def _load(request: Request) -> TemplateBlock | None:
    path, files = request.path(), request.connection({"files"})
    if path is not None:
        _only(request, "file loader", ("python",))
        return TemplateBlock(code.load_file(request.name, path, files), "load-file")
    connection = request.connection(SQL_KINDS)
    table = re.search(r"\b(\w+)\s+table\b|\btable\s+(\w+)", request.description, re.I)
    if connection is None or table is None:
        return None
    _only(request, "table loader", ("python", "sql"))
    return TemplateBlock(code.load_table(request.language, request.name, connection,
                                         table.group(1) or table.group(2)), "load-table")


def _deduplicate(request: Request) -> TemplateBlock:
    _only(request, "deduplicate", ("python", "sql"))
    upstream = request.upstreams()[0]
    key = request.column_after("by|on", upstream)
    latest = None
    if request.has("latest", "newest", "last", "recent", "most"):
        latest = request.column_after(r"latest\s+by|newest\s+by|by\s+latest|latest", upstream,
                                     strict=False)
        if latest is None or latest == key:
            dated = request.typed_columns(upstream, "date|time")
            latest = dated[0] if dated else None
        if latest is None:
            raise CairnError(Problem("no-template", f"which column of {upstream} says latest?",
                                     hint="name it: 'keeping the latest by updated_at'"))
    return TemplateBlock(code.deduplicate(request.language, request.name, upstream, key,
                                          latest), "deduplicate")


def _join(request: Request) -> TemplateBlock:
    _only(request, "join", ("python", "sql"))
    outputs = [o for o in request.context.outputs() if o != request.name]
    named = request.upstreams()
    pair = named[:2] if len(named) >= 2 else outputs[-2:]
    if len(pair) < 2:
        raise _no_template(request, "a join needs two block outputs")
    key = request.column_after("on|using", pair[0])
    if key is None:
        common = [c for c in request.columns(pair[0]) if c in request.columns(pair[1])]
        ids = [c for c in common if c == "id" or c.endswith("_id")]
        key = next(iter(ids or common), None)
    if key is None:
        raise _no_template(request, f"{pair[0]} and {pair[1]} share no known column "
                           "(run them first, or say 'on COLUMN')")
    how = "left" if request.has("left") else "inner"
    return TemplateBlock(code.join(request.language, request.name, pair[0], pair[1], key, how),
                         "join")


def _cast(request: Request) -> TemplateBlock | None:
    casts = re.findall(r"(\w+)\s+(?:to|as|into)\s+(integer|int|float|double|number|numeric|"
                       r"decimal|string|str|text|datetime|timestamp|date|boolean|bool)\b",
                       request.description, re.I)
    if not casts:
        return None
    _only(request, "type casting", ("python",))
    upstream = request.upstreams()[0]
    return TemplateBlock(code.cast(request.name, upstream, [(c, t.lower()) for c, t in casts]),
                         "cast")


def _filter(request: Request) -> TemplateBlock | None:
    found = re.search(r"(\w+)\s*(>=|<=|!=|==|=|>|<)\s*('[^']*'|\"[^\"]*\"|[\w.-]+)",
                      request.description) or re.search(
        r"(\w+)\s+(?:is\s+)?(greater than|more than|above|over|at least|less than|below|under|"
        r"at most|is not|equals|equal to|is)\s+('[^']*'|\"[^\"]*\"|[\w.-]+)",
        request.description, re.I)
    if found is None:
        return None
    _only(request, "filter", ("python", "sql", "r"))
    upstream = request.upstreams()[0]
    column, operator, value = found.groups()
    known = request.columns(upstream)
    if known and column not in known:
        raise CairnError(Problem("unknown-column", f"{upstream} has no column {column!r}",
                                 hint=closest(column, known)))
    return TemplateBlock(code.filter_rows(request.language, request.name, upstream, column,
                                          code.OPERATORS.get(operator.lower(), operator),
                                          code.literal_value(value)), "filter")


def _aggregate(request: Request) -> TemplateBlock | None:
    _only(request, "aggregate", ("python", "sql", "r"))
    upstream = request.upstreams()[0]
    group = request.column_after("per|by|for each", upstream)
    if group is None:
        return None
    numeric = [c for c in request.typed_columns(upstream, "int|float|double|decimal|numeric")
               if c != group and not (c == "id" or c.endswith("_id"))]
    metrics = [c for c in numeric if request.has(c)] or numeric
    function = ("count" if request.has("count", "number") or not metrics else
                "mean" if request.has("mean", "average", "avg") else "sum")
    period = next((p for w, p in code.PERIODS.items() if request.has(w)), None)
    dated = request.typed_columns(upstream, "date|time") if period else []
    if period and not dated:
        raise _no_template(request, f"{upstream} has no date column to group by {period}")
    if period and request.language == "r":
        _only(request, "aggregate by period", ("python", "sql"))
    return TemplateBlock(code.aggregate(
        request.language, request.name, upstream, group, metrics, function,
        (period, dated[0]) if period else None), "aggregate")


_TEMPLATES: dict[str, Callable[[Request], TemplateBlock | None]] = {
    "export": _export, "load": _load, "deduplicate": _deduplicate, "join": _join,
    "cast": _cast, "filter": _filter, "aggregate": _aggregate,
}
