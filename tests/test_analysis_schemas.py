"""What rating really answers on the 分析研判 and 专项治理 routes matches the OpenAPI document
(gateway/office_analysis.py), as tests/test_public_schemas.py checks for the other routes.
The requests need no such check: the gateway and rating validate them with the same schemas
(services/common/analysis_inputs.py)."""
from __future__ import annotations

from datetime import timedelta

from gateway.openapi import openapi_document
from gateway.tests.test_openapi import conforms
from services.rating.tests.test_analysis_service import (  # noqa: F401 (fixtures)
    ACADEMIC, HEAD, NOV, OFFICE, OTHERS, cases, clock, db, service)


def test_what_rating_answers_matches_the_document(service, cases):  # noqa: F811
    doc = openapi_document()
    staff = "/api/v1/staff"
    place = "学生公寓3号楼"
    first = cases.receive("学生公寓3号楼热水器坏了没有热水", NOV - timedelta(days=40),
                          location=place)
    cases.close_rated(first, NOV - timedelta(days=35))
    alike = [cases.receive(f"学生公寓{n}号楼热水器坏了没有热水", NOV + timedelta(hours=n))
             for n in range(1, 7)]
    cases.receive("学生公寓3号楼热水器又坏了没有热水", NOV + timedelta(days=1), location=place)
    cases.receive(OTHERS[0], NOV, category="education", unit=ACADEMIC)
    cases.close_rated(alike[0], NOV + timedelta(days=2), "basically", True, False)

    month = {"from": "2026-11-01", "to": "2026-11-30"}
    for viewer in (OFFICE, HEAD):
        topics = conforms(doc, "get", staff + "/analysis/hot-topics", 200,
                          service.analysis_hot_topics(viewer, month))
        conforms(doc, "get", staff + "/analysis/seasonal", 200,
                 service.analysis_seasonal(viewer, {}))
        problems = conforms(doc, "get", staff + "/analysis/problems", 200,
                            service.analysis_problems(viewer, month))
    assert topics["keywords"] and problems["common"] and problems["repeated"]

    campaign = conforms(doc, "post", staff + "/campaigns", 201, service.campaign_create(
        OFFICE, {"name": "热水专项", "lead_unit": "logistics", "target_date": "2026-12-31",
                 "scope": {"keywords": ["热水"], "from": "2026-11-01", "to": None}}))
    path = staff + "/campaigns/{campaign_id}"
    suggestions = conforms(doc, "get", path + "/suggestions", 200,
                           service.campaign_suggestions(campaign["id"], OFFICE))
    assert suggestions["cases"]
    conforms(doc, "post", path + "/cases", 200, service.campaign_attach(
        campaign["id"], OFFICE, {"complaint_ids": alike[:3], "note": "同一问题"}))
    conforms(doc, "post", path + "/cases/{complaint_id}/detach", 200,
             service.campaign_detach(campaign["id"], alike[2], OFFICE, {}))
    conforms(doc, "post", path + "/milestones", 201, service.campaign_add_milestone(
        campaign["id"], HEAD, {"title": "更换热水器", "due_date": "2026-12-10"}))
    shown = conforms(doc, "get", path, 200, service.campaign_get(campaign["id"], HEAD))
    assert shown["progress"]["rated"] == 1
    conforms(doc, "get", staff + "/campaigns", 200, service.campaign_list(OFFICE, {}))
    conforms(doc, "post", path + "/close", 200,
             service.campaign_close(campaign["id"], OFFICE, {"conclusion": "已整改"}))
