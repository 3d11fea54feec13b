"""sla: who may read a case's deadlines (case_access), from routing's events

Revision ID: sla_0005

Cases the SLA already tracks are filled from their deadlines: the unit that holds the latest
round, and for a supervised round (2) the leader its alerts reach (routing names the
category's leader both times). Who filed them is not known here: their complainants, who do
not read deadlines, and a leader of a case waiting for its 批示 are told "not found" until
the case's next event tells the SLA.
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "sla_0005"
down_revision = "sla_0004"
branch_labels = None
depends_on = None

SUPERVISED_ROUND = 2


def upgrade():
    case_access = op.create_table(
        "case_access",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("complainant_id", sa.String(64)),
        sa.Column("reporting_unit_id", sa.String(64)),
        sa.Column("unit_id", sa.String(64)),
        sa.Column("assisting_unit_ids", sa.JSON),
        sa.Column("supervisor_id", sa.String(64)),
    )
    latest = {}
    for complaint_id, round_, unit_id, recipients in op.get_bind().execute(sa.text(
            "SELECT complaint_id, round, unit_id, recipients FROM deadlines "
            "WHERE kind = 'resolution' ORDER BY complaint_id, round")):
        leader = (json.loads(recipients or "{}").get("leader") or {}).get("id")
        latest[complaint_id] = {
            "complaint_id": complaint_id, "unit_id": unit_id,
            "supervisor_id": leader if round_ == SUPERVISED_ROUND else None}
    if latest:
        op.bulk_insert(case_access, list(latest.values()))


def downgrade():
    op.drop_table("case_access")
