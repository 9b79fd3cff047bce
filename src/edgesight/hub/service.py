"""The hub's parts wired together: database, ingestor, rules, rollouts, metrics, downlink, MQTT worker."""

from __future__ import annotations

import logging

from edgesight.hub.downlink import NullPublisher, Publisher
from edgesight.hub.ingest import IngestOptions, Ingestor
from edgesight.hub.login_throttle import LoginThrottle
from edgesight.hub.metrics import HubMetrics
from edgesight.hub.rollout import RolloutController
from edgesight.hub.rules import RuleEngine
from edgesight.hub.settings import HubSettings
from edgesight.hub.storage import Database

__all__ = ["HubService"]

log = logging.getLogger(__name__)


class HubService:
    """Everything a hub process runs. Nothing happens until :meth:`start`.

    Args:
        settings: the hub settings.
        publisher: hub -> device transport; None uses the MQTT worker's client when MQTT is on,
            else drops messages.
        run_mqtt: start the MQTT ingestion worker (needs ``settings.mqtt_host``).
    """

    def __init__(self, settings: HubSettings, publisher: Publisher | None = None, run_mqtt: bool = True) -> None:
        self.settings = settings
        self.db = Database(settings.database_url(), settings.master_key())
        self.metrics = HubMetrics()
        self.publisher: Publisher = publisher or NullPublisher()
        self.rules = RuleEngine(self.db, self.metrics, self.publisher)
        options = IngestOptions(settings.keep_every_nth_frame, settings.max_future_s, settings.secret_cache_s)
        self.ingestor = Ingestor(self.db, self.metrics, options, self.rules)
        self.rollouts = RolloutController(self.db, self.publisher)
        self.ingestor.on_reported = self.rollouts.observe  # reported twins drive the rollouts
        self.run_mqtt = run_mqtt and settings.mqtt_host is not None
        self.admin_token = ""
        self.login_throttle = LoginThrottle(settings.auth_failures_per_minute, window_s=60.0)
        self._worker: object | None = None

    def start(self) -> None:
        self.db.migrate()
        self.admin_token = self.settings.resolve_admin_token()
        self.rules.__enter__()
        self.rollouts.start(self.settings.rollout_check_s)
        if self.run_mqtt:
            from edgesight.hub.mqtt_worker import MqttWorker

            worker = MqttWorker(self.settings, self.ingestor)
            worker.start()
            self._worker = worker
            if isinstance(self.publisher, NullPublisher):
                self.publisher = worker
                self.rules.publisher = worker
                self.rollouts.publisher = worker

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        """True once the MQTT worker is connected and subscribed (True at once without MQTT)."""
        from edgesight.hub.mqtt_worker import MqttWorker

        if not isinstance(self._worker, MqttWorker):
            return True
        return self._worker.wait_connected(timeout_s)

    def stop(self) -> None:
        from edgesight.hub.mqtt_worker import MqttWorker

        if isinstance(self._worker, MqttWorker):
            self._worker.stop()
            self._worker = None
        self.rollouts.stop()
        self.rules.stop()
        self.db.close()
