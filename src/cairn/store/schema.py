"""Tables of the metadata database. Alembic migrations in `migrations/` create them."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("pipeline", String(255), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("ended_at", DateTime),
    Column("duration_s", Float),
    Column("execution_date", DateTime, nullable=False),
    Column("variables", Text, nullable=False, default="{}"),
    Column("blocks", Text, nullable=False, default="[]"),
    Column("error", Text),
    Column("pid", Integer),
    Column("host", String(255)),
    Column("resumes", Integer, nullable=False, default=0),
    # Triggered runs: which trigger made it for what (a scheduled time, a file, a run of
    # another pipeline); unique, so that two schedulers (or one restarted mid-tick) can
    # never both create it.
    Column("trigger", String(255)),
    Column("trigger_key", String(1024)),
    Column("scheduled_for", DateTime),
    Column("heartbeat_at", DateTime),
    # Metrics: when the run was created (it may wait in the queue), and its blocks' sums
    # (the largest peak memory), written when it ends.
    Column("queued_at", DateTime),
    Column("rows_out", BigInteger),
    Column("output_bytes", BigInteger),
    Column("peak_memory_bytes", BigInteger),
    Column("cpu_seconds", Float),
    UniqueConstraint("pipeline", "trigger", "trigger_key", name="uq_runs_trigger_key"),
    Index("ix_runs_started", "pipeline", "started_at"),
)

trigger_state = Table(
    "trigger_state",
    metadata,
    Column("pipeline", String(255), primary_key=True),
    Column("trigger", String(255), primary_key=True),
    Column("paused", Boolean, nullable=False, default=False),
    Column("fired_until", DateTime),  # every scheduled time up to this one is handled
    # TriggerSettings.definition() of the trigger fired_until was kept for
    Column("definition", String(64)),
)

block_runs = Table(
    "block_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("pipeline", String(255), nullable=False),
    Column("block", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("started_at", DateTime),
    Column("ended_at", DateTime),
    Column("duration_s", Float),
    Column("queued_at", DateTime),  # when it became ready to run, before waiting for a slot
    Column("rows_in", BigInteger),
    Column("rows_out", Integer),
    Column("output_bytes", Integer),
    Column("cpu_seconds", Float),
    Column("peak_memory_bytes", Integer),
    Column("error", Text),
    Column("outputs", Text),
    Column("profile", Text),
    Index("ix_block_runs_run", "run_id"),
    Index("ix_block_runs_latest", "pipeline", "block", "status"),
)

# An alert: one per (pipeline, event, key), so that retries and a second scheduler never
# alert twice; `message` is its JSON text, `channels` the JSON list it is routed to.
alert_incidents = Table(
    "alert_incidents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(255), nullable=False),
    Column("event", String(32), nullable=False),
    Column("key", String(512), nullable=False),
    Column("run_id", String(64)),
    Column("created_at", DateTime, nullable=False),
    Column("message", Text, nullable=False),
    Column("channels", Text, nullable=False),
    Column("done", Boolean, nullable=False, default=False),
    UniqueConstraint("pipeline", "event", "key", name="uq_alert_incidents_key"),
    Index("ix_alert_incidents_open", "done"),
)

# Every attempt to send an incident to one channel.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", Integer, ForeignKey("alert_incidents.id", ondelete="CASCADE"),
           nullable=False),
    Column("channel", String(255), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(32), nullable=False),  # sent | failed
    Column("at", DateTime, nullable=False),
    Column("error", Text),
    Index("ix_alert_deliveries_incident", "incident_id"),
)

# Every value a block's checkpoint ever had: the current one is the highest version. A run
# writes its versions in the transaction that records the block's success; a reset writes
# one too (`source` says which), so history shows who moved a checkpoint and when.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pipeline", String(255), nullable=False),
    Column("block", String(255), nullable=False),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("value", Text),  # JSON; NULL: no value (after a reset to the start)
    Column("run_id", String(64)),
    Column("source", String(32), nullable=False),  # run | reset
    Column("created_at", DateTime, nullable=False),
    Column("note", Text),
    UniqueConstraint("pipeline", "block", "name", "version", name="uq_checkpoints_version"),
)

# One row per streaming pipeline that was ever started. `desired` is what the user asked
# for (running | stopped); the rest is what its process last reported: `status` is
# starting | running | restarting (crashed, waiting for `next_start_at`) | stopped | failed.
# Counters are those of the current process (its run), reset when it starts.
streams = Table(
    "streams",
    metadata,
    Column("pipeline", String(255), primary_key=True),
    Column("desired", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("run_id", String(64)),
    Column("pid", Integer),
    Column("host", String(255)),
    Column("started_at", DateTime),
    Column("heartbeat_at", DateTime),
    Column("restarts", Integer, nullable=False, server_default="0"),
    Column("next_start_at", DateTime),
    Column("messages_in", BigInteger, nullable=False, server_default="0"),
    Column("messages_out", BigInteger, nullable=False, server_default="0"),
    Column("dead_letters", BigInteger, nullable=False, server_default="0"),
    Column("batches", BigInteger, nullable=False, server_default="0"),
    Column("rate", Float),  # messages per second over the last report interval
    Column("lag", BigInteger),  # messages waiting in the source, when it says
    Column("latency_p50_ms", Float),  # broker time -> sink written, recent batches
    Column("latency_p99_ms", Float),
    Column("last_error", Text),
    Column("last_error_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
)

HEAD_REVISION = "0007"
