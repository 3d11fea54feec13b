"""The 分析研判 and 专项治理 public schemas (gateway/office_analysis.py) and rating's
(services/rating/analysis_schemas.py) agree, and what rating really answers matches the
document: as tests/test_public_schemas.py does for the other routes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from gateway import office_analysis as public
from gateway.openapi import openapi_document
from gateway.tests.test_openapi import conforms
from services.rating import analysis_schemas as rating
from services.rating.tests.test_analysis_service import (  # noqa: F401 (fixtures)
    ACADEMIC, HEAD, HOT_WATER, NOV, OFFICE, OTHERS, Cases, cases, clock, db, service)

REQUESTS = [
    (public.HotTopicsQuerySchema, rating.HotTopicsQuerySchema),
    (public.ProblemsQuerySchema, rating.ProblemsQuerySchema),
    (public.SeasonalQuerySchema, rating.SeasonalQuerySchema),
    (public.ScopeSchema, rating.ScopeSchema),
    (public.CampaignCreateSchema, rating.CampaignCreateSchema),
    (public.CampaignListQuerySchema, rating.CampaignListQuerySchema),
    (public.AttachSchema, rating.AttachSchema),
    (public.DetachSchema, rating.DetachSchema),
    (public.CampaignMilestoneSchema, rating.MilestoneSchema),
    (public.CloseSchema, rating.CloseSchema),
]


def _validator(v) -> str:
    # A function validator by name (its repr holds its address); a class by its repr.
    return getattr(v, "__name__", None) or repr(v)


def _rules(schema) -> dict:
    def rule(field):
        inner = getattr(field, "inner", None)
        return (type(field).__name__, field.data_key, field.required, field.allow_none,
                repr(field.load_default), [_validator(v) for v in field.validators],
                (type(inner).__name__, [_validator(v) for v in inner.validators])
                if inner is not None else None,
                sorted(_rules(field.nested).items()) if hasattr(field, "nested") else None)
    return {"unknown": schema().unknown,
            **{name: rule(field) for name, field in schema().fields.items()}}


@pytest.mark.parametrize("ours, theirs", REQUESTS, ids=lambda s: s.__name__)
def test_a_public_query_or_body_has_the_rules_rating_loads_it_with(ours, theirs):
    assert _rules(ours) == _rules(theirs)


def test_what_rating_answers_matches_the_document(service, cases):
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
