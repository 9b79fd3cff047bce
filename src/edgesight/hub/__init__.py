"""The hub (cloud side): device identities and twins, lossless exactly-once ingestion over MQTT and
HTTP, queries, exports, rules and alerts. See docs/hub.md."""

__all__: list[str] = []
