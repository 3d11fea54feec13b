"""Rating's entrypoints for 分析研判 and 专项治理 (issue 12 §5): hot topics, the seasonal view, common and repeated problems, campaigns.

A mixin of RatingService (services/rating/service.py): it uses the service's `db`, `rules` and
`calendar`, and keeps its entrypoints thin (load with a schema, call a handler, dump).
"""
from __future__ import annotations


class AnalysisEntrypoints:
    pass
