"""The line's side of inspection: part ids over MQTT and HTTP, findings, and OPC UA reject nodes."""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import pytest
from asyncua.sync import Client
from paho.mqtt.enums import CallbackAPIVersion

from edgesight.core.events import Event
from edgesight.sensor.inspection.inspector import Inspector, train_product
from edgesight.sensor.inspection.line import inspect_part
from edgesight.sensor.inspection.opcua import OPCUA_NAMESPACE, OpcUaRejectSignal
from edgesight.sensor.inspection.station import Station
from edgesight.sensor.inspection.triggers import BUSY, HttpTrigger, MqttTrigger, PartRequest, Request
from edgesight.sensor.sources import open_source
from inspection_set import make_parts
from support import need


@pytest.fixture(scope="module")
def line(tmp_path_factory: pytest.TempPathFactory) -> tuple[Inspector, Path]:
    """A trained brick product and a folder of parts the line names: good.png, hole.png, broken.png."""
    goods, defects = make_parts("brick", 9, 2, seed=5)
    inspector = Inspector(train_product("brick", [p.image for p in goods[:8]]))
    folder = tmp_path_factory.mktemp("parts")
    cv2.imwrite(str(folder / "good.png"), goods[8].image)
    cv2.imwrite(str(folder / "hole.png"), defects[1].image)
    (folder / "broken.png").write_bytes(b"\x89PNG cut short")
    return inspector, folder


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _broker_up() -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", 1883)) == 0


