"""分析研判 (R11, R14): hot topics, the seasonal view, common problems and repeated problems.

Pure functions over plain case records (`CaseRecord`): no nameko, no SQLAlchemy, no clock.
The caller (rating's projection, later) chooses which records make a period; these functions
only count and compare. jieba is the only dependency.

Words
    `Analyzer` cuts a complaint's text with its own `jieba.Tokenizer` (never jieba's global
    default one, which other code in the process may use with other dictionaries) loaded with
    the campus user dictionary config/analysis/user_dict.txt, in jieba's precise mode (not
    search mode: 学生公寓 must stay one word, not also count as 学生 and 公寓). Stop words
    (config/analysis/stop_words.txt), single characters, numbers and anything with a digit
    in it ("3号楼" tells buildings apart but is no topic), and quantities ("两天", "十一点")
    are dropped. Cutting costs 60-180 µs a complaint (most of hot_topics' time: 100 000
    complaints take 15-20 s to cut and about a second to count), so a record may carry its
    words already (`CaseRecord.words`, cut once when the projection stores the case) and
    then is not cut again.

Records
    Screened-out and merged cases (`NOT_COUNTED`) are left out everywhere: the first were
    never cases, the second are counted in the case they were merged into. Datetimes are
    aware; a naive one is taken as UTC. Months are Asia/Shanghai's.

Hot topics (TF-IDF)
    A word's weight in a period is jieba.analyse's TF-IDF summed over the period's documents:
    Σ_d tf(w, d) × idf(w), with tf = occurrences / words in d. IDF is smoothed like
    scikit-learn's, idf(w) = ln((1 + N) / (1 + df(w))) + 1, and taken over the reference
    corpus: by default every document handed in (the period, the previous period and the same
    period last year), so a word that is everywhere all the time (宿舍, 学生) weighs less than
    one that surged this period; the caller may pass its own `idf` (say, a year of cases) and
    `default_idf` for words it lacks. The top words by weight are reported with their
    document counts (how many complaints of the period contain them), which is what the
    office reads.

Common problems
    `common_problems` takes a similarity index (`SimilaritySource`: `similar_to(case_id,
    limit=, threshold=)` returning (case_id, score) pairs or objects with .case_id and
    .score). Intake's SimilarityIndex is intake's and rating may not import it, so this module
    has its own small one, `TfidfCosine`, built from the records (module doc of the class).
"""
from __future__ import annotations

import heapq
import logging
import math
import re
import unicodedata
import warnings
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Protocol, Sequence
from zoneinfo import ZoneInfo

with warnings.catch_warnings():
    # jieba 0.42.1 imports pkg_resources, which warns on import with setuptools >= 67.
    warnings.simplefilter("ignore")
    import jieba

from services.common.config_files import read_yaml
from services.common.contracts import Status

jieba.setLogLevel(logging.WARNING)

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "analysis"
USER_DICT_FILE = CONFIG_DIR / "user_dict.txt"
STOP_WORDS_FILE = CONFIG_DIR / "stop_words.txt"
TZ = ZoneInfo("Asia/Shanghai")

SETTINGS_FILE = CONFIG_DIR / "analysis.yaml"

# Defaults of the office's settings (config/analysis/analysis.yaml, `AnalysisSettings`).
COMMON_MIN_CASES = 5
COMMON_WITHIN_DAYS = 7
COMMON_THRESHOLD = 0.5
REPEAT_WITHIN_DAYS = 180
TIE_PLACES = 8               # hot topics' weights equal to these places are a tie


class AnalysisConfigError(ValueError):
    """config/analysis/analysis.yaml is not a valid set of settings."""


