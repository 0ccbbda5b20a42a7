"""Render a SQL block's Jinja and find the tables it reads, with sqlglot scopes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError
from sqlglot.optimizer.scope import traverse_scope

from cairn.errors import CairnError, Problem

DIALECT = "duckdb"
_HEADER = re.compile(r"^\s*--\s*cairn:\s*(.*)$")
# A quoted table name holding one of these is a file path or URL, not a table.
_PATH_CHARACTERS = ("/", ".", ":", "\\")


@dataclass
class RenderedSQL:
    """A SQL block after templating: its statements and the tables it reads."""

    text: str
    statements: list[exp.Expr]
    references: dict[str, int] = field(default_factory=dict)


def read_header(source: str, filename: str) -> dict[str, str]:
    """Settings from leading `-- cairn: key=value, key=value` comment lines."""
    settings: dict[str, str] = {}
    for number, line in enumerate(source.splitlines(), start=1):
        match = _HEADER.match(line)
        if match is None:
            if line.strip() and not line.lstrip().startswith("--"):
                break
            continue
        for item in filter(None, (part.strip() for part in match.group(1).split(","))):
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


def render(source: str, filename: str, variables: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Expand Jinja (`ref`, `var`, `set`, `for`) and return the text and the refs it made."""
    refs: list[str] = []
    if "{{" not in source and "{%" not in source:
        return source, refs
    import jinja2

    def ref(name: str) -> str:
        refs.append(name)
        return name

    def var(name: str, default: Any = None) -> Any:
        if name in variables:
            return variables[name]
        if default is not None:
            return default
        raise CairnError(
            Problem(
                "unknown-variable",
                f"var({name!r}) is not a run variable",
                file=filename,
                hint="declare it under `variables:` in pipeline.yaml or pass --var "
                f"{name}=VALUE",
            )
        )

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    try:
        template = environment.from_string(source)
        return template.render(ref=ref, var=var), refs
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


def _table_name(table: exp.Table) -> str | None:
    """The name a table reference resolves to among blocks, or None for paths and others."""
    identifier = table.this
    if not isinstance(identifier, exp.Identifier) or table.catalog:
        return None
    if table.db and table.db != "main":
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


def analyze_sql(source: str, filename: str, variables: Mapping[str, Any]) -> RenderedSQL:
    """Render and parse a SQL block; tables it creates itself are not references."""
    text, refs = render(source, filename, variables)
    try:
        statements = [s for s in sqlglot.parse(text, read=DIALECT) if s is not None]
    except ParseError as error:
        first = error.errors[0] if error.errors else {}
        raise CairnError(
            Problem(
                "sql-syntax-error",
                f"SQL syntax error: {first.get('description', error)} near "
                f"{first.get('highlight', '')!r}",
                file=filename,
                line=first.get("line"),
            )
        ) from None
    if not statements:
        raise CairnError(Problem("empty-block", "the SQL block has no statement", file=filename))

    references: dict[str, int] = {}
    created: set[str] = set()
    for statement in statements:
        made = _target(statement) if isinstance(statement, exp.Create) else None
        for table in _statement_tables(statement):
            name = _table_name(table)
            if name is not None and name not in created and table is not made:
                references.setdefault(name, int(table.this.meta.get("line", 1)))
        made_name = _table_name(made) if made is not None else None
        if made_name is not None:
            created.add(made_name)
    for name in refs:  # `ref()` always makes a reference, even to a table made here
        references.setdefault(name, 1)
    return RenderedSQL(text=text, statements=statements, references=references)
