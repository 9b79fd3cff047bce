"""The MQTT topic layout of docs/protocol.md, spelled once for the agent, the hub and the tests.

Every device has ``edgesight/v1/d/{device_id}/{leaf}``; the hub's workers share one subscription
to every device's ``up``.
"""

from __future__ import annotations

from enum import StrEnum

from edgesight.core.wire._envelope import Kind

__all__ = [
    "DOWNLINK_KINDS",
    "TOPIC_ROOT",
    "Leaf",
    "parse_topic",
    "shared_up_subscription",
    "topic",
    "up_topic_device_id",
]

TOPIC_ROOT = "edgesight/v1/d"


class Leaf(StrEnum):
    """The last part of a device topic, after ``edgesight/v1/d/{device_id}/``."""

    UP = "up"
    DESIRED = "down/desired"
    COMMAND = "down/command"
    ACK = "down/ack"
    STATUS = "status"


_LEAVES = frozenset(leaf.value for leaf in Leaf)

DOWNLINK_KINDS: dict[Leaf, Kind] = {Leaf.ACK: Kind.ACK, Leaf.DESIRED: Kind.DESIRED, Leaf.COMMAND: Kind.COMMAND}
"""The one envelope kind each hub -> device topic may carry."""


def topic(device_id: str, leaf: Leaf | str) -> str:
    """The MQTT topic of one device (``+`` as ``device_id`` makes a wildcard filter).

    Example:
        >>> topic("cam-1", Leaf.ACK), topic("+", Leaf.UP)
        ('edgesight/v1/d/cam-1/down/ack', 'edgesight/v1/d/+/up')
    """
    return f"{TOPIC_ROOT}/{device_id}/{Leaf(leaf).value}"


def parse_topic(name: str) -> tuple[str, Leaf] | None:
    """``(device_id, leaf)`` of a device topic, or None for any other topic.

    Example:
        >>> parse_topic("edgesight/v1/d/cam-1/down/ack"), parse_topic("edgesight/v1/d/cam-1/x")
        (('cam-1', <Leaf.ACK: 'down/ack'>), None)
    """
    prefix = f"{TOPIC_ROOT}/"
    if not name.startswith(prefix):
        return None
    device_id, _, rest = name[len(prefix) :].partition("/")
    if not device_id or rest not in _LEAVES:
        return None
    return device_id, Leaf(rest)


def up_topic_device_id(name: str) -> str | None:
    """The ``{device_id}`` of an ``.../d/{device_id}/up`` topic, or None for another topic.

    Example:
        >>> up_topic_device_id("edgesight/v1/d/cam-1/up"), up_topic_device_id("x/y")
        ('cam-1', None)
    """
    parsed = parse_topic(name)
    return parsed[0] if parsed is not None and parsed[1] is Leaf.UP else None


def shared_up_subscription(group: str) -> str:
    """The hub workers' MQTT 5 shared subscription: each device message goes to one worker.

    Example:
        >>> shared_up_subscription("edgesight-hub")
        '$share/edgesight-hub/edgesight/v1/d/+/up'
    """
    return f"$share/{group}/{topic('+', Leaf.UP)}"
