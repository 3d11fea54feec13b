"""R5 举一反三 and X3: find complaints that are about the same thing, across channels.

A complaint's text is cut into words with jieba (search mode, so 学生公寓 also yields 学生 and
公寓 and "the dorm" still meets "the student dorm"), stop words and punctuation dropped, and
weighted by TF-IDF; two complaints are as similar as the cosine of their vectors.

`SimilarityIndex` keeps the recent cases in memory as an inverted index (word -> {case: the
word's component of the case's unit TF-IDF vector}), so a query only touches the cases that
share a word with it and the cosine is a plain sum; 20 000 cases answer in a few
milliseconds (bench/similarity.py).

IDF comes from the documents in the index, smoothed like scikit-learn's:
idf(t) = ln((1 + N) / (1 + df(t))) + 1, so a word every case has still counts a little and a
word no case has does not divide by zero. Every add or remove changes N and df, and with them
every document's vector; recomputing all of them on each change would cost the whole index
per filing, so the index works from an IDF snapshot and rebuilds it (and the vectors) once
the documents added or removed since the last snapshot exceed `refresh_fraction` of the index
(5 %: about 0.1 s every 1 000 filings at 20 000 cases; an index under `exact_below` = 1 000
cases rebuilds before any query that follows a change, so small ones are always exact).
Between rebuilds new words get the IDF of a word in no document of the snapshot. Scores are
therefore exact up to that drift, which is far below the gap between "similar" and not.

Category: `similar(..., category=...)` keeps only cases of that category. There is no
same-category bonus: a duplicate filed under another category by another channel (X3) is
exactly what must be found, so the service searches without a category for duplicates and
with one for 举一反三 lists if it wants them narrow.

Pure: no nameko, no SQLAlchemy; jieba only. Not thread-safe: one index per worker process,
mutated from eventlet green threads, which do not switch in the middle of these methods
(nothing here yields).
"""
from __future__ import annotations

import heapq
import logging
import math
import re
import unicodedata
import warnings
from dataclasses import dataclass
from datetime import datetime

with warnings.catch_warnings():
    # jieba 0.42.1 imports pkg_resources, which warns on import with setuptools >= 67.
    warnings.simplefilter("ignore")
    import jieba

# jieba logs "Building prefix dict…" / "Loading model cost…" at DEBUG to stderr on first use.
jieba.setLogLevel(logging.WARNING)

# Scores at or above this are probably the same complaint filed twice (another channel, a
# retry with a sentence added): the office is offered a merge rather than a link. On the
# pairs in the tests: the same text with a sentence added scores about 0.86; the same matter
# in other words 0.4-0.75 ("3号楼热水停了两天" / "学生公寓3号楼已经两天没有热水了": 0.53);
# the same fault in another building about 0.7. Those are 举一反三 links, not merges: a
# false merge hides a complainant's case, so the bar is high and a human confirms.
DUPLICATE_THRESHOLD = 0.8
# Default floor for "similar": below it, two complaints share little more than a common word.
SIMILAR_THRESHOLD = 0.3

# A small list on purpose: function words, politeness and the platform's own vocabulary
# (every complaint says 反映, 问题, 老师, 学校), which would only make unrelated cases alike.
# Words like 没有, 坏, 停 stay: they carry the complaint.
STOP_WORDS = frozenset("""
的 了 着 过 吗 呢 啊 呀 吧 嘛 哦 哈 啦 么 是 在 有 和 与 及 或 而 并 且 就 都 也 还 又 再 才
很 太 非常 特别 十分 比较 挺 更 最 被 把 给 让 对 从 到 向 往 于 为 为了 因为 所以 但 但是 可是
而且 如果 虽然 然后 这 那 这个 那个 这些 那些 这里 那里 这样 那样 什么 怎么 怎么办 怎样 为什么
哪 哪里 哪儿 谁 我 你 您 他 她 它 我们 你们 他们 她们 自己 大家 一 一个 一些 一下 一直 一点 个
些 已经 正在 现在 目前 今天 昨天 最近 时候 上 下 里 中 希望 请 请问 麻烦 谢谢 感谢 您好 你好 老师 同学 学校
反映 问题 情况 尽快 能 能够 可以 可能 要 会 想 应该 需要 得 地 之 其 该 等 等等 说 去 来 看 让
""".split())

# "3号楼", "12栋", "5层": the number is what tells one building from another, and jieba cuts
# it off ("3", "号楼"), which would make every "3" alike. Joined back into one token.
_UNITS_AFTER_NUMBER = frozenset({"号楼", "号", "栋", "幢", "楼", "层", "单元", "室", "舍",
                                 "号宿舍楼", "宿舍", "公寓", "食堂", "餐厅", "教", "教学楼"})
_NUMBER = re.compile(r"^[0-9a-z]+$")

_tokenizer = jieba.Tokenizer()


def warm_up() -> None:
    """Load jieba's dictionary now (about a second) rather than in the first request."""
    _tokenizer.initialize()


def tokens(text: str | None) -> list[str]:
    """The words of a complaint that matter for similarity, in order, with repeats."""
    if not text:
        return []
    text = unicodedata.normalize("NFKC", text).lower()
    words = [w.strip() for w in _tokenizer.lcut_for_search(text)]
    result: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word and _NUMBER.match(word) and i + 1 < len(words) \
                and words[i + 1] in _UNITS_AFTER_NUMBER:
            result.append(word + words[i + 1])
            i += 2
            continue
        if word and word not in STOP_WORDS and any(_is_wordy(ch) for ch in word):
            result.append(word)
        i += 1
    return result


