"""Part ids from the line: MQTT and HTTP triggers that queue requests for an inspection station.

The line names each part; EdgeSight answers with that part's result keyed by the same id.

MQTT (``<prefix>`` defaults to ``edgesight/inspection``)::

    subscribe  <prefix>/<product>/trigger           {"part_id": "A-17", "image": "a17.png"}  (image optional)
               <prefix>/<product>/finding           {"part_id": "A-17", "finding": "good" | "defect"}
    publish    <prefix>/<product>/result/<part_id>  the part's result (the inspection event's properties)
               <prefix>/<product>/error             {"part_id": ..., "error": "..."} for a request not served

HTTP: ``POST /parts`` with the trigger's JSON answers with the result (200), or ``{"error"}`` with
400 (bad request), 401 (token missing or wrong), 422 (the part could not be judged), 503 (too many
requests waiting: see :data:`MAX_WAITING`) or 504 (no answer in time); ``POST /findings`` takes a
finding. Without ``image`` the station grabs the camera's next frame. A trigger can pull the reject
signal and a finding changes the yield figures, so with a token every request must carry
``Authorization: Bearer <token>``; ``inspect run`` requires one when it listens beyond loopback.

Triggers only parse and queue; the station judges requests one at a time in arrival order, so the
feature network is never run from two threads.
"""

from __future__ import annotations

import hmac
import json
import logging
import queue
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.sensor.inspection.line import FINDINGS
from edgesight.sensor.inspection.signals import SignalError

__all__ = [
    "BUSY",
    "MAX_WAITING",
    "PART_ID",
    "FindingReport",
    "HttpTrigger",
    "MqttTrigger",
    "PartRequest",
    "Reply",
    "Request",
    "parse_finding",
    "parse_trigger",
]

log = logging.getLogger(__name__)

PART_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
"""Part ids: 1..128 characters that are safe in an MQTT topic and a file name."""
_MAX_BODY = 64 << 10  # a trigger is a few hundred bytes; anything larger is not one
MAX_WAITING = 64
"""Requests a station holds before it refuses more (the line is sending faster than parts are judged)."""
BUSY = f"station busy: {MAX_WAITING} requests already waiting; the part was not judged"

Reply = Callable[[dict[str, Any]], None]
"""Receives a request's answer: the result, or ``{"part_id", "error"}``."""


@dataclass(frozen=True)
class PartRequest:
    """Judge part ``part_id``: the image at ``image`` (relative to the station's folder) or the next frame."""

    part_id: str
    image: str | None
    reply: Reply


@dataclass(frozen=True)
class FindingReport:
    """The line's finding (``good`` | ``defect``) about a part judged earlier."""

    part_id: str
    finding: str
    reply: Reply


Request = PartRequest | FindingReport


