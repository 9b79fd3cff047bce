"""The agent's rollout steps on their own: a real package, trust check, load and self-test, with a
feed that counts frames and inference errors as the sensor does (no camera, no hub)."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from edgesight.agent.model_refusals import MAX_ENTRIES, Refusals
from edgesight.agent.model_rollout import ModelRollout
from edgesight.core.detections import Detections
from edgesight.core.errors import PackageTrustError
from edgesight.core.frame import FrameMeta, ModelRef
from edgesight.core.package import ModelPackage
from edgesight.core.trust import TrustSettings
from edgesight.core.wire import HealthLimits, ModelReport, ModelState, ModelTarget
from edgesight.sensor.swap import LoadedModel, load_beside, self_test
from edgesight.sensor.zoo import load_model
from modelkit import BASE, BASE_VERSION, MODEL_ID, new_key, package


class CountingFeed:
    """The sensor feed's swap interface over real loaded models; the test says which frames fail."""

    def __init__(self, package: ModelPackage) -> None:
        self.current = self._load(package, tolerate=False)
        self.failures = 0
        self.swaps: list[str] = []

    @staticmethod
    def _load(package: ModelPackage, tolerate: bool = True) -> LoadedModel:
        return load_beside(package, roi=None, tiling=None, auto_tiling=False, thresholds=None, threads=1,
                           sessions=1, tolerate_errors=tolerate)  # fmt: skip

    @property
    def model(self) -> ModelRef:
        return self.current.ref

    def load_model(self, package: ModelPackage) -> LoadedModel:
        return self._load(package)

    def self_test(self, model: LoadedModel) -> None:
        self_test(model, None)

    def swap_model(self, model: LoadedModel) -> LoadedModel:
        old, self.current = self.current, model
        self.swaps.append(model.ref.id)
        return old

    def errors(self) -> int:
        return self.failures

    def frame(self, index: int) -> FrameMeta:
        return FrameMeta("cam", "main", index, index, time.time(), self.current.ref, (640, 480), Detections.empty())


def _fetcher(path: Path):  # type: ignore[no-untyped-def]
    def fetch(target: ModelTarget, folder: Path) -> Path:
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != target.sha256:
            raise PackageTrustError("sha256", "sha256 differs")
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(path, folder / "download.espkg"))
    return fetch


def _target(path: Path, version: str, health: HealthLimits) -> ModelTarget:
    data = path.read_bytes()
    return ModelTarget(MODEL_ID, version, hashlib.sha256(data).hexdigest(), len(data), "d1", health)


def _until(rollout: ModelRollout, feed: CountingFeed, state: ModelState, fail: bool = False) -> list[ModelReport]:
    """Feed frames (each failing when ``fail``) until a report in ``state``; returns every report."""
    reports: list[ModelReport] = []
    for i in range(2000):
        if fail and feed.current.tolerate_errors:
            feed.failures += 1
        reports += rollout.on_frame(feed.frame(i), time.monotonic())
        if reports and reports[-1].state is state:
            return reports
        time.sleep(0.005)
    raise AssertionError(f"never reached {state}: {reports}")


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, str]:
    key, text = new_key()
    return package(tmp_path, "2.0.0", key), text


def test_an_error_rate_past_the_limit_rolls_back_to_the_previous_model(tmp_path: Path, signed: tuple[Path, str]) -> None:
    path, key = signed
    feed = CountingFeed(load_model(BASE))
    rollout = ModelRollout(feed, TrustSettings(trusted_keys=(key,)), _fetcher(path), tmp_path / "dl")  # type: ignore[arg-type]
    start = rollout.want(_target(path, "2.0.0", HealthLimits(window_s=60.0, max_error_rate=0.2)))
    assert start is not None and start.state is ModelState.DOWNLOADING
    reports = _until(rollout, feed, ModelState.RUNNING)
    assert [r.state for r in reports] == [ModelState.VERIFYING, ModelState.LOADING, ModelState.RUNNING]
    assert "signed by trusted key" in (reports[1].detail or "") and feed.model.id == MODEL_ID
    back = _until(rollout, feed, ModelState.ROLLED_BACK, fail=True)[-1]
    assert back.reason == "error-rate" and back.running == (BASE, BASE_VERSION) and feed.model.id == BASE
    assert feed.swaps == [MODEL_ID, BASE]
    # The same package is not tried again: a twin naming it again gets the roll-back said again.
    again = rollout.want(_target(path, "2.0.0", HealthLimits(window_s=0.5)))
    assert again is not None and again.state is ModelState.ROLLED_BACK and again.reason == "error-rate"
    assert rollout.on_frame(feed.frame(0), time.monotonic()) == [] and feed.swaps == [MODEL_ID, BASE]


def test_a_healthy_window_records_the_version_and_ends_probation(tmp_path: Path, signed: tuple[Path, str]) -> None:
    path, key = signed
    accepted = tmp_path / "accepted.json"
    feed = CountingFeed(load_model(BASE))
    trust = TrustSettings(trusted_keys=(key,), accepted_versions=accepted)
    rollout = ModelRollout(feed, trust, _fetcher(path), tmp_path / "dl")  # type: ignore[arg-type]
    rollout.want(_target(path, "2.0.0", HealthLimits(window_s=0.3, min_fps_ratio=0.0)))
    healthy = _until(rollout, feed, ModelState.HEALTHY)[-1]
    assert healthy.running == (MODEL_ID, "2.0.0") and healthy.error_rate == 0.0
    assert not feed.current.tolerate_errors  # off probation: an error stops the sensor again
    assert accepted.read_text().count('"2.0.0"') == 1
    assert list((tmp_path / "dl").iterdir()) == []  # the download is deleted once loaded


