"""The pages' shared routes and helpers, mixed into the gateway service (gateway/service.py):
the static files, the session store, and rendering with what every template needs."""
from __future__ import annotations

import mimetypes

from werkzeug.wrappers import Response

from gateway.pages import web
from gateway.server import http
from services.common.providers import Built

# Static files are named by their content's hash (web.asset), so they may be cached long.
STATIC_CACHE = "public, max-age=31536000, immutable"
STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png",
                ".svg": "image/svg+xml", ".md": "text/plain", ".woff2": "font/woff2"}


class PageBase:
    page_sessions = Built(web.page_sessions)

    def _render(self, template: str, session: dict | None, status: int = 200, **values
                ) -> Response:
        return web.render(template, status, **web.context(
            session, dev_login=self.settings.dev_login, **values))

    @http("GET", "/static/<path:asset>")
    def static_file(self, request, asset):
        """A file under gateway/pages/static, never outside it (no '..', no hidden files)."""
        root = web.STATIC.resolve()
        parts = asset.split("/")
        if any(not part or part.startswith(".") for part in parts) or len(asset) > 200:
            return Response("not found", status=404, mimetype="text/plain")
        path = (root / asset).resolve()
        if root not in path.parents or not path.is_file():
            return Response("not found", status=404, mimetype="text/plain")
        kind = STATIC_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or \
            "application/octet-stream"
        return Response(path.read_bytes(), mimetype=kind,
                        headers={"Cache-Control": STATIC_CACHE,
                                 "X-Content-Type-Options": "nosniff"})
