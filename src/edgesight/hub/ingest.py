"""Ingestion core: envelope -> verify -> deduplicate -> store, a batch at a time.

Both transports (MQTT worker, HTTP route) hand raw envelopes to :meth:`Ingestor.ingest_batch`.
Every envelope gets an :class:`Outcome`: ``stored``, ``duplicate`` or a reject reason of
docs/protocol.md. Valid envelopes of a batch are stored in one transaction even when others are
rejected. Messages that pass the MAC but carry a bad payload, a payload version the hub does not
know, or absurd timestamps are *permanently* rejected (:attr:`IngestStatus.permanent`): their
``(device_id, seq)`` is logged, so the device's ``stored_through`` moves past them and the device
stops resending. Each kind a device may send has one handler in ``_HANDLERS``; payloads are read
with the typed messages of :mod:`edgesight.core.wire`.

A message the database refuses never blocks the others (a poison message): when a batch's
transaction fails for anything but a lost connection, the batch is split in halves and retried
until the refused message is alone; it is then logged as ``unstorable`` (permanent), counted and
logged here, and the rest of the batch is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from edgesight.core.errors import SchemaError, StorageError, UnsupportedVersionError
from edgesight.core.wire import (
    CommandResult,
    Envelope,
    EnvelopeError,
    EventBatch,
    Heartbeat,
    Kind,
    ReportedTwin,
    index_batch,
    open_envelope,
    peek_device_id,
)
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.rules import RuleEngine
from edgesight.hub.storage import devices
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.ingest_store import (
    AckState,
    CommandResultRow,
    EventRecord,
    FrameBatchRow,
    FrameIndexRow,
    HealthRow,
    IngestStatus,
    LogRow,
    MessageRows,
    ReportedRow,
    StoreBatch,
    StoreResult,
    store_batch,
)

__all__ = ["MIN_TIMESTAMP", "BatchResult", "IngestOptions", "IngestStatus", "Ingestor", "Outcome"]

log = logging.getLogger(__name__)
MIN_TIMESTAMP = 1_577_836_800.0  # 2020-01-01T00:00:00Z


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one envelope."""

    status: IngestStatus
    device_id: str | None = None
    seq: int | None = None
    detail: str = ""

    @property
    def stored(self) -> bool:
        return self.status is IngestStatus.STORED


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
    def __init__(self, status: IngestStatus, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def _check_time(ts: float, now: float, max_future_s: float, what: str) -> None:
    if not MIN_TIMESTAMP <= ts <= now + max_future_s:
        raise _Reject(
            IngestStatus.BAD_TIMESTAMP, f"{what} {ts!r} is before 2020 or more than {max_future_s:.0f} s ahead"
        )


_Handler = Callable[["Ingestor", Envelope, float, LogRow], MessageRows]


class Ingestor:
    """Verifies and stores device messages. Thread-safe; one per process is enough.

    Example:
        >>> from edgesight.hub.storage import Database
        >>> db = Database("sqlite://"); db.migrate()
        >>> [o.status.value for o in Ingestor(db).ingest([(None, b"junk" * 20)])]
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
        self.on_reported: Callable[[set[str]], None] | None = None
        """Called after each commit with the devices whose reported twin was stored (the rollout)."""
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

    def _refresh_secrets(self, device_ids: Sequence[str | None]) -> None:
        now = time.monotonic()
        wanted: set[str] = set()
        for device_id in device_ids:
            if device_id is None:
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

    def _rows(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        """The rows of a verified envelope; raises _Reject."""
        handler = _HANDLERS.get(env.kind)
        if handler is None:
            raise _Reject(IngestStatus.BAD_KIND, f"devices may not send {env.kind.name} messages")
        try:
            return handler(self, env, now, log_row)
        except UnsupportedVersionError as exc:
            self.metrics.unsupported_version.labels(env.kind.name.lower()).inc()
            raise _Reject(IngestStatus.UNSUPPORTED_VERSION, str(exc)) from exc
        except SchemaError as exc:
            raise _Reject(IngestStatus.BAD_PAYLOAD, str(exc)) from exc

    def _frames(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        """Index rows of the batch (validated like ``decode_batch``, detections left encoded)."""
        opts = self.options
        try:
            frames = index_batch(env.payload)
        except UnsupportedVersionError:
            raise
        except (SchemaError, ValueError, TypeError) as exc:  # hostile bytes: never crash the worker
            raise _Reject(IngestStatus.BAD_PAYLOAD, f"frame batch: {exc}") from exc
        rows = []
        device_id, seq, nth = env.device_id, env.seq, opts.keep_every_nth_frame
        for f in frames:
            if f.device_id != device_id:
                raise _Reject(IngestStatus.RECORD_DEVICE_MISMATCH, f"frame of {f.device_id!r} in {device_id!r}'s message")
            _check_time(f.timestamp, now, opts.max_future_s, f"frame {f.frame_index} timestamp")
            if f.frame_index % nth:
                continue
            rows.append(FrameIndexRow(device_id, seq, f.frame_index, f.stream_id, f.timestamp, f.model, f.n_detections))
        return MessageRows(
            log_row, frames=rows, frame_batch=FrameBatchRow(device_id, seq, frames[0].timestamp, env.payload)
        )

    def _events(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        rows = []
        for i, ev in enumerate(EventBatch.from_bytes(env.payload).events):
            if ev.device_id != env.device_id:
                raise _Reject(IngestStatus.RECORD_DEVICE_MISMATCH, f"event {i} is about {ev.device_id!r}")
            _check_time(ev.timestamp, now, self.options.max_future_s, f"event {i} timestamp")
            rows.append(EventRecord(
                env.device_id, env.seq, ev.id, ev.stream_id, ev.type.value, ev.rule, ev.trigger.value,
                ev.frame_index, ev.timestamp, ev.class_name, list(ev.track_ids), dict(ev.properties),
            ))  # fmt: skip
        return MessageRows(log_row, events=rows)

    def _heartbeat(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        hb = Heartbeat.from_bytes(env.payload)
        model = None if hb.model is None else f"{hb.model.id}@{hb.model.version}"
        health = HealthRow(env.device_id, env.seq, env.sent_at, hb.fps, hb.dnn_ms, model, hb.outbox_pending,
                           hb.uptime_s)  # fmt: skip
        return MessageRows(log_row, health=health)

    def _reported(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        twin = ReportedTwin.from_bytes(env.payload)
        return MessageRows(log_row, reported=ReportedRow(env.device_id, env.seq, twin.version, twin.state, now))

    def _command_result(self, env: Envelope, now: float, log_row: LogRow) -> MessageRows:
        result = CommandResult.from_bytes(env.payload)
        row = CommandResultRow(env.device_id, env.seq, result.command_id, result.ok, result.detail)
        return MessageRows(log_row, command_result=row)

    # ------------------------------------------------------------------------------------- batch

    def ingest_batch(self, raws: Sequence[tuple[str | None, bytes]], reserve_acks: bool = True) -> BatchResult:
        """Verify every envelope, store the valid ones in one transaction, return outcomes and acks.

        ``reserve_acks``: take a hub -> device seq per device for a ``down/ack`` message (MQTT).
        """
        peeked: list[str | EnvelopeError] = []
        for _topic_id, raw in raws:  # the claimed device id, read once per message
            try:
                peeked.append(peek_device_id(raw))
            except EnvelopeError as exc:
                peeked.append(exc)
        self._refresh_secrets([p if isinstance(p, str) else None for p in peeked])
        now = time.time()
        outcomes: list[Outcome | None] = [None] * len(raws)
        batch = StoreBatch()
        slots: dict[tuple[str, int], int] = {}
        sent: dict[tuple[str, int], float] = {}
        for i, ((topic_id, raw), claimed) in enumerate(zip(raws, peeked, strict=True)):
            if isinstance(claimed, EnvelopeError):
                outcomes[i] = Outcome(IngestStatus(claimed.reason), None, None, str(claimed))
                continue
            try:
                env = open_envelope(raw, self._secret_of, device_id=claimed)
            except EnvelopeError as exc:
                status, seq = IngestStatus(exc.reason), exc.seq
                outcomes[i] = Outcome(status, claimed, seq, str(exc))
                if seq is None or not status.logged or topic_id not in (None, claimed) or (claimed, seq) in slots:
                    continue
                # signed by the device, so never acceptable: logged, lest the device resend it forever
                slots[claimed, seq] = i
                sent[claimed, seq] = now
                batch.messages.append(MessageRows(LogRow(claimed, seq, exc.kind or 0, status, now)))
                continue
            if topic_id is not None and topic_id != env.device_id:
                outcomes[i] = Outcome(IngestStatus.DEVICE_MISMATCH, env.device_id, env.seq,
                                      f"envelope of {env.device_id!r} sent as {topic_id!r}")  # fmt: skip
                continue
            k = (env.device_id, env.seq)
            if env.seq <= self._marks.get(env.device_id, 0) or k in slots:
                outcomes[i] = Outcome(IngestStatus.DUPLICATE, env.device_id, env.seq, "already stored")
                batch.ack_devices.add(env.device_id)
                continue
            slots[k] = i
            status, detail = IngestStatus.STORED, ""
            log_row = LogRow(env.device_id, env.seq, int(env.kind), status, now)
            try:
                _check_time(env.sent_at, now, self.options.max_future_s, "sent_at")
                rows = self._rows(env, now, log_row)
                if rows.health is None:  # every message says the device is alive
                    rows = replace(rows, health=HealthRow(env.device_id, env.seq, env.sent_at))
                batch.messages.append(rows)
            except _Reject as exc:
                status, detail = exc.status, str(exc)
                if status.logged:
                    batch.messages.append(MessageRows(replace(log_row, status=status)))
            if status.logged:
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
        result = self._store(batch, reserve_acks) if batch.messages or batch.ack_devices else None
        committed = time.time()
        rejected: dict[str, list[tuple[int, str]]] = {}
        m = self.metrics
        for message in batch.messages:
            row = message.log
            i = slots[row.key]
            if result is not None and row.key not in result.claimed:
                outcomes[i] = Outcome(IngestStatus.DUPLICATE, row.device_id, row.seq, "already stored")
            elif row.status is IngestStatus.STORED:
                m.stored.labels(Kind(row.kind).name.lower()).inc()
                m.latency.observe(max(0.0, committed - sent[row.key]))
            else:
                rejected.setdefault(row.device_id, []).append((row.seq, row.status.value))
                if row.status is IngestStatus.UNSTORABLE:
                    outcomes[i] = Outcome(row.status, row.device_id, row.seq, "the database refused this message")
        final = [o if o is not None else Outcome(IngestStatus.BAD_PAYLOAD) for o in outcomes]
        for o in final:
            if o.status is IngestStatus.DUPLICATE:
                m.duplicates.inc()
            if o.status is not IngestStatus.STORED:
                m.rejected.labels(o.status.value).inc()
        if result is not None:
            m.frames.inc(sum(len(msg.frames) for msg in batch.messages if msg.log.key in result.claimed))
            m.events.inc(len(result.new_events))
            with self._lock:
                for device_id, ack in result.acks.items():
                    self._marks[device_id] = max(self._marks.get(device_id, 0), ack.stored_through)
            reported = {
                msg.log.device_id for msg in batch.messages
                if msg.reported is not None and msg.log.key in result.claimed and msg.log.status is IngestStatus.STORED
            }  # fmt: skip
            if reported and self.on_reported is not None:
                self.on_reported(reported)
        m.batch_size.observe(len(final))
        return BatchResult(final, result.acks if result else {}, rejected)

    def _store_once(self, messages: list[MessageRows], reserve_acks: bool, ack_devices: set[str]) -> StoreResult:
        hook = self.rules.evaluate if self.rules is not None else None
        result = None
        try:
            result = store_batch(self.db, StoreBatch(messages, ack_devices), hook, reserve_acks)
        finally:
            if self.rules is not None:
                self.rules.flush(committed=result is not None)
        return result

    def _store(self, batch: StoreBatch, reserve_acks: bool) -> StoreResult:
        """Store the batch; when the database refuses it, isolate the refused messages by bisection.

        Each message the database refuses on its own becomes an ``unstorable`` log row in
        ``batch.messages`` (in place). A lost connection is raised at once, as is a refusal of a
        lone message's log row (then the database, not the message, is at fault).
        """
        try:
            return self._store_once(batch.messages, reserve_acks, batch.ack_devices)
        except _REFUSALS as exc:
            if _connection_lost(exc) or not batch.messages:
                raise
            first = exc
        results = self._bisect(batch.messages, reserve_acks, first)
        if batch.ack_devices:
            results.append(self._store_once([], reserve_acks, batch.ack_devices))
        claimed = set().union(*(r.claimed for r in results))
        acks: dict[str, AckState] = {}
        for r in results:  # later stores moved stored_through further and reserved later ack seqs
            acks.update(r.acks)
        return StoreResult(claimed, acks, [e for r in results for e in r.new_events])

    def _bisect(self, messages: list[MessageRows], reserve_acks: bool, exc: Exception) -> list[StoreResult]:
        """Store ``messages`` (whose transaction failed with ``exc``) in halves, down to single ones."""
        if len(messages) == 1:
            row = messages[0].log
            log.warning(
                "%s: message %d (kind %d) rejected as unstorable: the database refused it (%s); the rest of "
                "its batch is stored", row.device_id, row.seq, row.kind, type(exc.__cause__ or exc).__name__,
            )  # fmt: skip
            messages[0] = MessageRows(replace(row, status=IngestStatus.UNSTORABLE))
            return [self._store_once(messages, reserve_acks, set())]  # a failure here is the database's: raised
        results: list[StoreResult] = []
        middle = len(messages) // 2
        for lo, hi in ((0, middle), (middle, len(messages))):
            part = messages[lo:hi]
            try:
                results.append(self._store_once(part, reserve_acks, set()))
            except _REFUSALS as failed:
                if _connection_lost(failed):
                    raise
                results += self._bisect(part, reserve_acks, failed)
            messages[lo:hi] = part
        return results


_REFUSALS = (StorageError, ValueError)
"""What a store raises when the database (or its driver's adapter) refuses a value."""


_DATABASE_AT_FAULT = frozenset({"OperationalError", "InterfaceError", "DisconnectionError"})
"""DB-API 2 (and SQLAlchemy) exception names of a database that is away, locked or restarting."""


def _connection_lost(exc: BaseException) -> bool:
    """Whether a failed store is the database's fault (away, locked, restarting), not a message's.

    Example:
        >>> import sqlite3
        >>> _connection_lost(StorageError("refused")), _connection_lost(sqlite3.OperationalError())
        (False, True)
    """
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    named = {k.__name__ for k in type(cause).__mro__} & _DATABASE_AT_FAULT
    return bool(named) or bool(getattr(cause, "connection_invalidated", False))


_HANDLERS: dict[Kind, _Handler] = {
    Kind.FRAMES: Ingestor._frames,
    Kind.EVENTS: Ingestor._events,
    Kind.HEARTBEAT: Ingestor._heartbeat,
    Kind.REPORTED: Ingestor._reported,
    Kind.COMMAND_RESULT: Ingestor._command_result,
}
"""What the hub does with each kind a device may send; any other kind is rejected as ``bad_kind``."""