@dataclass(frozen=True)
class AnalysisSettings:
    """The numbers of 分析研判 and 专项治理 (config/analysis/analysis.yaml, docs/ANALYSIS.md)."""
    common_min_cases: int = COMMON_MIN_CASES       # N: a 共性问题 has ≥ N cases ...
    common_within_days: int = COMMON_WITHIN_DAYS   # ... within M days
    common_threshold: float = COMMON_THRESHOLD     # cosine at which two cases are alike
    repeat_within_days: int = REPEAT_WITHIN_DAYS   # a repeat comes this soon after a close
    link_candidates: int = 200       # look-alikes a new case is compared with at most
    hot_topics_top: int = 20
    max_range_days: int = 366        # the longest period hot topics and problems answer for
    seasonal_months: int = 24
    suggestions_limit: int = 200

    def __post_init__(self):
        for name in ("common_min_cases", "common_within_days", "repeat_within_days",
                     "link_candidates", "hot_topics_top", "max_range_days", "seasonal_months",
                     "suggestions_limit"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise AnalysisConfigError(f"{name} must be a whole number ≥ 1, not {value!r}")
        threshold = self.common_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not 0 < threshold <= 1:
            raise AnalysisConfigError(f"common_threshold must be in (0, 1], not {threshold!r}")


def load_settings(path: str | Path = SETTINGS_FILE) -> AnalysisSettings:
    """Read config/analysis/analysis.yaml; an unknown key or a bad value refuses the file."""
    raw = read_yaml(path, "the analysis settings", AnalysisConfigError) or {}
    if not isinstance(raw, Mapping):
        raise AnalysisConfigError(f"{path}: the top level must be a mapping")
    known = set(AnalysisSettings.__dataclass_fields__)
    unknown = sorted(set(map(str, raw)) - known - {"version"})
    if unknown:
        raise AnalysisConfigError(f"{path}: unknown key(s) {', '.join(unknown)} "
                                  f"(known: {', '.join(sorted(known))})")
    try:
        return AnalysisSettings(**{k: v for k, v in raw.items() if k != "version"})
    except AnalysisConfigError as exc:
        raise AnalysisConfigError(f"{path}: {exc}") from exc


# ---------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class CaseRecord:
    """What analysis needs of a case. `text` is title and content together; `words`, when
    given, is the text already cut by an `Analyzer` (then `text` is not cut again)."""
    case_id: str
    text: str
    category: str | None = None
    unit_id: str | None = None
    location: str | None = None
    received_at: datetime | None = None
    closed_at: datetime | None = None
    status: str | None = None
    words: tuple[str, ...] | None = None

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> "CaseRecord":
        """From a dict with the same keys; title + content are joined when there is no text."""
        text = values.get("text")
        if text is None:
            text = " ".join(part for part in (values.get("title"), values.get("content"))
                            if part)
        words = values.get("words")
        return cls(case_id=str(values["case_id"]), text=text or "",
                   category=values.get("category"), unit_id=values.get("unit_id"),
                   location=values.get("location"), received_at=values.get("received_at"),
                   closed_at=values.get("closed_at"), status=values.get("status"),
                   words=tuple(words) if words is not None else None)


# A screened-out complaint was never a case, and a merged one is counted in the case it was
# merged into: neither says anything about what the campus complains of.
NOT_COUNTED = frozenset({Status.SCREENED_OUT, Status.MERGED})


def _records(records: Iterable[CaseRecord | Mapping[str, Any]]) -> list[CaseRecord]:
    as_records = (r if isinstance(r, CaseRecord) else CaseRecord.from_mapping(r)
                  for r in records)
    return [r for r in as_records if r.status not in NOT_COUNTED]


def _aware(moment: datetime) -> datetime:
    # The projection stores UTC; a naive datetime is taken as UTC, as services.common.types does.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


# ---------------------------------------------------------------------------------- words
def load_stop_words(path: str | Path = STOP_WORDS_FILE) -> frozenset[str]:
    """One word a line; blank lines and lines starting with # are ignored."""
    with open(path, encoding="utf-8") as handle:
        return frozenset(line.strip() for line in handle
                         if line.strip() and not line.lstrip().startswith("#"))


_CHINESE_NUMERALS = "零〇一二两三四五六七八九十百千万亿半几多"
# What follows a number in a quantity ("两天", "十一点", "三次"): the whole word is a number.
_MEASURES = frozenset({"", "天", "日", "号", "点", "点钟", "次", "个", "年", "月", "周", "星期",
                       "小时", "分钟", "分", "秒", "元", "块", "块钱", "楼", "层", "栋", "人",
                       "遍", "回", "趟", "位", "名", "间", "台"})


def _is_topic_word(word: str, stop_words: frozenset[str]) -> bool:
    if len(word) < 2 or word in stop_words:
        return False
    if any(ch.isdigit() for ch in word) or word.lstrip(_CHINESE_NUMERALS) in _MEASURES:
        return False
    # Letters only (CJK ideographs are letters): no punctuation, symbols or emoji.
    return all(unicodedata.category(ch)[0] == "L" for ch in word)


class Analyzer:
    """Cuts complaints into topic words (module doc). One per process is enough; the jieba
    dictionary is loaded on first use (about a second) or by `warm_up`."""

    def __init__(self, user_dict: str | Path | None = USER_DICT_FILE,
                 stop_words: Iterable[str] | str | Path | None = STOP_WORDS_FILE):
        self._user_dict = user_dict
        if stop_words is None:
            self.stop_words: frozenset[str] = frozenset()
        elif isinstance(stop_words, (str, Path)):
            self.stop_words = load_stop_words(stop_words)
        else:
            self.stop_words = frozenset(stop_words)
        self._tokenizer: jieba.Tokenizer | None = None

    def warm_up(self) -> None:
        if self._tokenizer is None:
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            if self._user_dict is not None:
                tokenizer.load_userdict(str(self._user_dict))
            self._tokenizer = tokenizer

    def words(self, text: str | None) -> tuple[str, ...]:
        """The topic words of a text, in order, with repeats."""
        if not text:
            return ()
        self.warm_up()
        text = unicodedata.normalize("NFKC", text).lower()
        stop = self.stop_words
        return tuple(w for w in self._tokenizer.lcut(text) if _is_topic_word(w, stop))

    def words_of(self, record: CaseRecord) -> tuple[str, ...]:
        return record.words if record.words is not None else self.words(record.text)


_default_analyzer: Analyzer | None = None


def default_analyzer() -> Analyzer:
    global _default_analyzer
    if _default_analyzer is None:
        _default_analyzer = Analyzer()
    return _default_analyzer


def smoothed_idf(total: int, df: int) -> float:
    return math.log((1 + total) / (1 + df)) + 1.0


def unit_vector(words: Iterable[str], idf: Mapping[str, float],
                default_idf: float = 1.0) -> dict[str, float]:
    """A document as a unit vector of sublinear tf (1 + ln n) × idf; {} when it has no
    words. Two documents' cosine is `cosine` of their vectors."""
    raw = {w: (1.0 + math.log(n)) * idf.get(w, default_idf) for w, n in Counter(words).items()}
    norm = math.sqrt(sum(v * v for v in raw.values()))
    return {w: v / norm for w, v in raw.items()} if norm else {}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return min(1.0, sum(v * b.get(w, 0.0) for w, v in a.items()))


# ---------------------------------------------------------------------------------- hot topics
@dataclass(frozen=True)
class Change:
    """环比 or 同比 of a count: `ratio` is None when there was nothing to compare with."""
    before: int
    change: int
    ratio: float | None

    @classmethod
    def of(cls, now: int, before: int) -> "Change":
        return cls(before, now - before, round((now - before) / before, 4) if before else None)

    def as_dict(self) -> dict:
        return {"before": self.before, "change": self.change, "ratio": self.ratio}


@dataclass(frozen=True)
class HotKeyword:
    keyword: str
    count: int                      # complaints of the period containing the word
    weight: float                   # TF-IDF weight that chose it
    mom: Change                     # 环比, against the previous period
    yoy: Change                     # 同比, against the same period last year
    by_category: dict[str | None, int] = field(default_factory=dict)
    by_unit: dict[str | None, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"keyword": self.keyword, "count": self.count, "weight": round(self.weight, 4),
                "mom": self.mom.as_dict(), "yoy": self.yoy.as_dict(),
                "by_category": self.by_category, "by_unit": self.by_unit}


@dataclass(frozen=True)
class HotTopics:
    documents: int
    previous_documents: int
    last_year_documents: int
    keywords: list[HotKeyword]

    @property
    def top(self) -> HotKeyword | None:
        return self.keywords[0] if self.keywords else None

    def as_dict(self) -> dict:
        return {"documents": self.documents, "previous_documents": self.previous_documents,
                "last_year_documents": self.last_year_documents,
                "keywords": [k.as_dict() for k in self.keywords]}


def sorted_counts(counter: Counter) -> dict:
    # Largest first; ties by key (None last) so the answer is stable.
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or "")))


