"""``edgesight inspect``: train a product on good parts, run it on a line, evaluate it on labelled parts."""

from __future__ import annotations

import csv
import os
import queue
import re
import signal as signal_module
import statistics
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from edgesight.agent.credentials import MIN_SECRET_BYTES
from edgesight.agent.inspection_twin import TwinFollower
from edgesight.apps.inspection.errors import InspectionInputError
from edgesight.apps.inspection.product import (
    PRODUCT_SUFFIX,
    product_path,
    sign_product,
    verify_product,
    write_product,
)
from edgesight.apps.inspection.tally import ProductTally, tally_inspections
from edgesight.cli.inspection_opcua import check_opcua, opcua_cert
from edgesight.core.errors import ConfigError
from edgesight.core.events import Event, EventType
from edgesight.core.loopback import is_loopback
from edgesight.core.signing import key_id, load_private_key, load_public_key, public_key_text
from edgesight.core.trust import TrustSettings
from edgesight.core.wire import EventWriter, read_events
from edgesight.sensor.inspection.evaluation import evaluate
from edgesight.sensor.inspection.inspector import Inspector, TrainOptions, train_product
from edgesight.sensor.inspection.line import InspectedPart, apply_feedback, inspect_parts, save_heatmap
from edgesight.sensor.inspection.parts import IMAGE_SUFFIXES, image_files, read_part, read_parts, video_parts
from edgesight.sensor.inspection.signals import ModbusRejectSignal, MqttRejectSignal, RejectSignal
from edgesight.sensor.inspection.station import Station
from edgesight.sensor.inspection.triggers import MAX_WAITING, HttpTrigger, MqttTrigger, Request
from edgesight.sensor.sources import open_source

__all__ = ["register"]

inspect_app = typer.Typer(no_args_is_help=True, help="Production-line inspection trained on good parts only.")
console = Console()

ProductsOption = Annotated[
    Path | None,
    typer.Option(
        "--products", help="folder of trained products (default: $EDGESIGHT_PRODUCTS or ~/.edgesight/products)"
    ),
]


TrustedKeyOption = Annotated[
    list[Path] | None,
    typer.Option("--trusted-key", "-t", help="public key file (.pub) whose signed products are accepted; repeatable"),
]
AllowUnsignedOption = Annotated[
    bool, typer.Option(help="development only: accept products without a signature")
]


def register(app: typer.Typer) -> None:
    app.add_typer(inspect_app, name="inspect")


inspect_app.command("opcua-cert")(opcua_cert)


def products_dir(option: Path | None) -> Path:
    """The products folder: the option, else ``$EDGESIGHT_PRODUCTS``, else ``~/.edgesight/products``."""
    if option is not None:
        return option
    env = os.environ.get("EDGESIGHT_PRODUCTS")
    return Path(env) if env else Path.home() / ".edgesight" / "products"


def _default_name(good: Path) -> str:
    folder = good.resolve()
    while folder.name.lower() in ("good", "train", "test") and folder.parent != folder:
        folder = folder.parent  # <product>/train/good names the product, as in MVTec AD's layout
    base = folder.name
    return re.sub(r"[^a-z0-9._-]+", "-", base.lower()).strip("-.") or "product"


def load_trusted(
    name: str, products: Path | None, trusted_key: list[Path] | None, allow_unsigned: bool,
    accepted_versions: Path | None = None,
) -> tuple[Inspector, str]:
    """The inspector of product ``name`` if the product is intact and trusted (and, with
    ``accepted_versions``, not older than one accepted before), and why it is trusted."""
    keys = tuple(public_key_text(load_public_key(p)) for p in trusted_key or [])
    trust = TrustSettings(trusted_keys=keys, allow_unsigned=allow_unsigned, accepted_versions=accepted_versions)
    product, basis = verify_product(product_path(products_dir(products), name), trust)
    return Inspector(product), basis


def _host_port(value: str, option: str, default_port: int) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if ":" in value else (value, "", str(default_port))
    if not host or not port.isdigit():
        raise ConfigError(f"{option}: expected HOST:PORT, got {value!r}")
    return host, int(port)


