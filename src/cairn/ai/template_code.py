"""The code of the built-in templates, per language, filled with names already checked."""

from __future__ import annotations

import json
from typing import Any

OPERATORS = {"=": "==", "greater than": ">", "more than": ">", "above": ">", "over": ">",
             "at least": ">=", "less than": "<", "below": "<", "under": "<", "at most": "<=",
             "is not": "!=", "equals": "==", "equal to": "==", "is": "=="}
PERIODS = {"daily": "day", "weekly": "week", "monthly": "month", "yearly": "year"}
_PANDAS_PERIODS = {"day": "D", "week": "W", "month": "M", "year": "Y"}
_PANDAS_CASTS = {
    "int": 'pd.to_numeric({c}).astype("Int64")', "integer": 'pd.to_numeric({c}).astype("Int64")',
    "float": 'pd.to_numeric({c}).astype("float64")', "double": 'pd.to_numeric({c})',
    "number": "pd.to_numeric({c})", "numeric": "pd.to_numeric({c})",
    "decimal": "pd.to_numeric({c})", "string": '{c}.astype("string")',
    "str": '{c}.astype("string")', "text": '{c}.astype("string")',
    "date": "pd.to_datetime({c}).dt.normalize()", "datetime": "pd.to_datetime({c})",
    "timestamp": "pd.to_datetime({c})", "bool": '{c}.astype("boolean")',
    "boolean": '{c}.astype("boolean")'}


def literal_value(text: str) -> Any:
    """A value of the description as data: a number when it reads as one, else a string."""
    if text[:1] in "'\"" and text[-1:] == text[:1] and len(text) > 1:
        return text[1:-1]
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _sql(value: Any) -> str:
    return "'" + value.replace("'", "''") + "'" if isinstance(value, str) else repr(value)


def _lit(value: Any) -> str:
    """A literal valid in both Python and R source: strings double-quoted and escaped."""
    return json.dumps(value) if isinstance(value, (str, list)) else repr(value)


def _check(frame: str, columns: list[str]) -> str:
    """Python lines failing with a clear message when a column the block needs is missing."""
    wanted = "{" + ", ".join(_lit(c) for c in dict.fromkeys(columns)) + "}"
    return (f"_missing = sorted({wanted} - set({frame}.columns))\n"
            "if _missing:\n"
            f'    raise KeyError(f"{frame} has no column {{_missing}}; '
            f'its columns: {{list({frame}.columns)}}")\n')


def _r_check(frame: str, columns: list[str]) -> str:
    wanted = ", ".join(_lit(c) for c in dict.fromkeys(columns))
    return (f".missing <- setdiff(c({wanted}), names({frame}))\n"
            f"if (length(.missing) > 0) stop({_lit(frame + ' has no column ')}, "
            f"paste(.missing, collapse = \", \"))\n")


def _kept(name: str, upstream: str) -> str:
    return (f'context.logger.info("{name}: %d rows from %d rows of {upstream}", '
            f"len({name}), len({upstream}))\n")


def load_file(name: str, path: str, connection: str | None) -> str:
    where = f", connection={_lit(connection)}" if connection else ""
    return ("from cairn.io import read_file\n\n"
            f"{name} = read_file({_lit(path)}{where})\n"
            f"if len({name}) == 0:\n"
            f'    context.logger.warning("%s has no rows", {_lit(path)})\n'
            f'context.logger.info("read %d rows from %s", len({name}), {_lit(path)})\n')


def load_table(language: str, name: str, connection: str, table: str) -> str:
    if language == "sql":
        return f"-- cairn: connection={connection}\nSELECT * FROM {table}\n"
    return ("from cairn.io import read_sql\n\n"
            f"{name} = read_sql({_lit(table)}, connection={_lit(connection)})\n"
            f'context.logger.info("read %d rows of {table} from {connection}", len({name}))\n')


def export_file(name: str, upstream: str, path: str, connection: str | None) -> str:
    where = f", connection={_lit(connection)}" if connection else ""
    return ("from cairn.io import write_file\n\n"
            f"{name} = write_file({upstream}, {_lit(path)}{where})\n"
            f'context.logger.info("wrote %d rows of {upstream} to %s", len({upstream}), '
            f"{name})\n")


def export_table(name: str, upstream: str, table: str, connection: str) -> str:
    return ("from cairn.io import write_table\n\n"
            f"{name} = write_table({upstream}, {_lit(table)}, connection={_lit(connection)})\n"
            f'context.logger.info("wrote %d rows of {upstream} to {connection} table {table}", '
            f"{name})\n")


