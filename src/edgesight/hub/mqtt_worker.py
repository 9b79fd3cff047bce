"""The MQTT ingestion worker: shared subscription, batched transactions, manual acks.

One worker (or several, in one process or many) subscribes with QoS 1 to
``$share/edgesight-hub/edgesight/v1/d/+/up`` on a *persistent* MQTT 5 session (``clean_start``
false, a session expiry) and acknowledges each PUBLISH only after the transaction that stored it
has committed. A worker killed mid-batch therefore loses nothing: the broker redelivers its
unacknowledged messages when it reconnects with the same client id, and the ``ingest_log``
check turns any message that *was* committed into a ``duplicate``.

After each commit the worker publishes a signed ``down/ack`` ``{stored_through, rejected}`` to
every device of the batch. It also serves as the hub's :class:`~edgesight.hub.downlink.Publisher`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edgesight.core.errors import EdgeSightError
from edgesight.core.mqtt_security import BrokerAddress, secure_client
from edgesight.core.wire import Leaf, shared_up_subscription, topic, up_topic_device_id
from edgesight.hub.downlink import ack_envelope
from edgesight.hub.ingest import BatchResult, Ingestor
from edgesight.hub.settings import HubSettings

__all__ = ["MqttWorker"]

log = logging.getLogger(__name__)


class _Inbound(NamedTuple):
    """What the network thread keeps of a PUBLISH: everything else happens in the batch thread."""

    topic: bytes
    payload: bytes | bytearray
    mid: int
    qos: int


class MqttWorker:
    """Consumes device messages from the broker into the database.

    Example (needs a broker)::

        worker = MqttWorker(settings, ingestor)
        worker.start()      # connects in the background, reconnects with backoff
        ...
        worker.stop()
    """

    def __init__(self, settings: HubSettings, ingestor: Ingestor) -> None:
        if settings.mqtt_host is None:
            raise EdgeSightError("MqttWorker needs settings.mqtt_host")
        self.settings = settings
        self.ingestor = ingestor
        self.connected = threading.Event()
        self.batches = 0
        self.messages = 0
        self._inbox: deque[_Inbound] = deque()  # appended by paho's thread, drained by the batch thread
        self._arrived = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=settings.mqtt_client_id, protocol=mqtt.MQTTv5
        )
        secure_client(client, BrokerAddress(settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls),
                      settings.mqtt_tls_files(), settings.mqtt_username, settings.mqtt_password)  # fmt: skip
        client.manual_ack_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
        client.max_queued_messages_set(0)
        client.max_inflight_messages_set(1000)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *_: self.connected.set()
        self.client = client

    # -------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect (in the background, retrying) and start the batching thread."""
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.mqtt_session_expiry_s
        props.ReceiveMaximum = max(1, min(65535, 2 * self.settings.batch_max_messages))
        assert self.settings.mqtt_host is not None
        self.client.connect_async(
            self.settings.mqtt_host, self.settings.mqtt_port, keepalive=30, clean_start=False, properties=props
        )
        self.client.loop_start()
        self._thread = threading.Thread(target=self._batch_loop, name="mqtt-ingest", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish the current batch, then disconnect (unacknowledged messages stay with the broker)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self.client.disconnect()
        self.client.loop_stop()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """True once connected and subscribed (the broker answered the SUBSCRIBE)."""
        return self.connected.wait(timeout_s)

    # -------------------------------------------------------------------------------- callbacks

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            log.warning("broker %s:%s refused the connection: %s", self.settings.mqtt_host,
                        self.settings.mqtt_port, reason)  # fmt: skip
            return
        client.subscribe(shared_up_subscription(self.settings.mqtt_share_group), qos=1)
        log.info("connected to %s:%s as %s", self.settings.mqtt_host, self.settings.mqtt_port,
                 self.settings.mqtt_client_id)  # fmt: skip

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: ReasonCode,
                       _props: Any) -> None:  # fmt: skip
        self.connected.clear()
        if not self._stop.is_set():
            log.warning("lost the broker (%s); reconnecting with backoff", reason)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        # paho's network thread also reads the socket: keep this to an append (no lock, no decode)
        self._inbox.append(_Inbound(message._topic, message.payload, message.mid, message.qos))
        if not self._arrived.is_set():
            self._arrived.set()

    # ---------------------------------------------------------------------------------- batching

    def _collect(self) -> list[_Inbound]:
        """Up to ``batch_max_messages``, waiting at most ``batch_max_ms`` after the first arrives."""
        inbox, most = self._inbox, self.settings.batch_max_messages
        if not inbox:
            self._arrived.wait(0.1)
            self._arrived.clear()
            if not inbox:
                return []
        deadline = time.monotonic() + self.settings.batch_max_ms / 1000
        while len(inbox) < most and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            time.sleep(min(left, 0.002))
        return [inbox.popleft() for _ in range(min(most, len(inbox)))]

    def _batch_loop(self) -> None:
        while not self._stop.is_set():
            messages = self._collect()
            if not messages:
                continue
            try:
                self._handle(messages)
            except Exception:  # a bug must not stop ingestion: leave the batch unacknowledged
                self.ingestor.metrics.rejected.labels("internal_error").inc(len(messages))
                log.exception("batch of %d messages failed; not acknowledged (devices will resend)", len(messages))
                time.sleep(1.0)

    def _handle(self, messages: list[_Inbound]) -> None:
        raws = [(up_topic_device_id(m.topic.decode("utf-8", "replace")), bytes(m.payload)) for m in messages]
        delay = 0.5
        while True:
            try:
                result = self.ingestor.ingest_batch(raws)
                break
            except EdgeSightError as exc:  # database away: keep the messages unacknowledged, retry
                if self._stop.is_set():
                    log.warning("stopping with %d messages not stored: %s", len(messages), exc)
                    return
                log.warning("storing a batch of %d failed (%s); retrying in %.1f s", len(messages), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        for m in messages:
            self.client.ack(m.mid, m.qos)
        self.batches += 1
        self.messages += len(messages)
        self._publish_acks(result)

    def _publish_acks(self, result: BatchResult) -> None:
        for device_id, ack in result.acks.items():
            payload = ack_envelope(device_id, ack.down_seq, ack.secret, ack.stored_through,
                                   result.rejected.get(device_id, []))  # fmt: skip
            self.client.publish(topic(device_id, Leaf.ACK), payload, qos=1)

    # ----------------------------------------------------------------------------------- publish

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        """Publish with QoS 1 (the hub's downlink)."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise OSError(f"MQTT publish to {topic} failed: {mqtt.error_string(info.rc)}")

    def run_forever(self) -> None:
        """Block until interrupted (``edgesight hub worker``)."""
        self.start()
        try:
            while not self._stop.wait(1.0):
                pass
        finally:
            self.stop()
