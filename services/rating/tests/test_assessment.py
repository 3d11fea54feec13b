"""三率考核 as pure code (issue 12, section 2): a hand-computed month, the periods, the rules
file, rank changes and snapshots. Every expected figure below is written by hand.

Reading aid: with the default weights a rating's contribution to the score is
10 × contacted + 50 × solved + 40 × (1 满意 | 0.9 基本满意 | 0 不满意), and a unit's score is
the average of its ratings' points. The twelve answers and their points:

    code contacted solved level   points          code contacted solved level   points
    YYs  yes       yes    满意    100             NYs  no        yes    满意     90
    YYb  yes       yes    基本    96              NYb  no        yes    基本     86
    YYd  yes       yes    不满意  60              NYd  no        yes    不满意   50
    YNs  yes       no     满意    50              NNs  no        no     满意     40
    YNb  yes       no     基本    46              NNb  no        no     基本     36
    YNd  yes       no     不满意  10              NNd  no        no     不满意    0
"""
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from services.rating.assessment import (
    DEFAULT_RULES_FILE, AssessmentConfigError, AssessmentRules, FinalRating, assess,
    assess_by_category, counted_in, counts, final_ratings, frozen_moments, honour_lists,
    load_rules, next_period, period_bounds, period_of, previous_period, publish,
    records_for_period, round_half_up, rules_from_dict,
)

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc
RULES = AssessmentRules()
LEVEL = {"s": "satisfied", "b": "basically", "d": "dissatisfied"}
KIND = {"dept": "department", "col": "college", "office": "other"}


def local(*args):
    return datetime(*args, tzinfo=SH)


def r(complaint_id, unit_id, code, at=None, **extra):
    """A final rating from its answer code ("YNb": contacted, not solved, 基本满意)."""
    return FinalRating(
        complaint_id=complaint_id, unit_id=unit_id, unit_kind=KIND[unit_id.split("-")[0]],
        category=extra.pop("category", "logistics"), channel=extra.pop("channel", "app"),
        contacted=code[0] == "Y", solved=code[1] == "Y", level=LEVEL[code[2]],
        rated_at=at or local(2026, 11, 10, 9, 0), **extra)


def many(prefix, unit_id, codes):
    return [r(f"{prefix}-{i}", unit_id, code) for i, code in enumerate(codes, start=1)]


# ====================================================================== the fixture month
NOV_FROZEN_AT = local(2026, 12, 1, 9, 0)    # the office publishes November on 12-01 09:00
LATE = r("dst-late", "dept-student", "YYs", at=local(2026, 11, 30, 20, 0),
         received_at=local(2026, 12, 1, 10, 0))   # rated in November, reached us after 09:00
OCTOBER_STRAY = r("cs-oct", "col-cs", "NNd", at=local(2026, 10, 31, 23, 59, 59))
DECEMBER_STRAY = r("arts-dec", "col-arts", "YYs", at=local(2026, 12, 1, 0, 0))

