"""Rollout report timeout: how long a deployment waits for a device's next report.

``deployments.report_timeout_s``: a device sent the model (or in a step of it) that reports no
progress for this long is ``timed_out`` and halts the deployment. The time of its last progress is
``deployment_devices.updated_at`` (already there), so only the limit is new. Deployments made
before this revision get the default, 600 s.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(sa.Column("report_timeout_s", sa.Float, nullable=False, server_default="600"))


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("report_timeout_s")
