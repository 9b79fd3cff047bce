"""The rollout controller: deployments go to their canaries, then to the rest, or halt.

A deployment sends a model to devices by putting a :class:`~edgesight.core.wire.ModelTarget` in
their desired twins (``config.model``). Each device reports on it in its reported twin
(``state.model``, a :class:`~edgesight.core.wire.ModelReport`); the ingest path calls
:meth:`RolloutController.observe` with the devices whose reported twin was just stored, and that
drives every advance. The one thing reports cannot drive is their absence: the hub's tick
(:meth:`RolloutController.start`, every ``rollout_check_s``) calls :meth:`RolloutController.expire`,
which times out devices silent for longer than the deployment's ``report_timeout_s``.

* ``canary``: only the canary devices have the target. When every canary reports ``healthy``
  (it ran the model for the deployment's health window within the limits), the target goes to
  the other devices and the deployment is ``rolling``.
* ``rolling`` becomes ``completed`` when every device reports ``healthy``.
* A device that reports ``refused`` or ``rolled_back`` halts the deployment: devices not yet
  sent the model are left untouched, and the failed device's desired model goes back to what it
  was before, so the twin says what the device runs.
* A device sent the model that reports no progress (a new state) for ``report_timeout_s`` (plus
  the health window while it runs the model) is ``timed_out`` and halts the deployment the same
  way: a canary that went silent does not hold the deployment forever, and its desired model goes
  back so that it does not take up the halted model when it returns.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edgesight.core.errors import ConfigError, EdgeSightError, SchemaError
from edgesight.core.wire import HealthLimits, ModelReport, ModelState, ModelTarget
from edgesight.hub.downlink import Publisher, check_desired_fits, send_desired
from edgesight.hub.storage import devices, models, rollouts
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.rollouts import DeploymentInfo, DeviceRollout

__all__ = ["DeploymentRequest", "RolloutController", "resolve_targets"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeploymentRequest:
    """What to deploy where.

    Attributes:
        model_id, version: a registered package.
        devices, tags, site: the targets; a device matches when its id is listed, it carries one
            of the tags, or it is at the site (revoked devices never match).
        canaries: device ids to go first (each must be a target).
        canary_count: without ``canaries``, this many targets (by id order) go first.
        health: the limits the devices watch after swapping.
        report_timeout_s: a device sent the model that reports no progress for this long (the
            health window not counted while it runs the model) halts the deployment.
    """

    model_id: str
    version: str
    devices: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    site: str | None = None
    canaries: tuple[str, ...] = ()
    canary_count: int = 1
    health: HealthLimits = field(default_factory=HealthLimits)
    report_timeout_s: float = rollouts.DEFAULT_REPORT_TIMEOUT_S


def resolve_targets(db: Database, request: DeploymentRequest) -> list[str]:
    """Ids of the enrolled, unrevoked devices the request targets, sorted."""
    if not (request.devices or request.tags or request.site):
        raise ConfigError("a deployment needs a target: device ids, tags or a site")
    wanted_ids, wanted_tags = set(request.devices), set(request.tags)
    known = {d.id: d for d in devices.list_devices(db)}
    unknown = sorted(wanted_ids - set(known))
    if unknown:
        raise ConfigError(f"devices not enrolled: {', '.join(unknown)}")
    return sorted(
        d.id for d in known.values()
        if d.revoked_at is None
        and (d.id in wanted_ids or wanted_tags & set(d.tags) or (request.site is not None and d.site == request.site))
    )  # fmt: skip


def _failed(row: DeviceRollout) -> bool:
    """A device that refused, rolled back or went silent: what a failure halt restores."""
    return row.state in (ModelState.REFUSED.value, ModelState.ROLLED_BACK.value, rollouts.TIMED_OUT)


def _reached(row: DeviceRollout) -> bool:
    """A device the deployment was sent to (an operator's roll back restores it)."""
    return row.state != "pending"


def _nobody(row: DeviceRollout) -> bool:
    return False


class RolloutController:
    """Creates deployments and moves them on as devices report. Thread-safe (state is in the database)."""

    def __init__(self, db: Database, publisher: Publisher) -> None:
        self.db = db
        self.publisher = publisher
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the tick -------------------------------------------------------------------------------

    def start(self, every_s: float) -> None:
        """Call :meth:`expire` every ``every_s`` seconds on a thread, until :meth:`stop`."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._tick, args=(every_s,), name="rollout-tick", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
            self._thread = None

    def _tick(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            try:
                self.expire()
            except Exception:  # a database outage must not end the tick: the next one tries again
                log.exception("rollout: checking report deadlines failed")

    # ---- admin ----------------------------------------------------------------------------------

    def deploy(self, request: DeploymentRequest) -> DeploymentInfo:
        """Create a deployment and send the model to its canaries.

        Raises:
            ConfigError: unknown model, no matching device, a canary outside the targets, or a
                device already in a deployment in progress (the message names it).
        """
        model = models.get_model(self.db, request.model_id, request.version)
        if model is None:
            raise LookupError(f"model {request.model_id}@{request.version} is not registered; upload it first")
        targets = resolve_targets(self.db, request)
        if not targets:
            raise ConfigError("no enrolled, unrevoked device matches the deployment's target")
        outside = sorted(set(request.canaries) - set(targets))
        if outside:
            raise ConfigError(f"canaries {', '.join(outside)} are not among the targets ({', '.join(targets)})")
        canaries = set(request.canaries) if request.canaries else set(targets[: max(1, request.canary_count)])
        busy = [t for t in targets if rollouts.active_for_device(self.db, t)]
        if busy:
            raise ConfigError(f"devices already in a deployment in progress: {', '.join(busy)}")
        now = time.time()
        info = DeploymentInfo(
            id=secrets.token_hex(6), model_id=model.id, model_version=model.version,
            target={"devices": sorted(request.devices), "tags": sorted(request.tags), "site": request.site},
            health=request.health.to_dict(), status="canary", detail=None, created_at=now, updated_at=now,
            report_timeout_s=request.report_timeout_s,
        )  # fmt: skip
        members = []
        for device_id in targets:
            twin = devices.get_twin(self.db, device_id)
            previous = None if twin is None else twin.desired.get("model")
            members.append((device_id, device_id in canaries, previous))
        rollouts.create_deployment(self.db, info, members)
        self._send(info, sorted(canaries))
        log.info("deployment %s: %s@%s to canaries %s", info.id, model.id, model.version, sorted(canaries))
        found = rollouts.get_deployment(self.db, info.id)
        assert found is not None
        return found

    def _target(self, info: DeploymentInfo) -> ModelTarget:
        model = models.get_model(self.db, info.model_id, info.model_version)
        if model is None:
            raise LookupError(f"model {info.model_id}@{info.model_version} is no longer registered")
        health = HealthLimits.from_dict(info.health)
        return ModelTarget(model.id, model.version, model.sha256, model.size, deployment=info.id, health=health)

    def _send(self, info: DeploymentInfo, device_ids: Iterable[str]) -> None:
        target = self._target(info).to_dict()
        for device_id in device_ids:
            devices.patch_desired(self.db, device_id, {"model": target}, check=check_desired_fits)
            send_desired(self.db, self.publisher, device_id)
            rollouts.set_device_state(self.db, info.id, device_id, "sent", None)

    # ---- devices --------------------------------------------------------------------------------

    def observe(self, device_ids: Iterable[str]) -> None:
        """Take in the reported twins just stored for ``device_ids`` (called after each ingest
        commit). Errors are logged, never raised: ingestion must go on."""
        for device_id in sorted(set(device_ids)):
            try:
                self._observe(device_id)
            except (EdgeSightError, LookupError) as exc:
                log.error("rollout: report of %s not taken in: %s", device_id, exc)

    def _observe(self, device_id: str) -> None:
        active = rollouts.active_for_device(self.db, device_id)
        if not active:
            return
        twin = devices.get_twin(self.db, device_id)
        raw = None if twin is None else twin.reported.get("model")
        if raw is None:
            return
        try:
            report = ModelReport.from_dict(raw)
        except SchemaError as exc:
            log.warning("rollout: %s reported an unreadable model state: %s", device_id, exc)
            return
        for info, _row in active:
            if report.target is None or report.target.deployment != info.id:
                continue
            detail = _describe(report)
            rollouts.set_device_state(self.db, info.id, device_id, report.state.value, detail)
            if report.state.failed:
                self.halt(info, f"{device_id}: {detail}")
            else:
                self._advance(info)

    def _advance(self, info: DeploymentInfo) -> None:
        rows = rollouts.devices_of(self.db, info.id)
        healthy = [r.state == ModelState.HEALTHY.value for r in rows]
        canaries_healthy = all(h for r, h in zip(rows, healthy, strict=True) if r.canary)
        if (
            info.status == "canary"
            and canaries_healthy
            and rollouts.set_status(self.db, info.id, "rolling", "canaries healthy", was=("canary",))
        ):
            rest = [r.device_id for r in rows if not r.canary]
            log.info("deployment %s: canaries healthy, sending to %s", info.id, rest)
            self._send(info, rest)
            rows = rollouts.devices_of(self.db, info.id)
            healthy = [r.state == ModelState.HEALTHY.value for r in rows]
        if all(healthy):
            rollouts.set_status(self.db, info.id, "completed", "every device healthy", was=("canary", "rolling"))

    def expire(self, now: float | None = None) -> None:
        """Time out the devices that reported no progress within their deployment's
        ``report_timeout_s`` (``now``: epoch seconds, default the clock) and halt those deployments,
        naming the devices. Each device's clock starts at its last state change (``sent`` included);
        while it runs the model the health window is added, since it has nothing to report before."""
        now = time.time() if now is None else now
        late: dict[str, tuple[DeploymentInfo, list[str]]] = {}
        for info, row in rollouts.waiting(self.db):
            allowed = info.report_timeout_s
            if row.state == ModelState.RUNNING.value:
                allowed += HealthLimits.from_dict(info.health).window_s
            silent = now - row.updated_at
            if silent < allowed:
                continue
            detail = f"timed_out: no report for {silent:.0f} s after {row.state} (limit {allowed:.0f} s)"
            if rollouts.time_out(self.db, row, detail):
                late.setdefault(info.id, (info, []))[1].append(row.device_id)
        for info, device_ids in late.values():
            self.halt(info, f"timed out: {', '.join(sorted(device_ids))} reported no progress within "
                      f"{info.report_timeout_s:.0f} s")  # fmt: skip

    def halt_deployment(self, deployment_id: str, reason: str, roll_back: bool = False) -> DeploymentInfo:
        """An operator halts a deployment: nothing more is sent, and with ``roll_back`` every device
        it already reached gets its previous desired model back (the ones still pending never
        changed). Returns the halted deployment.

        Raises:
            LookupError: no such deployment.
            ConfigError: it already completed or halted.
        """
        info = rollouts.get_deployment(self.db, deployment_id)
        if info is None:
            raise LookupError(f"deployment {deployment_id!r} does not exist")
        detail = f"halted by an operator: {reason}" + ("; rolled back" if roll_back else "")
        if not self.halt(info, detail, restore=_reached if roll_back else _nobody):
            current = rollouts.get_deployment(self.db, deployment_id)
            raise ConfigError(f"deployment {deployment_id} is {current.status if current else info.status}: nothing to halt")
        halted = rollouts.get_deployment(self.db, deployment_id)
        assert halted is not None
        return halted

    def halt(self, info: DeploymentInfo, detail: str, restore: Callable[[DeviceRollout], bool] = _failed) -> bool:
        """Stop the deployment (False if it was no longer in progress): nothing more is sent, and the
        devices ``restore`` picks (by default the failed or timed-out ones) get their previous
        desired model back."""
        if not rollouts.set_status(self.db, info.id, "halted", detail, was=rollouts.ACTIVE):
            return False
        log.warning("deployment %s halted: %s", info.id, detail)
        for row in rollouts.devices_of(self.db, info.id):
            if restore(row):
                devices.patch_desired(self.db, row.device_id, {"model": row.previous})
                send_desired(self.db, self.publisher, row.device_id)
        return True


def _describe(report: ModelReport) -> str:
    """One line: the state, the check or reason, and the device's detail (where the device's own
    message already names them, as a trust refusal does, they are not said twice).

    Example:
        >>> from edgesight.core.wire import ModelState
        >>> _describe(ModelReport(ModelState.REFUSED, ("m", "1"), None, check="sha256",
        ...                       detail="m-2.espkg: refused (sha256): digest differs"))
        'refused (sha256): m-2.espkg: digest differs'
    """
    why = report.check or report.reason
    head = report.state.value if why is None else f"{report.state.value} ({why})"
    if report.detail is None:
        return head
    return f"{head}: {report.detail.replace(f'{head}: ', '', 1)}"
