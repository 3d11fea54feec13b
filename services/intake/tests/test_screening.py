import random
import re
import time
import unicodedata
from pathlib import Path

import pytest
import yaml

from services.intake.screening import (KINDS, ScreeningConfigError, ScreeningRules, Verdict,
                                       normalise)

CONFIG = Path(__file__).resolve().parents[3] / "config" / "screening.yaml"

LEGAL_CHANNELS = {
    "litigation": "诉讼", "arbitration": "仲裁", "discipline_inspection": "纪检监察",
    "administrative_reconsideration": "行政复议",
    "government_information_disclosure": "政府信息公开", "petition": "信访",
}


@pytest.fixture(scope="module")
def rules():
    return ScreeningRules.load(CONFIG)


# ------------------------------------------------------------------ the shipped rules
@pytest.mark.parametrize("content, rule_id", [
    ("学校拖欠我的劳务费,我准备向法院起诉,请告诉我怎么办", "litigation"),
    ("宿管把我的电脑摔坏了不赔,我要跟他打官司", "litigation"),
    ("房东不退押金,我已经给他发了律师函", "litigation"),
    ("这件事不给说法我就找律师告上法庭", "litigation"),
    ("一审判决书已经下来了,我对结果不服,准备提起上诉", "litigation"),
    ("我是法学院的学生,实习单位欠我工资,我要起诉他们", "litigation"),
    ("在学校食堂打工被拖欠工资三个月,想申请劳动仲裁", "arbitration"),
    ("合同里写了争议提交仲裁委员会解决,我该怎么申请仲裁", "arbitration"),
    ("我要实名举报某学院院长贪污科研经费", "discipline_inspection"),
    ("后勤采购的科长收受供应商回扣,希望严查", "discipline_inspection"),
    ("这件事我已经向纪委反映过了", "discipline_inspection"),
    ("对区教育局的处理决定不服,想申请行政复议", "administrative_reconsideration"),
    ("我想向市教育局依申请公开去年的招生计划文件", "government_information_disclosure"),
    ("怎样提交政府信息公开申请", "government_information_disclosure"),
    ("这个问题我已经去信访局上访过两次了", "petition"),
    ("我的信访件转到学校了,现在办得怎么样了", "petition"),
])
def test_legal_channel_matters_get_their_channel(rules, content, rule_id):
    verdict = rules.screen(None, content)

    assert verdict is not None, content
    assert verdict.rule_id == rule_id
    assert verdict.kind == "legal_channel"
    assert verdict.channel == LEGAL_CHANNELS[rule_id]
    assert verdict.matched in normalise(content)
    # The reply names the channel it sends the complainant to.
    assert verdict.channel in verdict.reply or rule_id == "petition" and "信访" in verdict.reply


@pytest.mark.parametrize("content, rule_id", [
    ("能不能帮我把高数成绩改成及格,不然拿不到学位", "unlawful_grades"),
    ("帮我改成绩,我可以给老师红包", "unlawful_grades"),
    ("哪里可以花钱买学分", "unlawful_grades"),
    ("英语四级太难了,我想找人代考", "unlawful_exam_cheating"),
    ("期末考试能不能让同学替考", "unlawful_exam_cheating"),
    ("有没有办法提前搞到期末考试的答案", "unlawful_exam_cheating"),
    ("考试的时候能带手机作弊吗", "unlawful_exam_cheating"),
    ("能不能帮我伪造一份实习证明", "unlawful_forgery"),
    ("帮我开个假的病假条,我不想上早课", "unlawful_forgery"),
    ("我想篡改一下档案里的处分记录", "unlawful_forgery"),
    ("再不给解决,我就报复那个老师", "unlawful_threat"),
    ("不解决的话我就跟他同归于尽", "unlawful_threat"),
    ("宿管再查寝,我就弄死他", "unlawful_threat"),
    ("等着吧,我一定给你们点颜色看看", "unlawful_threat"),
    ("再不退费我们就去拉横幅堵校门", "unlawful_disorder"),
])
def test_unlawful_requests_are_refused_with_rules_and_consequences(rules, content, rule_id):
    verdict = rules.screen(None, content)

    assert verdict is not None, content
    assert (verdict.rule_id, verdict.kind, verdict.channel) == (rule_id, "unlawful", None)
    # 劝导教育: the reply cites the rules and says what follows from breaking them.
    assert "《" in verdict.reply and any(word in verdict.reply
                                         for word in ("处分", "刑事责任", "拘留"))


