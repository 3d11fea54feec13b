"""分析研判 (R11, R14): hot topics, seasonal view, common and repeated problems, on fixtures
whose answers are known by construction."""
import os
import random
import time
from datetime import datetime, timedelta, timezone

import pytest

from services.rating.analysis import (
    Analyzer, CaseRecord, TfidfCosine, common_problems, default_analyzer, hot_topics,
    month_of, month_range, repeated_problems, seasonal,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=UTC)


def record(case_id, text, category="logistics", unit_id="houqin", at=T0, closed=None,
           location=None, status="closed"):
    return CaseRecord(case_id=case_id, text=text, category=category, unit_id=unit_id,
                      location=location, received_at=at, closed_at=closed, status=status)


# ------------------------------------------------------------------------------ hot topics
HOT_WATER = [  # 4 places x 10: no word but 热水 is in all 40
    "学生公寓没有热水了，请尽快维修，谢谢老师",
    "澡堂的热水忽冷忽热，希望学校重视这个问题",
    "宿舍楼热水供应时间太短，反映很多次了",
    "浴室热水水压太小，同学们意见很大",
]
OTHER_TOPICS = [  # 5 topics x 12
    ("教务系统选课时总是崩溃", "education", "jiaowu"),
    ("校园网晚上断网严重，请老师帮忙", "logistics", "xinxi"),
    ("食堂饭菜价格上涨，分量变少", "logistics", "houqin"),
    ("图书馆座位被长期占用", "education", "tushuguan"),
    ("教室空调不制冷，上课很热", "logistics", "houqin"),
]


def hot_water_period(prefix, count, start=T0):
    units = ["houqin", "houqin", "wuye", "houqin"]
    return [record(f"{prefix}-hw-{i}", HOT_WATER[i % 4],
                   category="logistics" if i % 8 else "security", unit_id=units[i % 4],
                   at=start + timedelta(hours=i))
            for i in range(count)]


def other_period(prefix, per_topic, topics=OTHER_TOPICS, start=T0):
    return [record(f"{prefix}-o-{t}-{i}", text, category=category, unit_id=unit,
                   at=start + timedelta(hours=i))
            for t, (text, category, unit) in enumerate(topics) for i in range(per_topic)]


@pytest.fixture(scope="module")
def periods():
    now = hot_water_period("now", 40) + other_period("now", 12)
    previous = hot_water_period("prev", 25) + other_period("prev", 7, OTHER_TOPICS[:4])
    last_year = hot_water_period("ly", 50) + other_period("ly", 3, OTHER_TOPICS[1:])
    assert len(now) == 100
    return now, previous, last_year


def test_the_dominant_keyword_comes_first_with_its_count_mom_and_yoy(periods):
    now, previous, last_year = periods
    result = hot_topics(now, previous, last_year)

    assert (result.documents, result.previous_documents, result.last_year_documents) \
        == (100, 53, 62)
    top = result.top
    assert top.keyword == "热水"
    assert top.count == 40
    assert top.mom.as_dict() == {"before": 25, "change": 15, "ratio": 0.6}
    assert top.yoy.as_dict() == {"before": 50, "change": -10, "ratio": -0.2}
    # i % 8 == 0 of 0..39 are security: 5; units cycle houqin, houqin, wuye, houqin.
    assert top.by_category == {"logistics": 35, "security": 5}
    assert top.by_unit == {"houqin": 30, "wuye": 10}
    assert len(result.keywords) == 20


def test_mom_ratio_is_none_when_the_previous_period_had_none(periods):
    now, previous, last_year = periods
    by_word = {k.keyword: k for k in hot_topics(now, previous, last_year, top=100).keywords}
    air = by_word["空调"]         # the 5th topic: not in the previous period
    assert air.count == 12
    assert air.mom.as_dict() == {"before": 0, "change": 12, "ratio": None}
    assert air.yoy.as_dict() == {"before": 3, "change": 9, "ratio": 3.0}
    assert by_word["教务系统"].by_unit == {"jiaowu": 12}