MONTH = [
    # dept-logistics: 5 counted answers and one 剔除 approved (NNd: counts only in 全口径)
    *many("dl", "dept-logistics", ["YYs", "YYs", "YYb", "NYb", "YNd"]),
    r("dl-6", "dept-logistics", "NNd", exclusion="approved"),
    # dept-security: a 剔除 refused (counts in both bases); and the first round of a case
    # that was sent back (发回重办) and redone by another unit: not final, never counted here
    *many("ds", "dept-security", ["YYs", "YNs", "NYs", "YYd", "NNb"]),
    r("ds-6", "dept-security", "YYb", exclusion="refused"),
    r("redo-1", "dept-security", "NNd", round=0, decision="order_redo",
      at=local(2026, 11, 3, 10, 0)),
    # dept-academic: handled the redone round of redo-1, whose final rating counts for it
    *many("da", "dept-academic", ["YYb", "YYb", "NYd", "NNs", "YNb"]),
    r("redo-1", "dept-academic", "YYs", round=1, at=local(2026, 11, 12, 15, 0)),
    # dept-student: 5 answers, and LATE (counted in December)
    *many("dst", "dept-student", ["YYs", "YYs", "YYs", "NNd", "YNb"]),
    LATE,
    # dept-finance: 4 有效回访 (one with a 剔除 request still pending: it counts), below
    # min_rated; a screened-out, a merged and an unrated case never count
    *many("df", "dept-finance", ["YYs", "NYs"]),
    r("df-3", "dept-finance", "NNb", exclusion="requested"),
    r("df-4", "dept-finance", "YNd"),
    r("df-screened", "dept-finance", "YYs", screened_out=True),
    r("df-merged", "dept-finance", "YYs", merged=True),
    replace(r("df-unrated", "dept-finance", "YYs"), contacted=None, solved=None, level=None),
    # col-law: the first at the very first instant of November (11-01 00:00 Shanghai)
    r("law-1", "col-law", "YYs", at=local(2026, 11, 1, 0, 0)),
    *many("law", "col-law", ["YYs"] * 4)[1:],
    r("law-5", "col-law", "NYb"),
    # col-physics and col-chem: identical answers (the tie decided by unit id), physics first
    *many("phy", "col-physics", ["YYs", "YYs", "YYb", "NYs", "YNd", "NNs"]),
    *many("chem", "col-chem", ["NNs", "YNd", "NYs", "YYb", "YYs", "YYs"]),
    # col-cs and col-math: the same mix, cs with twice as many (the tie decided by rated);
    # plus a rating at 10-31 23:59:59 that belongs to October
    *many("cs", "col-cs", ["YYs", "YYb", "NYd", "YNs", "NNb"] * 2),
    OCTOBER_STRAY,
    *many("math", "col-math", ["YYs", "YYb", "NYd", "YNs", "NNb"]),
    # col-music: 5 in 全口径, 4 in 考核口径 after an approved 剔除 (ranked in one basis only)
    *many("mus", "col-music", ["YYs", "YYb", "NNs", "YNb"]),
    r("mus-5", "col-music", "NNb", exclusion="approved"),
    # col-arts: the worst, and a rating at 12-01 00:00 that belongs to December
    *many("arts", "col-arts", ["NNd", "NNb", "YNd", "NYd", "YNs", "NNs"]),
    DECEMBER_STRAY,
    # a unit of kind "other": listed, never ranked
    r("lib-1", "office-library", "YYs"),
]
FROZEN = {"2026-11": NOV_FROZEN_AT}

