"""Frames keep the device's binary batch: ``frame_batches`` table, ``frames.detections`` optional.

Ingest stores each frames message's batch once (``frame_batches``) and one index row per frame
(``frames``, no detections JSON); reads decode the detections from the batch. Frames stored
before this revision keep their JSON. Downgrading writes the JSON back from the batches.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

__all__ = ["branch_labels", "depends_on", "down_revision", "downgrade", "revision", "upgrade"]

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "frame_batches",
        sa.Column("device_id", sa.String(128), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("timestamp", sa.Float, nullable=False),
        sa.Column("payload", sa.LargeBinary, nullable=False),
    )
    with op.batch_alter_table("frames") as batch:
        batch.alter_column("detections", existing_type=sa.Text, nullable=True)


def downgrade() -> None:
    from edgesight.core.wire import decode_batch, frame_to_dict

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT f.device_id, f.seq, f.frame_index, b.payload FROM frames f JOIN frame_batches b "
            "ON b.device_id = f.device_id AND b.seq = f.seq WHERE f.detections IS NULL"
        )
    ).all()
    decoded: dict[tuple[str, int], dict[int, str]] = {}
    for device_id, seq, frame_index, payload in rows:
        key = (device_id, int(seq))
        if key not in decoded:
            decoded[key] = {
                m.frame_index: json.dumps(frame_to_dict(m)["detections"], separators=(",", ":"))
                for m in decode_batch(bytes(payload))
            }
        conn.execute(
            sa.text("UPDATE frames SET detections = :d WHERE device_id = :i AND seq = :s AND frame_index = :f"),
            {"d": decoded[key][int(frame_index)], "i": device_id, "s": key[1], "f": frame_index},
        )
    with op.batch_alter_table("frames") as batch:
        batch.alter_column("detections", existing_type=sa.Text, nullable=False)
    op.drop_table("frame_batches")