def _is_wordy(char: str) -> bool:
    # Letters and digits (CJK ideographs are letters, category Lo); not punctuation, symbols,
    # spaces or emoji.
    return unicodedata.category(char)[0] in "LN"


@dataclass(frozen=True)
class Match:
    case_id: str
    score: float


def is_probable_duplicate(score: float, threshold: float = DUPLICATE_THRESHOLD) -> bool:
    return score >= threshold


def _tf(count: int) -> float:
    # Sublinear: a word said three times is not three times the complaint.
    return 1.0 + math.log(count)


@dataclass(frozen=True)
class _Doc:
    counts: dict[str, int]      # token -> occurrences in the text
    category: str | None
    at: datetime | None


class SimilarityIndex:
    def __init__(self, refresh_fraction: float = 0.05, exact_below: int = 1000):
        if not 0 <= refresh_fraction <= 1:
            raise ValueError("refresh_fraction is a fraction of the index, 0..1")
        self._refresh_fraction = refresh_fraction
        self._exact_below = exact_below
        self._docs: dict[str, _Doc] = {}
        self._postings: dict[str, dict[str, float]] = {}
        self._idf: dict[str, float] = {}
        self._unseen_idf = 1.0
        self._changes = 0

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, case_id: str) -> bool:
        return case_id in self._docs

    # ------------------------------------------------------------------ changing
    def add(self, case_id: str, text: str | None, category: str | None = None,
            at: datetime | None = None) -> None:
        """Index a case (again: a case already present is replaced). A text with no words
        that count is kept out of the index: it would be similar to nothing."""
        self.remove(case_id)
        counts: dict[str, int] = {}
        for token in tokens(text):
            counts[token] = counts.get(token, 0) + 1
        if not counts:
            return
        self._docs[case_id] = _Doc(counts, category, at)
        for token, weight in self._unit_vector(counts).items():
            self._postings.setdefault(token, {})[case_id] = weight
        self._changes += 1

    def remove(self, case_id: str) -> bool:
        doc = self._docs.pop(case_id, None)
        if doc is None:
            return False
        for token in doc.counts:
            posting = self._postings[token]
            del posting[case_id]
            if not posting:
                del self._postings[token]
        self._changes += 1
        return True

    def prune(self, before: datetime) -> int:
        """Drop the cases filed before `before` (the index holds recent cases only); cases
        added without `at` stay. Returns how many were dropped."""
        old = [cid for cid, doc in self._docs.items() if doc.at is not None and doc.at < before]
        for case_id in old:
            self.remove(case_id)
        return len(old)

    # ------------------------------------------------------------------ asking
    def similar(self, text: str | None, category: str | None = None, limit: int = 5,
                threshold: float = SIMILAR_THRESHOLD, exclude=()) -> list[Match]:
        """Indexed cases whose cosine similarity to `text` is at least `threshold`, best first
        (ties by case id, so the answer is stable), at most `limit`."""
        counts: dict[str, int] = {}
        for token in tokens(text):
            counts[token] = counts.get(token, 0) + 1
        return self._search(counts, category, limit, threshold, set(exclude))

    def similar_to(self, case_id: str, category: str | None = None, limit: int = 5,
                   threshold: float = SIMILAR_THRESHOLD, exclude=()) -> list[Match]:
        """The cases similar to an indexed one, itself left out; [] if it is not indexed."""
        doc = self._docs.get(case_id)
        if doc is None:
            return []
        return self._search(doc.counts, category, limit, threshold, set(exclude) | {case_id})

    def _search(self, counts: dict[str, int], category, limit, threshold, exclude) -> list[Match]:
        if not counts or limit <= 0 or not self._docs:
            return []
        self._refresh_if_stale()
        # Postings hold unit vectors' components, so the dot product is the cosine. This
        # loop is the hot path: locals only, one multiply-add per (token, case).
        scores: dict[str, float] = {}
        get = scores.get
        for token, q_weight in self._unit_vector(counts).items():
            posting = self._postings.get(token)
            if posting:
                for case_id, weight in posting.items():
                    scores[case_id] = get(case_id, 0.0) + q_weight * weight
        docs = self._docs
        matches = [Match(case_id, min(1.0, score)) for case_id, score in scores.items()
                   if score >= threshold and case_id not in exclude
                   and (category is None or docs[case_id].category == category)]
        return heapq.nsmallest(limit, matches, key=lambda m: (-m.score, m.case_id))

    # ------------------------------------------------------------------ idf snapshot
    def _idf_of(self, token: str) -> float:
        return self._idf.get(token, self._unseen_idf)

    def _unit_vector(self, counts: dict[str, int]) -> dict[str, float]:
        vector = {token: _tf(count) * self._idf_of(token) for token, count in counts.items()}
        norm = math.sqrt(sum(w * w for w in vector.values()))  # > 0: every weight is >= 1
        return {token: w / norm for token, w in vector.items()}

    def _refresh_if_stale(self) -> None:
        if not self._changes:
            return
        size = len(self._docs)
        if size >= self._exact_below and self._changes <= self._refresh_fraction * size:
            return
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute IDF from the documents now indexed, and every document's vector."""
        total = len(self._docs)
        self._idf = {token: math.log((1 + total) / (1 + len(posting))) + 1.0
                     for token, posting in self._postings.items()}
        self._unseen_idf = math.log(1 + total) + 1.0
        postings = self._postings
        for case_id, doc in self._docs.items():
            for token, weight in self._unit_vector(doc.counts).items():
                postings[token][case_id] = weight
        self._changes = 0
