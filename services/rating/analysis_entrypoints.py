"""Rating's entrypoints for 分析研判 and 专项治理 (issue 12 §5): hot topics, the seasonal view, common and repeated problems, campaigns.

A mixin of RatingService (services/rating/service.py): it uses the service's `db`, `rules` and
`calendar`, and keeps its entrypoints thin (load with a schema, call a handler, dump).

Analysis keeps its own projection of the bus (analysis_cases, services/rating/analysis_models.py)
and does the costly work once per case, when it arrives (docs/ANALYSIS.md):
- its text is cut into topic words, stored with the case, so a period's hot topics only count
  stored words (42 000 cases a month: bench/analysis_bench.py);
- its words go to the postings (analysis_words), through which the recent cases sharing most
  of its words are found and compared with it once: a look-alike within M days joins it to
  that case's 共性问题 cluster (clusters met through it merge), so the problems route reads
  clusters instead of comparing every pair of a period;
- a case about the same place (or unit) and category as a similar case closed at most
  `repeat_within_days` before it is flagged as 反复发生 (repeat_of).

Who sees what: the office and the leaders see everything; a unit's head and handlers see the
analysis of their own unit's cases (asking for another unit is "not found"), and the campaigns
their unit leads or is in the scope of. Only the office creates, attaches, detaches and closes
a campaign; the office or the lead unit's head records its milestones.
"""
from __future__ import annotations

import base64
import uuid
from datetime import date, timedelta

from nameko.rpc import rpc
from sqlalchemy import delete, func, select

from services.common.access import UNIT_ROLES, Viewer
from services.common.contracts import CATEGORIES, Status
from services.common.errors import Conflict, InvalidInput, NotFound, load_input, load_viewer
from services.common.providers import Built, consumes
from services.rating import (analysis, analysis_ingest, analysis_reads,
                             analysis_views, campaigns)
from services.rating.analysis_models import (AnalysisCase,
                                             AnalysisWord, Campaign, CampaignCase,
                                             CampaignMilestone)
from services.common.analysis_inputs import (AttachSchema, CampaignCreateSchema,
                                             CampaignListQuerySchema, CampaignMilestoneSchema,
                                             CloseSchema, DetachSchema, HotTopicsQuerySchema,
                                             ProblemsQuerySchema, SeasonalQuerySchema)

EXPECTED = (InvalidInput, NotFound, Conflict)
NOT_COUNTED = (Status.SCREENED_OUT, Status.MERGED)
PROBLEMS_DEFAULT_DAYS = 30


def _analyzer(settings) -> analysis.Analyzer:
    analyzer = analysis.default_analyzer()
    analyzer.warm_up()   # the dictionary loads at start, not in the first consumer
    return analyzer


def _words_text(words) -> str:
    return " ".join(words)