def _trigger_token(trigger: Trigger, listen: str, token_file: Path | None) -> str | None:
    """The HTTP trigger's bearer token; one is required to listen beyond this machine.

    A trigger can pull the reject signal and a finding moves the yield figures, so a trigger
    reachable from the network must not be open to anyone on it.
    """
    if token_file is None:
        host = _host_port(listen, "--listen", 8090)[0] if trigger is Trigger.HTTP else "127.0.0.1"
        if not is_loopback(host):
            raise ConfigError(
                f"--listen {listen}: {host} is reachable from other machines, so anyone there could send "
                "parts and findings; give --token-file with a secret of at least "
                f"{MIN_SECRET_BYTES} characters, or listen on 127.0.0.1"
            )
        return None
    if trigger is not Trigger.HTTP:
        raise ConfigError("--token-file is for --trigger http")
    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--token-file {token_file}: cannot read it ({exc})") from exc
    if len(token) < MIN_SECRET_BYTES or any(c.isspace() or not c.isprintable() for c in token):
        raise ConfigError(
            f"--token-file {token_file}: the token must be at least {MIN_SECRET_BYTES} printable characters "
            f"without spaces, got {len(token)} characters"
        )
    return token


@inspect_app.command("train")
def train(
    good: Annotated[Path, typer.Option("--good", help="folder of good part images, all of one size")],
    product: Annotated[str | None, typer.Option(help="product name (default: from the folder name)")] = None,
    products: ProductsOption = None,
    false_reject_rate: Annotated[float, typer.Option(help="target share of good parts rejected")] = 0.01,
    coreset_ratio: Annotated[float, typer.Option(min=0.001, max=1.0, help="share of patch features kept")] = 0.1,
    key: Annotated[
        Path | None, typer.Option("--key", "-k", help="sign the product with this private key (`model keygen`)")
    ] = None,
) -> None:
    """Train a product: memory bank of good patch features, threshold calibrated on held-out parts."""
    private = load_private_key(key) if key is not None else None  # a bad key fails before training
    name = product or _default_name(good)
    images = [image for _, image in read_parts(good)]
    trained = train_product(
        name, images, TrainOptions(false_reject_rate=false_reject_rate, coreset_ratio=coreset_ratio)
    )
    path = write_product(products_dir(products) / f"{name}{PRODUCT_SUFFIX}", trained)
    if private is not None:
        sign_product(path, private)
    s = trained.settings
    table = Table("product", "parts (bank + held out)", "part size", "memory bank", "threshold", "file",
                  title="trained product")  # fmt: skip
    table.add_row(
        name,
        f"{s.train_parts} + {len(s.calibration_scores)}",
        f"{s.part_size[0]}x{s.part_size[1]}",
        f"{trained.bank.shape[0]} x {trained.bank.shape[1]} ({trained.bank.nbytes / 1e6:.1f} MB)",
        f"{s.threshold:.4f} (false-reject target {s.false_reject_rate:.1%})",
        f"{path} ({path.stat().st_size / 1e6:.1f} MB)",
    )
    console.print(table)
    signed = f"signed with key {key_id(private.public_key())}" if private else "unsigned: sign it with `inspect sign`"
    console.print(f"product {path.name}: {signed}", highlight=False)


@inspect_app.command("sign")
def sign(
    product: Annotated[str, typer.Option(help="trained product name")],
    key: Annotated[Path, typer.Option("--key", "-k", help="private key from `edgesight model keygen`")],
    products: ProductsOption = None,
) -> None:
    """Sign a product's manifest (which holds the SHA-256 of every member), in place."""
    private = load_private_key(key)
    path = sign_product(product_path(products_dir(products), product), private)
    console.print(f"signed {path} with key {key_id(private.public_key())}", highlight=False)


@inspect_app.command("verify")
def verify(
    product: Annotated[str, typer.Option(help="trained product name")],
    products: ProductsOption = None,
    trusted_key: TrustedKeyOption = None,
    allow_unsigned: AllowUnsignedOption = False,
) -> None:
    """Check a product as `run` does: intact, and signed by a trusted key (or unsigned allowed)."""
    inspector, basis = load_trusted(product, products, trusted_key, allow_unsigned)
    p = inspector.product
    console.print(f"ok {p.id}@{p.version} ({p.source}): {basis}", highlight=False, soft_wrap=True)