# (unit, rated, contacted, solved, 满意, 基本, 不满意, 响应率, 解决率, 满意率, score, rank)
# 满意率 = (满意 + 0.9 基本) / rated; score = average points (table in the module doc).
FULL_DEPARTMENTS = [
    # YYs YNs NYs YYd NNb YYb: c 4/6 = .666.. → .6667; s 4/6 → .6667;
    # sat (3 + 0.9×2)/6 = 4.8/6 = .8; score (100+50+90+60+36+96)/6 = 432/6 = 72
    ("dept-security", 6, 4, 4, 3, 2, 1, 0.6667, 0.6667, 0.8, 72.0, 1),
    # YYb YYb NYd NNs YNb + redo-1 YYs: c 4/6, s 4/6; sat (2 + 2.7)/6 = .78333 → .7833;
    # score (96+96+50+40+46+100)/6 = 428/6 = 71.333 → 71.33
    ("dept-academic", 6, 4, 4, 2, 3, 1, 0.6667, 0.6667, 0.7833, 71.33, 2),
    # YYs YYs YYs NNd YNb: c 4/5 = .8, s 3/5 = .6, sat (3 + 0.9)/5 = .78;
    # score (300+0+46)/5 = 69.2
    ("dept-student", 5, 4, 3, 3, 1, 1, 0.8, 0.6, 0.78, 69.2, 3),
    # YYs YYs YYb NYb YNd NNd(剔除): c 4/6, s 4/6, sat (2 + 1.8)/6 = .63333 → .6333;
    # score (100+100+96+86+10+0)/6 = 392/6 = 65.333 → 65.33
    ("dept-logistics", 6, 4, 4, 2, 2, 2, 0.6667, 0.6667, 0.6333, 65.33, 4),
    # YYs NYs NNb YNd: c 2/4 = .5, s 2/4 = .5, sat (2 + 0.9)/4 = .725;
    # score (100+90+36+10)/4 = 236/4 = 59; 4 < min_rated 5: not ranked
    ("dept-finance", 4, 2, 2, 2, 1, 1, 0.5, 0.5, 0.725, 59.0, None),
]
ASSESSMENT_DEPARTMENTS = [
    # logistics without dl-6 (NNd): c 4/5 = .8, s 4/5 = .8, sat (2 + 1.8)/5 = .76;
    # score 392/5 = 78.4 → first
    ("dept-logistics", 5, 4, 4, 2, 2, 1, 0.8, 0.8, 0.76, 78.4, 1),
    ("dept-security", 6, 4, 4, 3, 2, 1, 0.6667, 0.6667, 0.8, 72.0, 2),   # ds-6 refused: kept
    ("dept-academic", 6, 4, 4, 2, 3, 1, 0.6667, 0.6667, 0.7833, 71.33, 3),
    ("dept-student", 5, 4, 3, 3, 1, 1, 0.8, 0.6, 0.78, 69.2, 4),
    ("dept-finance", 4, 2, 2, 2, 1, 1, 0.5, 0.5, 0.725, 59.0, None),
]
FULL_COLLEGES = [
    # YYs×4 NYb: c 4/5 = .8, s 5/5 = 1, sat (4 + 0.9)/5 = .98; score (400+86)/5 = 97.2
    ("col-law", 5, 4, 5, 4, 1, 0, 0.8, 1.0, 0.98, 97.2, 1),
    # YYs YYs YYb NYs YNd NNs: c 4/6, s 4/6, sat (4 + 0.9)/6 = .816666 → .8167;
    # score (100+100+96+90+10+40)/6 = 436/6 = 72.666 → 72.67. chem and physics are equal in
    # score and in rated: "col-chem" < "col-physics" decides
    ("col-chem", 6, 4, 4, 4, 1, 1, 0.6667, 0.6667, 0.8167, 72.67, 2),
    ("col-physics", 6, 4, 4, 4, 1, 1, 0.6667, 0.6667, 0.8167, 72.67, 3),
    # (YYs YYb NYd YNs NNb)×2: c 6/10 = .6, s 6/10 = .6, sat (4 + 3.6)/10 = .76;
    # score 2×(100+96+50+50+36)/10 = 664/10 = 66.4. math has the same with 5: cs has more
    # 有效回访, so cs is ahead
    ("col-cs", 10, 6, 6, 4, 4, 2, 0.6, 0.6, 0.76, 66.4, 4),
    ("col-math", 5, 3, 3, 2, 2, 1, 0.6, 0.6, 0.76, 66.4, 5),
    # YYs YYb NNs YNb NNb(剔除): c 3/5 = .6, s 2/5 = .4, sat (2 + 2.7)/5 = .94;
    # score (100+96+40+46+36)/5 = 318/5 = 63.6
    ("col-music", 5, 3, 2, 2, 3, 0, 0.6, 0.4, 0.94, 63.6, 6),
    # NNd NNb YNd NYd YNs NNs: c 2/6 = .3333, s 1/6 = .16666 → .1667,
    # sat (2 + 0.9)/6 = .48333 → .4833; score (0+36+10+50+50+40)/6 = 186/6 = 31
    ("col-arts", 6, 2, 1, 2, 1, 3, 0.3333, 0.1667, 0.4833, 31.0, 7),
]
ASSESSMENT_COLLEGES = [
    ("col-law", 5, 4, 5, 4, 1, 0, 0.8, 1.0, 0.98, 97.2, 1),
    ("col-chem", 6, 4, 4, 4, 1, 1, 0.6667, 0.6667, 0.8167, 72.67, 2),
    ("col-physics", 6, 4, 4, 4, 1, 1, 0.6667, 0.6667, 0.8167, 72.67, 3),
    ("col-cs", 10, 6, 6, 4, 4, 2, 0.6, 0.6, 0.76, 66.4, 4),
    ("col-math", 5, 3, 3, 2, 2, 1, 0.6, 0.6, 0.76, 66.4, 5),
    ("col-arts", 6, 2, 1, 2, 1, 3, 0.3333, 0.1667, 0.4833, 31.0, 6),
    # music without mus-5 (NNb): 4 < 5, listed after the ranked ones, not ranked.
    # c 3/4 = .75, s 2/4 = .5, sat (2 + 1.8)/4 = .95; score (100+96+40+46)/4 = 282/4 = 70.5
    ("col-music", 4, 3, 2, 2, 2, 0, 0.75, 0.5, 0.95, 70.5, None),
]
OTHER = [("office-library", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, 100.0, None)]