@pytest.mark.parametrize("title, content", [
    (None, "3号楼热水停了两天"),
    (None, "学生公寓3号楼热水已经停了两天,洗澡很不方便,请尽快维修"),
    (None, "宿舍漏水,天花板一直在滴水"),
    (None, "奖学金什么时候发放到卡上?"),
    (None, "想查询一下上学期的成绩,教务系统登不上"),
    (None, "法学院的课程安排太乱了,一天八节课"),
    (None, "选修课\"劳动仲裁实务\"的教室在哪里?"),
    (None, "选修课《劳动仲裁实务》的教室换到哪了"),
    (None, "民事诉讼法课的补考时间还没通知"),
    (None, "模拟法庭比赛的起诉书模板在哪里下载"),
    (None, "暑假去法院实习的补贴一直没发"),
    (None, "我在APP上发起诉求三天了没人理"),
    (None, "宿舍线上访问教务系统很卡"),
    (None, "辅导员不给开请假证明,说要找院长签字"),
    (None, "我的成绩录错了,能不能帮我改成绩"),
    (None, "有人在考场作弊,监考老师不管"),
    (None, "我因为考试作弊被处分了,想申诉"),
    (None, "有人伪造我的签名领走了我的补助"),
    (None, "室友威胁我,说要打我,我很害怕"),
    (None, "我担心被打击报复,不敢实名反映"),
    (None, "宿舍楼下经常有人聚众喝酒闹事"),
    (None, "希望学校把校园环境变得更好看"),
    (None, "热水器烧了,洗不了澡"),
    (None, "评优的信息公开不透明,名单没有公示"),
    ("食堂饭菜涨价", "二食堂的饭菜比上个月贵了两块钱"),
    (None, "网上访谈的直播链接打不开"),
])
def test_ordinary_complaints_are_not_screened(rules, title, content):
    assert rules.screen(title, content) is None


def test_the_title_counts_too(rules):
    verdict = rules.screen("准备起诉学校", "劳务费拖欠半年了")

    assert verdict.rule_id == "litigation"


def test_full_width_and_spaced_text_is_normalised(rules):
    assert rules.screen(None, "我要去 法 院 起 诉").rule_id == "litigation"
    assert rules.screen(None, "给我改成绩！").rule_id == "unlawful_grades"


def test_empty_text_is_not_screened(rules):
    assert rules.screen(None, "") is None
    assert rules.screen("", None) is None


def test_unlawful_wins_over_a_legal_channel(rules):
    # Both a lawsuit and a threat: the threat is answered first.
    verdict = rules.screen(None, "不赔钱我就起诉你们,不然我就弄死他")

    assert verdict.kind == "unlawful"
    assert verdict.rule_id == "unlawful_threat"


def test_the_specific_channel_comes_before_litigation(rules):
    # Labour disputes go to arbitration before any court (仲裁前置).
    verdict = rules.screen(None, "学校拖欠工资,我先申请劳动仲裁,不行再去法院起诉")

    assert verdict.rule_id == "arbitration"


