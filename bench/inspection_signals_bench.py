"""Image-to-signal latency of the inspection reject signals: MQTT, Modbus TCP and OPC UA.

Usage: ``python bench/inspection_signals_bench.py [--parts 20]`` (needs Mosquitto on
127.0.0.1:1883; the Modbus PLC and the OPC UA client run in this process on localhost ports).

One brick product is trained on the offline texture set; each defective part is then judged once
per signal, the three signals interleaved (MQTT, Modbus, OPC UA, then the next part) so load drift
hits them alike. For every part the clock starts with the image in hand and stops when the line's
side has the reject:

* MQTT: the subscriber's message callback (QoS 1 through the local broker);
* Modbus: the write of the reject coil and the sequence register acknowledged by the PLC (a
  pymodbus server), i.e. the PLC holds the value;
* OPC UA: the client's data-change notification of ``Reject`` (subscription publishing interval
  10 ms), i.e. the client has the value.

"signal ms" is that time minus the judging (the signal's own cost); wall-clock, so it includes
whatever the other processes on the machine made us wait.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from asyncua.sync import Client
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from _common import median, table
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.line import inspect_part
from edgesight.sensor.inspection.opcua import OPCUA_NAMESPACE, OpcUaRejectSignal
from edgesight.sensor.inspection.signals import ModbusRejectSignal, MqttRejectSignal, RejectSignal
from inspection_set import make_parts


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Plc:
    """A pymodbus TCP server on a free localhost port (the line's PLC)."""

    def __init__(self) -> None:
        self.port = _free_port()
        device = ModbusDeviceContext(co=ModbusSequentialDataBlock(1, [False] * 8), hr=ModbusSequentialDataBlock(1, [0] * 8))
        self._context = ModbusServerContext(devices=device)
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._thread.start()
        time.sleep(1.0)

    async def _serve(self) -> None:  # the server must be made inside its running loop
        self._server = ModbusTcpServer(self._context, address=("127.0.0.1", self.port))
        await self._server.serve_forever()

    def stop(self) -> None:
        assert self._server is not None
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)


class _Observed:
    """Times when the line's side saw a value, handed from a callback thread."""

    def __init__(self) -> None:
        self.at: queue.Queue[float] = queue.Queue()

    def datachange_notification(self, _node: Any, value: Any, _data: Any) -> None:  # asyncua handler
        if value is True:
            self.at.put(time.perf_counter())


def _measure(inspector: Inspector, parts: list[np.ndarray]) -> dict[str, list[tuple[float, float]]]:
    plc = _Plc()
    prefix = f"bench/{time.time_ns()}"
    mqtt_signal = MqttRejectSignal(prefix=prefix)
    mqtt_seen = _Observed()
    subscriber = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda *_a: mqtt_seen.at.put(time.perf_counter())
    subscriber.connect("127.0.0.1", 1883)
    subscriber.subscribe(mqtt_signal.topic(inspector.product.id), qos=1)
    subscriber.loop_start()
    modbus_signal = ModbusRejectSignal("127.0.0.1", plc.port)
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/"
    opcua_signal = OpcUaRejectSignal(endpoint, pulse_ms=50)
    client = Client(endpoint)
    client.connect()
    ns = client.get_namespace_index(OPCUA_NAMESPACE)
    opcua_seen = _Observed()
    subscription = client.create_subscription(10, opcua_seen)
    subscription.subscribe_data_change(client.nodes.objects.get_child([f"{ns}:Inspection", f"{ns}:Reject"]))
    time.sleep(1.0)
    signals: dict[str, tuple[RejectSignal, Callable[[], float]]] = {
        "MQTT": (mqtt_signal, lambda: mqtt_seen.at.get(timeout=10)),
        "Modbus TCP": (modbus_signal, time.perf_counter),  # send() returns once the PLC acknowledged
        "OPC UA": (opcua_signal, lambda: opcua_seen.at.get(timeout=10)),
    }
    found: dict[str, list[tuple[float, float]]] = {name: [] for name in signals}
    try:
        for i, part in enumerate(parts):
            for name, (signal, seen) in signals.items():
                time.sleep(0.1)  # let the OPC UA pulse end, so every reject is a fresh change
                started = time.perf_counter()
                judged = inspect_part(inspector, f"p{i}", part)
                decided = time.perf_counter()
                signal.send(dict(judged.event.properties))
                observed = seen()
                found[name].append(((observed - started) * 1000, (observed - decided) * 1000))
    finally:
        subscription.delete()
        client.disconnect()
        for signal, _ in signals.values():
            signal.close()
        subscriber.loop_stop()
        subscriber.disconnect()
        plc.stop()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", type=int, default=20, help="defective parts, each judged once per signal")
    args = parser.parse_args()
    goods, defects = make_parts("brick", 12, args.parts, seed=0)
    inspector = Inspector(train_product("brick", [p.image for p in goods]))
    inspector.set_threshold(0.0)  # every part a reject: MQTT publishes rejects only
    found = _measure(inspector, [p.image for p in defects])
    rows = []
    for name, samples in found.items():
        total = [t for t, _ in samples]
        signal = [s for _, s in samples]
        rows.append([name, str(len(samples)), f"{median(total):.1f}", f"{np.percentile(total, 95):.1f}",
                     f"{median(signal):.2f}", f"{np.percentile(signal, 95):.2f}"])  # fmt: skip
    print(table(["signal", "parts", "image -> signal ms p50", "p95", "signal alone ms p50", "p95"], rows))
    print(json.dumps({name: samples for name, samples in found.items()}))


if __name__ == "__main__":
    main()