EXPECTED = {
    # 4 ranked departments < 3 + 3: each list takes 4 // 2 = 2. 7 ranked colleges: 3 and 3.
    "full": {"department": (FULL_DEPARTMENTS, ("dept-security", "dept-academic"),
                            ("dept-student", "dept-logistics")),
             "college": (FULL_COLLEGES, ("col-law", "col-chem", "col-physics"),
                         ("col-math", "col-music", "col-arts")),
             "other": (OTHER, (), ())},
    "assessment": {"department": (ASSESSMENT_DEPARTMENTS, ("dept-logistics", "dept-security"),
                                  ("dept-academic", "dept-student")),
                   "college": (ASSESSMENT_COLLEGES, ("col-law", "col-chem", "col-physics"),
                               ("col-cs", "col-math", "col-arts")),
                   "other": (OTHER, (), ())},
}


def as_tuple(row):
    return (row.unit_id, row.rated, row.contacted, row.solved, row.satisfied, row.basically,
            row.dissatisfied, row.response_rate, row.resolution_rate, row.satisfaction_rate,
            row.score, row.rank)


def november(basis, records=MONTH, frozen=FROZEN, previous=None):
    return assess(records_for_period(records, "2026-11", RULES, frozen), basis, RULES,
                  previous=previous)


def test_the_fixture_has_every_answer_combination():
    answers = {(x.contacted, x.solved, x.level) for x in MONTH if x.level is not None}
    assert len(answers) == 2 * 2 * 3


@pytest.mark.parametrize("basis", ["full", "assessment"])
def test_the_hand_computed_month(basis):
    result = november(basis)
    assert result.basis == basis
    assert set(result.groups) == {"department", "college", "other"}
    for kind, (rows, red, black) in EXPECTED[basis].items():
        group = result.groups[kind]
        assert [as_tuple(row) for row in group.rows] == rows, kind
        assert group.red == red, kind
        assert group.black == black, kind


def test_what_counts_in_november():
    counted = {(x.complaint_id, x.unit_id)
               for x in records_for_period(MONTH, "2026-11", RULES, FROZEN)}
    assert ("redo-1", "dept-academic") in counted          # the final round, for its unit
    assert ("redo-1", "dept-security") not in counted      # the first round is superseded
    assert ("law-1", "col-law") in counted                 # 11-01 00:00 is November
    assert ("cs-oct", "col-cs") not in counted             # 10-31 23:59:59 is October
    assert ("arts-dec", "col-arts") not in counted         # 12-01 00:00 is December
    assert ("dst-late", "dept-student") not in counted     # arrived after the freeze


def test_the_late_rating_counts_in_the_next_period():
    assert counted_in(LATE.rated_at, LATE.received_at, {}, RULES) == "2026-11"
    assert counted_in(LATE.rated_at, LATE.received_at, FROZEN, RULES) == "2026-12"
    # one that arrived before the freeze stays where it belongs
    assert counted_in(LATE.rated_at, NOV_FROZEN_AT - timedelta(seconds=1), FROZEN,
                      RULES) == "2026-11"
    # December already frozen too when it arrives: on to January
    assert counted_in(LATE.rated_at, local(2027, 1, 2, 9, 0),
                      {**FROZEN, "2026-12": local(2027, 1, 1, 9, 0)}, RULES) == "2027-01"
    # a period published before its end (a rating recorded after that, no delay)
    early = {"2026-11": local(2026, 11, 30, 12, 0)}
    assert counted_in(local(2026, 11, 30, 13, 0), None, early, RULES) == "2026-12"

    december = assess(records_for_period(MONTH, "2026-12", RULES, FROZEN), "full", RULES)
    # dst-late YYs: 1 rated, all rates 1, score 100; arts-dec YYs likewise for col-arts
    assert as_tuple(december.row("dept-student")) == \
        ("dept-student", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, 100.0, None)
    assert as_tuple(december.row("col-arts")) == \
        ("col-arts", 1, 1, 1, 1, 0, 0, 1.0, 1.0, 1.0, 100.0, None)
    assert december.row("dept-security") is None


