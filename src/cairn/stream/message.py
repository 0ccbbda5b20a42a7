"""Messages as sources deliver them, and batches as transformers and sinks see them."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(slots=True)
class Message:
    """One message of a source: its bytes, and what the source needs to acknowledge it."""

    value: bytes
    key: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    topic: str = ""
    position: str = ""  # the broker's name for it: stream id, sequence, partition:offset
    timestamp: float | None = None  # when the broker received it, epoch seconds
    handle: Any = None  # the source's own token for acknowledging it


def decode(value: bytes) -> Any:
    """JSON when the bytes are JSON, else text, else the bytes themselves."""
    try:
        return json.loads(value)
    except ValueError:
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value


def decode_all(values: Sequence[bytes]) -> list[Any]:
    """Each value as `decode` gives it; in one JSON parse of the whole batch when every
    value is JSON (several times faster than one parse per message). The count check
    catches what a joined parse could read differently, such as a value `1,2`."""
    try:
        decoded = json.loads(b"[" + b",".join(values) + b"]")
    except ValueError:
        decoded = None
    if isinstance(decoded, list) and len(decoded) == len(values):
        return decoded
    return [decode(value) for value in values]


def encode(record: Any) -> bytes:
    """How sinks put a row on a broker: JSON (dates and other values as their text)."""
    if isinstance(record, bytes):
        return record
    return json.dumps(record, default=str, separators=(",", ":")).encode()


def as_record(value: Any) -> dict[str, Any]:
    """A decoded message as a row: objects as they are, anything else under `value`."""
    return value if isinstance(value, dict) else {"value": value}


def batch_value(messages: Sequence[Message], format: Literal["records", "dataframe"]) -> Any:
    """What transformer blocks receive: the decoded messages, or a DataFrame of them."""
    values = decode_all([message.value for message in messages])
    if format == "records":
        return values
    import pandas as pd

    return pd.DataFrame.from_records([as_record(value) for value in values])


class Rows:
    """A transformer's output as sinks take it: a list of values or rows, a pandas or
    polars DataFrame, or an Arrow table. None is an empty batch."""

    def __init__(self, value: Any) -> None:
        self.value = [] if value is None else value

    def __len__(self) -> int:
        value = self.value
        return value.num_rows if hasattr(value, "num_rows") else len(value)

    def records(self) -> list[dict[str, Any]]:
        """Each row as a mapping of column to value."""
        if isinstance(self.value, list | tuple):
            return [as_record(item) for item in self.value]
        rows: list[dict[str, Any]] = self.table().to_pylist()
        return rows

    def table(self) -> pa.Table:
        """The rows as an Arrow table (columns from the union of the rows' keys)."""
        import pyarrow as pa

        value = self.value
        if isinstance(value, pa.Table):
            return value
        if isinstance(value, list | tuple):
            return pa.Table.from_pylist([as_record(item) for item in value])
        if hasattr(value, "to_arrow"):  # polars
            return value.to_arrow()
        return pa.Table.from_pandas(value, preserve_index=False)
