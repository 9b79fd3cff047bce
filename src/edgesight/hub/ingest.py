"""Ingestion core: envelope -> verify -> deduplicate -> store, a batch at a time.

Both transports (MQTT worker, HTTP route) hand raw envelopes to :meth:`Ingestor.ingest_batch`.
Every envelope gets an :class:`Outcome`: ``stored``, ``duplicate`` or a reject reason of
docs/protocol.md. Valid envelopes of a batch are stored in one transaction even when others are
rejected. Messages that pass the MAC but carry a bad payload or absurd timestamps are *permanently*
rejected: their ``(device_id, seq)`` is logged, so the device's ``stored_through`` moves past them
and the device stops resending.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgesight.core.envelope import Envelope, EnvelopeError, Kind, open_envelope, peek_device_id
from edgesight.core.errors import SchemaError
from edgesight.core.events import Event
from edgesight.hub.frame_index import index_batch
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.rules import RuleEngine
from edgesight.hub.storage import devices
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.ingest_store import AckState, FrameRecord, StoreBatch, store_batch

__all__ = ["MIN_TIMESTAMP", "BatchResult", "IngestOptions", "Ingestor", "Outcome"]

log = logging.getLogger(__name__)
MIN_TIMESTAMP = 1_577_836_800.0  # 2020-01-01T00:00:00Z
PERMANENT = ("bad_payload", "bad_timestamp", "bad_kind")
"""Reasons found after the MAC check: logged, so they count towards ``stored_through``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one envelope: ``status`` is ``stored``, ``duplicate`` or a reject reason."""

    status: str
    device_id: str | None = None
    seq: int | None = None
    detail: str = ""

    @property
    def stored(self) -> bool:
        return self.status == "stored"


@dataclass
class BatchResult:
    outcomes: list[Outcome]
    acks: dict[str, AckState]
    """Per device of the batch: ``stored_through`` after the commit and the ack's own seq."""
    rejected: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    """Per device: ``(seq, reason)`` of MAC-valid messages rejected in this batch."""


@dataclass(frozen=True, slots=True)
class IngestOptions:
    keep_every_nth_frame: int = 1
    max_future_s: float = 86_400.0
    secret_cache_s: float = 2.0


class _Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _check_time(ts: float, now: float, max_future_s: float, what: str) -> None:
    if not MIN_TIMESTAMP <= ts <= now + max_future_s:
        raise _Reject("bad_timestamp", f"{what} {ts!r} is before 2020 or more than {max_future_s:.0f} s ahead")