def test_stop_words_single_characters_and_numbers_never_appear(periods):
    now, previous, last_year = periods
    noisy = now + [record("n-1", "请问3号楼第2次停水了吗？谢谢老师！反映问题希望解决 12345"),
                   record("n-2", "同学们好，这个问题两天了，十一点以后还是没有")]
    keywords = [k.keyword for k in hot_topics(noisy, previous, last_year, top=500).keywords]
    stop_words = default_analyzer().stop_words
    assert {"请", "谢谢", "老师", "同学", "问题", "希望", "反映"} <= stop_words
    assert not stop_words.intersection(keywords)
    assert all(len(k) >= 2 for k in keywords)
    assert not [k for k in keywords if any(ch.isdigit() for ch in k)]
    assert "两天" not in keywords and "十一点" not in keywords
    assert "停水" in keywords


def test_the_user_dictionary_keeps_campus_terms_whole():
    analyzer = default_analyzer()
    for text in ("学生公寓热水器坏了", "我住在学生公寓里面", "学生公寓楼下的一卡通充值机坏了"):
        words = analyzer.words(text)
        assert "学生公寓" in words, words
        assert "学生" not in words and "公寓" not in words
    assert analyzer.words("教务系统选课崩溃") == ("教务系统", "选课", "崩溃")
    # Without the dictionary jieba cuts it in two: the dictionary is what keeps it whole.
    assert "教务系统" not in Analyzer(user_dict=None).words("教务系统选课崩溃")
    assert "热水器" in analyzer.words("宿舍楼热水器坏了")


def test_pre_cut_words_are_used_as_given_and_excluded_statuses_do_not_count(periods):
    now, _, _ = periods
    cut = [CaseRecord(**{**r.__dict__, "words": ("预切词", "热水")}) for r in now[:3]]
    gone = [record("s-1", "热水" * 3, status="screened_out"), record("m-1", "热水", status="merged")]
    result = hot_topics(cut + gone)
    assert result.documents == 3
    assert {k.keyword: k.count for k in result.keywords} == {"预切词": 3, "热水": 3}
    from_dicts = hot_topics([{"case_id": "d1", "title": "空调", "content": "不制冷",
                              "category": "logistics", "unit_id": "houqin"}])
    assert {k.keyword for k in from_dicts.keywords} == {"空调", "制冷"}


def test_hot_topics_on_nothing():
    result = hot_topics([])
    assert result.documents == 0 and result.keywords == [] and result.top is None


# ------------------------------------------------------------------------------ seasonal
def test_seasonal_across_a_year_boundary_in_shanghai_time():
    records = [
        record("a", "x", "logistics", at=datetime(2025, 11, 30, 15, 59, tzinfo=UTC)),  # 23:59
        record("b", "x", "logistics", at=datetime(2025, 11, 30, 16, 0, tzinfo=UTC)),   # 12-01
        record("c", "x", "education", at=datetime(2025, 12, 31, 15, 59, tzinfo=UTC)),
        record("d", "x", "education", at=datetime(2025, 12, 31, 16, 30, tzinfo=UTC)),  # 01-01
        record("e", "x", "education", at=datetime(2026, 2, 10, tzinfo=UTC)),
        record("f", "x", "security", at=datetime(2026, 3, 1, tzinfo=UTC)),     # after the end
        record("g", "x", "security", at=datetime(2025, 10, 31, 15, 0, tzinfo=UTC)),  # before
        record("h", "x", "logistics", at=datetime(2026, 2, 1), status="merged"),
    ]
    view = seasonal(records, "2026-02", months=4, categories=["logistics", "finance"])
    assert view.months == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert view.categories == ["logistics", "finance", "education"]
    assert view.counts == {"logistics": [1, 1, 0, 0], "finance": [0, 0, 0, 0],
                           "education": [0, 1, 1, 1]}
    assert view.totals == [1, 2, 1, 1]
    assert view.as_dict()["totals"] == [1, 2, 1, 1]


def test_seasonal_defaults_to_24_months():
    view = seasonal([record("a", "x", at=datetime(2024, 3, 1, tzinfo=UTC))], "2026-02")
    assert len(view.months) == 24
    assert (view.months[0], view.months[-1]) == ("2024-03", "2026-02")
    assert view.counts == {"logistics": [1] + [0] * 23}
    assert seasonal([], "2026-02", months=3).totals == [0, 0, 0]
    assert month_range("2026-01", 2) == ["2025-12", "2026-01"]
    assert month_of(datetime(2026, 6, 30, 16, 0)) == "2026-07"   # naive is UTC


