"""The staff API's routes for 分析研判 and 专项治理 (issue 12 §5).

A mixin of GatewayService (gateway/service.py): it uses the service's `rating` proxy and
`_staff`, `_json`. Its OpenAPI operations are listed here, in gateway/openapi.py's format, and
merged into the one document there.
"""
from __future__ import annotations

# (method, path, summary, request schema | None, (status, response schema, many), tags)
OPERATIONS: list[tuple] = []
RESPONSE_SCHEMAS: dict = {}   # component name: (schema, keys not in every answer)
EXAMPLES: dict = {}           # (method, path): request body example
QUERIES: dict = {}            # (method, path): query schema
PATH_PARAMETERS: tuple = ()


class AnalysisRoutes:
    pass
