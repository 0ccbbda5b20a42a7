"""Connections to databases and file stores, named in io_config.yaml."""
