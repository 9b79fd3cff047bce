"""The rollout controller: deployments go to their canaries, then to the rest, or halt.

A deployment sends a model to devices by putting a :class:`~edgesight.core.wire.ModelTarget` in
their desired twins (``config.model``). Each device reports on it in its reported twin
(``state.model``, a :class:`~edgesight.core.wire.ModelReport`); the ingest path calls
:meth:`RolloutController.observe` with the devices whose reported twin was just stored, and that
drives everything: no thread polls.

* ``canary``: only the canary devices have the target. When every canary reports ``healthy``
  (it ran the model for the deployment's health window within the limits), the target goes to
  the other devices and the deployment is ``rolling``.
* ``rolling`` becomes ``completed`` when every device reports ``healthy``.
* A device that reports ``refused`` or ``rolled_back`` halts the deployment: devices not yet
  sent the model are left untouched, and the failed device's desired model goes back to what it
  was before, so the twin says what the device runs.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from edgesight.core.errors import ConfigError, EdgeSightError, SchemaError
from edgesight.core.wire import HealthLimits, ModelReport, ModelState, ModelTarget
from edgesight.hub.downlink import Publisher, check_desired_fits, send_desired
from edgesight.hub.storage import devices, models, rollouts
from edgesight.hub.storage.db import Database
from edgesight.hub.storage.rollouts import DeploymentInfo

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
    """

    model_id: str
    version: str
    devices: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    site: str | None = None
    canaries: tuple[str, ...] = ()
    canary_count: int = 1
    health: HealthLimits = field(default_factory=HealthLimits)


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


class RolloutController:
    """Creates deployments and moves them on as devices report. Thread-safe (state is in the database)."""

    def __init__(self, db: Database, publisher: Publisher) -> None:
        self.db = db
        self.publisher = publisher

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

    def halt(self, info: DeploymentInfo, detail: str) -> None:
        """Stop the deployment: nothing more is sent; failed devices get their previous desired model back."""
        if not rollouts.set_status(self.db, info.id, "halted", detail, was=rollouts.ACTIVE):
            return
        log.warning("deployment %s halted: %s", info.id, detail)
        for row in rollouts.devices_of(self.db, info.id):
            if row.state in (ModelState.REFUSED.value, ModelState.ROLLED_BACK.value):
                devices.patch_desired(self.db, row.device_id, {"model": row.previous})
                send_desired(self.db, self.publisher, row.device_id)


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