def _read_feedback(path: Path) -> dict[str, str]:
    try:
        with path.open(newline="", encoding="utf-8") as fp:
            rows = list(csv.reader(fp))
    except OSError as exc:
        raise ConfigError(f"--feedback: cannot read {path}: {exc.strerror}") from exc
    found = {}
    for number, row in enumerate(rows, start=1):
        if len(row) != 2 or row[1] not in ("good", "defect"):
            raise ConfigError(f"{path}:{number}: expected 'part_id,good|defect', got {','.join(row)!r}")
        found[row[0]] = row[1]
    return found


@dataclass(frozen=True)
class _OpcUa:
    endpoint: str
    cert: Path | None
    key: Path | None
    trust: list[Path]


def _signals(mqtt: str | None, modbus: str | None, opcua: _OpcUa | None, coil: int, register: int) -> list[RejectSignal]:
    signals: list[RejectSignal] = []
    try:
        if mqtt:
            signals.append(MqttRejectSignal(*_host_port(mqtt, "--mqtt", 1883)))
        if modbus:
            host, port = _host_port(modbus, "--modbus", 502)
            signals.append(ModbusRejectSignal(host, port, coil=coil, register=register))
        if opcua:
            from edgesight.sensor.inspection.opcua import OpcUaRejectSignal  # asyncua: only when asked for

            signals.append(OpcUaRejectSignal(
                opcua.endpoint, certificate=opcua.cert, private_key=opcua.key, trusted_clients=opcua.trust
            ))
            security = "NoSecurity" if opcua.cert is None else "Basic256Sha256 Sign and SignAndEncrypt only"
            if opcua.trust:
                security += f", {len(opcua.trust)} trusted client certificate(s)"
            console.print(f"OPC UA verdict nodes at {opcua.endpoint} ({security})", highlight=False)
    except BaseException:
        for signal in signals:
            signal.close()
        raise
    return signals


class Trigger(StrEnum):
    """Where parts come from."""

    NONE = "none"
    MQTT = "mqtt"
    HTTP = "http"


