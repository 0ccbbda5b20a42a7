"""The timestamp (watermark) strategy: take only the rows whose timestamp column moved past
what the block's last successful run processed.

The checkpoint holds the greatest timestamp processed, `at` (ISO 8601 text), and the keys of
the rows processed at exactly that time, so a row that arrives later with the same timestamp
is taken once, whatever its key. (A compound `(timestamp, key) > (at, last_key)` comparison
would lose such a row when its key is smaller.) With `lookback`, it also keeps the (timestamp,
key) pairs processed within that window before `at`, so rows committed late with an older
timestamp are still taken, once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from cairn.errors import BlockError
from cairn.runtime.context import RunContext


@dataclass
class _State:
    """The checkpoint's value, read: `processed` holds (timestamp, key) pairs."""

    at: datetime | None = None
    processed: set[tuple[datetime, Any]] = field(default_factory=set)


class Watermark:
    """Incremental reads by a timestamp `column` and a unique `key` column.

    ```
    orders = Watermark(context, "orders", column="updated_at", key="id")
    condition, params = orders.where()
    new = orders.filter(read_sql(f"SELECT * FROM orders WHERE {condition}", params=params))
    ...  # process `new`
    orders.advance(new)  # committed only if the block succeeds
    ```
    """

    def __init__(self, context: RunContext, name: str, column: str, key: str, *,
                 lookback: timedelta | None = None) -> None:
        self.context = context
        self.name = name
        self.column = column
        self.key = key
        self.lookback = lookback or timedelta(0)
        self._state = self._read(context.checkpoint(name))

    @property
    def at(self) -> datetime | None:
        """The greatest timestamp processed so far; None before the first run (or a reset)."""
        return self._state.at

    def where(self, style: Literal[":", "$"] = ":") -> tuple[str, dict[str, Any]]:
        """A SQL condition selecting the rows to process, and its parameters (`:name`, or
        `$name` for DuckDB), for `read_sql(..., params=...)`. Exact without `lookback`;
        with it, a superset that `filter` makes exact."""
        state = self._state
        if state.at is None:
            return "1 = 1", {}
        if self.lookback:
            return (f"{self.column} >= {style}watermark_since",
                    {"watermark_since": state.at - self.lookback})
        parameters: dict[str, Any] = {"watermark_at": state.at}
        at = f"{style}watermark_at"
        keys = [k for ts, k in state.processed if ts == state.at]
        if not keys:
            return f"{self.column} >= {at}", parameters
        names = [f"watermark_key_{index}" for index in range(len(keys))]
        parameters.update(zip(names, keys, strict=True))
        listed = ", ".join(style + n for n in names)
        return (f"({self.column} > {at} OR ({self.column} = {at} AND "
                f"{self.key} NOT IN ({listed})))"), parameters

    def filter(self, frame: Any) -> Any:
        """The rows of a pandas DataFrame not processed yet: after `at`, or at `at` (within
        the lookback window) with a (timestamp, key) not processed."""
        import pandas as pd

        self._check_columns(frame)
        state = self._state
        if state.at is None or frame.empty:
            return frame
        stamps = self._timestamps(frame)
        at = pd.Timestamp(state.at)
        since = at - pd.Timedelta(self.lookback)
        fresh = (stamps >= since).to_numpy()
        if state.processed:
            pairs = pd.MultiIndex.from_arrays([stamps, frame[self.key]])
            fresh = fresh & ~pairs.isin([(pd.Timestamp(ts), k) for ts, k in state.processed])
        return frame[(stamps > at).to_numpy() | fresh]

    def advance(self, frame: Any) -> None:
        """Stage the watermark past `frame`, the rows this run processed (a pandas
        DataFrame); nothing changes when it is empty."""
        self._check_columns(frame)
        stamps = self._timestamps(frame)
        frame, stamps = frame[stamps.notna().to_numpy()], stamps[stamps.notna()]
        if frame.empty:
            return
        newest = stamps.max().to_pydatetime()
        state = self._state
        at = newest if state.at is None or newest > state.at else state.at
        since = at - self.lookback
        pairs = {(ts.to_pydatetime(), _plain(k))
                 for ts, k in zip(stamps, frame[self.key], strict=True)} | state.processed
        self._state = _State(at, {(ts, k) for ts, k in pairs if since <= ts <= at})
        self.context.set_checkpoint(self.name, self._value())

    # -- the checkpoint's JSON -------------------------------------------------------------
    def _value(self) -> dict[str, Any]:
        state = self._state
        assert state.at is not None
        value: dict[str, Any] = {
            "at": state.at.isoformat(),
            "keys": sorted((k for ts, k in state.processed if ts == state.at), key=repr)}
        if self.lookback:
            value["recent"] = sorted([ts.isoformat(), k] for ts, k in state.processed
                                     if ts != state.at)
        return value

    def _read(self, value: Any) -> _State:
        if value is None:
            return _State()
        try:
            at = datetime.fromisoformat(value["at"])
            processed = {(at, _plain(k)) for k in value["keys"]}
            processed |= {(datetime.fromisoformat(ts), _plain(k))
                          for ts, k in value.get("recent", [])}
        except (TypeError, KeyError, ValueError) as error:
            raise BlockError(
                f"checkpoint {self.name!r} is not a watermark ({error}): {value!r}",
                detail="hint: a watermark is {\"at\": ISO timestamp, \"keys\": [...]}; reset it "
                f"with `cairn checkpoints reset {self.context.pipeline} {self.context.block}`",
            ) from None
        return _State(at, processed)

    # -- frames ----------------------------------------------------------------------------
    def _check_columns(self, frame: Any) -> None:
        missing = [c for c in (self.column, self.key) if c not in frame.columns]
        if missing:
            raise BlockError(f"watermark {self.name!r}: the frame has no column "
                             f"{', '.join(map(repr, missing))}",
                             detail=f"hint: its columns are {', '.join(map(str, frame.columns))}")

    def _timestamps(self, frame: Any) -> Any:
        import pandas as pd

        return pd.to_datetime(frame[self.column])


def _plain(key: Any) -> Any:
    """A key as JSON keeps it: numpy integers and others as Python values."""
    return key.item() if hasattr(key, "item") else key