class _Serving:
    """A station serving a request queue on a thread, as `inspect run --trigger` does."""

    def __init__(self, station: Station, requests: queue.Queue[Request]) -> None:
        self.stop = threading.Event()
        self._thread = threading.Thread(target=station.serve, args=(requests, self.stop), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(10)


def test_mqtt_trigger_answers_each_part_id_and_counts_the_lines_findings(line: tuple[Inspector, Path]) -> None:
    need(_broker_up(), "Mosquitto is not running on 127.0.0.1:1883")
    inspector, folder = line
    events: list[Event] = []
    station = Station(inspector, events.append, images=folder)
    requests: queue.Queue[Request] = queue.Queue()
    prefix = f"test/{uuid.uuid4().hex}"
    trigger = MqttTrigger(requests, "brick", "127.0.0.1", 1883, prefix=prefix)
    serving = _Serving(station, requests)
    answers: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
    plc = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    plc.on_message = lambda _c, _u, msg: answers.put((msg.topic, json.loads(msg.payload)))
    subscribed = threading.Event()
    plc.on_subscribe = lambda *_args: subscribed.set()
    plc.connect("127.0.0.1", 1883)
    plc.subscribe([(f"{prefix}/brick/result/#", 1), (f"{prefix}/brick/error", 1)])
    plc.loop_start()
    try:
        assert subscribed.wait(10)
        for payload in (
            {"part_id": "A-1", "image": "good.png"},
            {"part_id": "A-2", "image": "hole.png"},
            {"part_id": "A-3", "image": "broken.png"},
            {"part_id": "A-4", "image": "../hole.png"},
        ):
            plc.publish(trigger.trigger_topic, json.dumps(payload), qos=1)
        results = {a["part_id"]: (t.removeprefix(f"{prefix}/brick/"), a) for t, a in (answers.get(timeout=30) for _ in range(4))}
        plc.publish(trigger.finding_topic, json.dumps({"part_id": "A-1", "finding": "defect"}), qos=1)
        plc.publish(trigger.finding_topic, json.dumps({"part_id": "A-2", "finding": "good"}), qos=1)
        plc.publish(trigger.trigger_topic, b"not json", qos=1)
        findings = [answers.get(timeout=30) for _ in range(3)]
    finally:
        serving.close()
        trigger.close()
        plc.loop_stop()
        plc.disconnect()
    assert results["A-1"][0] == "result/A-1" and results["A-1"][1]["passed"] is True
    assert results["A-2"][0] == "result/A-2" and results["A-2"][1]["passed"] is False
    assert results["A-2"][1]["region"] is not None
    assert results["A-3"][0] == "error" and "broken.png: not a readable image" in results["A-3"][1]["error"]
    assert results["A-4"][0] == "error" and "outside the image folder" in results["A-4"][1]["error"]
    # a malformed trigger is answered at once by the MQTT thread, findings after the station took them
    answered = {t.removeprefix(f"{prefix}/brick/"): a for t, a in findings}
    assert sorted(answered) == ["error", "result/A-1", "result/A-2"]
    assert (answered["result/A-1"]["finding"], answered["result/A-2"]["finding"]) == ("defect", "good")
    assert "trigger: not JSON" in answered["error"]["error"]
    assert (station.tally.inspected, station.tally.escapes, station.tally.false_rejects) == (2, 1, 1)
    judged = [e.properties for e in events if "finding" not in e.properties]
    found = {e.properties["part_id"]: e.properties["finding"] for e in events if "finding" in e.properties}
    assert [p["part_id"] for p in judged] == ["A-1", "A-2"] and found == {"A-1": "defect", "A-2": "good"}
    assert len({e.id for e in events}) == len(events) == 4


def _post(port: int, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_http_trigger_answers_with_the_parts_result_or_a_clear_error(line: tuple[Inspector, Path]) -> None:
    inspector, folder = line
    events: list[Event] = []
    station = Station(inspector, events.append, images=folder)
    requests: queue.Queue[Request] = queue.Queue()
    http = HttpTrigger(requests, "127.0.0.1", 0)
    serving = _Serving(station, requests)
    try:
        reject = _post(http.port, "/parts", b'{"part_id": "B-7", "image": "hole.png"}')
        unreadable = _post(http.port, "/parts", b'{"part_id": "B-8", "image": "broken.png"}')
        bad_id = _post(http.port, "/parts", b'{"part_id": "B/9"}')
        no_frame = _post(http.port, "/parts", b'{"part_id": "B-10"}')
        finding = _post(http.port, "/findings", b'{"part_id": "B-7", "finding": "good"}')
        again = _post(http.port, "/findings", b'{"part_id": "B-7", "finding": "good"}')
    finally:
        serving.close()
        http.close()
    assert reject[0] == 200 and reject[1]["part_id"] == "B-7" and reject[1]["passed"] is False
    assert reject[1]["latency_ms"] > 0 and reject[1]["product"] == "brick"
    assert unreadable == (422, {"part_id": "B-8", "error": f"{folder / 'broken.png'}: not a readable image"})
    assert bad_id[0] == 400 and "part_id must match" in bad_id[1]["error"]
    assert no_frame[0] == 422 and "no camera source" in no_frame[1]["error"]
    assert finding[0] == 200 and finding[1]["false_rejects"] == 1
    assert again[0] == 422 and "already reported" in again[1]["error"]
    assert [e.properties["part_id"] for e in events] == ["B-7", "B-7"]


def test_a_trigger_without_an_image_takes_the_cameras_next_frame(
    line: tuple[Inspector, Path], vtest_path: Path
) -> None:
    inspector, _ = line
    answers: list[dict[str, Any]] = []
    with open_source(str(vtest_path)) as source:
        frames = iter(source)
        station = Station(inspector, lambda _e: None, grab=lambda: next(frames).to_bgr())
        for part_id in ("C-1", "C-2"):
            station.handle(PartRequest(part_id, None, answers.append))
        station.handle(PartRequest("C-3", "good.png", answers.append))
    assert [a["part_id"] for a in answers] == ["C-1", "C-2", "C-3"]
    assert answers[0]["passed"] is False and answers[0]["score"] > answers[0]["threshold"]  # a street is no brick
    assert "takes no image paths" in answers[2]["error"]


@pytest.fixture(scope="module")
def opcua() -> Iterator[tuple[OpcUaRejectSignal, Client]]:
    endpoint = f"opc.tcp://127.0.0.1:{_free_port()}/edgesight/"
    signal = OpcUaRejectSignal(endpoint, pulse_ms=300)
    client = Client(endpoint)
    client.connect()
    try:
        yield signal, client
    finally:
        client.disconnect()
        signal.close()


class _Changes:
    """An asyncua subscription handler: remembers every value a node takes."""

    def __init__(self) -> None:
        self.values: queue.Queue[Any] = queue.Queue()

    def datachange_notification(self, _node: Any, value: Any, _data: Any) -> None:
        self.values.put(value)


def test_opcua_client_sees_part_id_verdict_score_and_a_reject_pulse(
    line: tuple[Inspector, Path], opcua: tuple[OpcUaRejectSignal, Client]
) -> None:
    inspector, folder = line
    signal, client = opcua
    ns = client.get_namespace_index(OPCUA_NAMESPACE)
    node = {name: client.nodes.objects.get_child([f"{ns}:Inspection", f"{ns}:{name}"])
            for name in ("PartId", "Verdict", "Score", "Sequence", "Reject", "Threshold")}  # fmt: skip
    changes = _Changes()
    subscription = client.create_subscription(20, changes)
    subscription.subscribe_data_change(node["Reject"])
    assert changes.values.get(timeout=10) is False  # the initial value
    hole = cv2.imread(str(folder / "hole.png"))
    part = inspect_part(inspector, "D-1", hole, signals=[signal])
    assert changes.values.get(timeout=10) is True
    assert node["PartId"].read_value() == "D-1" and node["Verdict"].read_value() == "reject"
    assert node["Score"].read_value() == pytest.approx(part.verdict.score, abs=1e-6)
    assert node["Threshold"].read_value() == pytest.approx(inspector.threshold, abs=1e-6)
    assert node["Sequence"].read_value() == 1
    started = time.monotonic()
    assert changes.values.get(timeout=10) is False  # the pulse ends
    assert time.monotonic() - started < 5
    inspect_part(inspector, "D-2", cv2.imread(str(folder / "good.png")), signals=[signal])
    assert (node["PartId"].read_value(), node["Verdict"].read_value(), node["Sequence"].read_value()) == (
        "D-2", "pass", 2,
    )  # fmt: skip
    assert changes.values.empty() and node["Reject"].read_value() is False  # a pass sends no pulse
    subscription.delete()


def test_http_trigger_refuses_when_the_station_is_full_and_times_out_when_it_is_stuck() -> None:
    requests: queue.Queue[Request] = queue.Queue(maxsize=2)
    requests.put(PartRequest("waiting", None, lambda _a: None))
    http = HttpTrigger(requests, "127.0.0.1", 0, timeout_s=0.5)  # no station serves the queue
    try:
        stuck = _post(http.port, "/parts", b'{"part_id": "E-1"}')
        full = _post(http.port, "/parts", b'{"part_id": "E-2"}')
    finally:
        http.close()
    assert stuck == (504, {"error": "no result within 0.5 s"})
    assert full == (503, {"part_id": "E-2", "error": BUSY})