def test_every_shipped_rule_has_a_polite_reply_and_is_listed(rules):
    ids = rules.rule_ids()

    assert set(LEGAL_CHANNELS) <= set(ids)
    assert sum(1 for rule_id in ids if rules.kind_of(rule_id) == "unlawful") >= 4
    for rule_id in ids:
        reply = rules.template_for(rule_id)
        assert len(reply) > 80
        assert "不属于本平台受理范围" not in reply  # notify says that already
    assert rules.channel_of("arbitration") == "仲裁"
    described = {entry["id"]: entry for entry in rules.describe()}
    assert described["unlawful_threat"]["label"] == "威胁、报复"
    assert described["litigation"]["label"] == "诉讼"


def test_template_for_an_unknown_rule_is_none(rules):
    assert rules.template_for("no_such_rule") is None
    assert rules.kind_of("no_such_rule") is None
    assert rules.rule("no_such_rule") is None


# ------------------------------------------------------------------ from_dict and errors
def _rule(**changes):
    rule = {"id": "litigation", "class": "legal_channel", "channel": "诉讼",
            "keywords": ["起诉"], "reply": "请向人民法院提起诉讼。"}
    rule.update(changes)
    return {k: v for k, v in rule.items() if v is not None}


def test_from_dict_matches_keywords_and_patterns():
    rules = ScreeningRules.from_dict({"rules": [
        _rule(patterns=[r"告(到|上)法庭"]),
        _rule(id="threat", **{"class": "unlawful"}, channel=None, keywords=["弄死"],
              reply="请理性表达诉求。"),
    ]})

    assert rules.screen(None, "我要把他告上法庭") == Verdict(
        "litigation", "legal_channel", "诉讼", "告上法庭", "请向人民法院提起诉讼。")
    assert rules.screen(None, "弄死他,再起诉").rule_id == "threat"
    assert rules.rule_ids() == ["litigation", "threat"]


def test_an_exclusion_blanks_only_its_own_phrase():
    rules = ScreeningRules.from_dict({"rules": [_rule(exclude=["模拟法庭[^,。]*"])]})

    assert rules.screen(None, "模拟法庭的起诉书模板在哪里") is None
    assert rules.screen(None, "模拟法庭比赛取消了,我要起诉组织者").rule_id == "litigation"


def test_the_matched_text_never_shows_the_blanks():
    rules = ScreeningRules.from_dict({"rules": [
        _rule(keywords=[], patterns=["要.{0,8}起诉"], exclude=["模拟法庭"])]})

    verdict = rules.screen(None, "要在模拟法庭起诉")

    assert verdict.matched == "要在起诉"


@pytest.mark.parametrize("raw, message", [
    (None, "non-empty list"),
    ({"rules": []}, "non-empty list"),
    ({"rules": ["litigation"]}, "not a mapping"),
    ({"rules": [_rule(id="Bad Id")]}, "lower_snake_case"),
    ({"rules": [_rule(**{"class": "illegal"})]}, "class must be one of"),
    ({"rules": [_rule(**{"class": None})]}, "class must be one of"),
    ({"rules": [_rule(reply=None)]}, "reply template is missing"),
    ({"rules": [_rule(reply="   ")]}, "reply template is missing"),
    ({"rules": [_rule(channel=None)]}, "names its channel"),
    ({"rules": [_rule(**{"class": "unlawful"})]}, "has no legal channel"),
    ({"rules": [_rule(keywords=[], patterns=[])]}, "needs keywords or patterns"),
    ({"rules": [_rule(keywords="起诉")]}, "list of strings"),
    ({"rules": [_rule(keywords=[""])]}, "empty keyword"),
    ({"rules": [_rule(patterns=["(起诉"])]}, "bad regular expression"),
    ({"rules": [_rule(exclude=["[法院"])]}, "bad regular expression"),
    ({"rules": [_rule(patterns=["(起诉)?"])]}, "matches the empty string"),
    ({"rules": [_rule(), _rule()]}, "appears twice"),
    ({"rules": [_rule(template="x")]}, "unknown keys template"),
])
def test_bad_configuration_is_refused(raw, message):
    with pytest.raises(ScreeningConfigError, match=message):
        ScreeningRules.from_dict(raw)