def _json(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _Reject("bad_payload", f"payload is not JSON: {exc}") from exc


class Ingestor:
    """Verifies and stores device messages. Thread-safe; one per process is enough.

    Example:
        >>> from edgesight.hub.storage import Database
        >>> db = Database("sqlite://"); db.migrate()
        >>> [o.status for o in Ingestor(db).ingest([(None, b"junk" * 20)])]
        ['bad_magic']
    """

    def __init__(
        self,
        db: Database,
        metrics: HubMetrics | None = None,
        options: IngestOptions | None = None,
        rules: RuleEngine | None = None,
    ) -> None:
        self.db = db
        self.metrics = metrics or HubMetrics()
        self.options = options or IngestOptions()
        self.rules = rules
        self._secrets: dict[str, tuple[bytes | None, bool, float]] = {}
        self._marks: dict[str, int] = {}
        self._lock = threading.Lock()

    def forget(self, device_id: str) -> None:
        """Drop cached credentials of a device (call after revoking it in this process)."""
        with self._lock:
            self._secrets.pop(device_id, None)

    def ingest(self, raws: Sequence[tuple[str | None, bytes]]) -> list[Outcome]:
        """Outcomes of ``(topic_device_id or None, envelope bytes)`` pairs, in order."""
        return self.ingest_batch(raws).outcomes

    # ------------------------------------------------------------------------------------ verify

    def _refresh_secrets(self, raws: Sequence[tuple[str | None, bytes]]) -> None:
        now = time.monotonic()
        wanted: set[str] = set()
        for _topic, raw in raws:
            try:
                device_id = peek_device_id(raw)
            except EnvelopeError:
                continue
            entry = self._secrets.get(device_id)
            if entry is None or now - entry[2] > self.options.secret_cache_s:
                wanted.add(device_id)
        if not wanted:
            return
        found = devices.secrets_of(self.db, sorted(wanted))
        with self._lock:
            for device_id in wanted:
                secret, revoked = found.get(device_id, (None, False))
                self._secrets[device_id] = (secret, revoked, now)

    def _secret_of(self, device_id: str) -> bytes:
        secret, revoked, _at = self._secrets.get(device_id, (None, False, 0.0))
        if secret is None:
            raise EnvelopeError("unknown_device", f"device {device_id!r} is not enrolled")
        if revoked:
            raise EnvelopeError("revoked", f"device {device_id!r} has been revoked")
        return secret

    # ------------------------------------------------------------------------------------ decode

    def _decode(self, env: Envelope, now: float, batch: StoreBatch) -> None:
        """Append the rows of a verified envelope to ``batch``; raises _Reject."""
        key = {"device_id": env.device_id, "seq": env.seq}
        if env.kind is Kind.FRAMES:
            rows, first_ts = self._frames(env, now)
            batch.frames.extend(rows)
            batch.frame_batches.append((env.device_id, env.seq, first_ts, env.payload))
        elif env.kind is Kind.EVENTS:
            batch.events.extend(self._events(env, now, key))
        elif env.kind is Kind.HEARTBEAT:
            batch.health.append({**key, **_heartbeat(_json(env.payload), env.sent_at)})
        elif env.kind is Kind.REPORTED:
            data = _json(env.payload)
            if not (isinstance(data, dict) and type(data.get("version")) is int and isinstance(data.get("state"), dict)):
                raise _Reject("bad_payload", 'reported twin must be {"version": int, "state": {...}}')
            batch.reported.append({**key, "version": data["version"], "state": data["state"], "received_at": now})
        elif env.kind is Kind.COMMAND_RESULT:
            batch.command_results.append({**key, **_command_result(_json(env.payload))})
        else:
            raise _Reject("bad_kind", f"devices may not send {env.kind.name} messages")
        if env.kind is not Kind.HEARTBEAT:
            batch.health.append({**key, "last_seen": env.sent_at})

    def _frames(self, env: Envelope, now: float) -> tuple[list[FrameRecord], float]:
        """Index rows of the batch (validated like ``decode_batch``, detections left encoded) and
        the first frame's timestamp."""
        opts = self.options
        try:
            frames = index_batch(env.payload)
        except (SchemaError, ValueError, TypeError) as exc:  # hostile bytes: never crash the worker
            raise _Reject("bad_payload", f"frame batch: {exc}") from exc
        rows = []
        device_id, seq, nth = env.device_id, env.seq, opts.keep_every_nth_frame
        for f in frames:
            if f.device_id != device_id:
                raise _Reject("device_mismatch", f"frame of {f.device_id!r} in {device_id!r}'s message")
            _check_time(f.timestamp, now, opts.max_future_s, f"frame {f.frame_index} timestamp")
            if f.frame_index % nth:
                continue
            rows.append((device_id, seq, f.frame_index, f.stream_id, f.timestamp, f.model, f.n_detections))
        return rows, frames[0].timestamp

    def _events(self, env: Envelope, now: float, key: dict[str, Any]) -> list[dict[str, Any]]:
        data = _json(env.payload)
        if not isinstance(data, list):
            raise _Reject("bad_payload", f"events payload must be a JSON array, got {type(data).__name__}")
        rows = []
        for i, item in enumerate(data):
            try:
                ev = Event.from_dict(item)
            except (SchemaError, ValueError, TypeError) as exc:
                raise _Reject("bad_payload", f"event {i}: {exc}") from exc
            if ev.device_id != env.device_id:
                raise _Reject("device_mismatch", f"event {i} is about {ev.device_id!r}")
            _check_time(ev.timestamp, now, self.options.max_future_s, f"event {i} timestamp")
            rows.append({
                **key, "id": ev.id, "stream_id": ev.stream_id, "type": ev.type.value, "rule": ev.rule,
                "trigger": ev.trigger.value, "frame_index": ev.frame_index, "timestamp": ev.timestamp,
                "class_name": ev.class_name, "track_ids": list(ev.track_ids),
                "properties": dict(item["properties"]),
            })  # fmt: skip
        return rows

    # ------------------------------------------------------------------------------------- batch

    def ingest_batch(self, raws: Sequence[tuple[str | None, bytes]], reserve_acks: bool = True) -> BatchResult:
        """Verify every envelope, store the valid ones in one transaction, return outcomes and acks.

        ``reserve_acks``: take a hub -> device seq per device for a ``down/ack`` message (MQTT).
        """
        self._refresh_secrets(raws)
        now = time.time()
        outcomes: list[Outcome | None] = [None] * len(raws)
        batch = StoreBatch()
        slots: dict[tuple[str, int], int] = {}
        sent: dict[tuple[str, int], float] = {}
        for i, (topic_id, raw) in enumerate(raws):
            try:
                env = open_envelope(raw, self._secret_of)
            except EnvelopeError as exc:
                outcomes[i] = Outcome(exc.reason, _peek(raw), None, str(exc))
                continue
            if topic_id is not None and topic_id != env.device_id:
                outcomes[i] = Outcome("device_mismatch", env.device_id, env.seq,
                                      f"envelope of {env.device_id!r} sent as {topic_id!r}")  # fmt: skip
                continue
            k = (env.device_id, env.seq)
            if env.seq <= self._marks.get(env.device_id, 0) or k in slots:
                outcomes[i] = Outcome("duplicate", env.device_id, env.seq, "already stored")
                continue
            slots[k] = i
            status, detail = "stored", ""
            try:
                _check_time(env.sent_at, now, self.options.max_future_s, "sent_at")
                self._decode(env, now, scratch := StoreBatch())
                for name in ("frames", "frame_batches", "events", "health", "reported", "command_results"):
                    getattr(batch, name).extend(getattr(scratch, name))
            except _Reject as exc:
                status, detail = exc.reason, str(exc)
            if status in PERMANENT or status == "stored":
                batch.log.append({"device_id": env.device_id, "seq": env.seq, "kind": int(env.kind),
                                  "status": status, "received_at": now})  # fmt: skip
                sent[k] = env.sent_at
            outcomes[i] = Outcome(status, env.device_id, env.seq, detail)
        return self._commit(batch, outcomes, slots, sent, reserve_acks)

    def _commit(
        self,
        batch: StoreBatch,
        outcomes: list[Outcome | None],
        slots: dict[tuple[str, int], int],
        sent: dict[tuple[str, int], float],
        reserve_acks: bool,
    ) -> BatchResult:
        result = None
        if batch.log:
            hook = self.rules.evaluate if self.rules is not None else None
            try:
                result = store_batch(self.db, batch, hook, reserve_acks)
            finally:
                if self.rules is not None:
                    self.rules.flush(committed=result is not None)
        committed = time.time()
        rejected: dict[str, list[tuple[int, str]]] = {}
        m = self.metrics
        for row in batch.log:
            k = (row["device_id"], row["seq"])
            i = slots[k]
            if result is not None and k not in result.claimed:
                outcomes[i] = Outcome("duplicate", k[0], k[1], "already stored")
            elif row["status"] == "stored":
                m.stored.labels(Kind(row["kind"]).name.lower()).inc()
                m.latency.observe(max(0.0, committed - sent[k]))
            else:
                rejected.setdefault(k[0], []).append((k[1], row["status"]))
        final = [o if o is not None else Outcome("bad_payload") for o in outcomes]
        for o in final:
            if o.status == "duplicate":
                m.duplicates.inc()
            if o.status != "stored":
                m.rejected.labels(o.status).inc()
        if result is not None:
            m.frames.inc(sum(1 for r in batch.frames if (r[0], r[1]) in result.claimed))
            m.events.inc(len(result.new_events))
            with self._lock:
                for device_id, ack in result.acks.items():
                    self._marks[device_id] = max(self._marks.get(device_id, 0), ack.stored_through)
        m.batch_size.observe(len(final))
        return BatchResult(final, result.acks if result else {}, rejected)


def _peek(raw: bytes) -> str | None:
    try:
        return peek_device_id(raw)
    except EnvelopeError:
        return None


def _command_result(data: Any) -> dict[str, Any]:
    if not (isinstance(data, dict) and isinstance(data.get("command_id"), str) and isinstance(data.get("ok"), bool)):
        raise _Reject("bad_payload", 'command result must be {"command_id": str, "ok": bool, "detail"}')
    detail = data.get("detail")
    return {"command_id": data["command_id"], "ok": data["ok"], "detail": None if detail is None else str(detail)}


def _heartbeat(data: Any, sent_at: float) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _Reject("bad_payload", f"heartbeat must be a JSON object, got {type(data).__name__}")
    out: dict[str, Any] = {"last_seen": sent_at}
    for name in ("fps", "dnn_ms", "uptime_s", "outbox_pending"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise _Reject("bad_payload", f"heartbeat.{name}: expected a number, got {value!r}")
        out[name] = value
    model = data.get("model")
    if model is not None:
        if not isinstance(model, dict):
            raise _Reject("bad_payload", f"heartbeat.model: expected {{id, version}}, got {model!r}")
        out["model"] = f"{model.get('id')}@{model.get('version')}"
    return out
