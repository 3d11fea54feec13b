"""Tables of the weekly and monthly summaries (issue 12 §3). Registered on rating's one metadata
(services/rating/models.py imports this module)."""
from __future__ import annotations

from services.rating.models import Base  # noqa: F401