def test_publication_versions_and_the_late_rating():
    # Published at 09:00 with what had arrived: everything but LATE.
    before = [x for x in MONTH if x is not LATE]
    v1 = publish(None, "2026-11", "full", november("full", before, {}), NOV_FROZEN_AT,
                 "office-1")
    assert (v1.version, v1.frozen_at, v1.first_frozen_at) == (1, NOV_FROZEN_AT, NOV_FROZEN_AT)
    assert frozen_moments([v1]) == FROZEN

    # LATE arrives at 10:00: November's figures do not move, publishing again changes nothing
    again = publish(v1, "2026-11", "full", november("full", MONTH, frozen_moments([v1])),
                    local(2026, 12, 1, 11, 0), "office-1")
    assert again is v1

    # A correction (an exclusion approved afterwards) is a new version, with a reason
    corrected = [replace(x, exclusion="approved") if x.complaint_id == "dst-4" else x
                 for x in MONTH]
    figures = november("assessment", corrected)
    v1a = publish(None, "2026-11", "assessment", november("assessment"), NOV_FROZEN_AT, "o")
    with pytest.raises(ValueError, match="reason"):
        publish(v1a, "2026-11", "assessment", figures, local(2026, 12, 3, 9, 0), "o")
    v2 = publish(v1a, "2026-11", "assessment", figures, local(2026, 12, 3, 9, 0), "o",
                 reason="剔除 dst-4: 经核实为恶意诉求")
    assert (v2.version, v2.first_frozen_at, v2.reason) == \
        (2, NOV_FROZEN_AT, "剔除 dst-4: 经核实为恶意诉求")
    assert v1a.assessment.row("dept-student").rated == 5   # the old version is untouched
    # dept-student without NNd: YYs YYs YYs YNb: c 4/4, s 3/4 = .75, sat (3 + .9)/4 = .975;
    # score (300+46)/4 = 86.5; 4 < min_rated: no longer ranked
    assert as_tuple(v2.assessment.row("dept-student")) == \
        ("dept-student", 4, 4, 3, 3, 1, 0, 1.0, 0.75, 0.975, 86.5, None)
    v3 = publish(v2, "2026-11", "assessment", november("assessment"),
                 local(2026, 12, 4, 9, 0), "o", reason="撤销剔除")
    assert v3.version == 3
    with pytest.raises(ValueError):
        publish(v3, "2026-12", "assessment", figures, local(2026, 12, 5), "o", reason="x")
    with pytest.raises(ValueError):
        publish(v3, "2026-11", "full", november("full"), local(2026, 12, 5, 9, 0), "o",
                reason="x")


def test_rank_changes_against_the_previous_period():
    # October: academic all YYs (100), student all YYb (96), security all NNd (0),
    # logistics only 3 ratings (not ranked) → ranks academic 1, student 2, security 3
    october = assess([*many("a", "dept-academic", ["YYs"] * 5),
                      *many("s", "dept-student", ["YYb"] * 5),
                      *many("x", "dept-security", ["NNd"] * 5),
                      *many("l", "dept-logistics", ["YYs"] * 3)], "full", RULES)
    assert october.ranks() == {"dept-academic": 1, "dept-student": 2, "dept-security": 3,
                               "dept-logistics": None}
    result = november("full", previous=october)
    changes = {row.unit_id: (row.previous_rank, row.rank, row.rank_change)
               for row in result.groups["department"].rows}
    assert changes == {
        "dept-security": (3, 1, 2),        # up two places
        "dept-academic": (1, 2, -1),
        "dept-student": (2, 3, -1),
        "dept-logistics": (None, 4, None),  # not ranked before: no change to show
        "dept-finance": (None, None, None),
    }
    # the previous ranks may also be given as a mapping
    assert november("full", previous={"col-law": 7}).row("col-law").rank_change == 6


