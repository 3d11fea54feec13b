"""分析研判's and 专项治理's views (analysis_entrypoints.py's RPCs answer with these): the
common and repeated problems of a period, a campaign with its progress, the cases suggested
for it."""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import func, or_, select

from services.common.config_files import read_yaml
from services.common.contracts import Status
from services.rating import analysis, campaigns
from services.rating.analysis_ingest import local_date
from services.rating.analysis_models import (AnalysisCase,
                                             Campaign, CampaignCase,
                                             CampaignMilestone)

ORG_FILE = analysis.CONFIG_DIR.parents[1] / "config" / "org.yaml"


@lru_cache(maxsize=1)
def unit_names() -> dict[str, str]:
    """Unit id → name from config/org.yaml (campaigns name their lead unit)."""
    raw = read_yaml(ORG_FILE, "the organisation directory", ValueError) or {}
    return {str(u["id"]): u.get("name") or str(u["id"]) for u in raw.get("units") or ()}


def _case_row(case: AnalysisCase) -> dict:
    return {"complaint_id": case.complaint_id, "number": case.number, "title": case.title,
            "category": case.category, "unit_id": case.unit_id, "unit_name": case.unit_name,
            "status": case.status, "received_at": case.received_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None}


def _filtered(statement, category, unit):
    if category:
        statement = statement.where(AnalysisCase.category == category)
    if unit:
        statement = statement.where(AnalysisCase.unit_id == unit)
    return statement


def common_problems(session, start, end, category, unit, settings) -> list[dict]:
    in_period = _filtered(select(AnalysisCase.cluster_id).where(
        AnalysisCase.counted.is_(True), AnalysisCase.received_at >= start,
        AnalysisCase.received_at < end), category, unit)
    big = in_period.group_by(AnalysisCase.cluster_id).having(
        func.count() >= settings.common_min_cases)
    members = session.execute(_filtered(select(AnalysisCase).where(
        AnalysisCase.counted.is_(True), AnalysisCase.received_at >= start,
        AnalysisCase.received_at < end, AnalysisCase.cluster_id.in_(big)), category, unit)
        .order_by(AnalysisCase.received_at, AnalysisCase.complaint_id)).scalars().all()
    clusters: dict[str, list[AnalysisCase]] = defaultdict(list)
    for case in members:
        clusters[case.cluster_id].append(case)
    within = timedelta(days=settings.common_within_days)
    found = []
    for cluster_id, cases in clusters.items():
        peak = analysis.peak_within([c.received_at for c in cases], within)
        if peak < settings.common_min_cases:
            continue
        df = Counter(w for c in cases for w in set(c.words.split()))
        found.append({
            "cluster_id": cluster_id, "size": len(cases), "peak": peak,
            "keywords": [w for w, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:5]],
            "units": [{"unit_id": u, "count": n} for u, n in analysis.sorted_counts(
                Counter(c.unit_id for c in cases)).items()],
            "categories": [{"category": k, "count": n} for k, n in analysis.sorted_counts(
                Counter(c.category for c in cases)).items()],
            "first_at": cases[0].received_at.isoformat(),
            "last_at": cases[-1].received_at.isoformat(),
            "open": sum(1 for c in cases if c.status != Status.CLOSED),
            "cases": [_case_row(c) for c in cases]})
    found.sort(key=lambda p: (-p["size"], p["first_at"], p["cluster_id"]))
    return found


def repeated(session, start, end, category, unit) -> list[dict]:
    later = session.execute(_filtered(select(AnalysisCase).where(
        AnalysisCase.counted.is_(True), AnalysisCase.received_at >= start,
        AnalysisCase.received_at < end, AnalysisCase.repeat_of.is_not(None)), category, unit)
        .order_by(AnalysisCase.received_at, AnalysisCase.complaint_id)).scalars().all()
    earlier = {c.complaint_id: c for c in session.execute(select(AnalysisCase).where(
        AnalysisCase.complaint_id.in_({c.repeat_of for c in later}))).scalars()} if later else {}
    rows = []
    for case in later:
        before = earlier.get(case.repeat_of)
        rows.append({"case": _case_row(case),
                     "earlier": _case_row(before) if before else None,
                     "place": case.place_key, "times": case.repeat_times,
                     "follow_up": case.status != Status.CLOSED})
    return rows


def _attached(session, campaign_id: str) -> list[tuple[CampaignCase, AnalysisCase | None]]:
    links = session.execute(select(CampaignCase).where(
        CampaignCase.campaign_id == campaign_id, CampaignCase.attached.is_(True))
        .order_by(CampaignCase.attached_at, CampaignCase.complaint_id)).scalars().all()
    cases = {c.complaint_id: c for c in session.execute(select(AnalysisCase).where(
        AnalysisCase.complaint_id.in_([link.complaint_id for link in links])))
        .scalars()} if links else {}
    return [(link, cases.get(link.complaint_id)) for link in links]


