"""Inspection with the shipped feature network on real texture photographs with synthetic defects."""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import uuid
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pymodbus.client import ModbusTcpClient
from pymodbus.datastore import ModbusDeviceContext, ModbusSequentialDataBlock, ModbusServerContext
from pymodbus.server import ModbusTcpServer

from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.metrics import auroc
from edgesight.apps.inspection.product import read_product, write_product
from edgesight.core.twin import merge_patch
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.line import inspect_parts
from edgesight.sensor.inspection.parts import read_parts, video_parts
from edgesight.sensor.inspection.signals import ModbusRejectSignal, MqttRejectSignal
from inspection_set import make_parts
from support import need


@pytest.fixture(scope="module")
def brick() -> tuple[Inspector, list[np.ndarray], list[np.ndarray]]:
    goods, defects = make_parts("brick", 18, 8, seed=7)
    product = train_product("brick", [p.image for p in goods[:12]])
    held_out_good = [p.image for p in goods[12:]]
    return Inspector(product), held_out_good, [p.image for p in defects]


def test_trained_product_finds_synthetic_defects_on_held_out_parts(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, good, defective = brick
    scores = [inspector.inspect(p).score for p in good + defective]
    labels = np.array([0] * len(good) + [1] * len(defective))
    assert auroc(labels, np.array(scores)) >= 0.85


def test_rejected_part_has_a_region_and_a_pixel_heatmap(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, _, defective = brick
    hole = defective[1]  # kinds go scratch, hole, crack, stain
    inspector.set_threshold(0.0)
    try:
        verdict = inspector.inspect(hole)
    finally:
        inspector.set_threshold(inspector.product.settings.threshold)
    assert not verdict.passed and verdict.region is not None
    assert inspector.heatmap(verdict).shape == (256, 256)


def test_threshold_from_the_twin_changes_decisions_without_restart(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    inspector, good, _ = brick
    part = good[0]
    calibrated = inspector.threshold
    desired = merge_patch({}, {"inspection": {"thresholds": {"brick": 0.0}}})
    try:
        assert inspector.apply_twin(desired)
        assert not inspector.inspect(part).passed
        desired = merge_patch(desired, {"inspection": {"thresholds": {"brick": calibrated * 10}}})
        assert inspector.apply_twin(desired)
        assert inspector.inspect(part).passed
        assert not inspector.apply_twin({"inspection": {"thresholds": {"other-product": 0.0}}})
    finally:
        inspector.set_threshold(calibrated)


def test_product_file_round_trip_judges_alike(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]], tmp_path: Path
) -> None:
    inspector, good, _ = brick
    reloaded = Inspector(read_product(write_product(tmp_path / "brick.esinsp", inspector.product)))
    assert reloaded.threshold == inspector.threshold
    assert reloaded.inspect(good[0]).score == pytest.approx(inspector.inspect(good[0]).score, rel=1e-5)
    assert "LICENSES/LICENSE.nanodet-Apache-2.0" in reloaded.product.licences


def test_too_small_good_set_is_refused() -> None:
    goods, _ = make_parts("grass", 4, 0)
    with pytest.raises(InspectionInputError, match="the good set has 4 parts; training needs at least 5"):
        train_product("grass", [p.image for p in goods])


def test_mixed_sizes_unreadable_and_empty_folders_are_refused(tmp_path: Path) -> None:
    goods, _ = make_parts("gravel", 2, 0)
    cv2.imwrite(str(tmp_path / "a.png"), goods[0].image)
    cv2.imwrite(str(tmp_path / "b.png"), goods[1].image[:200])
    with pytest.raises(InspectionInputError, match=r"b.png: 256x200 differs from a.png 256x256"):
        read_parts(tmp_path)
    (tmp_path / "b.png").write_bytes(b"not an image")
    with pytest.raises(InspectionInputError, match=r"b.png: not a readable image"):
        read_parts(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InspectionInputError, match=r"empty: holds no part images"):
        read_parts(empty)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def test_reject_reaches_a_real_mqtt_subscriber(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]],
) -> None:
    need(_port_open("127.0.0.1", 1883), "Mosquitto is not running on 127.0.0.1:1883")
    inspector, good, defective = brick
    signal = MqttRejectSignal("127.0.0.1", 1883, prefix=f"test/{uuid.uuid4().hex}")
    received: queue.Queue[dict[str, object]] = queue.Queue()
    subscriber = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    subscriber.on_message = lambda _c, _u, msg: received.put(json.loads(msg.payload))
    subscribed = threading.Event()
    subscriber.on_subscribe = lambda *_args: subscribed.set()
    subscriber.connect("127.0.0.1", 1883)
    subscriber.subscribe(signal.topic("brick"), qos=1)
    subscriber.loop_start()
    try:
        assert subscribed.wait(10)
        results = list(inspect_parts(inspector, [("good-0", good[0]), ("hole-1", defective[1])], [signal]))
        message = received.get(timeout=10)
    finally:
        signal.close()
        subscriber.loop_stop()
        subscriber.disconnect()
    assert [r.verdict.passed for r in results] == [True, False]
    assert message["part_id"] == "hole-1" and message["passed"] is False
    assert received.empty()  # the good part was not signalled