@inspect_app.command("run")
def run(
    source: Annotated[str, typer.Option("--source", help="folder of part images, an image, a video or a camera")],
    product: Annotated[str, typer.Option(help="trained product name")],
    products: ProductsOption = None,
    events: Annotated[Path, typer.Option(help="inspection events (.jsonl)")] = Path("inspection-events.jsonl"),
    every: Annotated[int, typer.Option(min=1, help="video: take every N-th frame as a part")] = 25,
    threshold: Annotated[float | None, typer.Option(help="override the product's threshold")] = None,
    trigger: Annotated[
        Trigger, typer.Option(help="part ids sent by the line: none (judge all of --source), mqtt or http")
    ] = Trigger.NONE,
    listen: Annotated[str, typer.Option(help="--trigger http: listen on HOST:PORT")] = "127.0.0.1:8090",
    token_file: Annotated[
        Path | None,
        typer.Option(help="--trigger http: requests must carry 'Authorization: Bearer <the token in this file>'"),
    ] = None,
    topic_prefix: Annotated[str, typer.Option(help="MQTT topic prefix")] = "edgesight/inspection",
    max_parts: Annotated[int, typer.Option(min=0, help="with --trigger: stop after N parts (0: until Ctrl-C)")] = 0,
    mqtt: Annotated[str | None, typer.Option(help="broker HOST:PORT for rejects (and --trigger mqtt)")] = None,
    modbus: Annotated[str | None, typer.Option(help="write verdicts to this Modbus TCP HOST:PORT")] = None,
    coil: Annotated[int, typer.Option(help="Modbus coil set for a reject")] = 0,
    register: Annotated[int, typer.Option(help="Modbus holding register counting parts")] = 0,
    opcua: Annotated[str | None, typer.Option(help="serve verdicts as OPC UA nodes at opc.tcp://HOST:PORT/PATH")] = None,
    opcua_cert: Annotated[
        Path | None, typer.Option(help="--opcua: the server's application certificate (`inspect opcua-cert`)")
    ] = None,
    opcua_key: Annotated[Path | None, typer.Option(help="--opcua: the certificate's private key")] = None,
    opcua_trust: Annotated[
        list[Path] | None,
        typer.Option(help="--opcua-cert: admit only clients with this application certificate; repeatable"),
    ] = None,
    opcua_allow_insecure: Annotated[
        bool, typer.Option(help="--opcua: serve NoSecurity beyond loopback (an isolated line network only)")
    ] = False,
    heatmaps: Annotated[Path | None, typer.Option(help="save reject heatmaps here (needs --allow-images)")] = None,
    allow_images: Annotated[bool, typer.Option(help="privacy policy: images may be stored")] = False,
    feedback: Annotated[Path | None, typer.Option(help="CSV part_id,good|defect found by the line")] = None,
    device_id: Annotated[str, typer.Option(help="device id in the events")] = "edgesight-0",
    trusted_key: TrustedKeyOption = None,
    allow_unsigned: AllowUnsignedOption = False,
    accepted_versions: Annotated[
        Path | None,
        typer.Option(help="JSON file of the highest version run per product: an older one is refused (downgrade)"),
    ] = None,
    twin: Annotated[
        Path | None,
        typer.Option(help="follow the threshold in this twin file saved by the agent (<agent data dir>/twin.json)"),
    ] = None,
) -> None:
    """Judge parts: score, pass/fail, defect region; events to a file, rejects to the PLC."""
    if heatmaps is not None and not allow_images:
        raise ConfigError("--heatmaps: the privacy policy forbids images; add --allow-images to store them")
    if trigger is Trigger.MQTT and not mqtt:
        raise ConfigError("--trigger mqtt: name the broker with --mqtt HOST:PORT")
    if trigger is not Trigger.NONE and (feedback or heatmaps):
        raise ConfigError("--feedback and --heatmaps are for --trigger none; the line sends findings itself")
    token = _trigger_token(trigger, listen, token_file)
    check_opcua(opcua, opcua_cert, opcua_key, opcua_trust, opcua_allow_insecure)
    inspector, basis = load_trusted(product, products, trusted_key, allow_unsigned, accepted_versions)
    console.print(f"product {product}@{inspector.product.version}: {basis}", highlight=False)
    if threshold is not None:
        inspector.set_threshold(threshold)
    follow = TwinFollower(twin, inspector) if twin is not None else None
    if follow is not None:
        follow()  # a threshold already in the twin applies from the first part
    served = None if opcua is None else _OpcUa(opcua, opcua_cert, opcua_key, opcua_trust or [])
    signals = _signals(mqtt, modbus, served, coil, register)
    run_id = uuid.uuid4().hex  # frame indexes restart at 0 every run: keep event ids distinct across runs
    try:
        with EventWriter(events) as writer:
            line = _Line(inspector, signals, lambda event: writer.write(event.in_run(run_id)), device_id, follow)
            if trigger is Trigger.NONE:
                tally, latencies = _run_source(line, source, every, heatmaps, feedback)
            else:
                tally, latencies = _serve(line, trigger, source, _Endpoints(listen, mqtt, topic_prefix, token), max_parts)
    finally:
        for signal in signals:
            signal.close()
    _print_summary(tally, inspector.threshold, latencies, events)


def _parts(source: str, every: int) -> Iterator[tuple[str, np.ndarray]]:
    path = Path(source)
    if path.is_dir():
        return ((p.name, read_part(p)) for p in image_files(path))
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return iter([(path.name, read_part(path))])
    if path.is_file():
        return video_parts(path, every)
    raise InspectionInputError(f"--source: {source} is neither a folder, an image nor a video")


@dataclass(frozen=True)
class _Line:
    """What judging a part needs besides the part: the inspector, the signals, where events go."""

    inspector: Inspector
    signals: list[RejectSignal]
    emit: Callable[[Event], None]
    device_id: str
    follow: Callable[[], object] | None  # the twin's threshold, checked before each part


