"""Rating's entrypoints for 周汇总 / 月总结 (issue 12 §3): the weekly and monthly summaries, generated exactly once and published to the work group.

A mixin of RatingService (services/rating/service.py): it uses the service's `db`, `rules` and
`calendar`, and keeps its entrypoints thin (load with a schema, call a handler, dump).
"""
from __future__ import annotations


class SummariesEntrypoints:
    pass
