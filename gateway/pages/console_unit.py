"""The console for units (issue 13): the handler's inbox and case page, the head's live view."""
from __future__ import annotations


class UnitPages:
    pass
