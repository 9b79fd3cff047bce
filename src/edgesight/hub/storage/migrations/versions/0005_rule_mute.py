"""Muted alert rules, and the index the console's device panels filter events by.

``rules.muted_until``: the rule engine skips a rule until this time (epoch seconds; ``inf`` mutes it
until an admin unmutes it). ``ix_events_device_type_time``: the device panels ask for one device's
events of one type in a time window.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rules") as batch:
        batch.add_column(sa.Column("muted_until", sa.Float, nullable=True))
    op.create_index("ix_events_device_type_time", "events", ["device_id", "type", "timestamp"])


def downgrade() -> None:
    op.drop_index("ix_events_device_type_time", table_name="events")
    with op.batch_alter_table("rules") as batch:
        batch.drop_column("muted_until")
