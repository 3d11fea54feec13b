"""Tables of the analysis inputs and the campaigns (issue 12 §5). Registered on rating's one metadata
(services/rating/models.py imports this module)."""
from __future__ import annotations

from services.rating.models import Base  # noqa: F401