class AnalysisEntrypoints:
    analysis_settings = Built(lambda settings: analysis.load_settings())
    analyzer = Built(_analyzer)

    # ============================================================== consumers
    @consumes("intake", "complaint_received")
    def analysis_on_received(self, event, uow):
        """Cut the words once, post them, link the case to its look-alikes (共性问题) and to
        a closed case it repeats (反复发生)."""
        settings = self.analysis_settings
        at = event["occurred_at"]
        text = " ".join(part for part in (event["title"], event["content"]) if part)
        words = self.analyzer.words(text)
        screened = event["screened"] is not None
        case = AnalysisCase(
            complaint_id=event["complaint_id"], number=event["number"], title=event["title"],
            channel=event["channel"], category=event["category"], received_at=at,
            month=analysis.month_of(at), location=event["location"],
            place_key=analysis.place_key_text(event["location"], None, event["category"]),
            status=Status.SCREENED_OUT if screened else Status.RECEIVED,
            counted=not screened, words=_words_text(words), cluster_id=event["complaint_id"],
            repeat_times=0, unrated=False)
        case = uow.session.merge(case)
        if not case.counted:
            return
        analysis_ingest.count_topics(uow.session, case, case.unit_id, 1)
        if not words:
            return
        uow.session.add_all(AnalysisWord(word=w, complaint_id=case.complaint_id, received_at=at)
                            for w in set(words) if len(w) <= analysis_ingest.WORD_MAX)
        uow.session.flush()
        analysis_ingest.link(uow.session, case, words, settings)
        if case.place_key:
            analysis_ingest.flag_repeat(uow.session, case, words, settings)

    @consumes("routing", "complaint_assigned")
    def analysis_on_assigned(self, event, uow):
        """The unit that holds it now (a redo may move it); a case without a location is
        placed by its first unit, and checked for repeats then."""
        case = uow.session.get(AnalysisCase, event["complaint_id"], with_for_update=True)
        if case is None:
            return
        if case.counted and case.unit_id != event["unit"]["id"]:
            analysis_ingest.count_topics(uow.session, case, case.unit_id, -1, days=False)
            analysis_ingest.count_topics(uow.session, case, event["unit"]["id"], 1, days=False)
        case.unit_id, case.unit_name = event["unit"]["id"], event["unit"]["name"]
        if case.place_key is None and case.counted:
            case.place_key = analysis.place_key_text(None, case.unit_id, case.category)
            words = case.words.split()
            if case.place_key and words:
                analysis_ingest.flag_repeat(uow.session, case, words, self.analysis_settings)

    @consumes("intake", "complaint_transitioned")
    def analysis_on_transitioned(self, event, uow):
        """Open or closed (campaign progress); screened-out and merged cases leave the
        analysis and the postings."""
        case = uow.session.get(AnalysisCase, event["complaint_id"], with_for_update=True)
        if case is None:
            return
        was_unit = case.unit_id
        case.status = event["to_status"]
        if event["unit"]:
            case.unit_id = event["unit"]["id"]
            case.unit_name = event["unit"]["name"] or case.unit_name
        if event["to_status"] == Status.CLOSED:
            case.closed_at = event["occurred_at"]
        if case.counted and event["to_status"] not in NOT_COUNTED and case.unit_id != was_unit:
            analysis_ingest.count_topics(uow.session, case, was_unit, -1, days=False)
            analysis_ingest.count_topics(uow.session, case, case.unit_id, 1, days=False)
        if event["to_status"] in NOT_COUNTED and case.counted:
            case.counted = False
            analysis_ingest.count_topics(uow.session, case, was_unit, -1)
            uow.session.execute(delete(AnalysisWord).where(
                AnalysisWord.complaint_id == case.complaint_id))

    @consumes("rating", "complaint_rated", only_if=lambda event: event["decision"] == "close")
    def analysis_on_rated(self, event, uow):
        """The final 回访 (the rating that closes the case): 三率 inside a campaign."""
        case = uow.session.get(AnalysisCase, event["complaint_id"], with_for_update=True)
        if case is None:
            return
        case.rated_level, case.contacted, case.solved = \
            event["level"], event["contacted"], event["solved"]
        case.rated_at, case.unrated = event["occurred_at"], False

    @consumes("rating", "rating_expired")
    def analysis_on_expired(self, event, uow):
        """未评价: closed without an 有效回访."""
        case = uow.session.get(AnalysisCase, event["complaint_id"], with_for_update=True)
        if case is not None and case.rated_level is None:
            case.unrated = True

    # ============================================================== analysis
    @rpc(expected_exceptions=EXPECTED)
    def analysis_hot_topics(self, caller, query):
        """Hot keywords of [from, to] (local dates, both included), with 环比 against the
        equal-length period before and 同比 against the same dates a year earlier."""
        viewer = load_viewer(caller)
        query = load_input(HotTopicsQuerySchema(), query)
        unit = _unit_scope(viewer, query["unit"])
        settings = self.analysis_settings
        _check_length(query["start"], query["end"], settings)
        first, last = query["start"], query["end"]
        with self.db.unit_of_work() as uow:
            bounds, topics = analysis_reads.hot_topics_between(
                uow.session, first, last, category=query["category"], unit=unit,
                top=query["top"] or settings.hot_topics_top)
        answer = topics.as_dict()
        for keyword in answer["keywords"]:
            keyword["by_category"] = [{"category": c, "count": n}
                                      for c, n in keyword["by_category"].items()]
            keyword["by_unit"] = [{"unit_id": u, "count": n}
                                  for u, n in keyword["by_unit"].items()]
        return {"from": first.isoformat(), "to": last.isoformat(), **bounds,
                "category": query["category"], "unit": unit, **answer}

    @rpc(expected_exceptions=EXPECTED)
    def analysis_seasonal(self, caller, query):
        """Cases received per category and month (Asia/Shanghai) over the last months."""
        viewer = load_viewer(caller)
        query = load_input(SeasonalQuerySchema(), query)
        unit = _unit_scope(viewer, query["unit"])
        with self.db.unit_of_work() as uow:
            end = query["end"] or analysis.month_of(uow.clock.now())
            months = query["months"] or self.analysis_settings.seasonal_months
            window = analysis.month_range(end, months)
            statement = select(AnalysisCase.category, AnalysisCase.month, func.count()).where(
                AnalysisCase.counted.is_(True), AnalysisCase.month.in_(window))
            if query["category"]:
                statement = statement.where(AnalysisCase.category == query["category"])
            if unit:
                statement = statement.where(AnalysisCase.unit_id == unit)
            rows = uow.session.execute(
                statement.group_by(AnalysisCase.category, AnalysisCase.month)).all()
        categories = [query["category"]] if query["category"] else list(CATEGORIES)
        counts = {c: [0] * months for c in categories}
        column = {m: i for i, m in enumerate(window)}
        for category, month, count in rows:
            counts.setdefault(category, [0] * months)[column[month]] += count
        seasonal = analysis.Seasonal(window, list(counts), counts)
        return {"end": end, "unit": unit, "labels": {c: CATEGORIES.get(c, c) for c in counts},
                **seasonal.as_dict()}

    @rpc(expected_exceptions=EXPECTED)
    def analysis_seasonal_png(self, caller, query):
        """The seasonal view as a heat map (PNG, base64: RPC carries JSON); without a CJK
        font, no PNG and the reason."""
        from services.rating import charts  # matplotlib only where a chart is drawn

        view = self.analysis_seasonal(caller, query)
        triples = [(c, m, n) for c, row in view["counts"].items()
                   for m, n in zip(view["months"], row)]
        try:
            png = charts.seasonal_png(triples, months=view["months"])
        except charts.CjkFontMissing as missing:   # the server's setup, not the caller's
            return {"png": None, "reason": str(missing)}
        return {"png": base64.b64encode(png).decode("ascii"), "reason": None}

    @rpc(expected_exceptions=EXPECTED)
    def analysis_problems(self, caller, query):
        """共性问题 (clusters with ≥ N cases within M days, among the cases received in the
        period) and 反复发生 (cases of the period that repeat a closed one), for follow-up."""
        viewer = load_viewer(caller)
        query = load_input(ProblemsQuerySchema(), query)
        unit = _unit_scope(viewer, query["unit"])
        settings = self.analysis_settings
        with self.db.unit_of_work() as uow:
            last = query["end"] or analysis_ingest.local_date(uow.clock.now())
            first = query["start"] or last - timedelta(days=PROBLEMS_DEFAULT_DAYS - 1)
            if first > last:
                raise InvalidInput({"from": ["from 不能晚于 to (from is after to)"]})
            _check_length(first, last, settings)
            start, end = campaigns.day_bounds(first, last)
            common = analysis_views.common_problems(uow.session, start, end, query["category"], unit,
                                      settings)
            repeated = analysis_views.repeated(uow.session, start, end, query["category"], unit)
        return {"from": first.isoformat(), "to": last.isoformat(), "unit": unit,
                "category": query["category"],
                "settings": {"min_cases": settings.common_min_cases,
                             "within_days": settings.common_within_days,
                             "threshold": settings.common_threshold,
                             "repeat_within_days": settings.repeat_within_days},
                "common": common, "repeated": repeated}

    # ============================================================== campaigns
    @rpc(expected_exceptions=EXPECTED)
    def campaign_create(self, caller, body):
        viewer = _office(load_viewer(caller))
        body = load_input(CampaignCreateSchema(), body)
        scope = campaigns.Scope.from_dict(
            {"categories": body["scope"]["categories"], "keywords": body["scope"]["keywords"],
             "units": body["scope"]["units"], "from": body["scope"]["start"],
             "to": body["scope"]["end"]})
        if scope.empty:
            raise InvalidInput({"scope": ["范围不能为空:至少给出类别、关键词、单位或时间之一 "
                                          "(an empty scope)"]})
        names = analysis_views.unit_names()
        unknown = [u for u in (body["lead_unit"], *scope.units) if u not in names]
        if unknown:
            raise InvalidInput({"lead_unit" if unknown[0] == body["lead_unit"] else "scope": [
                f"未知单位 {unknown[0]} (unknown unit)"]})
        with self.db.unit_of_work() as uow:
            now = uow.clock.now()
            if body["target_date"] < analysis_ingest.local_date(now):
                raise InvalidInput({"target_date": ["目标日期不能早于今天 "
                                                    "(target date in the past)"]})
            campaign = Campaign(id=str(uuid.uuid4()), name=body["name"].strip(),
                                scope=scope.as_dict(), lead_unit_id=body["lead_unit"],
                                target_date=body["target_date"], status=campaigns.OPEN,
                                created_by=viewer.id, created_by_name=viewer.name,
                                created_at=now)
            uow.session.add(campaign)
            uow.session.flush()
            return analysis_views.campaign_view(uow.session, campaign, self.rules, now)

    @rpc(expected_exceptions=EXPECTED)
    def campaign_list(self, caller, query):
        viewer = _staff(load_viewer(caller))
        query = load_input(CampaignListQuerySchema(), query or {})
        with self.db.unit_of_work() as uow:
            statement = select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id)
            if query["status"]:
                statement = statement.where(Campaign.status == query["status"])
            found = [c for c in uow.session.execute(statement).scalars()
                     if _may_read(viewer, c)]
            now = uow.clock.now()
            return [analysis_views.campaign_view(uow.session, c, self.rules, now, details=False)
                    for c in found]

    @rpc(expected_exceptions=EXPECTED)
    def campaign_get(self, campaign_id, caller):
        viewer = _staff(load_viewer(caller))
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer)
            return analysis_views.campaign_view(uow.session, campaign, self.rules, uow.clock.now())

    @rpc(expected_exceptions=EXPECTED)
    def campaign_suggestions(self, campaign_id, caller):
        """Cases the office may attach: those matching the scope, and the other cases of the
        共性问题 clusters the matching or attached cases belong to."""
        viewer = _office(load_viewer(caller))
        settings = self.analysis_settings
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer)
            return {"campaign_id": campaign.id,
                    "cases": analysis_views.suggestions(uow.session, campaign, settings)}

    @rpc(expected_exceptions=EXPECTED)
    def campaign_attach(self, campaign_id, caller, body):
        """The office confirms cases into the campaign; each newly attached case is
        announced (campaign_case_attached: the case's timeline shows it). Attaching a case
        already attached changes nothing."""
        viewer = _office(load_viewer(caller))
        body = load_input(AttachSchema(), body)
        ids = list(dict.fromkeys(body["complaint_ids"]))
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer, lock=True)
            campaigns.ensure_open(campaign.status, campaign.id)
            cases = {c.complaint_id: c for c in uow.session.execute(select(AnalysisCase).where(
                AnalysisCase.complaint_id.in_(ids))).scalars()}
            unknown = [i for i in ids if i not in cases or not cases[i].counted]
            if unknown:
                raise InvalidInput({"complaint_ids": [
                    f"诉求不存在或不计入分析(已不予受理/已合并): {', '.join(unknown[:5])} "
                    f"(unknown, screened-out or merged case)"]})
            now = uow.clock.now()
            links = {link.complaint_id: link for link in uow.session.execute(
                select(CampaignCase).where(CampaignCase.campaign_id == campaign.id,
                                           CampaignCase.complaint_id.in_(ids))).scalars()}
            for complaint_id in ids:
                link = links.get(complaint_id)
                if link is not None and link.attached:
                    continue
                if link is None:
                    link = CampaignCase(campaign_id=campaign.id, complaint_id=complaint_id)
                    uow.session.add(link)
                link.attached, link.attached_by, link.attached_at = True, viewer.id, now
                link.detached_by = link.detached_at = None
                uow.emit("campaign_case_attached", complaint_id,
                         number=cases[complaint_id].number, campaign_id=campaign.id,
                         campaign_name=campaign.name, by={"id": viewer.id, "name": viewer.name},
                         note=body["note"])
            uow.session.flush()
            return analysis_views.campaign_view(uow.session, campaign, self.rules, now)

    @rpc(expected_exceptions=EXPECTED)
    def campaign_detach(self, campaign_id, complaint_id, caller, body):
        viewer = _office(load_viewer(caller))
        body = load_input(DetachSchema(), body or {})
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer, lock=True)
            campaigns.ensure_open(campaign.status, campaign.id)
            link = uow.session.get(CampaignCase, (campaign.id, complaint_id))
            if link is None or not link.attached:
                raise NotFound(f"complaint {complaint_id} is not in campaign {campaign.id}")
            now = uow.clock.now()
            link.attached, link.detached_by, link.detached_at = False, viewer.id, now
            case = uow.session.get(AnalysisCase, complaint_id)
            uow.emit("campaign_case_detached", complaint_id,
                     number=case.number if case else None, campaign_id=campaign.id,
                     campaign_name=campaign.name, by={"id": viewer.id, "name": viewer.name},
                     note=body["note"])
            uow.session.flush()
            return analysis_views.campaign_view(uow.session, campaign, self.rules, now)

    @rpc(expected_exceptions=EXPECTED)
    def campaign_add_milestone(self, campaign_id, caller, body):
        """A step of the campaign (planned with a due date, or done): the office or the
        lead unit's head."""
        viewer = _staff(load_viewer(caller))
        body = load_input(CampaignMilestoneSchema(), body)
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer, lock=True)
            if not (viewer.has("office") or (viewer.has("head")
                                              and viewer.unit == campaign.lead_unit_id)):
                raise NotFound(f"campaign {campaign_id} not found")
            campaigns.ensure_open(campaign.status, campaign.id)
            now = uow.clock.now()
            uow.session.add(CampaignMilestone(
                id=str(uuid.uuid4()), campaign_id=campaign.id, title=body["title"].strip(),
                note=body["note"], due_date=body["due_date"], done=body["done"],
                recorded_by=viewer.id, recorded_by_name=viewer.name, recorded_at=now))
            uow.session.flush()
            return analysis_views.campaign_view(uow.session, campaign, self.rules, now)

    @rpc(expected_exceptions=EXPECTED)
    def campaign_close(self, campaign_id, caller, body):
        viewer = _office(load_viewer(caller))
        body = load_input(CloseSchema(), body)
        with self.db.unit_of_work() as uow:
            campaign = _campaign(uow.session, campaign_id, viewer, lock=True)
            campaigns.ensure_open(campaign.status, campaign.id)
            now = uow.clock.now()
            campaign.status, campaign.conclusion = campaigns.CLOSED, body["conclusion"].strip()
            campaign.closed_by, campaign.closed_at = viewer.id, now
            uow.session.flush()
            return analysis_views.campaign_view(uow.session, campaign, self.rules, now)


