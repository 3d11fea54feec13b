from datetime import datetime, timedelta, timezone

import pytest

from services.intake.similarity import (DUPLICATE_THRESHOLD, Match, SimilarityIndex,
                                        is_probable_duplicate, tokens, warm_up)

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=timezone.utc)

# A small campus's worth of unrelated complaints, so IDF has something to work with.
BACKGROUND = {
    "bg-canteen": ("二食堂的饭菜比上个月贵了两块钱,分量还少了", "logistics"),
    "bg-library": ("图书馆自习室座位不够,早上七点就占满了", "education"),
    "bg-network": ("校园网晚上速度特别慢,打不开网课视频", "logistics"),
    "bg-gym": ("体育馆周末开放时间太短,希望延长到晚上十点", "logistics"),
    "bg-projector": ("教学楼302教室的投影仪坏了,上课看不清课件", "education"),
    "bg-express": ("快递驿站排队太久,取个快递要半小时", "logistics"),
    "bg-scholarship": ("国家励志奖学金什么时候发放到银行卡上", "finance"),
    "bg-exam": ("期末考试安排冲突,两门课同一时间考试", "education"),
    "bg-lamp": ("东门到宿舍区的路灯坏了好几盏,晚上很黑不安全", "security"),
    "bg-job": ("就业指导中心的招聘会信息更新太慢", "employment"),
}

HOT_WATER = "3号楼热水停了两天"


@pytest.fixture
def index():
    index = SimilarityIndex()
    for case_id, (text, category) in BACKGROUND.items():
        index.add(case_id, text, category=category, at=T0)
    return index


# ------------------------------------------------------------------ tokens
def test_tokens_keep_the_words_that_carry_the_complaint():
    words = tokens("学生公寓3号楼已经两天没有热水了!")

    assert "热水" in words and "两天" in words and "学生公寓" in words
    assert "3号楼" in words  # the building number stays with its building
    assert not {"已经", "了", "!", "!"} & set(words)


def test_tokens_drop_punctuation_stop_words_and_emoji():
    assert tokens("?!,。……    ") == []
    assert tokens("请问老师,这个问题怎么办呢?😭") == []
    assert tokens("") == [] and tokens(None) == []


def test_tokens_normalise_width_and_case():
    assert tokens("３号楼ＷＩＦＩ坏了") == tokens("3号楼wifi坏了")


def test_warm_up_is_harmless_to_repeat():
    warm_up()
    warm_up()
    assert tokens("热水") == ["热水"]


# ------------------------------------------------------------------ similar
def test_the_same_complaint_from_another_channel_scores_high(index):
    index.add("wechat-1", "学生公寓3号楼已经两天没有热水了", category="logistics", at=T0)

    matches = index.similar(HOT_WATER)

    assert matches[0].case_id == "wechat-1"
    assert matches[0].score > 0.5
    # and nothing in the background comes near it
    assert all(m.score < 0.3 for m in index.similar(HOT_WATER, threshold=0.0)[1:])


def test_a_retyped_complaint_is_a_probable_duplicate(index):
    index.add("app-1", "学生公寓3号楼热水已经停了两天,请尽快维修", category="logistics")

    best = index.similar("学生公寓3号楼热水已经停了两天,洗澡很不方便,请尽快维修")[0]

    assert best.case_id == "app-1"
    assert is_probable_duplicate(best.score)


def test_identical_text_scores_one(index):
    index.add("hotline-1", HOT_WATER)

    assert index.similar(HOT_WATER)[0] == Match("hotline-1", pytest.approx(1.0))


def test_unrelated_complaints_score_low(index):
    index.add("hotline-1", HOT_WATER, category="logistics")

    assert index.similar("辅导员的联系电话是多少") == []
    assert index.similar("图书馆空调坏了,请尽快修理", threshold=0.0)[0].case_id != "hotline-1"
    scores = {m.case_id: m.score for m in index.similar("食堂饭菜太贵", threshold=0.0)}
    assert scores.get("hotline-1", 0.0) < 0.1


def test_matches_are_ranked_best_first(index):
    index.add("same", "3号楼热水停了两天,洗澡很不方便")
    index.add("close", "3号楼热水经常停")
    index.add("far", "5号楼的热水器坏了")

    matches = index.similar(HOT_WATER, threshold=0.05)
    ranked = [m.case_id for m in matches]

    assert ranked.index("same") < ranked.index("close") < ranked.index("far")
    assert [m.score for m in matches] == sorted((m.score for m in matches), reverse=True)


def test_another_building_is_similar_but_not_a_duplicate(index):
    # 举一反三: the same fault in another building is worth a link, not a merge.
    index.add("b5", "5号楼热水停了两天")

    best = index.similar(HOT_WATER)[0]

    assert best.case_id == "b5"
    assert 0.3 <= best.score < DUPLICATE_THRESHOLD


def test_limit_and_threshold(index):
    for n in range(8):
        index.add(f"hw-{n}", f"3号楼热水停了两天 第{n}次反映")

    assert len(index.similar(HOT_WATER, limit=3)) == 3
    assert index.similar(HOT_WATER, limit=0) == []
    assert index.similar(HOT_WATER, threshold=1.01) == []