def _run_source(
    line: _Line, source: str, every: int, heatmaps: Path | None, feedback: Path | None
) -> tuple[ProductTally, list[float]]:
    """Judge every part of ``source`` (a folder, an image, a video with a fixed-cadence trigger)."""
    inspector = line.inspector
    tally = ProductTally(inspector.product.id)
    results: list[InspectedPart] = []
    table = Table("part", "score", "verdict", "defect region (x, y, w, h)", "ms", title=f"inspection of {tally.product}")
    images_kept: dict[str, np.ndarray] = {}
    parts = _keep(_parts(source, every), images_kept, line.follow)
    for part in inspect_parts(inspector, parts, line.signals, line.device_id, tally):
        line.emit(part.event)
        results.append(part)
        verdict = part.verdict
        if heatmaps is not None and not verdict.passed:
            save_heatmap(heatmaps, part.part_id, images_kept[part.part_id], inspector, verdict)
        images_kept.pop(part.part_id, None)
        table.add_row(
            part.part_id, f"{verdict.score:.4f}", "[green]pass[/]" if verdict.passed else "[bold red]REJECT[/]",
            "" if verdict.region is None else str(verdict.region), f"{part.latency_ms:.1f}",
        )  # fmt: skip
    if not results:
        raise InspectionInputError(f"--source: {source} gave no parts")
    if feedback is not None:
        for event in apply_feedback(tally, results, _read_feedback(feedback)):
            line.emit(event)
    console.print(table)
    return tally, [r.latency_ms for r in results]


@dataclass(frozen=True)
class _Endpoints:
    listen: str
    mqtt: str | None
    topic_prefix: str
    token: str | None