# ================================================================== access
def _staff(viewer: Viewer) -> Viewer:
    if not viewer.is_staff:
        raise NotFound("not found")
    return viewer


def _office(viewer: Viewer) -> Viewer:
    if not viewer.has("office"):
        raise NotFound("not found")
    return viewer


def _unit_scope(viewer: Viewer, asked: str | None) -> str | None:
    """The unit whose cases a viewer's analysis covers: any (or the one asked) for the office
    and leaders, always their own for a unit's staff."""
    _staff(viewer)
    if viewer.has("office", "leader"):
        return asked
    if not viewer.has(*UNIT_ROLES) or not viewer.unit or asked not in (None, viewer.unit):
        raise NotFound(f"unit {asked} not found")
    return viewer.unit


def _may_read(viewer: Viewer, campaign: Campaign) -> bool:
    if viewer.has("office", "leader"):
        return True
    return bool(viewer.unit) and viewer.has(*UNIT_ROLES) and (
        viewer.unit == campaign.lead_unit_id or viewer.unit in campaign.scope.get("units", ()))


def _campaign(session, campaign_id: str, viewer: Viewer, lock: bool = False) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None or not _may_read(viewer, campaign):
        raise NotFound(f"campaign {campaign_id} not found")
    return campaign


def _check_length(first: date, last: date, settings: analysis.AnalysisSettings) -> None:
    if (last - first).days + 1 > settings.max_range_days:
        raise InvalidInput({"to": [f"时间范围不能超过 {settings.max_range_days} 天 "
                                   f"(range longer than {settings.max_range_days} days)"]})