@pytest.mark.parametrize("ranked, lists", [
    (0, (0, 0)), (1, (0, 0)), (2, (1, 1)), (3, (1, 1)), (4, (2, 2)), (5, (2, 2)),
    (6, (3, 3)), (7, (3, 3)), (20, (3, 3)),
])
def test_red_and_black_lists_in_small_groups(ranked, lists):
    assert honour_lists(ranked, RULES) == lists


def test_five_ranked_the_middle_one_is_on_neither_list():
    rows = [*many("a", "col-a", ["YYs"] * 5), *many("b", "col-b", ["YYb"] * 5),
            *many("c", "col-c", ["NYs"] * 5), *many("d", "col-d", ["YNs"] * 5),
            *many("e", "col-e", ["NNd"] * 5)]
    group = assess(rows, "full", RULES).groups["college"]
    assert (group.red, group.black) == (("col-a", "col-b"), ("col-d", "col-e"))


def test_units_without_ratings_are_listed():
    result = assess(many("a", "dept-a", ["YYs"] * 5), "full", RULES,
                    units={"dept-a": "department", "dept-z": "department",
                           "col-q": "college"})
    assert as_tuple(result.row("dept-z")) == \
        ("dept-z", 0, 0, 0, 0, 0, 0, None, None, None, None, None)
    assert [row.unit_id for row in result.groups["department"].rows] == ["dept-a", "dept-z"]
    assert result.groups["college"].rows[0].unit_id == "col-q"


def test_a_unit_cannot_be_of_two_kinds():
    with pytest.raises(ValueError, match="both"):
        assess([r("1", "dept-a", "YYs"), replace(r("2", "dept-a", "YYs"), unit_kind="college")],
               "full", RULES)


def test_by_category():
    rows = [*[r(f"a{i}", "dept-a", "YYs", category="logistics") for i in range(5)],
            *[r(f"b{i}", "dept-b", "NNd", category="logistics") for i in range(5)],
            *[r(f"c{i}", "dept-a", "NNd", category="finance") for i in range(5)],
            *[r(f"d{i}", "dept-b", "YYb", category="finance") for i in range(5)]]
    result = assess_by_category(rows, "full", RULES)
    assert list(result) == ["finance", "logistics"]
    logistics = result["logistics"].groups["department"]
    finance = result["finance"].groups["department"]
    assert [(x.unit_id, x.score, x.rank) for x in logistics.rows] == \
        [("dept-a", 100.0, 1), ("dept-b", 0.0, 2)]
    assert [(x.unit_id, x.score, x.rank) for x in finance.rows] == \
        [("dept-b", 96.0, 1), ("dept-a", 0.0, 2)]
    assert (finance.red, finance.black) == (("dept-b",), ("dept-a",))


# ====================================================================== the rules of counting
def test_what_is_an_effective_callback():
    plain = r("1", "dept-a", "YYs")
    assert counts(plain, "full") and counts(plain, "assessment")
    approved = replace(plain, exclusion="approved")
    assert counts(approved, "full") and not counts(approved, "assessment")
    for state in ("requested", "refused"):
        assert counts(replace(plain, exclusion=state), "assessment")
    for flag in ("screened_out", "merged"):
        assert not counts(replace(plain, **{flag: True}), "full")
    assert not counts(replace(plain, level=None, contacted=None, solved=None), "full")
    with pytest.raises(ValueError):
        counts(plain, "partial")


def test_the_final_rating_of_a_supervised_case():
    # round 0 不满意 at A → redo at B, 不满意 again → 督办 at C, closed there
    chain = [r("k", "dept-a", "NNd", round=0, decision="order_redo"),
             r("k", "dept-b", "YNd", round=1, decision="supervise"),
             r("k", "dept-c", "YYd", round=2, at=local(2026, 11, 20, 9, 0))]
    assert [(x.unit_id, x.round) for x in final_ratings(chain)] == [("dept-c", 2)]
    # sent back and not yet rated again: nothing final yet
    assert final_ratings(chain[:2]) == []


