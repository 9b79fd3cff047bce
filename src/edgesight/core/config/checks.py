"""Cross-field checks of the ``analytics`` section: named functions, one rule each.

Each raises ``ValueError`` whose message names the full key and the offending value (pydantic
prefixes the section's location); :class:`~edgesight.core.config.analytics.AnalyticsConfig` runs
them in order after its sections are valid on their own.

Example:
    >>> check_reference("analytics.apps.queues[0].queue_zone", "tills", {"till", "queue"}, "zone")
    Traceback (most recent call last):
    ...
    ValueError: analytics.apps.queues[0].queue_zone: no zone named 'tills'; did you mean 'till'? zones are: 'queue', 'till'
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from typing import TYPE_CHECKING

from pydantic import ValidationInfo

from edgesight.core.config.labels import check_known_classes

if TYPE_CHECKING:
    from edgesight.core.config.analytics import AnalyticsConfig

__all__ = [
    "check_apps_classes",
    "check_apps_need",
    "check_apps_references",
    "check_calibration_present",
    "check_reference",
    "check_tracking_enabled",
    "check_unique_names",
    "check_zone_and_line_names",
]


def check_unique_names(names: list[str], key: str) -> None:
    """Each name of the list ``key`` is used once.

    Example:
        >>> check_unique_names(["a", "b", "a"], "zones")
        Traceback (most recent call last):
        ...
        ValueError: zones[2].name: 'a' is already used by zones[0]
    """
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name in seen:
            raise ValueError(f"{key}[{i}].name: {name!r} is already used by {key}[{seen[name]}]")
        seen[name] = i


def check_reference(key: str, name: str, known: Collection[str], kind: str) -> None:
    """``name`` (at ``key``) is one of the ``known`` zone or line names; else suggest the nearest."""
    if name in known:
        return
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    listed = ", ".join(repr(k) for k in sorted(known)) if known else f"none (add it under analytics.{kind}s)"
    raise ValueError(f"{key}: no {kind} named {name!r}; {hint}{kind}s are: {listed}")


def check_zone_and_line_names(cfg: AnalyticsConfig) -> None:
    """Zone names are unique among zones, line names among lines."""
    check_unique_names([z.name for z in cfg.zones], "zones")
    check_unique_names([ln.name for ln in cfg.lines], "lines")


def check_calibration_present(cfg: AnalyticsConfig) -> None:
    """Distance and speed measure metres on the floor: they need ``calibration``."""
    for key, section in (("distance", cfg.distance), ("speed", cfg.speed)):
        if section is not None and cfg.calibration is None:
            raise ValueError(
                f"{key} needs calibration: set analytics.calibration (image_points, ground_points_m), got none"
            )


def check_tracking_enabled(cfg: AnalyticsConfig) -> None:
    """Zones, lines, distance and speed follow track ids: they need ``tracking.enabled``."""
    if cfg.tracking.enabled:
        return
    users = [f"zones[{i}]" for i in range(len(cfg.zones))]
    users += [f"lines[{i}]" for i in range(len(cfg.lines))]
    users += [k for k, v in (("distance", cfg.distance), ("speed", cfg.speed)) if v is not None]
    if users:
        raise ValueError(f"{users[0]} needs tracking.enabled=true, got tracking.enabled=false")


def check_apps_references(cfg: AnalyticsConfig) -> None:
    """Every zone and line an app names exists (and a queue's entry direction is one of its line's)."""
    zones = {z.name for z in cfg.zones}
    lines = {ln.name: ln for ln in cfg.lines}
    apps = cfg.apps
    for i, q in enumerate(apps.queues):
        key = f"analytics.apps.queues[{i}]"
        check_reference(f"{key}.queue_zone", q.queue_zone, zones, "zone")
        check_reference(f"{key}.entry_line", q.entry_line, set(lines), "line")
        if q.service_zone is not None:
            check_reference(f"{key}.service_zone", q.service_zone, zones, "zone")
        check_unique_names([c.name for c in q.counters], f"{key}.counters")
        for j, counter in enumerate(q.counters):
            check_reference(f"{key}.counters[{j}].staff_zone", counter.staff_zone, zones, "zone")
        line = lines[q.entry_line]
        if q.entry_direction not in (line.left_to_right, line.right_to_left):
            raise ValueError(
                f"{key}.entry_direction: line {line.name!r} has no direction {q.entry_direction!r}; "
                f"its directions are {line.left_to_right!r} and {line.right_to_left!r}"
            )
    if apps.shelf is not None:
        for i, shelf in enumerate(apps.shelf.shelves):
            if isinstance(shelf.zone, str):
                check_reference(f"analytics.apps.shelf.shelves[{i}].zone", shelf.zone, zones, "zone")
    if apps.safety is not None:
        for i, rule in enumerate(apps.safety.danger_zones):
            if isinstance(rule.zone, str):
                check_reference(f"analytics.apps.safety.danger_zones[{i}].zone", rule.zone, zones, "zone")


def check_apps_classes(cfg: AnalyticsConfig, info: ValidationInfo) -> None:
    """Every class an app names is one the model can output (like the zones' and lines' classes)."""
    lists: list[tuple[str, list[str]]] = []
    if cfg.apps.shelf is not None:
        for i, shelf in enumerate(cfg.apps.shelf.shelves):
            key = f"analytics.apps.shelf.shelves[{i}]"
            lists += [(f"{key}.classes", shelf.classes), (f"{key}.occluder_classes", shelf.occluder_classes)]
    if cfg.apps.safety is not None:
        for i, zone in enumerate(cfg.apps.safety.danger_zones):
            key = f"analytics.apps.safety.danger_zones[{i}]"
            lists += [(f"{key}.classes", zone.classes), (f"{key}.allowed_classes", zone.allowed_classes)]
        for i, rule in enumerate(cfg.apps.safety.proximity):
            key = f"analytics.apps.safety.proximity[{i}]"
            lists += [(f"{key}.classes_a", rule.classes_a), (f"{key}.classes_b", rule.classes_b)]
    for key, classes in lists:
        try:
            check_known_classes(classes, info)
        except ValueError as exc:
            raise ValueError(f"{key}: {exc}") from None


def check_apps_need(cfg: AnalyticsConfig) -> None:
    """Proximity in metres needs calibration; queues and safety rules need track ids."""
    safety = cfg.apps.safety
    if safety is not None and cfg.calibration is None:
        for i, rule in enumerate(safety.proximity):
            if rule.min_m is not None:
                raise ValueError(
                    f"analytics.apps.safety.proximity[{i}].min_m: {rule.name!r} measures metres on the "
                    "floor and needs analytics.calibration (image_points, ground_points_m), got none; "
                    "set calibration or use min_px_fraction"
                )
    if not cfg.tracking.enabled:
        users = [f"analytics.apps.queues[{i}]" for i in range(len(cfg.apps.queues))]
        users += ["analytics.apps.safety"] if safety is not None else []
        if users:
            raise ValueError(f"{users[0]} needs tracking.enabled=true, got tracking.enabled=false")
