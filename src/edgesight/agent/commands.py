"""Commands from the hub: read, deduplicated, run, answered with a typed result.

A command changes nothing by itself: :meth:`CommandHandler.handle` says what the agent should do
(switch upload on or off) and what to answer; the agent loop applies it between frames.

A command is refused (answered ``ok: false``, logged and counted in :attr:`CommandHandler.refused`)
when it has expired (``issued_at + ttl_s`` passed) or when its envelope's downlink ``seq`` is not
above the highest accepted so far (:class:`~edgesight.agent.downlink_guard.DownlinkGuard`): a
captured command published again after a restart is not obeyed. A version 1 command (no expiry)
is refused with a version error.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from dataclasses import dataclass

from edgesight.agent.downlink_guard import DownlinkGuard
from edgesight.core.errors import SchemaError, UnsupportedVersionError
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import Command, CommandResult, Envelope

__all__ = ["COMMANDS", "PRIVACY_REFUSAL", "CommandHandler", "CommandOutcome"]

log = logging.getLogger(__name__)

COMMANDS = ("start_upload", "stop_upload", "snapshot")
PRIVACY_REFUSAL = "privacy policy forbids images"
_REMEMBERED = 256
"""Command ids kept to recognise a resent command."""


@dataclass(frozen=True, slots=True)
class CommandOutcome:
    """What a command asks of the agent, and the result to send back.

    Attributes:
        result: the ``COMMAND_RESULT`` message.
        upload: the upload switch asked for (``start_upload`` / ``stop_upload``), None otherwise.
    """

    result: CommandResult
    upload: bool | None = None


class CommandHandler:
    """Runs each command once, however often the hub resends it, and never a replayed or stale one.

    Example:
        >>> import tempfile; from pathlib import Path
        >>> from edgesight.core.wire import Kind
        >>> handler = CommandHandler("cam-1", DownlinkGuard(Path(tempfile.mkdtemp()) / "seq", b"k" * 32))
        >>> env = Envelope(Kind.COMMAND, "cam-1", 5, 0.0, Command("c1", "stop_upload").to_bytes())
        >>> handler.handle(env, allow_images=False, last_frame=None).upload
        False
        >>> handler.handle(env, allow_images=False, last_frame=None) is None  # resent by the hub: run once
        True
        >>> old = Envelope(Kind.COMMAND, "cam-1", 4, 0.0, Command("c0", "stop_upload").to_bytes())
        >>> handler.handle(old, allow_images=False, last_frame=None).result.detail
        'refused: replayed (downlink seq 4, 5 already accepted)'
    """

    def __init__(self, device_id: str, guard: DownlinkGuard) -> None:
        self.device_id = device_id
        self.guard = guard
        self.refused: Counter[str] = Counter()
        """Refused commands by reason: ``replayed``, ``expired``, ``unsupported_version``, ``unreadable``."""
        self._seen: dict[str, None] = {}

    def handle(self, env: Envelope, *, allow_images: bool, last_frame: FrameMeta | None) -> CommandOutcome | None:
        """The outcome of a verified ``COMMAND`` envelope; None for an unreadable or an already handled one.

        Args:
            env: the envelope (its ``seq`` is the downlink sequence).
            allow_images: the privacy policy's word on snapshots.
            last_frame: the newest frame, whose image a snapshot sends.
        """
        try:
            command = Command.from_bytes(env.payload)
        except UnsupportedVersionError as exc:
            return self._refuse("unsupported_version", env, None, str(exc))
        except SchemaError as exc:
            return self._refuse("unreadable", env, None, str(exc))
        if command.command_id in self._seen:
            return None  # the hub resent it: answered already
        if command.expired(time.time()):
            return self._refuse("expired", env, command, f"expired (issued at {command.issued_at:.0f}, "
                                f"valid {command.ttl_s:.0f} s)")  # fmt: skip
        if not self.guard.admit(env.seq):
            return self._refuse("replayed", env, command,
                                f"replayed (downlink seq {env.seq}, {self.guard.highest} already accepted)")  # fmt: skip
        self._seen[command.command_id] = None
        if len(self._seen) > _REMEMBERED:
            del self._seen[next(iter(self._seen))]
        return _run(command, allow_images, last_frame)

    def _refuse(self, reason: str, env: Envelope, command: Command | None, detail: str) -> CommandOutcome | None:
        self.refused[reason] += 1
        log.error("%s: command refused (downlink seq %d): %s", self.device_id, env.seq, detail)
        if command is None:
            return None  # no command id to answer to
        return CommandOutcome(CommandResult(command.command_id, False, f"refused: {detail}"))


def _run(command: Command, allow_images: bool, last_frame: FrameMeta | None) -> CommandOutcome:
    cid = command.command_id
    if command.name == "start_upload":
        return CommandOutcome(CommandResult(cid, True, "upload started"), upload=True)
    if command.name == "stop_upload":
        return CommandOutcome(CommandResult(cid, True, "upload stopped"), upload=False)
    if command.name == "snapshot":
        return CommandOutcome(CommandResult(cid, *_snapshot(allow_images, last_frame)))
    expected = ", ".join(COMMANDS)
    return CommandOutcome(CommandResult(cid, False, f"unknown command {command.name!r}; expected one of {expected}"))


def _snapshot(allow_images: bool, frame: FrameMeta | None) -> tuple[bool, str]:
    if not allow_images:
        return False, PRIVACY_REFUSAL
    if frame is None or frame.image is None:
        return False, "no image to send: sensor.output_mode is metadata only"
    jpeg = base64.b64encode(frame.image.jpeg).decode()
    return True, f"data:image/jpeg;base64,{jpeg}"
