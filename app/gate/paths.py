"""The product's one path syntax: dotted paths into JSON (`data.id`, `items.0.id`), for pipelines and shapes alike.

Lookups only: a path is segments of letters, digits, '_' and '-' joined by dots; a segment is an object key,
or an index into a list when it is all digits. Standard library only: safe inside the workflow sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from app.errors import PathError

SEGMENT = re.compile(r"[A-Za-z0-9_\-]+")
PATH = re.compile(r"[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*")


def is_path(text: str) -> bool:
    """Whether `text` is a dotted path."""
    return PATH.fullmatch(text) is not None


def split(path: str) -> list[str]:
    """The segments of a dotted path ('' is the empty path: the value itself)."""
    return path.split(".") if path else []


def lookup(value: Any, path: Sequence[str], what: str) -> Any:
    """Follow `path` segments through objects (keys) and lists (indexes); PathError says where it stopped."""
    for depth, segment in enumerate(path):
        where = ".".join([what, *path[:depth]])
        if isinstance(value, Mapping):
            if segment not in value:
                raise PathError(f"{where} has no {segment!r}")
            value = value[segment]
        elif isinstance(value, list) and segment.isdigit():
            index = int(segment)
            if index >= len(value):
                raise PathError(f"{where} has {len(value)} item(s), no index {index}")
            value = value[index]
        else:
            raise PathError(f"{where} is {kind(value)}, it has no {segment!r}")
    return value


def kind(value: Any) -> str:
    """A JSON value's kind, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"
