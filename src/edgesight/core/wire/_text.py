"""Checks every string and JSON value read off the wire must pass before anything stores it.

A value that decodes but that a database refuses (a NUL in a text column, ``\\u0000`` or NaN in a
JSON column, an integer past 64 bits, a name longer than its column) would otherwise fail a whole
storage transaction on the hub. The readers of :mod:`edgesight.core.wire` refuse such values with a
:class:`SchemaError` naming the field, so a poison message is rejected when it is read.
"""

from __future__ import annotations

import json
import math
from typing import Any

from edgesight.core.errors import SchemaError

__all__ = ["MAX_DEPTH", "MAX_NAME", "MAX_TEXT", "check_json", "check_text", "loads_json"]

MAX_TEXT = 128
"""Longest id-like string (device, stream, rule): the width of the hub's columns."""
MAX_NAME = 64
"""Longest short name (model id and version, command id and name, class label, event id)."""
MAX_DEPTH = 32
"""Deepest nesting of JSON arrays and objects in a payload."""
_INT64 = 1 << 63


def check_text(value: str, path: str, limit: int = MAX_TEXT) -> str:
    """``value`` if it holds no NUL and at most ``limit`` characters, else SchemaError naming ``path``.

    Example:
        >>> check_text("nanodet", "model.id")
        'nanodet'
        >>> check_text("a\\x00b", "model.id")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: model.id: NUL character in 'a\\x00b'
    """
    if "\x00" in value:
        raise SchemaError(f"{path}: NUL character in {value[:40]!r}")
    if len(value) > limit:
        raise SchemaError(f"{path}: {len(value)} characters, at most {limit} allowed")
    return value


def _refuse_constant(name: str) -> float:
    raise SchemaError(f"{name} is not a JSON number")


def check_json(value: Any, what: str) -> Any:
    """``value`` (parsed JSON) if every string and key is NUL-free, every number finite and within
    64 bits, and nesting at most :data:`MAX_DEPTH` deep; walks without recursion.

    Example:
        >>> check_json({"a": [1, "x"]}, "twin")
        {'a': [1, 'x']}
        >>> check_json({"a": {"b\\x00": 1}}, "twin")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: twin.a: NUL character in key 'b\\x00'
    """
    stack: list[tuple[Any, str, int]] = [(value, what, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise SchemaError(f"{path}: NUL character in {item[:40]!r}")
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, int):
            if not -_INT64 <= item < _INT64:
                raise SchemaError(f"{path}: integer {item} does not fit in 64 bits")
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise SchemaError(f"{path}: {item} is not a finite number")
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise SchemaError(f"{path}: nested deeper than {MAX_DEPTH} levels")
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                if "\x00" in key:
                    raise SchemaError(f"{path}: NUL character in key {key[:40]!r}")
                stack.append((v, f"{path}.{key[:40]}", depth + 1))
    return value


def loads_json(payload: str | bytes, what: str) -> Any:
    """Parse JSON text, refusing NaN and Infinity, absurd nesting and the values of :func:`check_json`.

    Example:
        >>> loads_json(b'{"fps": NaN}', "heartbeat")
        Traceback (most recent call last):
        ...
        edgesight.core.errors.SchemaError: heartbeat: payload is not JSON: NaN is not a JSON number
    """
    try:
        data = json.loads(payload, parse_constant=_refuse_constant)
    except SchemaError as exc:
        raise SchemaError(f"{what}: payload is not JSON: {exc}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise SchemaError(f"{what}: payload is not JSON: {reason}") from None
    return check_json(data, what)
