"""Open311 GeoReport v2 (X8): third-party civic apps file and follow requests.

Field names, formats (JSON and XML) and the error shape follow the GeoReport v2
specification. Deviation, for privacy: every call needs an `api_key`, and an app sees only
the requests it filed itself (the specification leaves reads public; a university's
complaints name people).
"""
from __future__ import annotations

import functools
import json
import logging
from xml.etree import ElementTree

from nameko.exceptions import UnknownService

from werkzeug.wrappers import Response

from gateway.limits import RateLimited
from services.common.bus import RpcTimeout
from services.common.contracts import CATEGORIES
from services.common.errors import InvalidInput, NotFound

log = logging.getLogger("jiesu.gateway.open311")

FORMATS = {"json": "application/json", "xml": "text/xml"}
OPEN, CLOSED = "open", "closed"
CLOSED_STATES = {"closed", "screened_out", "merged"}

DESCRIPTIONS = {
    "education": "课程、教学安排、考试与教材等教育教学事项",
    "logistics": "宿舍、食堂、水电、维修等后勤保障事项",
    "security": "校园安全、门禁、消防与交通等安全管理事项",
    "student_status": "学籍、转专业、休复学等学籍管理事项",
    "employment": "就业指导、实习与创业等就业创业事项",
    "youth_league": "团学组织、社团与活动等学团建设事项",
    "rewards_discipline": "奖学金评定、处分与申诉等奖惩管理事项",
    "finance": "学费、奖助学金发放与报销等财务管理事项",
    "special_care": "困难帮扶、心理关爱等特殊关爱事项",
    "epidemic": "传染病防控、健康监测等疫情防控事项",
}


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# R3: every service has one required attribute, the requester's pledge that it is true;
# POST requests must carry attribute[pledge]=yes.
PLEDGE_ATTRIBUTE, PLEDGE_YES = "pledge", "yes"


def services() -> list[dict]:
    return [{"service_code": code, "service_name": label, "description": DESCRIPTIONS[code],
             "metadata": True, "type": "realtime", "keywords": label, "group": "接诉即办"}
            for code, label in CATEGORIES.items()]


def service_definition(code: str) -> dict:
    if code not in CATEGORIES:
        raise Open311Error(404, f"service_code {code} not found")
    return {"service_code": code, "attributes": [{
        "variable": True, "code": PLEDGE_ATTRIBUTE, "datatype": "singlevaluelist",
        "required": True, "datatype_description": "须选择“是”方可提交",
        "order": 1, "description": "本人承诺所反映情况真实、准确,如有不实愿承担相应责任",
        "values": [{"key": PLEDGE_YES, "name": "是,我承诺如实反映"}]}]}


def request_view(case: dict) -> dict:
    """One service request as GeoReport v2 shows it, from intake's case summary."""
    return {
        "service_request_id": case["id"],
        "status": CLOSED if case["status"] in CLOSED_STATES else OPEN,
        "status_notes": case.get("status_label"),
        "service_name": CATEGORIES.get(case["category"]),
        "service_code": case["category"],
        "description": case["content"],
        "agency_responsible": case.get("unit_name"),
        "service_notice": case.get("number"),
        "requested_datetime": case["received_at"],
        "updated_datetime": case.get("updated_at") or case["received_at"],
        "expected_datetime": case.get("deadline"),
        "address": case.get("location"),
        "address_id": None,
        "zipcode": None,
        "lat": case.get("lat"),
        "long": case.get("long"),
        "media_url": None,
    }


# GeoReport v2's XML names each member of a list after the list: attributes/attribute.
LIST_ITEMS = {"attributes": "attribute", "values": "value"}


def _xml_fill(node, entry: dict) -> None:
    for key, value in entry.items():
        child = ElementTree.SubElement(node, key)
        if isinstance(value, list):
            for member in value:
                _xml_fill(ElementTree.SubElement(child, LIST_ITEMS.get(key, "item")), member)
        elif value is not None:
            child.text = str(value).lower() if isinstance(value, bool) else str(value)


def render(fmt: str, payload, root: str, item: str, status: int = 200) -> Response:
    if fmt == "json":
        return Response(json.dumps(payload, ensure_ascii=False), status=status,
                        mimetype=FORMATS["json"])
    element = ElementTree.Element(root)
    for entry in payload if isinstance(payload, list) else [payload]:
        _xml_fill(ElementTree.SubElement(element, item) if item else element, entry)
    body = '<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(element,
                                                                         encoding="unicode")
    return Response(body.encode("utf-8"), status=status, mimetype=FORMATS["xml"])


def error(fmt: str, status: int, description: str) -> Response:
    payload = [{"code": status, "description": description}]
    return render(fmt if fmt in FORMATS else "json", payload, "errors", "error", status)


def open311_api(handler):
    """Every Open311 failure answered in the specification's error format, in the format the
    client asked for."""
    @functools.wraps(handler)
    def wrapper(self, request, *args, **kwargs):
        fmt = kwargs.get("fmt", "json")
        if fmt not in FORMATS:
            return error("json", 404, f"unknown format {fmt!r}: use json or xml")
        try:
            return handler(self, request, *args, **kwargs)
        except Open311Error as exc:
            return error(fmt, exc.status, exc.description)
        except RateLimited as exc:
            response = error(fmt, 429, str(exc))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except InvalidInput as exc:
            fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
            described = "; ".join(f"{name}: {' '.join(map(str, problems))}"
                                  for name, problems in fields.items()) or "invalid input"
            return error(fmt, 400, described)
        except NotFound as exc:
            return error(fmt, 404, str(exc))
        except (RpcTimeout, UnknownService):
            return error(fmt, 503, "the service is busy; try again later")
        except Exception:
            log.exception("unhandled error in %s", handler.__name__)
            return error(fmt, 500, "internal error")
    return wrapper
