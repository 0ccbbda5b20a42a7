"""Render a SQL block's Jinja and find the tables it reads, with sqlglot scopes."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from cairn.errors import CairnError, Problem

DEFAULT_DIALECT = "duckdb"
# Schemas whose tables count as the blocks' own namespace.
_OWN_SCHEMAS = ("main", "public")
_HEADER = re.compile(r"^\s*--\s*cairn:\s*(.*)$")
# A quoted table name holding one of these is a file path or URL, not a table.
_PATH_CHARACTERS = ("/", ".", ":", "\\")
# A block's committed checkpoint by name, or the default given: `RunContext.checkpoint`.
CheckpointReader = Callable[[str, Any], Any]


@dataclass
class Statement:
    """One statement of a block: its text as written and the file line it starts on."""

    text: str
    line: int
    parsed: exp.Expr | None = None


@dataclass
class RenderedSQL:
    """A SQL block after templating: its statements, parameters and the tables it reads."""

    text: str
    statements: list[Statement]
    parameters: dict[str, Any] = field(default_factory=dict)
    references: dict[str, int] = field(default_factory=dict)


class BoundVariable:
    """What `{{ var('x') }}` renders to: a bind placeholder, never the value as text.

    Jinja logic (`{% if var('x') > 3 %}`) still sees the value. Looping over a list
    variable yields its items as quoted identifiers (for table or column names), so a value
    can never end a string or a statement.
    """

    def __init__(self, placeholder: str, value: Any, dialect: str) -> None:
        self.placeholder = placeholder
        self.value = value
        self.dialect = dialect

    def __str__(self) -> str:
        if self.placeholder:
            return self.placeholder
        # No placeholder (a view cannot hold parameters): a literal, quoted and escaped.
        return exp.convert(self.value).sql(self.dialect)

    def __iter__(self) -> Iterator[str]:
        for item in self.value:
            yield exp.to_identifier(str(item), quoted=True).sql(self.dialect)

    def __bool__(self) -> bool:
        return bool(self.value)

    def __eq__(self, other: object) -> bool:
        return bool(self.value == other)

    def __hash__(self) -> int:
        return hash(self.value)

    def __lt__(self, other: Any) -> bool:
        return bool(self.value < other)

    def __le__(self, other: Any) -> bool:
        return bool(self.value <= other)

    def __gt__(self, other: Any) -> bool:
        return bool(self.value > other)

    def __ge__(self, other: Any) -> bool:
        return bool(self.value >= other)


def _split_settings(text: str) -> list[str]:
    """Split `a=1, checkpoint.x=coalesce(a, b)` at the commas outside parentheses and
    quotes, so a setting's value may be a SQL expression."""
    parts, depth, quote, start = [], 0, "", 0
    for index, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    return [*parts, text[start:]]


def header_checkpoints(header: Mapping[str, str]) -> dict[str, str]:
    """The `checkpoint.NAME=EXPRESSION` settings of a header, by checkpoint name."""
    prefix = "checkpoint."
    return {key[len(prefix):]: value for key, value in header.items()
            if key.startswith(prefix)}


def checkpoint_parameter(name: str) -> str:
    """The bound parameter `{{ checkpoint(name) }}` becomes: apart from variables' names,
    and an identifier whatever the checkpoint is called."""
    return "checkpoint__" + re.sub(r"\W", "_", name)


def read_header(source: str, filename: str) -> dict[str, str]:
    """Settings from leading `-- cairn: key=value, key=value` comment lines."""
    settings: dict[str, str] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _HEADER.match(line)
        if match is None:
            if line.strip() and not line.lstrip().startswith("--"):
                break
            continue
        for item in filter(None, (part.strip() for part in _split_settings(match.group(1)))):
            key, sep, value = item.partition("=")
            if not sep:
                raise CairnError(
                    Problem(
                        "bad-header",
                        f"cannot read the setting {item!r}",
                        file=filename,
                        line=number,
                        hint="write settings as `-- cairn: key=value, key=value`",
                    )
                )
            settings[key.strip()] = value.strip()
    return settings


def render(source: str, filename: str, variables: Mapping[str, Any], param_prefix: str = ":",
           dialect: str = DEFAULT_DIALECT, checkpoints: CheckpointReader | None = None,
           ) -> tuple[str, list[str], dict[str, Any]]:
    """Expand Jinja (`ref`, `var`, `checkpoint`, `set`, `for`): the text, the refs it made,
    and the values of the variables and checkpoints it used, to bind as parameters named
    `<param_prefix><name>`. With an empty prefix, they become quoted SQL literals instead.
    `checkpoints` reads the block's committed values; without it (parsing, before any
    run), `checkpoint()` gives its default."""
    refs: list[str] = []
    parameters: dict[str, Any] = {}
    if "{{" not in source and "{%" not in source:
        return source, refs, parameters
    import jinja2

    def ref(name: str) -> str:
        refs.append(name)
        return name

    def var(name: str, default: Any = None) -> BoundVariable:
        if name in variables or default is not None:
            value = variables.get(name, default)
            if param_prefix:
                parameters[name] = value
            return BoundVariable(param_prefix + name if param_prefix else "", value, dialect)
        raise CairnError(
            Problem(
                "unknown-variable",
                f"var({name!r}) is not a run variable",
                file=filename,
                hint="declare it under `variables:` in pipeline.yaml or pass --var "
                f"{name}=VALUE",
            )
        )

    def checkpoint(name: str, default: Any = None) -> BoundVariable:
        value = checkpoints(name, default) if checkpoints is not None else default
        parameter = checkpoint_parameter(name)
        if param_prefix:
            parameters[parameter] = value
        return BoundVariable(param_prefix + parameter if param_prefix else "", value, dialect)

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        template = environment.from_string(source)
        return template.render(ref=ref, var=var, checkpoint=checkpoint), refs, parameters
    except jinja2.TemplateSyntaxError as error:
        raise CairnError(
            Problem("template-error", f"Jinja error: {error.message}", file=filename,
                    line=error.lineno)
        ) from None
    except jinja2.UndefinedError as error:
        raise CairnError(
            Problem(
                "template-error",
                f"Jinja error: {error.message}",
                file=filename,
                hint="use {{ var('name') }} for run variables and {{ ref('block') }} "
                "for tables",
            )
        ) from None


