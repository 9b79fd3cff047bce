"""The device's side of a model rollout: fetch, verify, load beside, self-test, swap, watch, roll back.

The desired twin names a :class:`~edgesight.core.wire.ModelTarget`. A background thread downloads
it from the hub (:mod:`edgesight.agent.model_fetch`: size bound, SHA-256 against the twin), checks
it as the device's ``model_trust`` says (:func:`edgesight.core.trust.verify_package`: signature,
trusted key, no downgrade), loads it beside the running model and runs it once on a recent
frame. The sensing thread then swaps it in between two frames (:meth:`on_frame`) and watches it
for the target's health window: fps against the previous model's and an absolute floor, and the
share of frames whose inference failed. Past a limit it swaps the previous model back; through
the window it is ``healthy`` and its version is recorded as accepted (later downgrades refused).

Every step is a :class:`~edgesight.core.wire.ModelReport` the agent sends in its reported twin.
A refused or rolled-back target is remembered (by SHA-256, in the agent's data dir:
:mod:`edgesight.agent.model_refusals`) and not tried again, even after a restart: the twin naming
it again gets the same report at once. Whatever happens, the running model keeps running.

When the twin stops naming a model (``config.model`` cleared), the device goes back to the model
of its config file the same way: verified as at start (zoo pin or ``model_trust``), loaded beside,
self-tested and swapped in between two frames, reported with no target. A model still on probation
is simply swapped back out.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from edgesight.agent.feeds import SwappableFeed
from edgesight.agent.model_refusals import Refusals
from edgesight.core.errors import ModelLoadError, PackageTrustError
from edgesight.core.frame import FrameMeta
from edgesight.core.package import ModelPackage
from edgesight.core.trust import AcceptedVersions, TrustSettings, verify_package
from edgesight.core.wire import ModelReport, ModelState, ModelTarget
from edgesight.sensor.swap import LoadedModel

__all__ = ["Fetch", "Home", "ModelRollout"]

log = logging.getLogger(__name__)

Fetch = Callable[[ModelTarget, Path], Path]
"""Downloads a target into a folder and returns the file (see :func:`~edgesight.agent.model_fetch.download_model`)."""
Home = Callable[[], ModelPackage]
"""Verifies and returns the config file's model (raises PackageTrustError or ModelLoadError)."""

_BASELINE_FRAMES = 60
_MIN_FRAMES_FOR_ERRORS = 10


@dataclass
class _Probation:
    """A swapped-in model being watched."""

    target: ModelTarget
    new: LoadedModel
    previous: LoadedModel
    started: float
    baseline_fps: float
    errors_at_start: int
    frames: int = 0