def _object(payload: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InspectionInputError(f"{what}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise InspectionInputError(f"{what}: expected a JSON object, got {type(data).__name__}")
    return data


def _part_id(data: dict[str, Any], what: str) -> str:
    part_id = data.get("part_id")
    if not isinstance(part_id, str) or not PART_ID.match(part_id):
        raise InspectionInputError(f"{what}: part_id must match {PART_ID.pattern}, got {part_id!r}")
    return part_id


def parse_trigger(payload: bytes, reply: Reply) -> PartRequest:
    """A trigger's JSON as a request; a clear error naming the key otherwise.

    Example:
        >>> parse_trigger(b'{"part_id": "A-17", "image": "a17.png"}', print).image
        'a17.png'
        >>> parse_trigger(b'{"part_id": "A/17"}', print)
        Traceback (most recent call last):
        ...
        edgesight.apps.inspection.errors.InspectionInputError: trigger: part_id must match ^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$, got 'A/17'
    """
    data = _object(payload, "trigger")
    unknown = sorted(set(data) - {"part_id", "image"})
    if unknown:
        raise InspectionInputError(f"trigger: unknown key {unknown[0]!r} (allowed: part_id, image)")
    image = data.get("image")
    if image is not None and (not isinstance(image, str) or not image):
        raise InspectionInputError(f"trigger: image must be a non-empty path string, got {image!r}")
    return PartRequest(_part_id(data, "trigger"), image, reply)


def parse_finding(payload: bytes, reply: Reply) -> FindingReport:
    """A finding's JSON as a report.

    Example:
        >>> parse_finding(b'{"part_id": "A-17", "finding": "scrap"}', print)
        Traceback (most recent call last):
        ...
        edgesight.apps.inspection.errors.InspectionInputError: finding: finding must be one of ('good', 'defect'), got 'scrap'
    """
    data = _object(payload, "finding")
    finding = data.get("finding")
    if finding not in FINDINGS:
        raise InspectionInputError(f"finding: finding must be one of {FINDINGS}, got {finding!r}")
    return FindingReport(_part_id(data, "finding"), str(finding), reply)


class MqttTrigger:
    """Takes triggers and findings from an MQTT broker and publishes each answer keyed by part id.

    Args:
        requests: where parsed requests go (the station takes them).
        product: the product id in the topics.
        host, port: the broker.
        prefix: topic prefix.
    """

    def __init__(
        self,
        requests: queue.Queue[Request],  # bounded (MAX_WAITING): a full queue refuses the part
        product: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        prefix: str = "edgesight/inspection",
    ) -> None:
        self._requests = requests
        self.base = f"{prefix}/{product}"
        self._subscribed = threading.Event()
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        try:
            self._client.connect(host, port)
        except OSError as exc:
            raise SignalError(f"MQTT trigger: broker {host}:{port} unreachable ({exc})") from exc
        self._client.loop_start()
        if not self._subscribed.wait(10):
            self.close()
            raise SignalError(f"MQTT trigger: broker {host}:{port} did not confirm the subscription in 10 s")

    @property
    def trigger_topic(self) -> str:
        """Where the line sends part ids."""
        return f"{self.base}/trigger"

    @property
    def finding_topic(self) -> str:
        """Where the line reports what it found about a judged part."""
        return f"{self.base}/finding"

    def result_topic(self, part_id: str) -> str:
        """Where the result of ``part_id`` is published."""
        return f"{self.base}/result/{part_id}"

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.error("MQTT trigger: broker refused the connection: %s", reason)
            return
        client.subscribe([(self.trigger_topic, 1), (self.finding_topic, 1)])  # again after a reconnect

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            if message.topic == self.trigger_topic:
                request: Request = parse_trigger(bytes(message.payload), self._reply)
            else:
                request = parse_finding(bytes(message.payload), self._reply)
        except InspectionInputError as exc:
            log.warning("MQTT trigger: %s", exc)
            self._reply({"error": str(exc)})
            return
        try:
            self._requests.put_nowait(request)
        except queue.Full:
            log.warning("MQTT trigger: station busy, part %s refused", request.part_id)
            self._reply({"part_id": request.part_id, "error": BUSY})

    def _reply(self, answer: dict[str, Any]) -> None:
        part_id = answer.get("part_id")
        ok = "error" not in answer and isinstance(part_id, str)
        topic = self.result_topic(str(part_id)) if ok else f"{self.base}/error"
        self._client.publish(topic, json.dumps(answer), qos=1)

    def close(self) -> None:
        """Disconnect after queued answers are out."""
        self._client.disconnect()
        self._client.loop_stop()


class _Waiter:
    """One HTTP request's answer, handed over from the station's thread."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.answer: dict[str, Any] = {}

    def __call__(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        self._done.set()

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)


class HttpTrigger:
    """Serves ``POST /parts`` and ``POST /findings`` on a background thread.

    Args:
        requests: where parsed requests go.
        host, port: where to listen (port 0: any free port, see :attr:`port`).
        timeout_s: longest wait for the station's answer before 504.
        token: when set, requests without ``Authorization: Bearer <token>`` get 401.
    """

    def __init__(
        self,
        requests: queue.Queue[Request],
        host: str = "127.0.0.1",
        port: int = 8090,
        timeout_s: float = 30.0,
        token: str | None = None,
    ) -> None:
        handler = _handler(requests, timeout_s, token)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise SignalError(f"HTTP trigger: cannot listen on {host}:{port} ({exc.strerror})") from exc
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="inspection-http", daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        """The port listened on."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


def _handler(requests: queue.Queue[Request], timeout_s: float, token: str | None) -> type[BaseHTTPRequestHandler]:
    parsers: dict[str, Callable[[bytes, Reply], Request]] = {"/parts": parse_trigger, "/findings": parse_finding}
    expected = None if token is None else f"Bearer {token}".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            # Checked before the body is read: an unauthenticated caller learns nothing of the station.
            given = (self.headers.get("Authorization") or "").encode()
            if expected is not None and not hmac.compare_digest(given, expected):
                self.close_connection = True
                self._send(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
                return
            parse = parsers.get(self.path)
            if parse is None:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"no {self.path}; POST /parts or /findings"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= _MAX_BODY:
                self._send(HTTPStatus.BAD_REQUEST, {"error": f"body of {length} bytes; expected 1..{_MAX_BODY}"})
                return
            waiter = _Waiter()
            try:
                request = parse(self.rfile.read(length), waiter)
            except InspectionInputError as exc:
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
                return
            try:
                requests.put_nowait(request)
            except queue.Full:
                self._send(HTTPStatus.SERVICE_UNAVAILABLE, {"part_id": request.part_id, "error": BUSY})
                return
            if not waiter.wait(timeout_s):
                self._send(HTTPStatus.GATEWAY_TIMEOUT, {"error": f"no result within {timeout_s:g} s"})
                return
            status = HTTPStatus.UNPROCESSABLE_ENTITY if "error" in waiter.answer else HTTPStatus.OK
            self._send(status, waiter.answer)

        def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status is HTTPStatus.UNAUTHORIZED:
                self.send_header("WWW-Authenticate", 'Bearer realm="edgesight-inspection"')
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("HTTP trigger: " + format, *args)

    return Handler
