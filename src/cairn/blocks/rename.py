"""Rewrite the references a block makes to a name, by position: every other byte stays.

Python: the `Name` nodes that read the name from outside the block (a script's free name,
or a function-style block's parameter and its uses), never attributes, strings, keyword
arguments or locals that happen to share it. SQL: the table references sqlglot's scopes
resolve to the name, never a CTE or a table the block makes itself. Templated SQL and R
have no positions to edit by; their readers are updated by hand.
"""

from __future__ import annotations

import ast

from cairn.blocks.python_analysis import (
    _is_block_decorator,
    _Scope,
    _ScopeBuilder,
    parse_python,
)
from cairn.errors import CairnError, Problem

# (start, end) byte offsets into the UTF-8 source, and what goes there instead.
Edit = tuple[int, int, bytes]


def _apply(source: str, edits: list[Edit]) -> str:
    data = source.encode("utf-8")
    for start, end, text in sorted(edits, reverse=True):
        data = data[:start] + text + data[end:]
    return data.decode("utf-8")


def rename_python_input(source: str, filename: str, old: str, new: str) -> str:
    """`source` with the block's input `old` read as `new`."""
    tree = parse_python(source, filename)
    builder = _ScopeBuilder()
    builder.visit(tree)
    if old in builder.module.bound:
        return source  # the block's own name, not an input
    lines = source.encode("utf-8").splitlines(keepends=True)
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text))
    positions: list[tuple[int, int]] = []
    target: _Scope | None = None
    decorated = [node for node in tree.body
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                 and any(_is_block_decorator(d) for d in node.decorator_list)]
    if decorated:  # function style: the input is a parameter of the block function
        function = decorated[0]
        target = builder.function_scopes[function]
        args = function.args
        positions += [(a.lineno, a.col_offset) for a in [*args.posonlyargs, *args.args,
                                                         *args.kwonlyargs] if a.arg == old]
    for scope in builder.scopes:
        for node in scope.names:
            if node.id == old and scope.binding(old) is target:
                positions.append((node.lineno, node.col_offset))
    encoded = old.encode("utf-8")
    edits: list[Edit] = []
    for line, column in positions:
        start = starts[line - 1] + column
        if lines[line - 1][column:column + len(encoded)] != encoded:
            raise CairnError(Problem(
                "rename-failed", f"could not locate {old!r} in line {line}", file=filename,
                line=line, hint=f"replace {old!r} by {new!r} in this block by hand"))
        edits.append((start, start + len(encoded), new.encode("utf-8")))
    return _apply(source, edits)


def rename_sql_table(source: str, filename: str, old: str, new: str, dialect: str,
                     schema: str | None = None) -> str | None:
    """`source` reading table `new` where it read `old`; None for a templated block, whose
    text is not the SQL that was parsed."""
    if "{{" in source or "{%" in source:
        return None
    import sqlglot
    from sqlglot import TokenType
    from sqlglot.dialects import Dialect
    from sqlglot.errors import ParseError, TokenError

    from cairn.blocks.sql_analysis import _statement_tables, _table_name, _target

    try:
        tokens = Dialect.get_or_raise(dialect).tokenizer().tokenize(source)
    except TokenError as error:
        raise CairnError(Problem("sql-syntax-error", f"SQL syntax error: {error}",
                                 file=filename)) from None
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for token in [*tokens, None]:
        if token is None or token.token_type == TokenType.SEMICOLON:
            if start is not None:
                spans.append((start, token.start if token is not None else len(source)))
            start = None
        elif start is None:
            start = token.start
    created: set[str] = set()
    edits: list[tuple[int, int, str]] = []
    for begin, end in spans:
        text = source[begin:end]
        try:
            parsed = sqlglot.parse_one(text, read=dialect)
        except ParseError:
            raise CairnError(Problem("sql-syntax-error", "SQL syntax error", file=filename,
                                     hint="fix the block before renaming")) from None
        made = _target(parsed) if isinstance(parsed, sqlglot.exp.Create) else None
        for table in _statement_tables(parsed):
            name = _table_name(table, schema)
            if name == old and name not in created and table is not made:
                meta = table.this.meta
                first, last = begin + int(meta["start"]), begin + int(meta["end"]) + 1
                written = source[first:last]
                quote = written[0] if written[0] in "\"`[" and len(written) > len(old) else ""
                closing = {"[": "]"}.get(quote, quote)
                if written != f"{quote}{old}{closing}":
                    raise CairnError(Problem(
                        "rename-failed", f"could not locate table {old!r}", file=filename,
                        hint=f"replace {old!r} by {new!r} in this block by hand"))
                edits.append((first, last, f"{quote}{new}{closing}"))
        made_name = _table_name(made, schema) if made is not None else None
        if made_name is not None:
            created.add(made_name)
    for first, last, text in sorted(edits, reverse=True):
        source = source[:first] + text + source[last:]
    return source