def test_a_download_that_differs_from_the_twin_is_refused(tmp_path: Path, signed: tuple[Path, str]) -> None:
    path, key = signed
    feed = CountingFeed(load_model(BASE))
    rollout = ModelRollout(feed, TrustSettings(trusted_keys=(key,)), _fetcher(path), tmp_path / "dl")  # type: ignore[arg-type]
    target = _target(path, "2.0.0", HealthLimits())
    rollout.want(ModelTarget(target.id, target.version, "0" * 64, target.size, "d1"))
    refused = _until(rollout, feed, ModelState.REFUSED)[-1]
    assert refused.check == "sha256" and feed.swaps == [] and feed.model.id == BASE


def test_a_refusal_is_kept_across_a_restart_and_said_again_without_downloading(tmp_path: Path) -> None:
    other, _ = new_key()
    _, trusted_text = new_key()
    path = package(tmp_path, "2.0.0", other)  # signed, but not by a key the device trusts
    refusals = tmp_path / "agent" / "refused_models.json"
    feed = CountingFeed(load_model(BASE))
    trust = TrustSettings(trusted_keys=(trusted_text,))
    first = ModelRollout(feed, trust, _fetcher(path), tmp_path / "dl", refusals=refusals)  # type: ignore[arg-type]
    target = _target(path, "2.0.0", HealthLimits())
    first.want(target)
    assert _until(first, feed, ModelState.REFUSED)[-1].check == "untrusted-key"
    assert oct(refusals.stat().st_mode & 0o777) == "0o600"

    fetched: list[ModelTarget] = []

    def fetch(t: ModelTarget, folder: Path) -> Path:
        fetched.append(t)
        return _fetcher(path)(t, folder)

    again = ModelTarget(target.id, target.version, target.sha256, target.size, "d2")  # a new deployment of it
    restarted = ModelRollout(feed, trust, fetch, tmp_path / "dl", refusals=refusals)  # type: ignore[arg-type]
    report = restarted.want(again)
    assert report is not None and report.state is ModelState.REFUSED and report.check == "untrusted-key"
    assert report.target == again and "not tried again" in (report.detail or "")
    assert restarted.on_frame(feed.frame(0), time.monotonic()) == [] and fetched == [] and feed.swaps == []
    assert restarted.want(None) is None and restarted.want(again) is None  # the report already says so
    assert restarted.report == report and fetched == []


def test_refusals_keep_the_newest_and_survive_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "refused_models.json"
    store = Refusals(path)
    for i in range(MAX_ENTRIES + 3):
        t = ModelTarget(MODEL_ID, f"2.0.{i}", f"{i:064x}", 10, "d1")
        store.add(ModelReport(ModelState.REFUSED, (BASE, BASE_VERSION), t, check="unsigned"))
    kept = Refusals(path)
    assert kept.get(f"{0:064x}") is None and kept.get(f"{MAX_ENTRIES + 2:064x}") is not None
    assert len(json.loads(path.read_text())["reports"]) == MAX_ENTRIES
    path.write_text("{not json")
    assert Refusals(path).get(f"{MAX_ENTRIES + 2:064x}") is None  # forgotten, not fatal: it is checked again


def test_clearing_the_target_swaps_back_to_the_config_files_model(tmp_path: Path, signed: tuple[Path, str]) -> None:
    path, key = signed
    base = load_model(BASE)
    feed = CountingFeed(base)
    rollout = ModelRollout(feed, TrustSettings(trusted_keys=(key,)), _fetcher(path), tmp_path / "dl",  # type: ignore[arg-type]
                           home=lambda: base)  # fmt: skip
    rollout.want(_target(path, "2.0.0", HealthLimits(window_s=0.3, min_fps_ratio=0.0)))
    _until(rollout, feed, ModelState.HEALTHY)
    swaps = len(feed.swaps)
    start = rollout.want(None)
    assert start is not None and start.state is ModelState.VERIFYING and start.target is None
    reports = _until(rollout, feed, ModelState.RUNNING)
    assert [r.state for r in reports] == [ModelState.LOADING, ModelState.RUNNING]
    back = reports[-1]
    assert back.target is None and back.running == (BASE, BASE_VERSION) and back.detail is not None
    assert f"previous {MODEL_ID}@2.0.0" in back.detail
    assert feed.swaps[swaps:] == [BASE] and not feed.current.tolerate_errors
    assert rollout.want(None) is None  # already on it

    # A model still on probation is swapped back out at once.
    rollout.want(_target(path, "2.0.0", HealthLimits(window_s=600.0)))
    _until(rollout, feed, ModelState.RUNNING)
    assert feed.model.id == MODEL_ID
    dropped = rollout.want(None)
    assert dropped is not None and dropped.state is ModelState.RUNNING and dropped.target is None
    assert feed.model.id == BASE and feed.swaps[swaps:] == [BASE, MODEL_ID, BASE]
