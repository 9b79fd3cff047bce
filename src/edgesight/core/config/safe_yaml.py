"""YAML for config files, with limits: no aliases, bounded nesting, bounded size.

YAML aliases let a few hundred bytes expand to gigabytes (the "billion laughs"), and deep nesting
makes a recursive composer overflow the stack; a config needs neither. The loader refuses both
while it composes the document, so nothing is expanded or recursed into before the refusal, and
the message names the key where it happened.

Example:
    >>> load_yaml("a: &x [1, 2]\\nb: *x\\n", "cfg.yaml")
    Traceback (most recent call last):
    ...
    edgesight.core.errors.ConfigError: cfg.yaml: b: YAML aliases are not allowed in a config, got *x at line 2
    >>> load_yaml("sensor: {roi: [0, 0, 1, 1]}", "cfg.yaml")
    {'sensor': {'roi': [0, 0, 1, 1]}}
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, Event
from yaml.nodes import MappingNode, Node, ScalarNode

from edgesight.core.errors import ConfigError

__all__ = ["MAX_CONFIG_BYTES", "MAX_DEPTH", "load_yaml"]

MAX_CONFIG_BYTES = 256 * 1024
"""Largest config file read: a device with 64 zones and 64 lines is under 50 KB."""

MAX_DEPTH = 32
"""Deepest nesting of mappings and lists: the deepest real key is about 8 levels down."""


class _LimitedLoader(yaml.SafeLoader):
    """A safe loader that refuses aliases and nesting past :data:`MAX_DEPTH`, naming the key."""

    def __init__(self, text: str, source: str) -> None:
        super().__init__(text)
        self.source = source
        self.path: list[str] = []

    def key_path(self) -> str:
        return "".join(self.path).lstrip(".") or "<root>"

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        step = _step(parent, index)
        if step is not None:
            self.path.append(step)
        try:
            event: Event = self.peek_event()  # type: ignore[no-untyped-call]
            line = event.start_mark.line + 1 if event.start_mark is not None else 0
            if isinstance(event, AliasEvent):
                raise ConfigError(
                    f"{self.source}: {self.key_path()}: YAML aliases are not allowed in a config, "
                    f"got *{event.anchor} at line {line}"
                )
            if len(self.path) > MAX_DEPTH:
                raise ConfigError(
                    f"{self.source}: {_shorten(self.key_path())}: nested deeper than {MAX_DEPTH} levels "
                    f"(line {line})"
                )
            return super().compose_node(parent, index)
        finally:
            if step is not None:
                self.path.pop()


def _step(parent: Node | None, index: Any) -> str | None:
    """The key path step of a child node: ``.key`` in a mapping, ``[i]`` in a list, None for keys."""
    if parent is None or (isinstance(parent, MappingNode) and index is None):
        return None  # the document root, or a mapping key being composed
    if isinstance(index, int):
        return f"[{index}]"
    return f".{index.value}" if isinstance(index, ScalarNode) else ".?"


def _shorten(text: str, keep: int = 120) -> str:
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def load_yaml(text: str, source: str) -> Any:
    """Parse one YAML document of a config, within the limits.

    Args:
        text: the document.
        source: named in error messages (the file's path).

    Raises:
        ConfigError: an alias, nesting past :data:`MAX_DEPTH`, or text that is not YAML.
    """
    try:
        loader = _LimitedLoader(text, source)  # the reader already refuses control characters
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        one_line = " ".join(str(exc).split())  # PyYAML puts the position on lines of its own
        raise ConfigError(f"{source}: not valid YAML ({one_line})") from exc
