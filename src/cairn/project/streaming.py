"""What a streaming pipeline's `pipeline.yaml` says: its source, micro-batches and sinks."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SourceKind = Literal["nats", "redis", "rabbitmq", "mqtt", "kafka", "webhook", "files"]
BROKER_SOURCES = ("nats", "redis", "rabbitmq", "mqtt", "kafka")


class SourceSettings(BaseModel):
    """Where a stream's messages come from.

    Brokers take a `connection` of their kind from `io_config.yaml` and a `topic`: the NATS
    subject, Redis stream key, RabbitMQ queue, MQTT topic filter or Kafka topic. `files`
    takes a `url` (a folder or object-store prefix, optionally under a files `connection`)
    and a glob `pattern`; `webhook` takes messages POSTed to the Cairn server.
    """

    model_config = ConfigDict(extra="forbid")

    kind: SourceKind
    connection: str | None = None
    topic: str | None = None
    url: str | None = None
    pattern: str = "*"
    format: Literal["json", "jsonl", "csv", "parquet"] | None = None  # files: by extension
    name: str = "messages"  # the name transformer blocks read the micro-batch by
    group: str | None = None  # consumer group / durable name; default `cairn-<pipeline>`
    options: dict[str, Any] = Field(default_factory=dict)  # the kind's own settings
    # JSON-lines file of example messages, read when the blocks run outside the stream
    # (notebook, `cairn run`) instead of peeking at the broker's newest messages.
    sample: str | None = None

    @model_validator(mode="after")
    def _kind_needs(self) -> SourceSettings:
        if self.kind in BROKER_SOURCES:
            if self.connection is None or self.topic is None:
                raise ValueError(f"a {self.kind} source needs `connection` and `topic`")
        elif self.kind == "files" and self.url is None:
            raise ValueError("a files source needs `url`: the folder or prefix to watch")
        return self


class BatchSettings(BaseModel):
    """A micro-batch closes at `max_messages` or `max_wait` seconds, whichever comes first."""

    model_config = ConfigDict(extra="forbid")

    max_messages: int = Field(default=1000, ge=1, le=1_000_000)
    max_wait: float = Field(default=0.2, gt=0, le=3600)
    format: Literal["records", "dataframe"] = "records"  # what transformers receive


class SinkSettings(BaseModel):
    """Where a stream writes: a `table` of a SQL connection, files under a `url`, or a
    broker `topic`. `from` names the output written (default: the last block's)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection: str | None = None  # default: the project's default SQL connection
    table: str | None = None
    url: str | None = None
    topic: str | None = None
    format: Literal["parquet", "jsonl", "csv"] = "parquet"  # files
    mode: Literal["append", "upsert"] = "append"  # upsert replaces rows with the same key
    key: list[str] = Field(default_factory=list)  # upsert key; brokers: the message key
    from_: str | None = Field(default=None, alias="from")

    @model_validator(mode="after")
    def _one_target(self) -> SinkSettings:
        targets = [name for name in ("table", "url", "topic") if getattr(self, name)]
        if len(targets) != 1:
            raise ValueError("a sink has exactly one of `table`, `url` or `topic`")
        if self.mode == "upsert" and not (self.table and self.key):
            raise ValueError("mode: upsert needs a `table` and its `key` columns")
        if self.topic and self.connection is None:
            raise ValueError("a broker sink needs the `connection` of its broker")
        return self

    @property
    def target(self) -> str:
        return self.table or self.url or self.topic or ""


class RestartSettings(BaseModel):
    """How a managed stream is restarted after it crashes: exponential backoff."""

    model_config = ConfigDict(extra="forbid")

    delay: float = Field(default=1.0, gt=0)
    max_delay: float = Field(default=60.0, gt=0)
    # A stream that ran this long before crashing starts again from `delay`.
    reset_after: float = Field(default=60.0, gt=0)
