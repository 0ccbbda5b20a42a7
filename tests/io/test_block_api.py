"""Block code reaching named connections: `cairn.io.read_sql`, `write_table`, files."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from support import ProjectFolder, RecordingObserver

from cairn import service

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def pg_schema() -> Iterator[str]:
    engine = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    try:
        engine.connect().close()
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable: {error.orig}")
    name = f"cairn_api_{secrets.token_hex(4)}"
    yield name
    with engine.connect() as connection:
        connection.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
    engine.dispose()


def test_blocks_read_and_write_named_connections(project: ProjectFolder,
                                                 observer: RecordingObserver,
                                                 pg_schema: str) -> None:
    (project.root / "io_config.yaml").write_text(
        "default:\n"
        "  pg:\n    kind: postgres\n    host: 127.0.0.1\n    user: postgres\n"
        f"    database: test\n    schema: {pg_schema}\n"
        "  exports:\n    kind: files\n    url: exports\n")
    project.pipeline("p", {
        "publish.py": """
            import pandas as pd
            from cairn.io import read_sql, write_file, write_table

            frame = pd.DataFrame({"k": [1, 2, 3], "v": ["a", "b", "c"]})
            written = write_table(frame, "published", "pg")
            again = write_table(frame.head(1), "published", "pg", policy="append")
            count = int(read_sql("SELECT count(*) AS n FROM published WHERE k >= :low", "pg",
                                 params={"low": 1})["n"][0])
            whole = read_sql("published", "pg", as_="arrow").num_rows
            in_warehouse = write_table(frame, "copied")  # the default connection
            exported = write_file(frame, "frame.parquet", connection="exports")
        """,
        "reread.py": """
            from cairn.io import read_file, read_sql
            reread = read_file("frame.parquet", connection="exports")["v"].tolist()
            from_warehouse = read_sql("SELECT sum(k) AS s FROM copied")["s"][0]
            after = exported
        """,
    })
    result = service.run_pipeline(project.load(), "p", observer)
    assert result.status == "success", {b: o.failure for b, o in observer.outcomes.items()}
    values = service.read_output(project.load(), "p", "publish")
    assert (values["written"], values["again"], values["count"], values["whole"]) == (3, 1, 4, 4)
    assert values["exported"].endswith("exports/frame.parquet")
    def output(name: str) -> object:
        return service.read_output(project.load(), "p", "reread", output=name)[name]

    assert output("reread") == ["a", "b", "c"] and output("from_warehouse") == 6


def test_unknown_files_connection(project: ProjectFolder, observer: RecordingObserver) -> None:
    project.pipeline("p", {
        "x.py": "from cairn.io import read_file\nx = read_file('a.csv', connection='nope')\n",
    })
    service.run_pipeline(project.load(), "p", observer)
    failure = observer.outcomes["x"].failure
    assert failure is not None and "no files connection named 'nope'" in failure.message
