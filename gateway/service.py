"""The gateway: the only HTTP face of jiesu. Channels and the staff API turn into RPC calls
on the services; nothing here owns data."""
from __future__ import annotations

from nameko.web.handlers import http

from gateway.auth import principal_from
from gateway.http import api, filing_key, json_response, read_json
from services.common.bus import rpc_proxy
from services.common.contracts import CATEGORIES, GRADES
from services.common.logs import LogContext
from services.common.settings import SettingsProvider


class GatewayService:
    name = "gateway"

    intake = rpc_proxy("intake")
    settings = SettingsProvider()
    log_context = LogContext()

    def _principal(self, request):
        return principal_from(request.headers.get("Authorization"), self.settings.jwt_secret,
                              self.settings.jwt_leeway_seconds)

    @http("POST", "/api/v1/complaints")
    @api
    def file_complaint(self, request):
        principal = self._principal(request)
        filed = self.intake.file_complaint(read_json(request), principal.as_rpc(), "app",
                                           filing_key(request))
        return json_response(filed, 201,
                             headers={"Location": f"/api/v1/complaints/{filed['id']}"})

    @http("GET", "/api/v1/complaints/<string:complaint_id>")
    @api
    def get_complaint(self, request, complaint_id):
        principal = self._principal(request)
        return json_response(self.intake.get_complaint(complaint_id, principal.as_rpc()))

    @http("GET", "/api/v1/categories")
    @api
    def list_categories(self, request):
        return json_response([{"code": code, "label": label} for code, label in CATEGORIES.items()])

    @http("GET", "/api/v1/grades")
    @api
    def list_grades(self, request):
        return json_response([{"code": code, "label": label} for code, label in GRADES.items()])

    @http("GET", "/healthz")
    def healthz(self, request):
        return json_response({"status": "ok"})
