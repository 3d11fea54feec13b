"""rating: hot topics' daily roll-ups (analysis_topic_days, analysis_topic_cells), filled from
the words already stored with each case

Revision ID: rating_0010
"""
from collections import defaultdict
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from services.common.types import UtcDateTime

revision = "rating_0010"
down_revision = "rating_0009"
branch_labels = None
depends_on = None

TZ = ZoneInfo("Asia/Shanghai")
WORD_MAX = 64
BATCH = 5000


def upgrade():
    op.create_table(
        "analysis_topic_days",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("word", sa.String(64), primary_key=True),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("tf", sa.Double(), nullable=False),
    )
    op.create_table(
        "analysis_topic_cells",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("unit_id", sa.String(64), primary_key=True),
        sa.Column("word", sa.String(64), primary_key=True),
        sa.Column("documents", sa.Integer(), nullable=False),
        sa.Column("tf", sa.Double(), nullable=False),
    )
    op.create_index("ix_analysis_topic_cells_word_day", "analysis_topic_cells", ["word", "day"])
    op.create_index("ix_analysis_topic_cells_unit_day", "analysis_topic_cells",
                    ["unit_id", "day"])
    _fill()


def _fill():
    """The cases analysed before this revision, added up month by month (the roll-ups of a
    month are in memory at once, never the whole history)."""
    cases = sa.table("analysis_cases", sa.column("received_at", UtcDateTime()),
                     sa.column("category", sa.String()), sa.column("unit_id", sa.String()),
                     sa.column("words", sa.Text()), sa.column("counted", sa.Boolean()))
    days = sa.table("analysis_topic_days", sa.column("day", sa.Date()),
                    sa.column("word", sa.String()), sa.column("documents", sa.Integer()),
                    sa.column("tf", sa.Double()))
    cells = sa.table("analysis_topic_cells", sa.column("day", sa.Date()),
                     sa.column("category", sa.String()), sa.column("unit_id", sa.String()),
                     sa.column("word", sa.String()), sa.column("documents", sa.Integer()),
                     sa.column("tf", sa.Double()))
    bind = op.get_bind()
    per_day: dict = defaultdict(lambda: [0, 0.0])
    per_cell: dict = defaultdict(lambda: [0, 0.0])
    month = None

    def flush():
        for table, sums, names in ((days, per_day, ("day", "word")),
                                   (cells, per_cell, ("day", "category", "unit_id", "word"))):
            rows = [dict(zip(names, key), documents=n, tf=tf) for key, (n, tf) in sums.items()]
            for i in range(0, len(rows), BATCH):
                bind.execute(table.insert(), rows[i:i + BATCH])
            sums.clear()

    result = bind.execute(
        sa.select(cases.c.received_at, cases.c.category, cases.c.unit_id, cases.c.words)
        .where(cases.c.counted.is_(True)).order_by(cases.c.received_at)
        .execution_options(stream_results=True, yield_per=BATCH))
    for received_at, category, unit_id, text in result:
        day = received_at.astimezone(TZ).date()
        if (day.year, day.month) != month:
            flush()
            month = (day.year, day.month)
        words = text.split()
        tf: dict = defaultdict(float)
        if words:
            share = 1.0 / len(words)
            for word in words:
                tf[word] += share
        unit = unit_id or ""
        for word, value in (("", 0.0), *tf.items()):
            if len(word) > WORD_MAX:
                continue
            for sums, key in ((per_day, (day, word)), (per_cell, (day, category, unit, word))):
                sums[key][0] += 1
                sums[key][1] += value
    flush()


def downgrade():
    op.drop_index("ix_analysis_topic_cells_unit_day", "analysis_topic_cells")
    op.drop_index("ix_analysis_topic_cells_word_day", "analysis_topic_cells")
    op.drop_table("analysis_topic_cells")
    op.drop_table("analysis_topic_days")
