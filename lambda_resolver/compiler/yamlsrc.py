"""YAML to plain data, with the line of every key and list item, as the Databricks CLI reads it.

Built on libyaml's event stream (PyYAML's C parser when present) rather than ``yaml.compose``:
composing a 10,000-task file costs seconds, the event stream a fraction of that. Scalars follow the
YAML 1.2 core schema like the CLI does (``yes``/``on`` stay strings, ``2024-01-01`` stays a string,
``010`` is ten). Anchors, aliases and ``<<`` merge keys work; duplicate keys are reported, and a
second ``<<`` in one mapping is an error, as in the CLI (``libs/dyn/yamlloader``). The paths of
anchored values are kept: the CLI does not warn about unknown keys that only hold anchors.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events

Path_ = tuple[str | int, ...]

_Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_SPECIAL: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
    ".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
    "+.inf": float("inf"), "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
    ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan"),
}  # fmt: skip
_NUMERIC_START = frozenset("-+.0123456789")
MAX_DEPTH = 100  # a bundle needs a dozen levels; deeper is damage (and would exhaust recursion)
MAX_ALIAS_VALUES = 100_000  # values aliases may copy in all: no "billion laughs"
_STR_TAGS = frozenset({"tag:yaml.org,2002:str", "!"})


class YamlError(Exception):
    """The file is not valid YAML (or uses a tag a bundle cannot). ``line`` is 1-based."""

    def __init__(self, message: str, line: int | None, code: str = "yaml_syntax") -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.code = code


@dataclass
class Loaded:
    """One file: its data, the line of each path, its duplicate keys (path, line), anchored paths."""

    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)
    duplicates: list[tuple[Path_, int]] = field(default_factory=list)
    anchored: set[Path_] = field(default_factory=set)

    def only_anchors(self, path: Path_, value: Any) -> bool:
        """Whether the value at ``path`` is anchored, or a container of such values (recursively).

        Such a value exists to be referred to (``*name``); the CLI does not warn about its key.
        """
        if path in self.anchored:
            return True
        if isinstance(value, dict) and value:
            return all(self.only_anchors((*path, k), v) for k, v in value.items())
        if isinstance(value, list) and value:
            return all(self.only_anchors((*path, i), v) for i, v in enumerate(value))
        return False


def resolve_plain(value: str) -> Any:
    """The YAML 1.2 core-schema value of a plain (unquoted) scalar."""
    if value in _SPECIAL:
        return _SPECIAL[value]
    if value[0] not in _NUMERIC_START:
        return value
    if _INT.fullmatch(value):
        return int(value, 10)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value.startswith(("0x", "0o")) and len(value) > 2:
        try:
            return int(value[2:], 16 if value[1] == "x" else 8)
        except ValueError:
            return value
    return value


def _tagged(value: str, tag: str, line: int) -> Any:
    short = tag.rsplit(":", 1)[-1]
    if short in ("int", "float", "bool", "null"):
        try:
            resolved = resolve_plain(value)
        except ValueError:
            raise YamlError(f"the number {value[:20]}... has too many digits", line) from None
        ok = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
            "null": lambda v: v is None,
        }[short](resolved)
        if ok:
            return float(resolved) if short == "float" else resolved
        raise YamlError(f"'{value}' is not a valid !!{short}", line)
    raise YamlError(f"unsupported tag {tag!r}: bundle files use plain YAML values", line)


def load_yaml(text: str) -> Loaded:
    """Parse one YAML document; raises :class:`YamlError` with the line of the first error."""
    parser = _Parser(text)
    try:
        return _build(parser)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = exc.problem or str(exc)
        if exc.context:
            reason = f"{reason} ({exc.context})"
        # an error at the end of the stream is marked one line past a last line without "\n"
        last = text.count("\n") + 1
        raise YamlError(reason, None if mark is None else min(mark.line + 1, last)) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc), None) from None
    finally:
        parser.dispose()


class _Frame:
    __slots__ = ("anchor", "container", "explicit", "is_map", "key", "line", "merges", "path")

    def __init__(
        self, container: dict[str, Any] | list[Any], path: Path_, line: int, anchor: str | None
    ) -> None:
        self.container = container
        self.is_map = isinstance(container, dict)
        self.path = path
        self.line = line
        self.anchor = anchor
        self.key: str | None = None  # a mapping's key waiting for its value
        self.merges: list[Any] = []  # values of `<<` keys, applied at the mapping's end
        self.explicit: set[str] = set()


def _build(parser: Any) -> Loaded:
    out = Loaded(None)
    stack: list[_Frame] = []
    anchors: dict[str, Any] = {}
    sizes: dict[str, int] = {}  # values in each anchored node, to budget what aliases copy
    budget = MAX_ALIAS_VALUES
    documents = 0
    while True:
        ev = parser.get_event()
        kind = type(ev)
        if kind is events.StreamEndEvent:
            return out
        if kind is events.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise YamlError("more than one YAML document in the file", ev.start_mark.line + 1)
            continue
        if kind is events.StreamStartEvent or kind is events.DocumentEndEvent:
            continue
        line = ev.start_mark.line + 1
        if kind is events.MappingStartEvent or kind is events.SequenceStartEvent:
            if stack and stack[-1].is_map and stack[-1].key is None:
                raise YamlError("a mapping key must be a plain value, not a mapping or a list", line)
            container: dict[str, Any] | list[Any] = {} if kind is events.MappingStartEvent else []
            if len(stack) >= MAX_DEPTH:
                raise YamlError(f"nested more than {MAX_DEPTH} levels deep", line)
            path = _child_path(stack[-1], out, line) if stack else ()
            if ev.anchor:
                out.anchored.add(path)
            stack.append(_Frame(container, path, line, ev.anchor))
            continue
        key_text: str | None = None
        if kind is events.MappingEndEvent or kind is events.SequenceEndEvent:
            frame = stack.pop()
            if frame.merges:
                _apply_merges(frame)
            value: Any = frame.container
            if frame.anchor:
                anchors[frame.anchor] = value
                sizes[frame.anchor] = _count(value)
            line = frame.line
        elif kind is events.AliasEvent:
            if ev.anchor not in anchors:
                raise YamlError(f"unknown or recursive alias *{ev.anchor}", line)
            budget -= sizes.get(ev.anchor, 1)
            if budget < 0:
                raise YamlError(
                    f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (nested aliases of aliases?)",
                    line,
                )
            value = copy.deepcopy(anchors[ev.anchor])
            key_text = None if isinstance(value, (dict, list)) else str(value)
        else:  # a scalar
            if ev.tag is not None and ev.tag not in _STR_TAGS:
                value = _tagged(ev.value, ev.tag, line)
            elif not ev.style and ev.implicit[0]:
                try:
                    value = resolve_plain(ev.value)
                except ValueError:  # more digits than Python reads (sys.get_int_max_str_digits)
                    raise YamlError(f"the number {ev.value[:20]}... has too many digits", line) from None
            else:
                value = ev.value
            key_text = ev.value
            if ev.anchor:
                anchors[ev.anchor] = value
                sizes[ev.anchor] = 1
                if stack and not (stack[-1].is_map and stack[-1].key is None):
                    out.anchored.add(_value_path(stack[-1]))
            if stack and stack[-1].is_map and stack[-1].key is None and ev.value == "<<" and not ev.style:
                if stack[-1].merges:
                    raise YamlError(
                        "duplicate YAML merge key ('<<') is not allowed; to merge several mappings, "
                        "use a list: '<<: [*anchor1, *anchor2]'",
                        line,
                        "duplicate_merge_key",
                    )
                stack[-1].key = "<<"
                continue
        if not stack:
            out.data = value
            continue
        parent = stack[-1]
        if parent.is_map and parent.key is None:
            if key_text is None:
                raise YamlError("a mapping key must be a plain value, not a mapping or a list", line)
            _set_key(parent, key_text, line, out)
        else:
            _attach(parent, value, line, out)


def _count(value: Any) -> int:
    """How many values (containers and scalars) ``value`` holds, itself included."""
    count, todo = 0, [value]
    while todo:
        item = todo.pop()
        count += 1
        if isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return count


def _child_path(parent: _Frame, out: Loaded, line: int) -> Path_:
    """The path of a container about to start under ``parent`` (recording a list item's line)."""
    if isinstance(parent.container, list):
        path = (*parent.path, len(parent.container))
        out.lines[path] = line
        return path
    assert parent.key is not None
    return (*parent.path, parent.key)


def _value_path(parent: _Frame) -> Path_:
    """The path of a scalar about to be attached under ``parent``."""
    if isinstance(parent.container, list):
        return (*parent.path, len(parent.container))
    assert parent.key is not None
    return (*parent.path, parent.key)


def _set_key(frame: _Frame, key: str, line: int, out: Loaded) -> None:
    path = (*frame.path, key)
    if key in frame.explicit:
        out.duplicates.append((path, line))
    frame.explicit.add(key)
    out.lines[path] = line
    frame.key = key


def _attach(frame: _Frame, value: Any, line: int, out: Loaded) -> None:
    cont = frame.container
    if isinstance(cont, list):
        out.lines.setdefault((*frame.path, len(cont)), line)
        cont.append(value)
        return
    assert frame.key is not None
    if frame.key == "<<":
        frame.merges.append(value)
    else:
        cont[frame.key] = value
    frame.key = None


def _apply_merges(frame: _Frame) -> None:
    """``<<: *base`` (or a list of them): keys written in the mapping win, then earlier merges."""
    cont = frame.container
    assert isinstance(cont, dict)
    merged: dict[str, Any] = {}
    for value in frame.merges:
        sources = value if isinstance(value, list) else [value]
        for src in reversed(sources):
            if not isinstance(src, dict):
                raise YamlError("a << merge key takes a mapping or a list of mappings", frame.line)
            merged.update(src)
    own = dict(cont)
    cont.clear()
    cont.update(merged)
    cont.update(own)