# ------------------------------------------------------------------------------ 共性问题
LIBRARY = ["图书馆三楼自习室空调不制冷，闷热难受",
           "图书馆自习室空调不制冷，太闷热了",
           "图书馆三楼自习室空调坏了不制冷",
           "自习室空调不制冷闷热，图书馆管管吧",
           "图书馆三楼自习室的空调一点都不制冷",
           "图书馆自习室空调不制冷"]
GYM = ["体育馆淋浴间水压太小洗不了澡",
       "体育馆淋浴间水压很小",
       "体育馆的淋浴间水压太小了",
       "体育馆淋浴间水压小洗澡困难",
       "体育馆淋浴间水压太小"]
NOISE = ["教务系统成绩录入错误", "快递站排队时间太长", "校车班次太少", "奖学金评定不公开",
         "宿管阿姨态度不好", "操场跑道破损"]


@pytest.fixture(scope="module")
def problem_records():
    library = [record(f"lib-{i}", text, unit_id=("tushuguan" if i % 3 else "houqin"),
                      at=T0 + timedelta(days=i * 0.9), location="图书馆")
               for i, text in enumerate(LIBRARY)]            # 6 cases over 4.5 days
    gym = [record(f"gym-{i}", text, unit_id="tiyu", at=T0 + timedelta(days=i * 10))
           for i, text in enumerate(GYM)]                    # 5 cases, 10 days apart
    noise = [record(f"noise-{i}", text, category="education", unit_id="jiaowu",
                    at=T0 + timedelta(days=i)) for i, text in enumerate(NOISE)]
    return library + gym + noise


def test_a_cluster_within_the_window_is_found_and_a_spread_one_is_not(problem_records):
    problems = common_problems(problem_records, min_cases=5, within_days=7)
    assert len(problems) == 1
    found = problems[0]
    assert found.case_ids == [f"lib-{i}" for i in range(6)]
    assert found.peak == 6
    # In all six (ties by word), then 闷热 in three.
    assert found.keywords == ["制冷", "图书馆", "空调", "自习室", "闷热"]
    assert found.units == {"tushuguan": 4, "houqin": 2}
    assert found.categories == {"logistics": 6}
    assert found.first_at == T0 and found.span_days == pytest.approx(4.5)

    # The gym's five are alike: over a window wider than their spread they make a problem.
    wide = common_problems(problem_records, min_cases=5, within_days=45)
    assert [p.case_ids[0] for p in wide] == ["lib-0", "gym-0"]
    # Fewer cases than min_cases inside the window: nothing.
    assert common_problems(problem_records, min_cases=7, within_days=7) == []


def test_the_similarity_index_is_a_parameter(problem_records):
    class Matched:
        def __init__(self, case_id, score):
            self.case_id, self.score = case_id, score

    class Stub:     # answers like intake's SimilarityIndex: objects with case_id and score
        def similar_to(self, case_id, limit=5, threshold=0.3):
            group = ["noise-0", "noise-1", "noise-2"]
            return [Matched(c, 0.9) for c in group if c != case_id] if case_id in group else []

    problems = common_problems(problem_records, Stub(), min_cases=3, within_days=7)
    assert [p.case_ids for p in problems] == [["noise-0", "noise-1", "noise-2"]]


def test_tfidf_cosine_scores_alike_texts_high_and_others_low(problem_records):
    index = TfidfCosine(problem_records)
    assert index.score("lib-0", "lib-1") > 0.5
    assert index.score("lib-0", "gym-0") == 0.0
    assert index.similar_to("lib-0", threshold=0.5)[0][0].startswith("lib-")
    assert "lib-0" not in dict(index.similar_to("lib-0", threshold=0.0))
    assert index.similar_to("missing") == []

    # Restricted to a window, the gym's cases (10 days apart) no longer meet.
    assert index.similar_to("gym-1", threshold=0.5)
    windowed = TfidfCosine(problem_records, within=timedelta(days=7))
    assert windowed.similar_to("gym-1", threshold=0.5) == []
    assert {c for c, _ in windowed.similar_to("lib-0", threshold=0.5)} \
        == {f"lib-{i}" for i in range(1, 6)}