def _document_frequency(docs: Iterable[tuple[str, ...]]) -> Counter:
    df: Counter = Counter()
    for words in docs:
        df.update(set(words))
    return df


def hot_topics(records, previous=(), last_year=(), top: int = 20, *,
               analyzer: Analyzer | None = None, idf: Mapping[str, float] | None = None,
               default_idf: float | None = None) -> HotTopics:
    """The period's hot keywords (module doc): the `top` words by TF-IDF weight, each with the
    number of the period's complaints containing it, 环比 against `previous` (the period
    before), 同比 against `last_year` (the same period a year earlier), and its complaints by
    category and by unit (the first keyword's breakdown is the one the office reads)."""
    analyzer = analyzer or default_analyzer()
    now = _records(records)
    return hot_topics_of_words(
        [(analyzer.words_of(r), r.category, r.unit_id) for r in now],
        [analyzer.words_of(r) for r in _records(previous)],
        [analyzer.words_of(r) for r in _records(last_year)], top, idf=idf,
        default_idf=default_idf)


def hot_topics_of_words(now: Sequence[tuple[Sequence[str], str | None, str | None]],
                        previous: Sequence[Sequence[str]] = (),
                        last_year: Sequence[Sequence[str]] = (), top: int = 20, *,
                        idf: Mapping[str, float] | None = None,
                        default_idf: float | None = None) -> HotTopics:
    """`hot_topics` from words already cut: the period's documents as (words, category,
    unit_id), the other two periods' as words alone (only their document frequencies are
    read). No record objects."""
    now_words = [words for words, _, _ in now]
    prev_words, last_words = previous, last_year

    df_now = _document_frequency(now_words)
    weights: dict[str, float] = defaultdict(float)
    for words in now_words:
        if words:
            share = 1.0 / len(words)     # tf: each occurrence adds 1 / words in the document
            for word in words:
                weights[word] += share

    def breakdown(chosen):
        wanted = set(chosen)
        by_category: dict[str, Counter] = {w: Counter() for w in chosen}
        by_unit: dict[str, Counter] = {w: Counter() for w in chosen}
        for words, category, unit_id in now:
            for word in wanted.intersection(words):
                by_category[word][category] += 1
                by_unit[word][unit_id] += 1
        return by_category, by_unit

    return hot_topics_of_counts(
        PeriodTerms(len(now_words), df_now, weights),
        PeriodTerms(len(prev_words), _document_frequency(prev_words)),
        PeriodTerms(len(last_words), _document_frequency(last_words)),
        breakdown, top, idf=idf, default_idf=default_idf)