def deduplicate(language: str, name: str, upstream: str, key: str | None,
                latest: str | None) -> str:
    if language == "sql":
        if key is None:
            return f"SELECT DISTINCT * FROM {upstream}\n"
        order = f'"{key}"' + (f', "{latest}" DESC NULLS LAST' if latest else "")
        return f'SELECT DISTINCT ON ("{key}") * FROM {upstream}\nORDER BY {order}\n'
    subset = f"subset=[{_lit(key)}]" if key else ""
    newest = (f'\n    .sort_values({_lit(latest)}, kind="stable", na_position="first")'
              if latest else "")
    keep = ', keep="last"' if latest else ""
    # Sorting by the date first makes the last duplicate the latest; the original order is
    # restored afterwards.
    return (_check(upstream, [c for c in (key, latest) if c])
            + f"{name} = (\n    {upstream}{newest}\n"
            f"    .drop_duplicates({subset}{keep})\n"
            f"    .sort_index()\n    .reset_index(drop=True)\n)\n" + _kept(name, upstream))


def join(language: str, name: str, left: str, right: str, key: str, how: str) -> str:
    if language == "sql":
        return f'SELECT * FROM {left}\n{how.upper()} JOIN {right} USING ("{key}")\n'
    return (_check(left, [key]) + _check(right, [key])
            + f"{name} = {left}.merge({right}, on={_lit(key)}, how={_lit(how)})\n"
            + _kept(name, left))


def cast(name: str, upstream: str, casts: list[tuple[str, str]]) -> str:
    lines = [f"{name}[{_lit(c)}] = " + _PANDAS_CASTS[t].format(c=f"{name}[{_lit(c)}]")
             for c, t in casts]
    return ("import pandas as pd\n\n" + _check(upstream, [c for c, _ in casts])
            + f"{name} = {upstream}.copy()\n" + "\n".join(lines) + "\n"
            + f'context.logger.info("{name}: cast %s", {_lit([c for c, _ in casts])})\n')


def filter_rows(language: str, name: str, upstream: str, column: str, operator: str,
                value: Any) -> str:
    if language == "sql":
        return (f'SELECT * FROM {upstream}\nWHERE "{column}" '
                f"{'=' if operator == '==' else operator} {_sql(value)}\n")
    if language == "r":
        return (_r_check(upstream, [column])
                + f"{name} <- {upstream}[!is.na({upstream}[[{_lit(column)}]]) & "
                f"{upstream}[[{_lit(column)}]] {operator} {_lit(value)}, , drop = FALSE]\n"
                f"rownames({name}) <- NULL\n"
                f'message("{name}: ", nrow({name}), " of ", nrow({upstream}), " rows")\n')
    return (_check(upstream, [column])
            + f"{name} = {upstream}[{upstream}[{_lit(column)}] {operator} {_lit(value)}]"
            ".reset_index(drop=True)\n" + _kept(name, upstream))


def aggregate(language: str, name: str, upstream: str, group: str, metrics: list[str],
              function: str, period: tuple[str, str] | None) -> str:
    keys = [group] + ([period[0]] if period else [])
    if language == "sql":
        columns = [f'"{group}"'] + ([f"date_trunc('{period[0]}', \"{period[1]}\") AS "
                                     f'"{period[0]}"'] if period else [])
        sql_function = "avg" if function == "mean" else function
        values = (['count(*) AS "rows"'] if function == "count" else
                  [f'{sql_function}("{m}") AS "{m}"' for m in metrics])
        order = ", ".join(str(i + 1) for i in range(len(keys)))
        return (f"SELECT {', '.join(columns + values)}\nFROM {upstream}\n"
                f"GROUP BY {order}\nORDER BY {order}\n")
    if language == "r":
        by = f"by = list({group} = {upstream}[[{_lit(group)}]])"
        if function == "count":
            measured, function = f"list(rows = rep(1L, nrow({upstream})))", "sum"
        else:
            measured = f"{upstream}[c({', '.join(_lit(m) for m in metrics)})]"
        return (_r_check(upstream, [group, *metrics])
                + f"{name} <- aggregate({measured}, {by}, FUN = {function})\n"
                f'message("{name}: ", nrow({name}), " groups")\n')
    needed, source, imports, periods = [group, *metrics], upstream, "", ""
    if period:
        needed.append(period[1])
        source, imports = "_frame", "import pandas as pd\n\n"
        periods = (f"_frame = {upstream}.assign({period[0]}=pd.to_datetime("
                   f"{upstream}[{_lit(period[1])}]).dt.to_period("
                   f"{_lit(_PANDAS_PERIODS[period[0]])}).dt.start_time)\n")
    grouped = f"{source}.groupby({_lit(keys)}, as_index=False)"
    result = (f'{grouped}.size().rename(columns={{"size": "rows"}})' if function == "count"
              else f"{grouped}[{_lit(metrics)}].{function}()")
    return (imports + _check(upstream, needed) + periods + f"{name} = {result}\n"
            + f'context.logger.info("{name}: %d groups", len({name}))\n')
