"""Tables of rating's projection of the case events, the daily roll-ups, exclusions and snapshots (issue 12 §2). Registered on rating's one metadata
(services/rating/models.py imports this module)."""
from __future__ import annotations

from services.rating.models import Base  # noqa: F401