def campaign_view(session, campaign: Campaign, rules, now: datetime, details=True) -> dict:
    attached = _attached(session, campaign.id)
    states = [campaigns.CaseState(
        complaint_id=link.complaint_id, status=case.status if case else None,
        counted=case.counted if case else True, rated_level=case.rated_level if case else None,
        contacted=case.contacted if case else None, solved=case.solved if case else None,
        rated_at=case.rated_at if case else None, unrated=case.unrated if case else False)
        for link, case in attached]
    milestones = session.execute(select(CampaignMilestone).where(
        CampaignMilestone.campaign_id == campaign.id).order_by(
        CampaignMilestone.recorded_at, CampaignMilestone.id)).scalars().all()
    milestone_rows = [{"id": m.id, "title": m.title, "note": m.note,
                       "due_date": m.due_date.isoformat() if m.due_date else None,
                       "done": m.done, "recorded_by": {"id": m.recorded_by,
                                                       "name": m.recorded_by_name},
                       "recorded_at": m.recorded_at.isoformat()} for m in milestones]
    today = local_date(now)
    view = {
        "id": campaign.id, "name": campaign.name, "scope": campaign.scope,
        "lead_unit": {"id": campaign.lead_unit_id,
                      "name": unit_names().get(campaign.lead_unit_id)},
        "target_date": campaign.target_date.isoformat(), "status": campaign.status,
        "status_label": campaigns.LABELS[campaign.status],
        "overdue": campaign.status == campaigns.OPEN and campaign.target_date < today,
        "conclusion": campaign.conclusion,
        "created_by": {"id": campaign.created_by, "name": campaign.created_by_name},
        "created_at": campaign.created_at.isoformat(),
        "closed_by": campaign.closed_by,
        "closed_at": campaign.closed_at.isoformat() if campaign.closed_at else None,
        "progress": campaigns.progress(states, rules),
        "milestone_summary": campaigns.milestone_summary(
            [{"done": m.done, "due_date": m.due_date} for m in milestones], today),
    }
    if details:
        view["milestones"] = milestone_rows
        view["cases"] = [dict(_case_row(case) if case else {
            "complaint_id": link.complaint_id, "number": None, "title": None,
            "category": None, "unit_id": None, "unit_name": None, "status": None,
            "received_at": None, "closed_at": None},
            attached_at=link.attached_at.isoformat(), attached_by=link.attached_by)
            for link, case in attached]
    return view


def suggestions(session, campaign: Campaign, settings) -> list[dict]:
    scope = campaigns.Scope.from_dict(campaign.scope)
    attached = set(session.execute(select(CampaignCase.complaint_id).where(
        CampaignCase.campaign_id == campaign.id, CampaignCase.attached.is_(True))).scalars())
    limit = settings.suggestions_limit
    statement = select(AnalysisCase).where(AnalysisCase.counted.is_(True))
    if scope.categories:
        statement = statement.where(AnalysisCase.category.in_(scope.categories))
    if scope.units:
        statement = statement.where(AnalysisCase.unit_id.in_(scope.units))
    start, end = scope.window()
    if start is not None:
        statement = statement.where(AnalysisCase.received_at >= start)
    if end is not None:
        statement = statement.where(AnalysisCase.received_at < end)
    if scope.keywords:
        statement = statement.where(or_(*(
            column.contains(keyword, autoescape=True) for keyword in scope.keywords
            for column in (AnalysisCase.title, AnalysisCase.words))))
    if attached:
        statement = statement.where(AnalysisCase.complaint_id.not_in(sorted(attached)))
    matched = session.execute(statement.order_by(
        AnalysisCase.received_at.desc(), AnalysisCase.complaint_id).limit(limit)).scalars().all()
    found = {c.complaint_id: (c, ["scope"]) for c in matched}
    # The clusters of what matched and of what is attached: a 共性问题 (≥ N cases) brings
    # its other cases along.
    seeds = {c.cluster_id for c in matched} | set(session.execute(
        select(AnalysisCase.cluster_id).where(
            AnalysisCase.complaint_id.in_(sorted(attached)))).scalars()) if attached else \
        {c.cluster_id for c in matched}
    seeds.discard(None)
    if seeds and len(found) < limit:
        big = select(AnalysisCase.cluster_id).where(
            AnalysisCase.counted.is_(True), AnalysisCase.cluster_id.in_(sorted(seeds))
        ).group_by(AnalysisCase.cluster_id).having(func.count() >= settings.common_min_cases)
        for case in session.execute(select(AnalysisCase).where(
                AnalysisCase.counted.is_(True), AnalysisCase.cluster_id.in_(big))
                .order_by(AnalysisCase.received_at.desc(), AnalysisCase.complaint_id)).scalars():
            if case.complaint_id in attached:
                continue
            if case.complaint_id in found:
                found[case.complaint_id][1].append("cluster")
            elif len(found) < limit:
                found[case.complaint_id] = (case, ["cluster"])
    return [dict(_case_row(case), cluster_id=case.cluster_id, reasons=reasons)
            for case, reasons in found.values()]
