"""YAML files written by people: parse with line numbers and report errors as `file:line: message`.

Playbooks and quiz files are authored by enablement, so a mistake must point at the exact line and say
what to change. PyYAML's node tree knows every key's line; we keep a map from the path of each value
(e.g. ("stages", 2, "exit_criteria")) to its line and use it to place pydantic's validation errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from playbooks.nearest import nearest

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class FileError:
    """One problem in one file, printed as `file:line: message`."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YamlFileError(Exception):
    """Raised with every error found in one or more files."""

    def __init__(self, errors: list[FileError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class LoadedYaml:
    """A parsed document plus the line of every key or list item in it."""

    file: str
    data: Any
    lines: dict[PathKey, int]
    errors: list[FileError]

    def line_of(self, path: PathKey) -> int:
        """The line of `path`, or of its nearest ancestor that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


Model = TypeVar("Model", bound=BaseModel)

MAX_FILE_BYTES = 2_000_000  # a playbook or quiz file is a few kB; 2 MB leaves room for hundreds of stages
MAX_VALUES = 200_000  # values after aliases are expanded: anchors and aliases are fine, alias bombs are not


def load(path: Path, display_name: str | None = None) -> LoadedYaml:
    """Parse one file; syntax errors and duplicate keys come back in `.errors`, never raised."""
    name = display_name or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            message = (
                f"the file is {size:,} bytes; the limit is {MAX_FILE_BYTES:,} (split it into several files)"
            )
            return LoadedYaml(name, None, {}, [FileError(name, 1, message)])
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        return LoadedYaml(name, None, {}, [FileError(name, 1, f"not UTF-8 text ({exc.reason})")])
    return parse(text, name)


def parse(text: str, name: str) -> LoadedYaml:
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return LoadedYaml(name, None, {}, [FileError(name, 1, "the file is empty")])
        too_big = _expansion_problem(node)
        if too_big is not None:
            return LoadedYaml(name, None, {}, [FileError(name, too_big[0], too_big[1])])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = exc.problem or "invalid YAML"
        if exc.context:
            problem = f"{problem} ({exc.context})"
        return LoadedYaml(name, None, {}, [FileError(name, line, f"YAML syntax error: {problem}")])
    except RecursionError:
        return LoadedYaml(name, None, {}, [FileError(name, 1, "the YAML is nested too deeply")])
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {(): node.start_mark.line + 1}
    errors: list[FileError] = []
    _walk(node, (), lines, errors, name)
    return LoadedYaml(name, data, lines, errors)


def _expansion_problem(root: yaml.Node) -> tuple[int, str] | None:
    """(line, message) when aliases would expand the document past MAX_VALUES values or refer to
    themselves; counted over the node graph with each node's size computed once, so a bomb costs little."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    open_nodes: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if children_done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in children)
            if sizes[key] > MAX_VALUES:
                return (
                    node.start_mark.line + 1,
                    f"aliases (*name) expand this file to over {MAX_VALUES:,} values; "
                    "write the repeated values out, or repeat fewer of them",
                )
            continue
        if key in open_nodes:
            return node.start_mark.line + 1, "an alias refers to the value that contains it"
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                return child.start_mark.line + 1, "an alias refers to the value that contains it"
            stack.append((child, False))
    return None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _walk(
    node: yaml.Node, path: PathKey, lines: dict[PathKey, int], errors: list[FileError], name: str
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            line = key_node.start_mark.line + 1
            if key in seen:
                errors.append(FileError(name, line, f"duplicate key '{key}' (first at line {seen[key]})"))
            seen.setdefault(key, line)
            lines[(*path, key)] = line
            _walk(value_node, (*path, key), lines, errors, name)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[(*path, index)] = item.start_mark.line + 1
            _walk(item, (*path, index), lines, errors, name)


def validate(doc: LoadedYaml, model: type[Model]) -> Model | None:
    """Validate `doc.data` against `model`; on failure add readable `file:line` errors to `doc.errors`."""
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            allowed = _keys_at(model, loc[:-1]) if err["type"] == "extra_forbidden" else []
            doc.errors.append(FileError(doc.file, doc.line_of(loc), describe(err, loc, allowed)))
        return None


def describe(err: Any, loc: PathKey, allowed: list[str]) -> str:
    """Turn one pydantic error into a sentence an enablement author can act on."""
    where = dotted(loc[:-1]) if err["type"] in ("missing", "extra_forbidden") else dotted(loc)
    prefix = f"{where}: " if where else ""
    kind = err["type"]
    if kind == "missing":
        return f"{prefix}missing required key '{loc[-1]}'"
    if kind == "extra_forbidden":
        return f"{prefix}unknown key '{loc[-1]}'{_did_you_mean(str(loc[-1]), allowed)}"
    if kind == "too_short":
        least = (err.get("ctx") or {}).get("min_length", 1)
        return f"{prefix}must not be empty" if least <= 1 else f"{prefix}needs at least {least} items"
    if kind in ("string_type", "list_type", "dict_type", "model_type", "int_type", "bool_type"):
        expected = {
            "string_type": "text",
            "list_type": "a list",
            "dict_type": "a mapping of keys to values",
            "model_type": "a mapping of keys to values",
            "int_type": "a whole number",
            "bool_type": "true or false",
        }[kind]
        return f"{prefix}expected {expected}, got {_kind_of(err.get('input'))}"
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{prefix}{message}"


def dotted(loc: PathKey) -> str:
    """("stages", 2, "id") -> "stages[2].id"."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _keys_at(model: type[BaseModel], loc: PathKey) -> list[str]:
    """The keys the model accepts at `loc`, for a "did you mean" hint on a misspelt key."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = next((a for a in get_args(current) if a is not type(None)), None)
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    while get_args(current) and not (isinstance(current, type) and issubclass(current, BaseModel)):
        current = next((a for a in get_args(current) if a is not type(None)), None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _did_you_mean(key: str, allowed: list[str]) -> str:
    close = nearest(key, allowed)
    return f" (did you mean '{close}'?)" if close else ""


def _kind_of(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return f"text '{value[:40]}'"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__
