"""X6: the audit log is append-only in the database itself, not just by convention."""
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from services.common.db import make_engine


def _seed(conn):
    conn.execute(text("INSERT INTO audit_log (complaint_id, at, actor_id, actor_role, action, "
                      "changes) VALUES ('c-1', now(), 'u-office-1', 'office', 'file', '{}')"))


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET action = 'forged'",
                                       "DELETE FROM audit_log"])
def test_audit_rows_cannot_be_changed_or_deleted(databases, statement):
    engine = make_engine(databases["intake"])
    with engine.begin() as conn:
        _seed(conn)
    with pytest.raises(DBAPIError, match="append-only"):
        with engine.begin() as conn:
            conn.execute(text(statement))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_log")).scalars().all() == ["file"]
    engine.dispose()