# ------------------------------------------------------------------------------ 反复发生
def test_a_problem_again_after_closing_is_flagged_and_one_before_closing_is_not():
    day = timedelta(days=1)
    place = "学生公寓5号楼"
    records = [
        record("first", "学生公寓5号楼停水", location=place, at=T0, closed=T0 + 3 * day),
        # While "first" was still open: the same matter, not a repeat.
        record("during", "5号楼还是停水", location=place, at=T0 + 2 * day, closed=T0 + 2.5 * day),
        record("again", "学生公寓5号楼又停水了", location=f" {place} ", at=T0 + 20 * day),
        record("elsewhere", "学生公寓6号楼停水", location="学生公寓6号楼", at=T0 + 21 * day),
        record("other-topic", "5号楼门禁坏了", category="security", location=place,
               at=T0 + 22 * day),
    ]
    flagged = repeated_problems(records)
    assert [(p.earlier, p.later) for p in flagged] == [("first", "again")]
    repeat = flagged[0]
    assert repeat.key == ("location", "学生公寓5号楼", "logistics")
    # "first" and "during" were both closed by then; "first" closed last, so it is the one
    # the repeat is set against.
    assert repeat.times == 2
    assert repeat.gap_days == pytest.approx(17)
    assert repeat.as_dict()["later"] == "again"

    assert repeated_problems(records, within_days=10) == []


def test_repeats_by_unit_when_there_is_no_place_and_with_a_similarity_check():
    day = timedelta(days=1)
    records = [
        record("a", "教务系统选课崩溃", category="education", unit_id="jiaowu", at=T0,
               closed=T0 + day),
        record("b", "教务系统选课又崩溃了", category="education", unit_id="jiaowu",
               at=T0 + 30 * day),
        record("c", "成绩单打印收费不合理", category="education", unit_id="jiaowu",
               at=T0 + 31 * day),
    ]
    by_unit = repeated_problems(records)
    assert [(p.earlier, p.later) for p in by_unit] == [("a", "b"), ("a", "c")]
    assert by_unit[0].key == ("unit", "jiaowu", "education")
    same_topic = repeated_problems(records, TfidfCosine(records), threshold=0.3)
    assert [(p.earlier, p.later) for p in same_topic] == [("a", "b")]


# ------------------------------------------------------------------------------ measured
PLACES = ["学生公寓", "宿舍楼", "图书馆", "教学楼", "食堂", "澡堂", "体育馆", "实验室", "校医院"]
THINGS = ["热水", "空调", "校园网", "一卡通", "门禁", "饮水机", "洗衣机", "电梯", "路灯", "座位"]
FAULTS = ["坏了", "不制冷", "断网", "充值失败", "漏水", "噪音大", "没人维修", "收费不合理"]


def synthetic(count, seed=7):
    rng = random.Random(seed)
    out = []
    for i in range(count):
        text = (f"{rng.choice(PLACES)}{rng.randint(1, 30)}号楼的{rng.choice(THINGS)}"
                f"{rng.choice(FAULTS)}，已经{rng.randint(2, 9)}天了，编号{i}，"
                f"{rng.choice(THINGS)}也{rng.choice(FAULTS)}，请尽快处理")
        out.append(record(f"s{i}", text, category=rng.choice(["logistics", "education"]),
                          unit_id=f"u{rng.randint(1, 40)}",
                          at=T0 + timedelta(minutes=rng.randint(0, 43200))))
    return out


def test_measure_hot_topics(capsys):
    # 10 000 in the suite (a few seconds); JIESU_ANALYSIS_MEASURE=100000 for the figure.
    count = int(os.environ.get("JIESU_ANALYSIS_MEASURE", "10000"))
    records = synthetic(count)
    analyzer = default_analyzer()
    analyzer.warm_up()
    started = time.perf_counter()
    cold = hot_topics(records, analyzer=analyzer)
    cutting = time.perf_counter() - started
    pre_cut = [CaseRecord(**{**r.__dict__, "words": analyzer.words(r.text)}) for r in records]
    started = time.perf_counter()
    warm = hot_topics(pre_cut, analyzer=analyzer)
    counting = time.perf_counter() - started
    assert [k.keyword for k in cold.keywords] == [k.keyword for k in warm.keywords]
    with capsys.disabled():
        print(f"\nhot_topics on {count} records: {cutting:.2f} s cutting the texts with jieba, "
              f"{counting:.2f} s with the words already cut")