def _serve(
    line: _Line, trigger: Trigger, source: str, endpoints: _Endpoints, max_parts: int
) -> tuple[ProductTally, list[float]]:
    """Judge the parts the line names over MQTT or HTTP until stopped."""
    latencies: list[float] = []

    def show(part: InspectedPart) -> None:
        latencies.append(part.latency_ms)
        verdict = part.verdict
        console.print(
            f"{part.part_id}  score {verdict.score:.4f}  "
            f"{'[green]pass[/]' if verdict.passed else '[bold red]REJECT[/]'}  "
            f"{'' if verdict.region is None else verdict.region}  {part.latency_ms:.1f} ms",
            highlight=False,
        )

    requests: queue.Queue[Request] = queue.Queue(maxsize=MAX_WAITING)
    stop = threading.Event()
    previous = signal_module.signal(signal_module.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        images, grab = _trigger_source(source, stack)
        station = Station(line.inspector, line.emit, line.signals, images, grab, line.device_id, show)
        if trigger is Trigger.HTTP:
            host, port = _host_port(endpoints.listen, "--listen", 8090)
            http = HttpTrigger(requests, host, port, token=endpoints.token)
            stack.callback(http.close)
            console.print(f"POST part ids to http://{endpoints.listen.rpartition(':')[0]}:{http.port}/parts "
                          "(findings to /findings)", highlight=False)  # fmt: skip
        else:
            assert endpoints.mqtt is not None
            broker = _host_port(endpoints.mqtt, "--mqtt", 1883)
            mqtt_trigger = MqttTrigger(requests, line.inspector.product.id, *broker, prefix=endpoints.topic_prefix)
            stack.callback(mqtt_trigger.close)
            console.print(f"send part ids to {mqtt_trigger.trigger_topic} on {endpoints.mqtt}; results on "
                          f"{mqtt_trigger.result_topic('<part_id>')}", highlight=False)  # fmt: skip
        try:
            station.serve(requests, stop, max_parts, line.follow)
        except KeyboardInterrupt:
            console.print("stopped")
        finally:
            signal_module.signal(signal_module.SIGTERM, previous)
    return station.tally, latencies


def _trigger_source(source: str, stack: ExitStack) -> tuple[Path | None, Callable[[], np.ndarray | None] | None]:
    """A folder: image paths in triggers are relative to it. Anything else: a camera or video to grab from."""
    if Path(source).is_dir():
        return Path(source), None
    frames = iter(stack.enter_context(open_source(source)))
    return None, lambda: next((frame.to_bgr() for frame in frames), None)


def _keep(
    parts: Iterator[tuple[str, np.ndarray]], store: dict[str, np.ndarray], follow: Callable[[], object] | None
) -> Iterator[tuple[str, np.ndarray]]:
    """Pass parts through, keeping each image until its verdict is handled (for heatmaps); follow
    the twin's threshold before each part."""
    for part_id, image in parts:
        if follow is not None:
            follow()
        store[part_id] = image
        yield part_id, image


def _print_summary(tally: ProductTally, threshold: float, latencies: list[float], events: Path) -> None:
    table = Table("product", "inspected", "passed", "rejected", "yield", "false rejects", "escapes",
                  "threshold", "latency p50 / max ms", title="summary")  # fmt: skip
    table.add_row(
        tally.product, str(tally.inspected), str(tally.passed), str(tally.rejected), f"{tally.yield_rate:.1%}",
        str(tally.false_rejects), str(tally.escapes), f"{threshold:.4f}",
        f"{statistics.median(latencies):.1f} / {max(latencies):.1f}" if latencies else "-",
    )  # fmt: skip
    console.print(table)
    console.print(f"events: {events}")


@inspect_app.command("summary")
def summary(
    events: Annotated[list[Path], typer.Argument(help="inspection events files (.jsonl) from `inspect run`")],
) -> None:
    """Per product: inspected, passed, rejected, yield, false rejects and escapes, from events files."""
    records = (
        (event.device_id, event.properties)
        for path in events
        for event in read_events(path)
        if event.type is EventType.INSPECTION
    )
    tallies = tally_inspections(records)
    if not tallies:
        raise InspectionInputError(f"{', '.join(map(str, events))}: no inspection events")
    table = Table("product", "inspected", "passed", "rejected", "yield", "false rejects", "escapes",
                  "latest threshold", title="inspection summary")  # fmt: skip
    for t in sorted(tallies.values(), key=lambda t: t.product):
        table.add_row(
            t.product, str(t.inspected), str(t.passed), str(t.rejected), f"{t.yield_rate:.1%}",
            str(t.false_rejects), str(t.escapes), "-" if t.threshold is None else f"{t.threshold:.4f}",
        )  # fmt: skip
    console.print(table)


@inspect_app.command("eval")
def evaluate_command(
    good: Annotated[Path, typer.Option("--good", help="folder of good parts not used in training")],
    defect: Annotated[Path, typer.Option("--defect", help="folder of defective parts")],
    product: Annotated[str, typer.Option(help="trained product name")],
    masks: Annotated[Path | None, typer.Option(help="defect masks, same file stem as the defective parts")] = None,
    products: ProductsOption = None,
    trusted_key: TrustedKeyOption = None,
    allow_unsigned: AllowUnsignedOption = False,
) -> None:
    """Image AUROC, pixel AUROC and PRO (with masks), and the confusion at the product's threshold."""
    inspector, _ = load_trusted(product, products, trusted_key, allow_unsigned)
    result = evaluate(inspector, good, defect, masks)
    figures = Table("parts (good + defective)", "image AUROC", "pixel AUROC", "PRO (FPR <= 0.3)",
                    title=f"evaluation of {product}")  # fmt: skip
    figures.add_row(
        f"{result.good} + {result.defective}", f"{result.image_auroc:.3f}",
        "-" if result.pixel_auroc is None else f"{result.pixel_auroc:.3f}",
        "-" if result.pro is None else f"{result.pro:.3f}",
    )  # fmt: skip
    console.print(figures)
    c = result.confusion
    confusion = Table("", "judged defective (reject)", "judged good (pass)",
                      title=f"confusion at threshold {result.threshold:.4f}")  # fmt: skip
    confusion.add_row("defective", str(c.true_rejects), f"{c.escapes} escapes")
    confusion.add_row("good", f"{c.false_rejects} false rejects", str(c.true_passes))
    console.print(confusion)