class ModelRollout:
    """Runs the target model of the desired twin on a :class:`SwappableFeed`.

    Args:
        feed: the running sensor feed.
        trust: the device's ``model_trust`` (from its config file; never from the twin).
        fetch: downloads a target (the hub with the device's credentials).
        folder: where downloads go (a private folder of the agent's data dir).
        refusals: the file that keeps refused and rolled-back targets across restarts (None: memory).
        home: the config file's model, for when the twin stops naming one (None: stay on the model
            running); the feed must be running it when this object is made.
    """

    def __init__(
        self, feed: SwappableFeed, trust: TrustSettings, fetch: Fetch, folder: Path, *, refusals: Path | None = None,
        home: Home | None = None,
    ) -> None:  # fmt: skip
        self.feed = feed
        self.trust = trust
        self.fetch = fetch
        self.folder = folder
        self.home = home
        ref = feed.model
        self.report = ModelReport(ModelState.RUNNING, running=(ref.id, ref.version))
        self._home_ref = (ref.id, ref.version)
        self._home_failed = False
        """The config file's model failed to verify, load or self-test: not tried again while the agent runs."""
        self._wanted: ModelTarget | None = None
        self._failed = Refusals(refusals)
        self._busy = False
        self._results: queue.SimpleQueue[ModelReport | LoadedModel] = queue.SimpleQueue()
        self._probation: _Probation | None = None
        self._recent: collections.deque[float] = collections.deque(maxlen=_BASELINE_FRAMES)

    # ---- sensing thread -------------------------------------------------------------------------

    def want(self, target: ModelTarget | None) -> ModelReport | None:
        """The desired twin names ``target`` (None: no deployment). Returns a report to send, if any."""
        if target == self._wanted:
            return None
        self._wanted = target
        if target is None:
            return self._go_home()
        running = self.feed.model
        if (running.id, running.version) == (target.id, target.version) and self._probation is None:
            return self._set(ModelState.HEALTHY, target, detail="already running")
        failed = self._failed.get(target.sha256)
        if failed is not None:  # refused or rolled back before, maybe before a restart: said again, not retried
            if self.report.target == target:
                return None
            self.report = replace(failed, running=(running.id, running.version), target=target,
                                  detail=f"{failed.detail or failed.state.value} (failed before: not tried again)")  # fmt: skip
            return self.report
        self._start(target)
        return self._set(ModelState.DOWNLOADING, target)

    def _go_home(self) -> ModelReport | None:
        """The twin names no model: back to the config file's model, if another one runs."""
        p = self._probation
        if p is not None:  # not judged yet: swapped back out, as a roll-back would
            self._probation = None
            self.feed.swap_model(p.previous)
            log.info("model %s dropped before its health window ended: the twin names no model", p.target.name)
        running = self.feed.model
        if (running.id, running.version) == self._home_ref:
            if p is None:
                return None
            return self._set(ModelState.RUNNING, None, detail=f"swapped back; {p.target.name} dropped on probation")
        if self.home is None or self._home_failed:
            return None
        self._start(None)
        return self._set(ModelState.VERIFYING, None, detail="the twin names no model: back to the config file's")

    def on_frame(self, meta: FrameMeta, now: float) -> list[ModelReport]:
        """Call after every frame: applies finished work and watches a new model. Returns reports to send."""
        self._recent.append(now)
        out: list[ModelReport] = []
        while True:
            try:
                item = self._results.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, LoadedModel):
                swapped = self._swap_in(item, now)
                if swapped is not None:
                    out.append(swapped)
            else:
                out.append(self._finished(item))
        if self._probation is not None:
            report = self._watch(meta, now)
            if report is not None:
                out.append(report)
        return out

    def _finished(self, report: ModelReport) -> ModelReport:
        """A report from the worker; a failure ends its work."""
        if report.state.failed:
            self._busy = False
            if report.target is not None:
                self._failed.add(report)
            else:
                self._home_failed = True
            self._restart_if_wanted()
        self.report = report
        return report

    def _swap_in(self, model: LoadedModel, now: float) -> ModelReport | None:
        self._busy = False
        target = self._wanted
        loaded = (model.ref.id, model.ref.version)
        if target is None and loaded == self._home_ref:
            previous = self.feed.swap_model(replace(model, tolerate_errors=False))  # not on probation
            log.info("model %s@%s swapped back in (was %s@%s): the twin names no model", *loaded, previous.ref.id,
                     previous.ref.version)  # fmt: skip
            return self._set(ModelState.RUNNING, None, detail=f"swapped back; previous {previous.ref.id}@"
                             f"{previous.ref.version}")  # fmt: skip
        if target is None or (target.id, target.version) != loaded:
            self._restart_if_wanted()  # the twin moved on while this one loaded: it is dropped
            if target is None and not self._busy:  # and nothing else to load: the report says so
                return self._set(ModelState.RUNNING, None, detail=f"{model.package.name} dropped: the twin names no model")
            return None
        baseline = _fps(self._recent)
        previous = self.feed.swap_model(model)
        self._probation = _Probation(target, model, previous, now, baseline, self.feed.errors())
        log.info("model %s swapped in (was %s@%s); watching it %.1f s", target.name, previous.ref.id,
                 previous.ref.version, target.health.window_s)  # fmt: skip
        return self._set(ModelState.RUNNING, target, detail=f"swapped in; previous {previous.ref.id}@{previous.ref.version}")

    def _watch(self, meta: FrameMeta, now: float) -> ModelReport | None:
        p = self._probation
        assert p is not None
        if meta.model.id != p.new.ref.id or meta.model.version != p.new.ref.version:
            return None  # a frame picked up before the swap
        p.frames += 1
        limits = p.target.health
        errors = self.feed.errors() - p.errors_at_start
        rate = errors / p.frames
        elapsed = now - p.started
        if rate > limits.max_error_rate and (p.frames >= _MIN_FRAMES_FOR_ERRORS or elapsed >= limits.window_s):
            return self._roll_back("error-rate", f"{errors} of {p.frames} frames failed ({rate:.0%}, limit "
                                   f"{limits.max_error_rate:.0%})", rate)  # fmt: skip
        if elapsed < limits.window_s:
            return None
        fps = p.frames / elapsed if elapsed > 0 else 0.0
        floor = max(limits.min_fps, limits.min_fps_ratio * p.baseline_fps)
        if fps < floor:
            return self._roll_back(
                "fps", f"{fps:.1f} fps, below the limit of {floor:.1f} (previous model {p.baseline_fps:.1f} fps)", rate
            )
        self._probation = None
        self.feed.swap_model(replace(p.new, tolerate_errors=False))  # off probation: errors stop the sensor again
        if self.trust.accepted_versions is not None:
            AcceptedVersions(self.trust.accepted_versions).record(p.new.package)
        detail = f"{fps:.1f} fps, {rate:.0%} errors over {elapsed:.1f} s"
        return self._set(ModelState.HEALTHY, p.target, detail=detail, fps=round(fps, 2), error_rate=rate)

    def _roll_back(self, reason: str, detail: str, rate: float) -> ModelReport:
        p = self._probation
        assert p is not None
        self._probation = None
        self.feed.swap_model(p.previous)
        log.error("model %s rolled back to %s@%s: %s", p.target.name, p.previous.ref.id, p.previous.ref.version, detail)
        report = self._set(ModelState.ROLLED_BACK, p.target, reason=reason, detail=detail, error_rate=rate)
        self._failed.add(report)
        return report

    def _set(
        self, state: ModelState, target: ModelTarget | None, *, reason: str | None = None, detail: str | None = None,
        fps: float | None = None, error_rate: float | None = None,
    ) -> ModelReport:  # fmt: skip
        running = self.feed.model
        self.report = ModelReport(
            state, (running.id, running.version), target, reason=reason, detail=detail, fps=fps, error_rate=error_rate
        )
        return self.report

    def _restart_if_wanted(self) -> None:
        if self._busy or self._probation is not None:
            return
        wanted, running = self._wanted, (self.feed.model.id, self.feed.model.version)
        if wanted is None:
            if self.home is not None and not self._home_failed and running != self._home_ref:
                self._start(None)
        elif self._failed.get(wanted.sha256) is None and running != (wanted.id, wanted.version):
            self._start(wanted)

    # ---- worker thread --------------------------------------------------------------------------

    def _start(self, target: ModelTarget | None) -> None:
        """Work on ``target`` (None: the config file's model) in a thread."""
        if self._busy:
            return  # the current job ends in a report; then the newest wanted target starts
        self._busy = True
        work = self._work if target is not None else self._work_home
        threading.Thread(target=work, args=(target,), name="edgesight-model", daemon=True).start()

    def _work_home(self, _target: None) -> None:
        """Verify the config file's model as at start, load, self-test; posts reports and the model."""
        assert self.home is not None
        running = self.feed.model
        at = (running.id, running.version)
        try:
            package = self.home()
        except PackageTrustError as exc:
            self._results.put(ModelReport(ModelState.REFUSED, at, None, check=exc.check, detail=str(exc)[:400]))
            return
        except ModelLoadError as exc:
            self._results.put(ModelReport(ModelState.REFUSED, at, None, check="tampered", detail=str(exc)[:400]))
            return
        self._results.put(ModelReport(ModelState.LOADING, at, None, detail=f"the config file's {package.name}"))
        self._load(package, None, at)

    def _work(self, target: ModelTarget) -> None:
        """Download, verify, load, self-test; posts reports and finally the loaded model."""
        running = self.feed.model
        at = (running.id, running.version)
        path: Path | None = None
        try:
            path = self.fetch(target, self.folder)
            self._results.put(ModelReport(ModelState.VERIFYING, at, target))
            verdict = verify_package(path, self.trust, record=False)
            package = verdict.package
            if (package.id, package.version) != (target.id, target.version):
                raise PackageTrustError("mismatch", f"{target.name}: the package is {package.name}, not what the twin names")
            self._results.put(ModelReport(ModelState.LOADING, at, target, detail=verdict.basis))
        except PackageTrustError as exc:
            self._results.put(ModelReport(ModelState.REFUSED, at, target, check=exc.check, detail=str(exc)[:400]))
            return
        except ModelLoadError as exc:  # damaged (checksums, manifest): what tampering without a key looks like
            self._results.put(ModelReport(ModelState.REFUSED, at, target, check="tampered", detail=str(exc)[:400]))
            return
        finally:
            if path is not None:
                path.unlink(missing_ok=True)
        self._load(package, target, at)

    def _load(self, package: ModelPackage, target: ModelTarget | None, at: tuple[str, str]) -> None:
        """Load beside the running model and self-test; posts the loaded model or a roll-back."""
        try:
            model = self.feed.load_model(package)
        except ModelLoadError as exc:
            self._results.put(ModelReport(ModelState.ROLLED_BACK, at, target, reason="load", detail=str(exc)[:400]))
            return
        try:
            self.feed.self_test(model)
        except ModelLoadError as exc:
            self._results.put(ModelReport(ModelState.ROLLED_BACK, at, target, reason="self-test", detail=str(exc)[:400]))
            return
        self._results.put(model)


def _fps(times: collections.deque[float]) -> float:
    """Frames per second over the recent frame times (0 with fewer than two)."""
    if len(times) < 2 or times[-1] <= times[0]:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0])
