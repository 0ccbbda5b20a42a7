"""Read YAML files so that every problem can point at its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cairn.errors import CairnError, Problem

Location = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)


def _line_index(node: yaml.Node, path: Location, index: dict[Location, int]) -> None:
    index[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _line_index(value, child, index)
            index[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _line_index(item, (*path, position), index)


def read_yaml(path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse a YAML file; return its data and the line of every key and item."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or str(error)
        raise CairnError(
            Problem(
                "yaml-syntax",
                f"invalid YAML: {reason}",
                file=str(path),
                line=mark.line + 1 if mark else None,
                hint="check the indentation and the `key: value` form at that line",
            )
        ) from None
    index: dict[Location, int] = {}
    if node is not None:
        _line_index(node, (), index)
    return data, index


def validate(model: type[Model], path: Path) -> Model:
    """Read a YAML file into a pydantic model; validation errors name the field and line."""
    data, lines = read_yaml(path)
    filename = str(path)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        problems = []
        for item in error.errors():
            # Keep the parts of the location found in the file; pydantic adds model names
            # (for unions) that are not keys the user wrote.
            location: Location = ()
            for part in item["loc"]:
                if (*location, part) in lines or part == item["loc"][-1]:
                    location = (*location, part)
            line = lines.get(location) or lines.get(location[:-1])
            field = ".".join(str(part) for part in location) or "(top level)"
            problems.append(
                Problem("invalid-config", f"{field}: {item['msg']}", file=filename, line=line)
            )
        raise CairnError(problems) from None
