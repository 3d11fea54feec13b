"""The complainant's H5 (issue 13): 我要反映, 我的诉求, the case page, 回访 and 查询."""
from __future__ import annotations


class H5Pages:
    pass
