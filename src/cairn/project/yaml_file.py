"""Read YAML files so that every problem can point at its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cairn.errors import CairnError, Problem
from cairn.text_file import read_text

Location = tuple[str | int, ...]
Model = TypeVar("Model", bound=BaseModel)


# Limits that keep a malformed or hostile file from hanging or crashing the reader: no
# hand-written settings nest 50 deep, and anchors that expand a document to a million
# values are an "alias bomb", not configuration.
MAX_DEPTH = 50
MAX_VALUES = 1_000_000
# Beyond this many problems a file is not the one the user meant to write; listing them
# all would take longer than reading them.
MAX_PROBLEMS = 20

_MERGE_TAG = "tag:yaml.org,2002:merge"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Walk:
    """One pass over a composed document: the line of every key and item, and the checks
    (nesting depth, duplicate keys, size once aliases are expanded). Each node is entered
    once, so an alias costs what its anchor costs, not what it expands to."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[Location, int] = {}
        self._sizes: dict[int, int] = {}
        self._open: set[int] = set()

    def _refuse(self, kind: str, message: str, node: yaml.Node, hint: str) -> CairnError:
        return CairnError(Problem(kind, message, file=self.filename,
                                  line=node.start_mark.line + 1, hint=hint))

    def size(self, node: yaml.Node, path: Location, depth: int) -> int:
        """The number of values under `node` once aliases are expanded."""
        if depth > MAX_DEPTH:
            raise self._refuse("yaml-too-deep", f"values are nested more than {MAX_DEPTH} "
                               "deep", node, "flatten the structure")
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if id(node) in self._open:
            raise self._refuse("yaml-alias", "an alias refers to the value that holds it",
                               node, "an anchor cannot be used inside its own value")
        self._open.add(id(node))
        self.lines.setdefault(path, node.start_mark.line + 1)
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[tuple[str, str], int] = {}
            for key, value in node.value:
                line = key.start_mark.line + 1
                if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                    first = seen.setdefault((key.tag, key.value), line)
                    if first != line:
                        raise self._refuse("yaml-duplicate-key", f"key {key.value!r} appears "
                                           f"twice (first at line {first})", key,
                                           "remove one of them; YAML keeps only the last")
                child = (*path, key.value)
                total += (1 if isinstance(key, yaml.ScalarNode)
                          else self.size(key, child, depth + 1))
                total += self.size(value, child, depth + 1)
                self.lines[child] = line
        elif isinstance(node, yaml.SequenceNode):
            for position, item in enumerate(node.value):
                total += self.size(item, (*path, position), depth + 1)
        self._open.discard(id(node))
        if total > MAX_VALUES:
            raise self._refuse("yaml-too-large", f"the document expands to more than "
                               f"{MAX_VALUES:,} values (anchors and aliases included)", node,
                               "use fewer aliases, or fewer values")
        self._sizes[id(node)] = total
        return total


def read_yaml(path: Path) -> tuple[Any, dict[Location, int]]:
    """Parse a YAML file; return its data and the line of every key and item. Files that
    are too large, not UTF-8, too deep, alias bombs or with duplicate keys are refused."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, source: str) -> tuple[Any, dict[Location, int]]:
    """`read_yaml` for text from elsewhere (a command-line value); `source` names it in
    problems."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        walk = _Walk(source)
        if node is not None:
            walk.size(node, (), 0)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        reason = getattr(error, "problem", None) or str(error)
        raise CairnError(
            Problem(
                "yaml-syntax",
                f"invalid YAML: {reason}",
                file=source,
                line=mark.line + 1 if mark else None,
                hint="check the indentation and the `key: value` form at that line",
            )
        ) from None
    finally:
        loader.dispose()
    return data, walk.lines if node is not None else {}


def validate(model: type[Model], path: Path) -> Model:
    """Read a YAML file into a pydantic model; validation errors name the field and line."""
    data, lines = read_yaml(path)
    filename = str(path)
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as error:
        problems = []
        errors = error.errors()
        for item in errors[:MAX_PROBLEMS]:
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
        if len(errors) > MAX_PROBLEMS:
            problems.append(Problem("invalid-config", f"... and {len(errors) - MAX_PROBLEMS:,} "
                                    "more problems", file=filename))
        raise CairnError(problems) from None
