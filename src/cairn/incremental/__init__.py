"""Helpers for incremental blocks, each keeping its state in the block's checkpoints:
`watermark` (rows past a timestamp), `hashdiff` (new, changed and deleted rows by key) and
`pg_cdc` (PostgreSQL change data capture). Import them from their modules."""
