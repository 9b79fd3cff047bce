"""The OPC UA reject signal: the latest verdict served as OPC UA variables (asyncua).

Its own module so that asyncua (a third of a second to import) loads only when ``--opcua`` is given.
"""

from __future__ import annotations

import threading
from typing import Any

from asyncua import ua
from asyncua.sync import Server, SyncNode

from edgesight.sensor.inspection.signals import SignalError

__all__ = ["OPCUA_NAMESPACE", "OpcUaRejectSignal"]

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