def document_terms(words: Sequence[str]) -> dict[str, float]:
    """One document's distinct words with their tf (occurrences / words in the document),
    summed occurrence by occurrence as `hot_topics_of_words` does: what a document adds to a
    roll-up of documents (1) and tf sums per word (analysis_topic_days)."""
    tf: dict[str, float] = defaultdict(float)
    if words:
        share = 1.0 / len(words)
        for word in words:
            tf[word] += share
    return dict(tf)


@dataclass(frozen=True)
class PeriodTerms:
    """A period's documents counted: how many, and per word the documents containing it
    (`df`) and the sum of its tf over them (`tf`, needed of the period asked about only).
    All three are sums, so a period is added up from daily roll-ups."""
    documents: int
    df: Mapping[str, int]
    tf: Mapping[str, float] = field(default_factory=dict)


def hot_topics_of_counts(now: PeriodTerms, previous: PeriodTerms, last_year: PeriodTerms,
                         breakdown: Callable[[list[str]], tuple[Mapping, Mapping]],
                         top: int = 20, *, idf: Mapping[str, float] | None = None,
                         default_idf: float | None = None) -> HotTopics:
    """`hot_topics` from counts (module doc): `breakdown(chosen)` gives the chosen words'
    documents by category and by unit, as {word: Counter}."""
    df_now, df_prev, df_last = now.df, previous.df, last_year.df
    if idf is None:
        total = now.documents + previous.documents + last_year.documents
        idf = {w: smoothed_idf(total, df_now[w] + df_prev.get(w, 0) + df_last.get(w, 0))
               for w in df_now}
        default_idf = smoothed_idf(total, 0)
    elif default_idf is None:
        default_idf = max(idf.values(), default=1.0)

    weights = {w: now.tf[w] * idf.get(w, default_idf) for w in df_now}
    # Weights equal to 8 places are a tie (broken by documents, then the word): two words of
    # the same documents weigh the same, but sums of floats added in another order (days of
    # roll-ups, rows in another order) differ in their last digits.
    chosen = heapq.nsmallest(top, weights,
                             key=lambda w: (-round(weights[w], TIE_PLACES), -df_now[w], w))
    by_category, by_unit = breakdown(chosen)
    keywords = [HotKeyword(keyword=w, count=df_now[w], weight=weights[w],
                           mom=Change.of(df_now[w], df_prev.get(w, 0)),
                           yoy=Change.of(df_now[w], df_last.get(w, 0)),
                           by_category=sorted_counts(by_category[w]),
                           by_unit=sorted_counts(by_unit[w]))
                for w in chosen]
    return HotTopics(now.documents, previous.documents, last_year.documents, keywords)


