"""Reject signals a PLC can use: an MQTT topic, Modbus TCP (coil + holding register) and OPC UA nodes.

Each signal gets every verdict, so a PLC polling Modbus or reading OPC UA always sees the latest
decision and can tell a new part from the last one by the sequence number.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from asyncua import ua
from asyncua.sync import Server, SyncNode
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from edgesight.core.errors import EdgeSightError

__all__ = ["OPCUA_NAMESPACE", "ModbusRejectSignal", "MqttRejectSignal", "OpcUaRejectSignal", "RejectSignal", "SignalError"]

log = logging.getLogger(__name__)


class SignalError(EdgeSightError):
    """A reject signal's endpoint (broker, PLC) cannot be reached or refused a write."""


class RejectSignal(Protocol):
    """Where a verdict goes for the line."""

    def send(self, verdict: dict[str, Any]) -> None:
        """Signal one verdict (the ``inspection`` event's properties)."""

    def close(self) -> None:
        """Release the connection."""


class MqttRejectSignal:
    """Publishes rejects (QoS 1, JSON) on ``<prefix>/<product>/reject``; passes are not published.

    Args:
        host, port: the broker.
        prefix: topic prefix.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 1883, prefix: str = "edgesight/inspection") -> None:
        self.prefix = prefix
        self._client = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
        try:
            self._client.connect(host, port)
        except OSError as exc:
            raise SignalError(f"MQTT reject signal: broker {host}:{port} unreachable ({exc})") from exc
        self._client.loop_start()

    def topic(self, product: str) -> str:
        """The reject topic of ``product``."""
        return f"{self.prefix}/{product}/reject"

    def send(self, verdict: dict[str, Any]) -> None:
        """Publish ``verdict`` if it is a reject."""
        if verdict["passed"]:
            return
        self._client.publish(self.topic(verdict["product"]), json.dumps(verdict), qos=1)

    def close(self) -> None:
        """Disconnect after queued messages are out."""
        self._client.loop_stop()
        self._client.disconnect()


class ModbusRejectSignal:
    """Writes each verdict to a Modbus TCP device: coil ``coil`` = reject, register ``register`` = sequence.

    Args:
        host, port: the PLC (or Modbus gateway).
        coil: coil address set true for a reject, false for a pass.
        register: holding register counting verdicts (mod 65536), so the PLC sees each new part.
        device_id: Modbus unit id.
    """

    def __init__(self, host: str, port: int = 502, coil: int = 0, register: int = 0, device_id: int = 1) -> None:
        self.coil, self.register, self.device_id = coil, register, device_id
        self._sequence = 0
        self._client = ModbusTcpClient(host, port=port, timeout=2)
        if not self._client.connect():  # type: ignore[no-untyped-call]
            raise SignalError(f"Modbus reject signal: {host}:{port} unreachable")
        self._where = f"{host}:{port}"

    def send(self, verdict: dict[str, Any]) -> None:
        """Write the reject coil, then the sequence register."""
        self._sequence = (self._sequence + 1) % 65536
        try:
            for reply in (
                self._client.write_coil(self.coil, not verdict["passed"], device_id=self.device_id),
                self._client.write_registers(self.register, [self._sequence], device_id=self.device_id),
            ):
                if reply.isError():
                    raise SignalError(f"Modbus reject signal: {self._where} refused the write ({reply})")
        except ModbusException as exc:
            raise SignalError(f"Modbus reject signal: {self._where}: {exc}") from exc

    def close(self) -> None:
        """Close the TCP connection."""
        self._client.close()  # type: ignore[no-untyped-call]


OPCUA_NAMESPACE = "urn:edgesight:inspection"
"""Namespace URI of the inspection nodes (clients look its index up by this URI)."""


class OpcUaRejectSignal:
    """Serves the latest verdict as OPC UA variables a PLC or SCADA reads or subscribes to.

    Nodes, under ``Objects/Inspection`` in namespace :data:`OPCUA_NAMESPACE` (read-only to clients)::

        Product     String   the product judged
        PartId      String   the last part's id
        Verdict     String   "pass" or "reject"
        Score       Double   its anomaly score
        Threshold   Double   the threshold it was judged with
        Sequence    UInt32   parts judged (mod 2**32): a new value means a new part
        Reject      Boolean  the reject pulse: true for ``pulse_ms`` after a reject, else false

    The other variables are written before ``Sequence`` and ``Reject``, so a client reacting to
    either reads the values of the same part. The endpoint has no security policy: keep it on the
    line's network (or behind a gateway), as a PLC's own Modbus port is.

    Args:
        endpoint: ``opc.tcp://HOST:PORT/PATH`` to serve on.
        pulse_ms: how long ``Reject`` stays true.
    """

    def __init__(self, endpoint: str = "opc.tcp://127.0.0.1:4840/edgesight/", pulse_ms: float = 200.0) -> None:
        self.endpoint, self.pulse_s = endpoint, pulse_ms / 1000.0
        self._server = Server()
        self._server.set_endpoint(endpoint)
        self._server.set_server_name("EdgeSight inspection")
        self._server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        index = self._server.register_namespace(OPCUA_NAMESPACE)
        folder = self._server.nodes.objects.add_object(index, "Inspection")
        initial: dict[str, tuple[Any, ua.VariantType]] = {
            "Product": ("", ua.VariantType.String), "PartId": ("", ua.VariantType.String),
            "Verdict": ("", ua.VariantType.String), "Score": (0.0, ua.VariantType.Double),
            "Threshold": (0.0, ua.VariantType.Double), "Sequence": (0, ua.VariantType.UInt32),
            "Reject": (False, ua.VariantType.Boolean),
        }  # fmt: skip
        self.nodes: dict[str, SyncNode] = {
            name: folder.add_variable(index, name, value, varianttype=kind) for name, (value, kind) in initial.items()
        }
        self._sequence = 0
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        try:
            self._server.start()
        except OSError as exc:
            raise SignalError(f"OPC UA reject signal: cannot serve {endpoint} ({exc})") from exc

    def _write(self, name: str, value: Any, kind: ua.VariantType) -> None:
        self.nodes[name].write_value(ua.DataValue(ua.Variant(value, kind)))

    def send(self, verdict: dict[str, Any]) -> None:
        """Publish ``verdict`` on the nodes; a reject starts the pulse."""
        reject = not verdict["passed"]
        with self._lock:
            self._sequence = (self._sequence + 1) % 2**32
            sequence = self._sequence
            if self._timer is not None:
                self._timer.cancel()
            self._write("Product", verdict["product"], ua.VariantType.String)
            self._write("PartId", verdict["part_id"], ua.VariantType.String)
            self._write("Verdict", "reject" if reject else "pass", ua.VariantType.String)
            self._write("Score", float(verdict["score"]), ua.VariantType.Double)
            self._write("Threshold", float(verdict["threshold"]), ua.VariantType.Double)
            self._write("Sequence", sequence, ua.VariantType.UInt32)
            self._write("Reject", reject, ua.VariantType.Boolean)
            if reject:
                self._timer = threading.Timer(self.pulse_s, self._end_pulse, args=(sequence,))
                self._timer.daemon = True
                self._timer.start()

    def _end_pulse(self, sequence: int) -> None:
        with self._lock:
            if sequence == self._sequence:  # a later part owns the pulse now
                self._write("Reject", False, ua.VariantType.Boolean)

    def close(self) -> None:
        """End any pulse and stop serving."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
        self._server.stop()
