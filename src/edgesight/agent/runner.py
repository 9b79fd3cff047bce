"""The agent loop: frames -> analytics -> outbox, with the uplink shipping the outbox to the hub.

One thread runs the feed (sensor) and the analytics and writes every message to the outbox; the
uplink's threads talk to the broker. Sensing never waits for the network: while the broker or
the hub is away, messages pile up in the outbox (bounded, see :mod:`edgesight.agent.outbox`) and
go out, in order, when it returns.

The loop only sequences; each job has its module and a typed result: batches
(:mod:`~edgesight.agent.batching`: a ``FRAMES`` and an ``EVENTS`` message per batch), heartbeats
(:mod:`~edgesight.agent.heartbeat`), commands (:mod:`~edgesight.agent.commands`) and the twin
(:mod:`~edgesight.agent.twin`). Messages are the typed ones of :mod:`edgesight.core.wire`. Twin
changes and commands from the hub are applied between frames, on the sensing thread, without
restarting anything.

Each :meth:`Agent.run` mints a random run id and every event's id is minted within it
(:meth:`Event.in_run`): frame indexes restart at 0 with the agent, and without the run id an
event after a restart would repeat the id of an earlier one and be discarded by the hub.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from edgesight.agent._ratelimit import worth_logging
from edgesight.agent.batching import Batcher
from edgesight.agent.commands import PRIVACY_REFUSAL, CommandHandler
from edgesight.agent.credentials import Credentials
from edgesight.agent.downlink_guard import DownlinkGuard
from edgesight.agent.feeds import FrameFeed, SwappableFeed
from edgesight.agent.heartbeat import HeartbeatClock
from edgesight.agent.model_fetch import download_model
from edgesight.agent.model_rollout import ModelRollout
from edgesight.agent.outbox import DEFAULT_MAX_BYTES, Outbox, OutboxFullError
from edgesight.agent.twin import TwinState, load_applied, parse_desired, resolve_twin, save_applied
from edgesight.agent.uplink import Uplink, UplinkSettings, UplinkStats
from edgesight.apps.engine import Analytics
from edgesight.core.config import DeviceConfig
from edgesight.core.errors import ConfigError, EdgeSightError, SchemaError, StorageError
from edgesight.core.frame import FrameMeta
from edgesight.core.wire import Envelope, Kind, Message, ModelReport, ModelTarget
from edgesight.sensor.zoo import configured_model, verify_model

__all__ = ["PRIVACY_REFUSAL", "Agent", "AgentSettings", "AgentStats"]

log = logging.getLogger(__name__)

_INBOX_DEPTH = 64


@dataclass(frozen=True)
class AgentSettings:
    """How the agent batches, beats and stores.

    Attributes:
        data_dir: folder of the outbox database, the last applied twin and the refused models.
        batch_frames: most frames per ``FRAMES`` envelope (60: two seconds at 30 fps; a batch also
            ends after ``upload.interval_s``, so a slow sensor is not held longer than that; longer
            batches are smaller per frame, BENCHMARKS.md "Metadata against the 4K H.264 stream").
        heartbeat_s: seconds between heartbeats.
        max_frames: stop sensing after this many frames (None: until the source ends).
        drain_timeout_s: after sensing ends, wait this long for the hub to acknowledge everything.
        outbox_max_bytes: bound on the outbox (see :class:`Outbox`).
        uplink: window, timeouts and reconnect backoff.
    """

    data_dir: Path
    batch_frames: int = 60
    heartbeat_s: float = 10.0
    max_frames: int | None = None
    drain_timeout_s: float = 30.0
    outbox_max_bytes: int = DEFAULT_MAX_BYTES
    uplink: UplinkSettings = field(default_factory=UplinkSettings)

    def __post_init__(self) -> None:
        if not 1 <= self.batch_frames <= 1000:
            raise ConfigError(f"batch_frames must be 1..1000, got {self.batch_frames}")
        if self.heartbeat_s <= 0:
            raise ConfigError(f"heartbeat_s must be > 0, got {self.heartbeat_s}")


@dataclass
class AgentStats:
    """Counters of one run."""

    frames: int = 0
    events: int = 0
    frames_not_uploaded: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    twins_applied: int = 0
    twins_rejected: int = 0
    commands: int = 0
    commands_refused: Counter[str] = field(default_factory=Counter)
    """Commands refused (replayed, expired, old version, unreadable), by reason."""
    inbox_dropped: int = 0
    drained: bool = False
    uplink: UplinkStats | None = None


class Agent:
    """One device: the feed, its analytics, the outbox and the uplink.

    Args:
        config: the device config (its ``device_id`` must match the credentials').
        credentials: identity, secret and broker.
        feed: where frames come from (:class:`~edgesight.agent.feeds.SensorFeed` on a device).
        settings: batching, heartbeat, outbox bound, uplink tuning.

    Example (needs a broker)::

        with SensorFeed(config, load_model(configured_model(config.sensor))) as feed:
            Agent(config, creds, feed, AgentSettings(Path("/var/lib/edgesight"))).run()
    """

    def __init__(
        self, config: DeviceConfig, credentials: Credentials, feed: FrameFeed, settings: AgentSettings
    ) -> None:
        if config.device_id != credentials.device_id:
            raise ConfigError(
                f"device_id: the config says {config.device_id!r} but the credentials are for "
                f"{credentials.device_id!r}"
            )
        self.config = config
        self.credentials = credentials
        self.feed = feed
        self.settings = settings
        self.stats = AgentStats()
        self.state = TwinState.from_config(config)
        self.analytics = Analytics(config.analytics, config.device_id, config.stream_id)
        self._inbox: queue.Queue[Envelope] = queue.Queue(maxsize=_INBOX_DEPTH)
        self._stop = threading.Event()
        self._started = time.monotonic()
        self._beats = HeartbeatClock(settings.heartbeat_s)
        self._last_frame: FrameMeta | None = None
        self._batcher = Batcher(settings.batch_frames)
        self._commands = CommandHandler(
            config.device_id, DownlinkGuard(settings.data_dir / "downlink_seq.json", credentials.secret)
        )
        self.stats.commands_refused = self._commands.refused
        self._outbox: Outbox | None = None
        self._uplink: Uplink | None = None
        self._twin_path = settings.data_dir / "twin.json"
        self.rollout: ModelRollout | None = None
        """Deploys the model the desired twin names (a feed that cannot swap models cannot)."""
        if isinstance(feed, SwappableFeed):
            self.rollout = ModelRollout(
                feed, config.model_trust, lambda target, folder: download_model(credentials, target, folder),
                settings.data_dir / "models", refusals=settings.data_dir / "refused_models.json",
                home=lambda: verify_model(configured_model(config.sensor), config.model_trust, record=False).package,
            )  # fmt: skip
        self.run_id = ""
        """Minted by :meth:`run`; part of every event id of that run."""

    def stop(self) -> None:
        """Ask :meth:`run` to finish (from a signal handler or another thread)."""
        self._stop.set()

    def run(self) -> AgentStats:
        """Sense until the feed ends, ``max_frames`` or :meth:`stop`; then drain the outbox a while."""
        data_dir = self.settings.data_dir
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the agent data dir {data_dir}: {exc.strerror}") from exc
        self._restore_twin()
        self.run_id = secrets.token_hex(8)
        log.info("%s: run %s", self.config.device_id, self.run_id)
        with (
            Outbox(data_dir / "outbox.sqlite", max_bytes=self.settings.outbox_max_bytes) as outbox,
            Uplink(self.credentials, outbox, self.settings.uplink, on_downlink=self._receive) as uplink,
        ):
            self._outbox, self._uplink = outbox, uplink
            self.stats.uplink = uplink.stats
            try:
                try:
                    self._sense()
                finally:  # what was sensed is kept, even when the source failed
                    self._flush()
                self._heartbeat()
                self._drain()
            finally:
                self._outbox = self._uplink = None
        return self.stats

    # ---- the loop -------------------------------------------------------------------------------

    def _sense(self) -> None:
        self._started = time.monotonic()
        self._heartbeat()
        frames = self.feed.frames(self.settings.max_frames)
        try:
            self._consume(frames)
        finally:
            close = getattr(frames, "close", None)
            if close is not None:
                close()  # stops the sensor's producer thread now, not at garbage collection

    def _consume(self, frames: Iterator[FrameMeta]) -> None:
        for meta in frames:
            result = self.analytics.update(meta)
            self.stats.frames += 1
            self._last_frame = meta
            self._batcher.add(result.frame, [e.in_run(self.run_id) for e in result.events], time.monotonic())
            now = time.monotonic()
            if self.rollout is not None:
                for report in self.rollout.on_frame(meta, now):  # a swap happens here, between frames
                    self._send(self.state.reported(model=report))
            if self._batcher.due(now, self.state.upload.interval_s):
                self._flush()
            if self._beats.due(now):
                self._heartbeat()
            self._handle_inbox()
            if self._stop.is_set():
                break

    def _drain(self) -> None:
        """Keep answering the hub while waiting for it to acknowledge everything."""
        assert self._outbox is not None
        deadline = time.monotonic() + self.settings.drain_timeout_s
        while time.monotonic() < deadline and not self._stop.is_set():
            self._handle_inbox()
            if self._outbox.count() == 0:
                self.stats.drained = True
                return
            if self._beats.due(time.monotonic()):
                self._heartbeat()
            time.sleep(0.05)
        pending = self._outbox.count()
        self.stats.drained = pending == 0
        if pending:
            log.warning(
                "%s: %d messages still wait for the hub; they stay in %s and go out at the next start",
                self.config.device_id,
                pending,
                self._outbox.path,
            )

    def _flush(self) -> None:
        """Cut the current batch: a FRAMES message (if uploading) and an EVENTS message (if any)."""
        batch = self._batcher.cut(self.state.upload.enabled)
        self.stats.frames_not_uploaded += batch.frames_not_uploaded
        self.stats.events += batch.events
        for message in batch.messages:
            self._send(message)

    def _heartbeat(self) -> None:
        pending = self._outbox.count() if self._outbox is not None else 0
        now = time.monotonic()
        self._send(self._beats.beat(self.feed, now - self._started, pending, now))

    def _send(self, message: Message) -> None:
        """Store a message; a full or failing outbox costs the message, counted and logged."""
        assert self._outbox is not None and self._uplink is not None
        kind = message.KIND
        try:
            self._outbox.put(kind, message.to_bytes())
        except OutboxFullError as exc:
            self._dropped(kind, exc)
            return
        except StorageError as exc:
            self._dropped(kind, exc)
            return
        self._uplink.wake()

    def _dropped(self, kind: Kind, exc: EdgeSightError) -> None:
        key = kind.name.lower()
        self.stats.dropped[key] += 1
        if worth_logging(self.stats.dropped[key]):
            log.error(
                "%s: %d %s messages dropped so far: %s",
                self.config.device_id,
                self.stats.dropped[key],
                key,
                exc,
            )

    # ---- hub -> device --------------------------------------------------------------------------

    def _receive(self, env: Envelope) -> None:
        """Uplink callback (network thread): queue for the sensing thread."""
        try:
            self._inbox.put_nowait(env)
        except queue.Full:
            self.stats.inbox_dropped += 1
            if worth_logging(self.stats.inbox_dropped):
                log.warning(
                    "%s: hub message dropped, %d waiting already", self.config.device_id, _INBOX_DEPTH
                )

    def _handle_inbox(self) -> None:
        while True:
            try:
                env = self._inbox.get_nowait()
            except queue.Empty:
                return
            if env.kind == Kind.DESIRED:
                self._apply_desired(env.payload)
            elif env.kind == Kind.COMMAND:
                self._command(env)

    def _restore_twin(self) -> None:
        twin = load_applied(self._twin_path)
        if twin is None:
            return
        try:
            self._apply(resolve_twin(twin, self.config, self.feed.labels))
        except SchemaError as exc:  # the hub's retained twin will come again when connected
            log.error("%s: ignoring the saved twin %s: %s", self.config.device_id, self._twin_path, exc)
            return
        self._want_model(twin.config.model)  # reported with the next twin report
        log.info("%s: running with saved twin version %d", self.config.device_id, twin.version)

    def _apply_desired(self, payload: bytes) -> None:
        try:
            twin = parse_desired(payload)
            if twin.version <= self.state.version:
                return  # the retained twin again, after a reconnection
            new = resolve_twin(twin, self.config, self.feed.labels)
        except SchemaError as exc:
            self.stats.twins_rejected += 1
            log.error("%s: desired twin not applied: %s", self.config.device_id, exc)
            self._send(self.state.reported(error=str(exc), model=self._model_report()))
            return
        self._apply(new)
        self._want_model(twin.config.model)
        try:
            save_applied(self._twin_path, twin)
        except StorageError as exc:
            log.error("%s: %s", self.config.device_id, exc)
        self.stats.twins_applied += 1
        log.info("%s: applied twin version %d", self.config.device_id, twin.version)
        self._send(self.state.reported(model=self._model_report()))

    def _apply(self, new: TwinState) -> None:
        """Switch to ``new`` live: rebuild analytics if their config changed, set the thresholds."""
        if new.analytics != self.state.analytics:
            self._flush()  # events so far belong to the old rules
            self.analytics.reconfigure(new.analytics)  # keeps track ids if tracking is unchanged
        if new.sensor != self.state.sensor:
            self.feed.set_sensor(new.sensor)
        self.state = new

    def _command(self, env: Envelope) -> None:
        outcome = self._commands.handle(
            env, allow_images=self.state.privacy.allow_images, last_frame=self._last_frame
        )
        if outcome is None:
            return
        self.stats.commands += 1
        if outcome.upload is not None:
            if not outcome.upload:
                self._flush()  # what was sensed while uploading still goes
            self.state = self.state.with_upload(outcome.upload)
        self._send(outcome.result)
        if outcome.upload is not None:
            self._send(self.state.reported(model=self._model_report()))

    def _want_model(self, target: ModelTarget | None) -> None:
        if self.rollout is not None:
            self.rollout.want(target)
        elif target is not None:
            log.error("%s: the twin names model %s but this feed cannot swap models", self.config.device_id,
                      target.name)  # fmt: skip

    def _model_report(self) -> ModelReport | None:
        return None if self.rollout is None else self.rollout.report