def _table_name(table: exp.Table, schema: str | None) -> str | None:
    """The name a table reference resolves to among blocks, or None for paths and others."""
    identifier = table.this
    if not isinstance(identifier, exp.Identifier) or table.catalog:
        return None
    if table.db and table.db not in (*_OWN_SCHEMAS, schema):
        return None
    name = str(identifier.this)
    if identifier.quoted and any(c in name for c in _PATH_CHARACTERS):
        return None
    return name


def _target(statement: exp.Expr) -> exp.Table | None:
    """The table a statement creates or changes, unwrapping `t (col, ...)` and `m(args)`."""
    node = statement.this
    if isinstance(node, exp.Schema | exp.UserDefinedFunction):
        node = node.this
    return node if isinstance(node, exp.Table) else None


def _statement_tables(statement: exp.Expr) -> list[exp.Table]:
    """Every table a statement reads or changes; a DROP reads nothing."""
    if isinstance(statement, exp.Drop):
        return []
    try:
        scopes = traverse_scope(statement)
    except Exception:  # sqlglot cannot scope every statement kind (DDL, pragmas)
        scopes = []
    if not scopes:
        ctes = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        return [t for t in statement.find_all(exp.Table) if t.name not in ctes]
    tables = [s for scope in scopes for s in scope.sources.values() if isinstance(s, exp.Table)]
    # Scopes hold what a statement selects from, not the table an INSERT, UPDATE, DELETE
    # or MERGE changes: changing a table the block did not create depends on it.
    target = _target(statement)
    if target is not None and not isinstance(statement, exp.Create):
        tables.append(target)
    return tables


def split_statements(text: str, dialect: str) -> list[tuple[str, int]]:
    """The statements of a script as written, with the line each starts on. Semicolons
    inside strings and comments do not split (sqlglot's tokenizer knows the dialect)."""
    from sqlglot import TokenType
    from sqlglot.dialects import Dialect

    tokens = Dialect.get_or_raise(dialect).tokenizer().tokenize(text)
    statements: list[tuple[str, int]] = []
    start: int | None = None
    line = 1
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if start is not None:
                end = token.start if token is not None else len(text)
                statements.append((text[start:end].strip(), line))
            start = None
        elif start is None:
            start, line = token.start, token.line
    return statements


def _syntax_problem(error: ParseError, filename: str, line_offset: int) -> CairnError:
    first = error.errors[0] if error.errors else {}
    return CairnError(
        Problem(
            "sql-syntax-error",
            f"SQL syntax error: {first.get('description', error)} near "
            f"{first.get('highlight', '')!r}",
            file=filename,
            line=line_offset + int(first.get("line") or 1) - 1,
        )
    )


def analyze_sql(source: str, filename: str, variables: Mapping[str, Any],
                dialect: str = DEFAULT_DIALECT, schema: str | None = None,
                param_prefix: str = ":", checkpoints: CheckpointReader | None = None,
                ) -> RenderedSQL:
    """Render, split and parse a SQL block; tables it creates itself are not references."""
    text, refs, parameters = render(source, filename, variables, param_prefix, dialect,
                                    checkpoints)
    try:
        split = split_statements(text, dialect)
    except sqlglot.errors.TokenError as error:
        raise CairnError(Problem("sql-syntax-error", f"SQL syntax error: {error}",
                                 file=filename)) from None
    statements: list[Statement] = []
    parsed_statements: list[exp.Expr] = []
    for statement_text, line in split:
        try:
            parsed = sqlglot.parse_one(statement_text, read=dialect)
        except ParseError as error:
            raise _syntax_problem(error, filename, line) from None
        statements.append(Statement(statement_text, line, parsed))
        parsed_statements.append(parsed)
    if not statements:
        raise CairnError(Problem("empty-block", "the SQL block has no statement", file=filename))

    references: dict[str, int] = {}
    created: set[str] = set()
    for statement, parsed in zip(statements, parsed_statements, strict=True):
        made = _target(parsed) if isinstance(parsed, exp.Create) else None
        for table in _statement_tables(parsed):
            name = _table_name(table, schema)
            if name is not None and name not in created and table is not made:
                line = statement.line + int(table.this.meta.get("line", 1)) - 1
                references.setdefault(name, line)
        made_name = _table_name(made, schema) if made is not None else None
        if made_name is not None:
            created.add(made_name)
    for name in refs:  # `ref()` always makes a reference, even to a table made here
        references.setdefault(name, 1)
    return RenderedSQL(text, statements, parameters, references)


def transpile(sql: str, read: str, write: str) -> str:
    """Translate SQL between dialects, statement by statement."""
    try:
        return ";\n".join(sqlglot.transpile(sql, read=read, write=write, pretty=True))
    except ParseError as error:
        raise _syntax_problem(error, "<query>", 1) from None
    except ValueError as error:  # an unknown dialect name
        raise CairnError(Problem("unknown-dialect", str(error),
                                 hint="dialects: duckdb, postgres, mysql, sqlite, snowflake, "
                                 "bigquery, redshift, trino, tsql, ...")) from None