# ---------------------------------------------------------------------------------- seasonal
def month_of(moment: datetime) -> str:
    """"YYYY-MM" of a moment in Asia/Shanghai."""
    return _aware(moment).astimezone(TZ).strftime("%Y-%m")


def month_range(end_month: str, months: int) -> list[str]:
    """The `months` months ending with `end_month` ("YYYY-MM"), oldest first."""
    year, month = (int(part) for part in end_month.split("-"))
    index = year * 12 + month - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - months + 1, index + 1)]


@dataclass(frozen=True)
class Seasonal:
    months: list[str]
    categories: list[str | None]
    counts: dict[str | None, list[int]]     # category -> one count per month

    @property
    def totals(self) -> list[int]:
        return [sum(column) for column in zip(*self.counts.values())] if self.counts \
            else [0] * len(self.months)

    def as_dict(self) -> dict:
        return {"months": self.months, "categories": self.categories,
                "counts": self.counts, "totals": self.totals}


def seasonal(records, end_month: str, months: int = 24,
             categories: Sequence[str] = ()) -> Seasonal:
    """Complaints received per category and month over the `months` months ending with
    `end_month`, months in Asia/Shanghai; every month and every category given in
    `categories` (or seen in the window) has a row or column, with 0 where nothing came."""
    window = month_range(end_month, months)
    column = {m: i for i, m in enumerate(window)}
    counts: dict[str | None, list[int]] = {c: [0] * months for c in categories}
    for record in _records(records):
        if record.received_at is None:
            continue
        i = column.get(month_of(record.received_at))
        if i is not None:
            counts.setdefault(record.category, [0] * months)[i] += 1
    order = list(categories) + sorted((c for c in counts if c not in set(categories)),
                                      key=lambda c: (c is None, c or ""))
    return Seasonal(window, order, {c: counts[c] for c in order})


# ---------------------------------------------------------------------------------- similarity
class SimilaritySource(Protocol):
    """What `common_problems` and `repeated_problems` need of a similarity index: the cases
    at least `threshold` alike to an indexed case, itself left out, as (case_id, score) pairs
    or objects with .case_id and .score (intake's SimilarityIndex answers so)."""

    def similar_to(self, case_id: str, limit: int = ..., threshold: float = ...) -> Iterable:
        ...


def _pairs(matches: Iterable) -> list[tuple[str, float]]:
    return [(m.case_id, m.score) if hasattr(m, "case_id") else (m[0], m[1]) for m in matches]


class TfidfCosine:
    """A small in-memory similarity index over a fixed set of records: each document a unit
    vector of sublinear tf (1 + ln n) × smoothed idf over the set itself, kept as postings
    (word -> its cases and their components), so `similar_to` only visits cases sharing a
    word and the cosine is a sum of products. Built once per analysis; nothing is added.

    With `within`, only cases received at most that long before or after the one asked about
    are answered: postings are sorted by time and cut by bisection, so a search costs the
    cases sharing a word inside the window, not in the whole set. Without it the cost grows
    with the square of cases sharing common words (5 000 look-alike cases: several seconds)."""

    def __init__(self, records, analyzer: Analyzer | None = None,
                 within: timedelta | None = None):
        analyzer = analyzer or default_analyzer()
        cases = [r for r in _records(records) if within is None or r.received_at is not None]
        if within is not None:
            cases.sort(key=lambda r: _aware(r.received_at))
        self._within = within.total_seconds() if within is not None else None
        counts = {r.case_id: Counter(analyzer.words_of(r)) for r in cases}
        df = _document_frequency(c.keys() for c in counts.values())
        idf = {w: smoothed_idf(len(counts), n) for w, n in df.items()}
        self._vectors: dict[str, dict[str, float]] = {}
        self._times: dict[str, float] = {}
        # word -> (times, [(case, component)]), both in order of receipt when `within` is set.
        self._postings: dict[str, tuple[list[float], list[tuple[str, float]]]] = \
            defaultdict(lambda: ([], []))
        for record in cases:
            vector = unit_vector(counts[record.case_id].elements(), idf)
            if not vector:
                continue
            at = _aware(record.received_at).timestamp() if within is not None else 0.0
            self._vectors[record.case_id] = vector
            self._times[record.case_id] = at
            for w, v in vector.items():
                times, entries = self._postings[w]
                times.append(at)
                entries.append((record.case_id, v))

    def score(self, a: str, b: str) -> float:
        va, vb = self._vectors.get(a), self._vectors.get(b)
        if not va or not vb:
            return 0.0
        return cosine(va, vb)

    def similar_to(self, case_id: str, limit: int = 50,
                   threshold: float = COMMON_THRESHOLD) -> list[tuple[str, float]]:
        vector = self._vectors.get(case_id)
        if not vector:
            return []
        at, within = self._times[case_id], self._within
        scores: dict[str, float] = defaultdict(float)
        for w, v in vector.items():
            times, entries = self._postings[w]
            if within is not None:
                entries = entries[bisect_left(times, at - within):
                                  bisect_right(times, at + within)]
            for other, u in entries:
                scores[other] += v * u
        scores.pop(case_id, None)
        found = [(other, min(1.0, s)) for other, s in scores.items() if s >= threshold]
        return heapq.nsmallest(limit, found, key=lambda p: (-p[1], p[0]))


