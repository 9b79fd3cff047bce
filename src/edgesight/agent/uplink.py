"""The uplink: ships the outbox to the hub over MQTT 5 and takes the hub's acks, twin and commands.

Delivery (docs/protocol.md, "Delivery"):

* Messages leave the outbox in ``seq`` order on ``edgesight/v1/d/{device_id}/up`` at QoS 1, at
  most ``window`` of them in flight (sent, not yet acknowledged by the hub).
* Only the hub's ``down/ack`` (``stored_through``) deletes messages from the outbox; the broker's
  PUBACK means nothing here. Messages still unacknowledged after ``ack_timeout_s`` are resent and
  the timeout doubles (up to ``max_ack_timeout_s``) until the hub makes progress again.
* After every (re)connection everything unacknowledged is resent from the oldest; the hub drops
  duplicates by ``(device_id, seq)``.
* Reconnection to a missing broker backs off exponentially (paho's reconnect delay,
  ``reconnect_min_s`` doubling to ``reconnect_max_s``).
* The broker publishes the retained last will ``status`` = ``offline`` if the agent vanishes;
  the agent sets ``online`` (retained) on every connection and ``offline`` when it closes.
* Hub -> device envelopes (``down/ack``, ``down/desired``, ``down/command``) must be signed with
  this device's secret, name this device and carry the kind their topic promises; anything else is
  rejected and counted in :attr:`UplinkStats.downlink_rejected` by reason.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgesight.agent._ratelimit import worth_logging
from edgesight.agent.credentials import Credentials
from edgesight.agent.outbox import Outbox, OutboxItem
from edgesight.core.errors import ConfigError, EdgeSightError, SchemaError
from edgesight.core.mqtt_security import secure_client
from edgesight.core.wire import (
    DOWNLINK_KINDS,
    Ack,
    Envelope,
    EnvelopeError,
    Kind,
    Leaf,
    open_envelope,
    parse_topic,
    topic,
)

__all__ = ["DownlinkHandler", "Uplink", "UplinkSettings", "UplinkStats"]

log = logging.getLogger(__name__)

DownlinkHandler = Callable[[Envelope], None]
"""Receives verified desired-twin and command envelopes (called on the MQTT network thread)."""


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    """How hard the uplink pushes and how patiently it waits.

    Attributes:
        window: most messages in flight (sent, not yet acknowledged by the hub).
        ack_timeout_s: resend an unacknowledged message after this long ...
        max_ack_timeout_s: ... doubling up to this while the hub makes no progress.
        reconnect_min_s: first reconnection delay when the broker is away ...
        reconnect_max_s: ... doubling up to this.
        keepalive_s: MQTT keepalive; the broker declares the agent offline after 1.5x this.
    """

    window: int = 32
    ack_timeout_s: float = 5.0
    max_ack_timeout_s: float = 60.0
    reconnect_min_s: int = 1
    reconnect_max_s: int = 30
    keepalive_s: int = 30

    def __post_init__(self) -> None:
        if not 1 <= self.window <= 1000:
            raise ConfigError(f"uplink window must be 1..1000 messages, got {self.window}")
        if not 0 < self.ack_timeout_s <= self.max_ack_timeout_s:
            raise ConfigError(
                f"uplink ack_timeout_s must be > 0 and <= max_ack_timeout_s={self.max_ack_timeout_s}, "
                f"got {self.ack_timeout_s}"
            )
        if not 1 <= self.reconnect_min_s <= self.reconnect_max_s:
            raise ConfigError(
                f"uplink reconnect delays must satisfy 1 <= min <= max, got "
                f"{self.reconnect_min_s} and {self.reconnect_max_s}"
            )


@dataclass
class UplinkStats:
    """Counters since the uplink started."""

    connects: int = 0
    disconnects: int = 0
    published: int = 0
    resent: int = 0
    acks: int = 0
    acked_messages: int = 0
    rejected_by_hub: int = 0
    rejected_reasons: Counter[str] = field(default_factory=Counter)
    """Messages the hub rejected permanently (dropped from the outbox with its ack), by reason."""
    downlink: int = 0
    downlink_rejected: Counter[str] = field(default_factory=Counter)


class Uplink:
    """MQTT link of one device: a context manager that runs until closed.

    Args:
        credentials: the device's identity, secret and broker.
        outbox: where messages wait; the uplink reads and acknowledges it.
        settings: window, timeouts and backoff.
        on_downlink: receives verified desired-twin and command envelopes.

    Attributes:
        connected: set while the broker connection is up.
        subscribed: set once the broker has granted the ``down/*`` subscriptions of this connection.
        stats: counters (published, resent, acks, downlink rejects by reason...).

    Example (needs a broker)::

        with Outbox(path) as box, Uplink(creds, box) as uplink:
            box.put(Kind.EVENTS, b"[]")
            uplink.wake()
            uplink.wait_drained(timeout_s=10)
    """

    def __init__(
        self,
        credentials: Credentials,
        outbox: Outbox,
        settings: UplinkSettings | None = None,
        on_downlink: DownlinkHandler | None = None,
    ) -> None:
        self.credentials = credentials
        self.outbox = outbox
        self.settings = settings or UplinkSettings()
        self.on_downlink = on_downlink
        self.stats = UplinkStats()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self._device = credentials.device_id
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._inflight: dict[int, tuple[OutboxItem, float]] = {}
        self._cursor = 0
        self._acked = 0
        self._timeout_s = self.settings.ack_timeout_s
        self._client: mqtt.Client | None = None
        self._sender: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Uplink:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Connect in the background (retrying while the broker is away) and start sending."""
        self._acked = self.outbox.acked_through()
        self._cursor = self._acked
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"edgesight-agent-{self._device}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        secure_client(client, self.credentials.broker, self.credentials.tls, self._device, self.credentials.token)
        client.will_set(topic(self._device, Leaf.STATUS), b"offline", qos=1, retain=True)
        client.reconnect_delay_set(self.settings.reconnect_min_s, self.settings.reconnect_max_s)
        client.max_inflight_messages_set(self.settings.window)
        client.max_queued_messages_set(self.settings.window * 4)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.connect_async(
            self.credentials.broker_host,
            self.credentials.broker_port,
            keepalive=self.settings.keepalive_s,
            clean_start=True,
        )
        self._client = client
        client.loop_start()
        self._sender = threading.Thread(target=self._send_loop, name="edgesight-uplink", daemon=True)
        self._sender.start()

    def close(self) -> None:
        """Stop sending, mark the device offline and disconnect (unsent messages stay in the outbox)."""
        self._stop.set()
        self._wake.set()
        if self._sender is not None:
            self._sender.join(timeout=5.0)
            self._sender = None
        client = self._client
        if client is None:
            return
        if self.connected.is_set():
            info = client.publish(topic(self._device, Leaf.STATUS), b"offline", qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2.0)
            except (RuntimeError, ValueError) as exc:
                log.warning("%s: could not mark the device offline: %s", self._device, exc)
        client.disconnect()
        client.loop_stop()
        self._client = None
        self.connected.clear()
        self.subscribed.clear()

    def wake(self) -> None:
        """Tell the sender that the outbox has new messages (it also polls)."""
        self._wake.set()

    def wait_drained(self, timeout_s: float) -> bool:
        """Block until the hub has acknowledged everything in the outbox; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.outbox.count() == 0:
                return True
            time.sleep(0.05)
        return self.outbox.count() == 0

    @property
    def acked_through(self) -> int:
        """The hub's latest ``stored_through``."""
        return self._acked

    # ---- sending --------------------------------------------------------------------------------

    def _send_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            if self._stop.is_set() or not self.connected.is_set():
                continue
            try:
                self._pump()
            except EdgeSightError as exc:  # e.g. the disk under the outbox: keep trying, loudly
                log.error("%s: uplink cannot read the outbox: %s", self._device, exc)
                self._stop.wait(1.0)

    def _pump(self) -> None:
        """Resend what timed out, then fill the window from the outbox."""
        now = time.monotonic()
        with self._lock:
            overdue = [item for item, sent in self._inflight.values() if now - sent >= self._timeout_s]
            if overdue:
                self._timeout_s = min(self._timeout_s * 2, self.settings.max_ack_timeout_s)
            room = self.settings.window - len(self._inflight)
            cursor = self._cursor
        for item in overdue:
            if self._publish(item):
                self.stats.resent += 1
        if room <= 0:
            return
        for item in self.outbox.pending(room, after_seq=cursor):
            if not self._publish(item):
                return
            self.stats.published += 1
            with self._lock:
                self._cursor = max(self._cursor, item.seq)

    def _publish(self, item: OutboxItem) -> bool:
        client = self._client
        if client is None or not self.connected.is_set():
            return False
        raw = item.envelope(self._device).seal(self.credentials.secret)
        info = client.publish(topic(self._device, Leaf.UP), raw, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.debug(
                "%s: publish of seq %d deferred (%s)", self._device, item.seq, mqtt.error_string(info.rc)
            )
            return False
        with self._lock:
            if item.seq > self._acked:
                self._inflight[item.seq] = (item, time.monotonic())
        return True

    # ---- MQTT callbacks (network thread) --------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.warning("%s: broker refused the connection: %s", self._device, reason_code)
            return
        self.stats.connects += 1
        client.subscribe([(topic(self._device, leaf), 1) for leaf in DOWNLINK_KINDS])
        client.publish(topic(self._device, Leaf.STATUS), b"online", qos=1, retain=True)
        with self._lock:  # resend everything unacknowledged, oldest first
            self._inflight.clear()
            self._cursor = self._acked
            self._timeout_s = self.settings.ack_timeout_s
        self.connected.set()
        self._wake.set()
        log.info(
            "%s: connected to %s:%d", self._device, self.credentials.broker_host, self.credentials.broker_port
        )

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if self.connected.is_set():
            self.stats.disconnects += 1
            if not self._stop.is_set():
                log.warning(
                    "%s: lost the broker (%s); messages wait in the outbox", self._device, reason_code
                )
        self.connected.clear()
        self.subscribed.clear()

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(code) for code in reason_codes if code.is_failure]
        if refused:
            log.error("%s: the broker refused the hub's topics: %s", self._device, ", ".join(refused))
            return
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        parsed = parse_topic(message.topic)
        leaf = parsed[1] if parsed is not None and parsed[0] == self._device else None
        expected = None if leaf is None else DOWNLINK_KINDS.get(leaf)
        try:
            if expected is None:
                raise EnvelopeError("bad_topic", f"unexpected topic {message.topic!r}")
            env = open_envelope(bytes(message.payload), self._secret_of)
            if env.kind != expected:
                raise EnvelopeError("bad_kind", f"{leaf} carried a {env.kind.name} envelope")
            if env.kind == Kind.ACK:
                self._take_ack(env)
                return
        except EnvelopeError as exc:
            self.stats.downlink_rejected[exc.reason] += 1
            if worth_logging(self.stats.downlink_rejected[exc.reason]):
                log.warning(
                    "%s: rejected a message on %s (%d %s so far): %s",
                    self._device, message.topic, self.stats.downlink_rejected[exc.reason], exc.reason, exc,
                )  # fmt: skip
            return
        self.stats.downlink += 1
        if self.on_downlink is not None:
            self.on_downlink(env)

    def _secret_of(self, device_id: str) -> bytes:
        if device_id != self._device:
            raise EnvelopeError("device_mismatch", f"message for {device_id!r} reached {self._device!r}")
        return self.credentials.secret

    def _take_ack(self, env: Envelope) -> None:
        try:
            ack = Ack.from_bytes(env.payload)
        except SchemaError as exc:
            raise EnvelopeError("bad_payload", str(exc)) from exc
        stored_through, rejected = ack.stored_through, list(ack.rejected)
        self.stats.acks += 1
        if rejected:
            self.stats.rejected_by_hub += len(rejected)
            self.stats.rejected_reasons.update(reason for _seq, reason in rejected)
            log.error("%s: the hub rejected messages (seq, reason): %s", self._device, rejected[:10])
        if stored_through <= self._acked:
            return
        try:
            self.stats.acked_messages += self.outbox.ack_through(stored_through)
        except EdgeSightError as exc:
            log.error("%s: could not delete acknowledged messages: %s", self._device, exc)
            return
        with self._lock:
            self._acked = stored_through
            self._cursor = max(self._cursor, stored_through)
            for seq in [s for s in self._inflight if s <= stored_through]:
                del self._inflight[seq]
            self._timeout_s = self.settings.ack_timeout_s
        self._wake.set()