def test_a_rating_is_checked():
    with pytest.raises(ValueError):
        r("1", "dept-a", "YYs", exclusion="maybe")
    with pytest.raises(ValueError):
        replace(r("1", "dept-a", "YYs"), level="meh")
    with pytest.raises(ValueError):
        replace(r("1", "dept-a", "YYs"), contacted=None)
    with pytest.raises(ValueError):
        replace(r("1", "dept-a", "YYs"), rated_at=datetime(2026, 11, 1, 9, 0))
    with pytest.raises(ValueError):
        replace(r("1", "dept-a", "YYs"), unit_kind="school")


def test_rounding_is_half_up_from_the_exact_value():
    assert round_half_up(Fraction(509, 8), 2) == 63.63        # 63.625; round() says 63.62
    assert round(509 / 8, 2) == 63.62
    assert round_half_up(Fraction(1, 32), 4) == 0.0313        # 0.03125
    assert round_half_up(Fraction(2, 3), 4) == 0.6667
    assert round_half_up(Fraction(0), 4) == 0.0
    # the score comes from the exact rates, not the rounded ones. YYs×4 NNs×3:
    # c = s = 4/7 = .571428 → .5714, sat 1; score 100 × (0.6 × 4/7 + 0.4) = 74.2857 → 74.29,
    # where the rounded rates would give 100 × (0.6 × 0.5714 + 0.4) = 74.284 → 74.28
    row = assess(many("x", "dept-x", ["YYs"] * 4 + ["NNs"] * 3), "full", RULES).row("dept-x")
    assert (row.response_rate, row.resolution_rate, row.satisfaction_rate, row.score) == \
        (0.5714, 0.5714, 1.0, 74.29)


# ====================================================================== periods
def test_calendar_months():
    period = period_bounds("2026-11", RULES)
    assert (period.start, period.end) == (datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
                                          datetime(2026, 11, 30, 16, 0, tzinfo=UTC))
    assert period.start.tzinfo == UTC
    assert local(2026, 11, 1, 0, 0) in period
    assert local(2026, 12, 1, 0, 0) not in period
    assert period_of(datetime(2026, 10, 31, 16, 0, tzinfo=UTC), RULES) == "2026-11"
    assert period_of(datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC), RULES) == "2026-10"


def test_a_cut_off_day():
    rules = AssessmentRules(period_cutoff_day=18)
    period = period_bounds("2026-11", rules)
    # 10-19 00:00 to 11-18 24:00 Shanghai
    assert period.start == local(2026, 10, 19, 0, 0)
    assert period.end == local(2026, 11, 19, 0, 0)
    assert period.start == datetime(2026, 10, 18, 16, 0, tzinfo=UTC)
    assert period_of(local(2026, 11, 18, 23, 59, 59), rules) == "2026-11"
    assert period_of(local(2026, 11, 19, 0, 0), rules) == "2026-12"
    assert period_of(local(2026, 10, 19, 0, 0), rules) == "2026-11"
    assert period_of(local(2026, 10, 18, 23, 59), rules) == "2026-10"
    # across the year: December 19 onwards is already next year's January
    assert period_of(local(2026, 12, 25, 12, 0), rules) == "2027-01"
    january = period_bounds("2027-01", rules)
    assert (january.start, january.end) == (local(2026, 12, 19), local(2027, 1, 19))
    # the 28th exists in February: March runs 03-01 to 03-28 24:00 in 2026
    rules28 = AssessmentRules(period_cutoff_day=28)
    march = period_bounds("2026-03", rules28)
    assert (march.start, march.end) == (local(2026, 3, 1), local(2026, 3, 29))
    assert period_of(local(2026, 2, 28, 23, 0), rules28) == "2026-02"


def test_previous_and_next_periods():
    assert previous_period("2027-01") == "2026-12"
    assert previous_period("2026-11") == "2026-10"
    assert next_period("2026-12") == "2027-01"
    for bad in ("2026-13", "2026-1", "26-11", "2026-00", "", None):
        with pytest.raises(ValueError):
            previous_period(bad)
    with pytest.raises(ValueError):
        period_of(datetime(2026, 11, 1), RULES)     # naive: which zone?


