"""The console for the 接诉即办 office (issue 13)."""
from __future__ import annotations


class OfficePages:
    pass
