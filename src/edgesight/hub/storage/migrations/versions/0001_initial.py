"""Initial schema: devices, twins, health, ingest log, frames, events, aggregates, commands, rules, alerts.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", _ID, primary_key=True),
        sa.Column("site", sa.String(128), nullable=True),
        sa.Column("secret", sa.LargeBinary(32), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("enrolled_at", sa.Float, nullable=False),
        sa.Column("revoked_at", sa.Float, nullable=True),
        sa.Column("stored_through", sa.BigInteger, nullable=False),
        sa.Column("down_seq", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_devices_site", "devices", ["site"])
    op.create_table(
        "twins",
        sa.Column("device_id", _ID, primary_key=True),
        sa.Column("desired", sa.JSON, nullable=False),
        sa.Column("desired_version", sa.Integer, nullable=False),
        sa.Column("reported", sa.JSON, nullable=False),
        sa.Column("reported_version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "device_health",
        sa.Column("device_id", _ID, primary_key=True),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("fps", sa.Float, nullable=True),
        sa.Column("dnn_ms", sa.Float, nullable=True),
        sa.Column("model", sa.String(160), nullable=True),
        sa.Column("outbox_pending", sa.BigInteger, nullable=True),
        sa.Column("uptime_s", sa.Float, nullable=True),
    )
    op.create_table(
        "ingest_log",
        sa.Column("device_id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_table(
        "frames",
        sa.Column("device_id", _ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("frame_index", sa.BigInteger, primary_key=True),
        sa.Column("stream_id", sa.String(128), nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("model", sa.String(160), nullable=False),
        sa.Column("n_detections", sa.Integer, nullable=False),
        sa.Column("detections", sa.Text, nullable=False),
    )
    op.create_index("ix_frames_time", "frames", ["timestamp"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", _ID, nullable=False),
        sa.Column("stream_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("frame_index", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("class_name", sa.String(64), nullable=True),
        sa.Column("track_ids", sa.JSON, nullable=False),
        sa.Column("properties", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_time", "events", ["timestamp"])
    op.create_index("ix_events_device_time", "events", ["device_id", "timestamp"])
    op.create_index("ix_events_type_time", "events", ["type", "timestamp"])
    op.create_table(
        "aggregates",
        sa.Column("device_id", _ID, primary_key=True),
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("minute", sa.BigInteger, primary_key=True),
        sa.Column("metric", sa.String(32), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("maximum", sa.Float, nullable=False),
    )
    op.create_table(
        "commands",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device_id", _ID, nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=True),
    )
    op.create_index("ix_commands_device_id", "commands", ["device_id"])
    op.create_table(
        "rules",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("condition", sa.JSON, nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("mqtt_topic", sa.String(200), nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_id", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("device_id", _ID, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("delivered", sa.String(16), nullable=False),
    )
    op.create_index("ix_alerts_rule_id", "alerts", ["rule_id"])


def downgrade() -> None:
    for table in (
        "alerts", "rules", "commands", "aggregates", "events", "frames", "ingest_log",
        "device_health", "twins", "devices",
    ):  # fmt: skip
        op.drop_table(table)
