"""The console for supervising leaders (issue 13): 督办件, 批示, the assessment overview."""
from __future__ import annotations


class LeaderPages:
    pass