def test_load_reports_a_missing_or_broken_file(tmp_path):
    with pytest.raises(ScreeningConfigError, match="cannot read"):
        ScreeningRules.load(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("rules: [unclosed", encoding="utf-8")
    with pytest.raises(ScreeningConfigError, match="not valid YAML"):
        ScreeningRules.load(broken)


def test_patterns_written_with_full_width_punctuation_still_match(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: litigation\n"
        "    class: legal_channel\n"
        "    channel: 诉讼\n"
        "    patterns: ['起诉[^，。]{0,20}学校']\n"
        "    reply: 请向人民法院提起诉讼。\n", encoding="utf-8")
    rules = ScreeningRules.load(path)

    assert rules.screen(None, "我要起诉学校") is not None
    # The text's full-width comma becomes ASCII, and so does the pattern's.
    assert rules.screen(None, "我要起诉，学校不管") is None


# ------------------------------------------------------------------ linear in the text
def adversarial_texts(n):
    """Texts of about `n` characters made to make a backtracking engine rescan the text from
    every position: one repeated character, repeated keyword prefixes, near misses of the
    exclusions, and a keyword at the far end of a long clause. With the verdict each gets
    (the same as before the rewrite, checked against it at n = 5,000)."""
    return [
        ("a" * n, None),
        ("有" * n, None),
        ("被" * n, None),
        ("起" * n, None),
        ("," * n, None),
        ("成绩" * (n // 2), None),
        ("把成绩" * (n // 3), None),
        ("不然" * (n // 2), None),
        ("同归于" * (n // 3), None),
        ("模拟法" * (n // 3), None),
        ("举报作" * (n // 3), None),
        ("线上访" * (n // 3), None),
        ("被威胁" * (n // 3), None),
        ("发起诉求" * (n // 4), None),
        ("模拟法庭起诉" * (n // 6), None),
        ("成绩改成" + "1" * n + "分", None),
        ("起诉" * (n // 2), "litigation"),
        ("a" * n + "我要起诉", "litigation"),
        # A clause-wide exclusion over one long clause, and the clause after it.
        ("有人" + "x" * n + "我们去拉横幅", None),
        ("有人" + "x" * n + ",我们去拉横幅", "unlawful_disorder"),
        # A sentence-wide exclusion: the next sentence is not covered by it.
        ("我的成绩录错了," + "改成绩" * (n // 3), None),
        ("我的成绩录错了。" + "改成绩" * (n // 3), "unlawful_grades"),
        ("被" + "x" * n + "威胁你", "unlawful_threat"),
    ]


@pytest.mark.parametrize("size", [5_000, 50_000])
def test_adversarial_texts_get_the_right_verdict_without_hanging(rules, size):
    for text, rule_id in adversarial_texts(size):
        started = time.perf_counter()
        verdict = rules.screen(None, text)
        elapsed = time.perf_counter() - started

        assert (verdict.rule_id if verdict else None) == rule_id, text[:20]
        # A hang guard, not a benchmark (bench/screening.py measures): the regex rules took
        # 0.4-2.4 s for 5,000 of these characters and minutes for 50,000.
        assert elapsed < 2.0, (text[:20], elapsed)


def regex_substitution_verdict(raw, text):
    """The screening before it was made linear: each exclusion blanked by `re.sub` over the
    whole text, then keywords and patterns. Quadratic, but right: the oracle."""
    text = normalise(text)
    for entry in sorted(raw["rules"], key=lambda entry: KINDS.index(entry["class"])):
        blanked = text
        for source in entry.get("exclude") or []:
            blanked = re.sub(re.compile(unicodedata.normalize("NFKC", source), re.IGNORECASE),
                             lambda m: "\0" * len(m.group(0)), blanked)
        if any(normalise(keyword) in blanked for keyword in entry.get("keywords") or []) or \
                any(re.search(unicodedata.normalize("NFKC", source), blanked, re.IGNORECASE)
                    for source in entry.get("patterns") or []):
            return entry["id"]
    return None


def test_the_shipped_rules_mean_what_they_meant():
    """Random texts made of the rules' own words and punctuation get the rule the
    regex-substitution screening gave them."""
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    rules = ScreeningRules.from_dict(raw)
    words = sorted({word for entry in raw["rules"]
                    for source in (entry.get("keywords") or []) + (entry.get("patterns") or [])
                    + (entry.get("exclude") or [])
                    for word in re.findall(r"[\u4e00-\u9fff]+", source)})
    pieces = words + list(",。!?;") + ["我", "要", "的", "了", "他", "3", "12分", "老师"]
    rnd = random.Random(20261201)
    screened = 0
    for _ in range(3000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 14)))
        expected = regex_substitution_verdict(raw, text)
        verdict = rules.screen(None, text)

        assert (verdict.rule_id if verdict else None) == expected, text
        screened += expected is not None
    assert 1000 < screened < 2900  # both outcomes are well represented


def test_an_exclusion_reaching_both_ends_of_its_clause_blanks_the_whole_clause():
    rules = ScreeningRules.from_dict({"rules": [_rule(exclude=["[^,。]*模拟法庭[^,。]*"])]})

    assert rules.screen(None, "我要起诉模拟法庭的组织者") is None
    assert rules.screen(None, "我要起诉,模拟法庭的组织者不管") is not None
    assert rules.screen(None, "模拟法庭取消了。我要起诉") is not None


@pytest.mark.parametrize("key, pattern, message", [
    # Open-ended repeats rescan the rest of the text from every position.
    ("patterns", "起诉[^，。]*学校", "open-ended repeat"),
    ("patterns", "起诉.+学校", "open-ended repeat"),
    ("patterns", "起诉\\d{2,}", "open-ended repeat"),
    ("patterns", "[^,。]*起诉", "open-ended repeat"),       # runs are for exclusions only
    ("exclude", "模拟[^,。]*法庭", "open-ended repeat"),      # not at an end
    ("exclude", "[^,。]*课|法庭", "open-ended repeat"),       # the run belongs to 课 only
    ("exclude", "(课[^,。]*)", "open-ended repeat"),          # inside a group
    ("exclude", "[^,。]*?课", "open-ended repeat"),           # lazy: not the clause run
    # Repeats that backtrack exponentially or multiply.
    ("patterns", "(起诉|告){0,20}法院", "repeats an alternation"),
    ("patterns", "(a{0,3}){0,5}法院", "repeats an alternation"),
    ("patterns", "起诉.{0,100}法院", "at most 32"),
    ("patterns", "起.{0,30}诉.{0,30}法.{0,30}院", "multiply"),
])
def test_a_pattern_that_could_be_slow_is_refused_at_load(key, pattern, message):
    with pytest.raises(ScreeningConfigError, match=message):
        ScreeningRules.from_dict({"rules": [_rule(**{key: [pattern]})]})


def test_bounded_patterns_and_clause_runs_are_accepted():
    rules = ScreeningRules.from_dict({"rules": [_rule(
        patterns=["起诉[^，。]{0,20}学校", "(告|诉)(到|上)?法(庭|院)", "(?<![线网])上访(?![问谈])"],
        exclude=["[^,。!?]*模拟法庭[^,。!?]*", "(发|提)起诉求", "法院(实习|见习)[^,。]*",
                 "[^。]*律所实习"])]})

    assert rules.screen(None, "我要起诉那个学校").rule_id == "litigation"
    assert rules.screen(None, "起诉状是在律所实习时写的") is None      # back to the start
    assert rules.screen(None, "在律所实习,我要起诉") is not None       # but no further on
    assert rules.screen(None, "到法院见习的补贴") is None
