"""Fixtures of the stream tests: a fresh PostgreSQL schema for each test's sink."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from harness import POSTGRES, STARTED, create_schema, drop_schema


@pytest.fixture
def pg_schema() -> Iterator[str]:
    engine = sa.create_engine(POSTGRES)
    try:
        engine.connect().close()
    except sa.exc.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {error.orig}")
    finally:
        engine.dispose()
    name = f"cairn_stream_{secrets.token_hex(4)}"
    create_schema(name)
    yield name
    drop_schema(name)


@pytest.fixture(autouse=True)
def no_stream_left_running() -> Iterator[None]:
    """A failed test must not leave its `cairn stream` process consuming."""
    yield
    while STARTED:
        STARTED.pop().ensure_gone()
