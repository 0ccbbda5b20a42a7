"""Blocks written, explained and fixed by a chat model, or from built-in templates."""