@pytest.mark.parametrize("cutoff", [None, 1, 18, 28])
def test_periods_tile_time_without_dst(cutoff):
    rules = AssessmentRules(period_cutoff_day=cutoff)
    label = "2025-12"
    for _ in range(26):
        period = period_bounds(label, rules)
        nxt = period_bounds(next_period(label), rules)
        assert period.end == nxt.start                        # no gap, no overlap
        # Shanghai has no summer time: every bound is local midnight, 16:00 UTC
        for bound in (period.start, period.end):
            assert (bound.hour, bound.minute) == (16, 0)
            assert bound.astimezone(SH).utcoffset() == timedelta(hours=8)
        assert (period.end - period.start) % timedelta(days=1) == timedelta(0)
        assert period_of(period.start, rules) == label
        assert period_of(period.end - timedelta(microseconds=1), rules) == label
        label = nxt.label


# ====================================================================== the rules file
def test_the_shipped_file_holds_the_issue_defaults():
    rules = load_rules(DEFAULT_RULES_FILE)
    assert rules == AssessmentRules()
    assert (rules.basic_weight, rules.response_weight, rules.resolution_weight,
            rules.satisfaction_weight) == (Fraction(9, 10), Fraction(1, 10), Fraction(1, 2),
                                           Fraction(2, 5))
    assert (rules.min_rated, rules.red_list_size, rules.black_list_size,
            rules.period_cutoff_day, rules.timezone, rules.rating_window_working_days) == \
        (5, 3, 3, None, "Asia/Shanghai", 3)


def test_rules_from_a_file(tmp_path):
    path = tmp_path / "assessment.yaml"
    path.write_text("period_cutoff_day: 18\nscore_weights: {response: 0.1, resolution: 0.2,"
                    " satisfaction: 0.7}\n", encoding="utf-8")
    rules = load_rules(path)
    # 0.1 + 0.2 + 0.7 is not 1.0 in binary floats; the weights are read as decimals
    assert (rules.period_cutoff_day, rules.satisfaction_weight) == (18, Fraction(7, 10))
    path.write_text("", encoding="utf-8")
    assert load_rules(path) == AssessmentRules()


@pytest.mark.parametrize("raw, message", [
    ({"basic_weigth": 0.9}, "unknown key"),
    ({"basic_weight": 1.5}, "basic_weight must be between 0 and 1"),
    ({"basic_weight": "high"}, "basic_weight must be a number"),
    ({"score_weights": {"response": 0.2, "resolution": 0.5, "satisfaction": 0.4}},
     "must add up to 1"),
    ({"score_weights": {"speed": 0.1}}, "unknown score weight"),
    ({"score_weights": [0.1, 0.5, 0.4]}, "score_weights must be a mapping"),
    ({"min_rated": 0}, "min_rated must be at least 1"),
    ({"min_rated": True}, "min_rated must be a whole number"),
    ({"min_rated": 4.5}, "min_rated must be a whole number"),
    ({"red_list_size": -1}, "red_list_size must be at least 0"),
    ({"period_cutoff_day": 29}, "period_cutoff_day must be between 1 and 28"),
    ({"period_cutoff_day": 0}, "period_cutoff_day must be between 1 and 28"),
    ({"timezone": "Mars/Olympus"}, "not a known zone"),
    ({"timezone": 8}, "timezone must be a zone name"),
    ({"rating_window_working_days": 0}, "rating_window_working_days must be at least 1"),
    ({"version": 2}, "unsupported version"),
    ([1, 2], "top level must be a mapping"),
])
def test_a_bad_file_is_refused(raw, message):
    with pytest.raises(AssessmentConfigError, match=message) as caught:
        rules_from_dict(raw, source="config/assessment.yaml")
    assert str(caught.value).startswith("config/assessment.yaml: ")


def test_an_unreadable_file_is_refused(tmp_path):
    with pytest.raises(AssessmentConfigError, match="cannot read"):
        load_rules(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("basic_weight: [0.9\n", encoding="utf-8")
    with pytest.raises(AssessmentConfigError, match="not valid YAML"):
        load_rules(bad)
