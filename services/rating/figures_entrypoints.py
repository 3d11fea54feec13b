"""Rating's entrypoints for the office's figures (issue 12 §2): rating's projection of the case events, the daily roll-ups, exclusions (剔除), published snapshots and the assessment read.

A mixin of RatingService (services/rating/service.py): it uses the service's `db`, `rules` and
`calendar`, and keeps its entrypoints thin (load with a schema, call a handler, dump).
"""
from __future__ import annotations


class FiguresEntrypoints:
    pass
