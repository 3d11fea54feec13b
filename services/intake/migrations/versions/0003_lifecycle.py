"""intake: the whole lifecycle — rules' state, communications, audit log, links, attachments

Revision ID: intake_0003
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None

NEW_COLUMNS = [
    sa.Column("round", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_due_at", sa.DateTime(timezone=True)),
    sa.Column("lead_unit_id", sa.String(64)),
    sa.Column("disputed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("assisting_units", sa.Text),
    sa.Column("complainant_college", sa.String(64)),
    sa.Column("proactive", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reporter_unit_id", sa.String(64)),
    sa.Column("screened_rule", sa.String(64)),
    sa.Column("screened_kind", sa.String(32)),
    sa.Column("reply_outcome", sa.String(32)),
    sa.Column("reply_text", sa.Text),
    sa.Column("instructed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("instruction", sa.Text),
    sa.Column("supervisor_id", sa.String(64)),
    sa.Column("supervisor_name", sa.String(100)),
    sa.Column("merged_into", sa.String(36)),
    sa.Column("last_rating", sa.String(16)),
]


def upgrade():
    with op.batch_alter_table("complaints") as batch:
        for column in NEW_COLUMNS:
            batch.add_column(column)
    op.execute("UPDATE complaints SET first_due_at = due_at, lead_unit_id = unit_id")
    op.create_index("ix_complaints_supervisor_id", "complaints", ["supervisor_id"])
    op.create_table(
        "communications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("with_whom", sa.String(100), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("round", sa.Integer, nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_communications_complaint_id", "communications", ["complaint_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True,
                  autoincrement=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("changes", sa.Text, nullable=False),
    )
    op.create_index("ix_audit_log_complaint_id", "audit_log", ["complaint_id"])
    if op.get_bind().dialect.name == "postgresql":
        # Append-only (X6): the database itself refuses to change or delete audit rows.
        op.execute("""
            CREATE FUNCTION audit_log_is_append_only() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END; $$ LANGUAGE plpgsql""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only()""")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
    op.create_table(
        "case_links",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("other_id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("linked_by", sa.String(64), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "attachments",
        sa.Column("complaint_id", sa.String(36), primary_key=True),
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade():
    op.drop_table("attachments")
    op.drop_table("case_links")
    op.drop_table("audit_log")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS audit_log_is_append_only() CASCADE")
    op.drop_table("communications")
    op.drop_index("ix_complaints_supervisor_id", table_name="complaints")
    with op.batch_alter_table("complaints") as batch:
        for column in reversed(NEW_COLUMNS):
            batch.drop_column(column.name)