# ---------------------------------------------------------------------------------- 共性问题
@dataclass(frozen=True)
class CommonProblem:
    case_ids: list[str]             # oldest first
    keywords: list[str]
    units: dict[str | None, int]
    categories: dict[str | None, int]
    first_at: datetime
    last_at: datetime
    peak: int                       # the most cases inside any `within_days` window

    @property
    def span_days(self) -> float:
        return (self.last_at - self.first_at).total_seconds() / 86400

    def as_dict(self) -> dict:
        return {"case_ids": self.case_ids, "keywords": self.keywords, "units": self.units,
                "categories": self.categories, "first_at": self.first_at.isoformat(),
                "last_at": self.last_at.isoformat(), "span_days": round(self.span_days, 2),
                "peak": self.peak}


class _Components:
    """Union-find over case ids."""

    def __init__(self, items: Iterable[str]):
        self._parent = {item: item for item in items}

    def find(self, item: str) -> str:
        parent = self._parent
        while parent[item] != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def groups(self) -> list[list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for item in self._parent:
            found[self.find(item)].append(item)
        return list(found.values())


def peak_within(times: list[datetime], within: timedelta) -> int:
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > within:
            start += 1
        best = max(best, end - start + 1)
    return best


def _top_keywords(words_of_cases: Iterable[tuple[str, ...]], n: int) -> list[str]:
    df = _document_frequency(words_of_cases)
    return [w for w, _ in sorted(df.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def common_problems(records, similarity: SimilaritySource | None = None, *,
                    min_cases: int = COMMON_MIN_CASES, within_days: float = COMMON_WITHIN_DAYS,
                    threshold: float = COMMON_THRESHOLD, neighbours: int = 50,
                    keywords: int = 5, analyzer: Analyzer | None = None) -> list[CommonProblem]:
    """共性问题: groups of similar cases with at least `min_cases` of them received within
    `within_days` of each other. Two cases are linked when the index finds them at least
    `threshold` alike and they were received at most `within_days` apart; a group is a
    connected set of links (so A~B and B~C group A, B, C), kept when some `within_days`
    window holds `min_cases` of its cases. `similarity` defaults to a `TfidfCosine` over
    `records` restricted to `within_days`. Largest groups first."""
    analyzer = analyzer or default_analyzer()
    cases = {r.case_id: r for r in _records(records) if r.received_at is not None}
    within = timedelta(days=within_days)
    if similarity is None:
        similarity = TfidfCosine(cases.values(), analyzer, within=within)
    components = _Components(cases)
    for case_id, record in cases.items():
        at = _aware(record.received_at)
        for other, _ in _pairs(similarity.similar_to(case_id, limit=neighbours,
                                                     threshold=threshold)):
            peer = cases.get(other)
            if peer is not None and abs(_aware(peer.received_at) - at) <= within:
                components.union(case_id, other)

    problems = []
    for group in components.groups():
        if len(group) < min_cases:
            continue
        members = sorted((cases[c] for c in group),
                         key=lambda r: (_aware(r.received_at), r.case_id))
        times = [_aware(r.received_at) for r in members]
        peak = peak_within(times, within)
        if peak < min_cases:
            continue
        problems.append(CommonProblem(
            case_ids=[r.case_id for r in members],
            keywords=_top_keywords((analyzer.words_of(r) for r in members), keywords),
            units=sorted_counts(Counter(r.unit_id for r in members)),
            categories=sorted_counts(Counter(r.category for r in members)),
            first_at=times[0], last_at=times[-1], peak=peak))
    problems.sort(key=lambda p: (-len(p.case_ids), p.first_at, p.case_ids[0]))
    return problems


# ---------------------------------------------------------------------------------- 反复发生
@dataclass(frozen=True)
class RepeatedProblem:
    """A case about the same place (or unit) and topic as an earlier case that had already
    been closed when it came in: R14's 反复发生的问题, for follow-up."""
    key: tuple
    earlier: str                    # the case closed most recently before `later` came in
    later: str
    earlier_closed_at: datetime
    later_received_at: datetime
    times: int                      # earlier cases at this key closed before it (in the window)

    @property
    def gap_days(self) -> float:
        return (self.later_received_at - self.earlier_closed_at).total_seconds() / 86400

    def as_dict(self) -> dict:
        return {"key": list(self.key), "earlier": self.earlier, "later": self.later,
                "earlier_closed_at": self.earlier_closed_at.isoformat(),
                "later_received_at": self.later_received_at.isoformat(),
                "gap_days": round(self.gap_days, 2), "times": self.times}


_SPACES = re.compile(r"\s+")


def place_key(record: CaseRecord) -> tuple:
    """Where and what a case is about: its location (normalised: NFKC, no spaces, lower
    case) when it has one, else its unit, with its category. Locations compare exactly:
    "3号楼" and "学生公寓3号楼" are two places."""
    location = _SPACES.sub("", unicodedata.normalize("NFKC", record.location or "")).lower()
    where = ("location", location) if location else ("unit", record.unit_id)
    return (*where, record.category)


def place_key_text(location: str | None, unit_id: str | None, category: str | None,
                   limit: int = 300) -> str | None:
    """`place_key` as one string, for a column (None: neither a location nor a unit yet)."""
    kind, where, category = place_key(CaseRecord("", "", category=category, unit_id=unit_id,
                                                 location=location))
    if not where:
        return None
    return f"{kind}:{where}|{category or ''}"[:limit]


def repeated_problems(records, similarity: SimilaritySource | None = None, *,
                      key: Callable[[CaseRecord], Hashable] = place_key,
                      within_days: float | None = REPEAT_WITHIN_DAYS,
                      threshold: float = COMMON_THRESHOLD, neighbours: int = 200
                      ) -> list[RepeatedProblem]:
    """Cases received after an earlier case with the same `key` (place_key: place or unit,
    and category) was closed, at most `within_days` after that closing (None: any time).
    With a `similarity` index the two must also be at least `threshold` alike (the same
    topic, not merely the same building and category). A case received while the earlier
    one was still open is not a repeat (it is the same matter, or a duplicate). Each later
    case is flagged once, against the most recently closed earlier case; oldest first."""
    groups: dict[Hashable, list[CaseRecord]] = defaultdict(list)
    for record in _records(records):
        if record.received_at is not None:
            groups[key(record)].append(record)
    within = timedelta(days=within_days) if within_days is not None else None

    flagged = []
    for group_key, members in groups.items():
        if len(members) < 2:
            continue
        members.sort(key=lambda r: (_aware(r.received_at), r.case_id))
        for index, later in enumerate(members):
            received = _aware(later.received_at)
            closed_before = [e for e in members[:index]
                             if e.closed_at is not None and _aware(e.closed_at) <= received
                             and (within is None or received - _aware(e.closed_at) <= within)]
            if closed_before and similarity is not None:
                alike = {c for c, _ in _pairs(similarity.similar_to(
                    later.case_id, limit=neighbours, threshold=threshold))}
                closed_before = [e for e in closed_before if e.case_id in alike]
            if not closed_before:
                continue
            earlier = max(closed_before, key=lambda e: (_aware(e.closed_at), e.case_id))
            flagged.append(RepeatedProblem(
                key=group_key if isinstance(group_key, tuple) else (group_key,),
                earlier=earlier.case_id, later=later.case_id,
                earlier_closed_at=_aware(earlier.closed_at), later_received_at=received,
                times=len(closed_before)))
    flagged.sort(key=lambda p: (p.later_received_at, p.later))
    return flagged
