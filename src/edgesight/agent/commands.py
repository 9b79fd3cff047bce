"""Commands from the hub: read, deduplicated, run, answered with a typed result.

A command changes nothing by itself: :meth:`CommandHandler.handle` says what the agent should do
(switch upload on or off) and what to answer; the agent loop applies it between frames.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass

from edgesight.core.errors import SchemaError
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import Command, CommandResult

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
    """Runs each command once, however often the hub resends it.

    Example:
        >>> handler = CommandHandler("cam-1")
        >>> payload = Command("c1", "stop_upload").to_bytes()
        >>> handler.handle(payload, allow_images=False, last_frame=None)
        CommandOutcome(result=CommandResult(command_id='c1', ok=True, detail='upload stopped'), upload=False)
        >>> handler.handle(payload, allow_images=False, last_frame=None) is None  # resent
        True
    """

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._seen: dict[str, None] = {}

    def handle(self, payload: bytes, *, allow_images: bool, last_frame: FrameMeta | None) -> CommandOutcome | None:
        """The outcome of a ``COMMAND`` payload; None for an unreadable or an already handled one.

        Args:
            payload: the envelope's payload.
            allow_images: the privacy policy's word on snapshots.
            last_frame: the newest frame, whose image a snapshot sends.
        """
        try:
            command = Command.from_bytes(payload)
        except SchemaError as exc:
            log.error("%s: unreadable command: %s", self.device_id, exc)
            return None
        if command.command_id in self._seen:
            return None
        self._seen[command.command_id] = None
        if len(self._seen) > _REMEMBERED:
            del self._seen[next(iter(self._seen))]
        return _run(command, allow_images, last_frame)


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
