"""How message bytes become the values blocks receive."""

from __future__ import annotations

import pytest

from cairn.stream.message import decode, decode_all


@pytest.mark.parametrize("values", [
    [b'{"id": 1}', b'{"id": 2}'],
    [b"1,2", b"3"],  # one value that is not JSON alone must not become two
    [b'{"id": 1}', b"plain text", b"\xff\xfe"],
    [b"[1, 2]", b'"text"', b"null"],
    [b" 7 ", b"1e3"],
    [b""],
])
def test_a_batch_decodes_as_each_message_would(values: list[bytes]) -> None:
    assert decode_all(values) == [decode(value) for value in values]


def test_what_is_not_json_stays_text_or_bytes() -> None:
    assert decode(b'{"a": [1]}') == {"a": [1]}
    assert decode(b"hello") == "hello"
    assert decode(b"\xff\xfe") == b"\xff\xfe"