def test_category_filter_keeps_only_that_category(index):
    index.add("logi", HOT_WATER, category="logistics")
    index.add("edu", HOT_WATER, category="education")

    assert [m.case_id for m in index.similar(HOT_WATER, category="education")] == ["edu"]
    assert {m.case_id for m in index.similar(HOT_WATER)} == {"logi", "edu"}
    assert index.similar(HOT_WATER, category="finance") == []


def test_exclude_leaves_cases_out(index):
    index.add("a", HOT_WATER)
    index.add("b", HOT_WATER)

    assert [m.case_id for m in index.similar(HOT_WATER, exclude=["a"])] == ["b"]
    assert index.similar(HOT_WATER, exclude={"a", "b"}) == []


def test_ties_are_broken_by_case_id_so_answers_are_stable(index):
    for case_id in ("c", "a", "b"):
        index.add(case_id, HOT_WATER)

    assert [m.case_id for m in index.similar(HOT_WATER)] == ["a", "b", "c"]


def test_similar_to_an_indexed_case_leaves_itself_out(index):
    index.add("first", HOT_WATER)
    index.add("second", "学生公寓3号楼已经两天没有热水了")

    matches = index.similar_to("first")

    assert [m.case_id for m in matches] == ["second"]
    assert matches[0].score == pytest.approx(index.similar(HOT_WATER, exclude=["first"])[0].score)
    assert index.similar_to("not-indexed") == []


# ------------------------------------------------------------------ changing the index
def test_remove_forgets_a_case(index):
    index.add("a", HOT_WATER)

    assert index.remove("a") is True
    assert index.remove("a") is False
    assert "a" not in index
    assert index.similar(HOT_WATER) == []


def test_adding_again_replaces_the_text(index):
    index.add("a", HOT_WATER)
    index.add("a", "食堂饭菜太贵了")

    assert index.similar(HOT_WATER) == []
    assert len(index) == len(BACKGROUND) + 1


def test_empty_or_wordless_text_is_not_indexed_and_finds_nothing(index):
    index.add("empty", "")
    index.add("punct", "???!!!")
    index.add("none", None)

    assert len(index) == len(BACKGROUND)
    assert index.similar("") == []
    assert index.similar("。。。") == []
    assert SimilarityIndex().similar(HOT_WATER) == []


def test_short_text_still_matches(index):
    index.add("short", "停水")

    assert index.similar("停水")[0].case_id == "short"


def test_prune_drops_old_cases():
    index = SimilarityIndex()
    index.add("old", HOT_WATER, at=T0 - timedelta(days=100))
    index.add("new", HOT_WATER, at=T0)
    index.add("undated", HOT_WATER)

    assert index.prune(T0 - timedelta(days=90)) == 1
    assert {m.case_id for m in index.similar(HOT_WATER)} == {"new", "undated"}


def test_a_rare_word_weighs_more_than_a_common_one():
    index = SimilarityIndex()
    for n in range(30):
        index.add(f"common-{n}", f"宿舍问题第{n}条 宿舍")
    index.add("rare", "宿舍甲醛超标")

    # "宿舍" is everywhere; "甲醛" is what makes the case.
    assert index.similar("新装修教室甲醛超标")[0].case_id == "rare"


# ------------------------------------------------------------------ idf snapshot
def test_a_large_index_refreshes_idf_only_after_enough_changes():
    index = SimilarityIndex(refresh_fraction=0.1, exact_below=0)
    for n in range(20):
        index.add(f"c{n}", f"第{n}号楼热水停了")
    index.similar(HOT_WATER)  # snapshot taken
    before = index.similar(HOT_WATER, threshold=0.0, limit=1)[0].score

    index.add("extra", "图书馆空调坏了")  # 1 change of 21: under 10 %, no rebuild
    assert index.similar(HOT_WATER, threshold=0.0, limit=1)[0].score == before

    index.add("extra2", "食堂饭菜太贵")
    index.add("extra3", "校园网太慢")  # 3 changes of 23: over 10 %, rebuilt
    assert index.similar(HOT_WATER, threshold=0.0, limit=1)[0].score != before


def test_an_explicit_rebuild_matches_a_fresh_index():
    texts = {f"c{n}": f"{n}号楼热水停了{n}天" for n in range(1, 15)}
    lazy = SimilarityIndex(refresh_fraction=1.0, exact_below=0)
    fresh = SimilarityIndex()
    for case_id, text in texts.items():
        lazy.add(case_id, text)
        fresh.add(case_id, text)
    lazy.rebuild()

    assert lazy.similar(HOT_WATER, threshold=0.0) == fresh.similar(HOT_WATER, threshold=0.0)


def test_refresh_fraction_is_a_fraction():
    with pytest.raises(ValueError):
        SimilarityIndex(refresh_fraction=1.5)


# ------------------------------------------------------------------ duplicates
@pytest.mark.parametrize("score, expected", [
    (1.0, True), (DUPLICATE_THRESHOLD, True), (0.79, False), (0.0, False)])
def test_is_probable_duplicate(score, expected):
    assert is_probable_duplicate(score) is expected
