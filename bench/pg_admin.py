"""Set up and tear down the PostgreSQL side of the `pushdown` and `load` benchmarks.

Usage: python bench/pg_admin.py URL check
       python bench/pg_admin.py URL schema SCHEMA      (create an empty schema)
       python bench/pg_admin.py URL big SCHEMA ROWS    (create SCHEMA.big, and VACUUM it)
       python bench/pg_admin.py URL count TABLE        (print the table's row count)
       python bench/pg_admin.py URL drop SCHEMA
URL is a libpq URL (postgresql://user@host:port/database). run.py starts this as a child,
like plan_timing.py, so that the driver itself imports no database driver.
"""

from __future__ import annotations

import sys

BIG_KEYS = 1_000


def main(url: str, command: str, arguments: list[str]) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as connection:
        if command == "check":
            print(connection.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        elif command == "schema":
            connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(arguments[0])))
        elif command == "big":
            big = sql.Identifier(arguments[0], "big")
            rows = int(arguments[1])
            connection.execute(sql.SQL(
                "CREATE TABLE {} AS SELECT g AS id, g % {} AS k, random() AS v "
                "FROM generate_series(1, {}) g").format(big, BIG_KEYS, rows))
            # Hint bits and statistics set now, so that no timed run pays for them.
            connection.execute(sql.SQL("VACUUM ANALYZE {}").format(big))
        elif command == "count":
            table = sql.Identifier(*arguments[0].split("."))
            found = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(table))
            print(found.fetchone()[0])  # type: ignore[index]
        elif command == "drop":
            connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(arguments[0])))
        else:
            raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
