"""Reject signals a PLC can use: an MQTT topic and Modbus TCP (coil + holding register); OPC UA
nodes are :mod:`edgesight.sensor.inspection.opcua` (asyncua is imported only when they are served).

Each signal gets every verdict, so a PLC polling Modbus or reading OPC UA always sees the latest
decision and can tell a new part from the last one by the sequence number.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from edgesight.core.errors import EdgeSightError

__all__ = ["ModbusRejectSignal", "MqttRejectSignal", "RejectSignal", "SignalError"]

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