class _Plc:
    """A pymodbus TCP server on a free localhost port, standing in for the line's PLC."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        # blocks start at 1: the device context adds 1 to every protocol address (Modbus numbering)
        device = ModbusDeviceContext(
            co=ModbusSequentialDataBlock(1, [False] * 16), hr=ModbusSequentialDataBlock(1, [0] * 16)
        )
        self._context = ModbusServerContext(devices=device)
        self._loop = asyncio.new_event_loop()
        self._server: ModbusTcpServer | None = None
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._serve(),), daemon=True)
        self._thread.start()
        for _ in range(200):
            if _port_open("127.0.0.1", self.port):
                return
            threading.Event().wait(0.05)

    async def _serve(self) -> None:
        self._server = ModbusTcpServer(self._context, address=("127.0.0.1", self.port))
        await self._server.serve_forever()

    def stop(self) -> None:
        assert self._server is not None
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(10)
        self._thread.join(10)


def test_reject_reaches_a_modbus_client(brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]]) -> None:
    inspector, good, defective = brick
    plc = _Plc()
    reader = ModbusTcpClient("127.0.0.1", port=plc.port)
    signal = ModbusRejectSignal("127.0.0.1", plc.port, coil=3, register=5)
    try:
        assert reader.connect()
        list(inspect_parts(inspector, [("hole-1", defective[1])], [signal]))
        after_reject = reader.read_coils(3, count=1).bits[0], reader.read_holding_registers(5, count=1).registers[0]
        list(inspect_parts(inspector, [("good-0", good[0])], [signal]))
        after_pass = reader.read_coils(3, count=1).bits[0], reader.read_holding_registers(5, count=1).registers[0]
    finally:
        signal.close()
        reader.close()
        plc.stop()
    assert after_reject == (True, 1)
    assert after_pass == (False, 2)


def test_video_frames_become_parts_of_the_product_size(
    brick: tuple[Inspector, list[np.ndarray], list[np.ndarray]], vtest_path: Path
) -> None:
    inspector, _, _ = brick
    parts = list(video_parts(vtest_path, every=300))
    assert [part_id for part_id, _ in parts] == ["vtest-000000", "vtest-000300", "vtest-000600"]
    results = list(inspect_parts(inspector, parts))
    assert [r.event.properties["part_id"] for r in results] == ["vtest-000000", "vtest-000300", "vtest-000600"]
    assert all(r.verdict.grid_map.shape == (32, 32) for r in results)
    assert not any(r.verdict.passed for r in results)  # a street scene is no brick part
