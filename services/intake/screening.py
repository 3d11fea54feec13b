"""R4 out-of-scope screening: which complaints the platform does not handle, and what their
authors are told instead.

Two classes (config/screening.yaml holds the rules and the replies):
- `legal_channel`: the matter belongs to litigation, arbitration, 纪检监察, administrative
  reconsideration or government-information disclosure, or is already in the petition (信访)
  channel; the reply names the channel and tells how to use it.
- `unlawful`: the request is against law or public order; the reply persuades and educates,
  and states the rule and the legal consequences.

Screened cases are recorded, counted and answered, never silently dropped: `screen` only
decides, the service keeps the case. Keyword rules are crude on purpose: they are readable by
the office, who own the YAML, and a miss is cheap (the office screens a case out by hand with
`template_for`), while a false positive turns a real complaint away; hence exclusions.

Linear in the text, whatever the text (a rule is run on every filing, in the request): every
regular expression in the file is bounded (no `*`, `+` or `{n,}`, small `{m,n}`, no repeat of
an alternation), which `_check_bounded` enforces when the file is loaded, so a pattern tries a
bounded amount of work at each position. The one open-ended form the office needs, an
exclusion that reaches the ends of its clause or sentence (`[^,。;!?]*…[^,。;!?]*`), is not
run as a regex: its bounded core is searched once over the text and the clause's ends are
found by looking up the separators (`Exclusion.blank`). Before, `[^…]*X[^…]*` made the
engine rescan the rest of the clause from every position: 5,000 characters of one repeated
character took seconds.

Pure: no nameko, no SQLAlchemy; only PyYAML to read the file.
"""
from __future__ import annotations

import bisect
import re
import re._constants as sre_constants  # the parsed form of a pattern, to prove it bounded
import re._parser as sre_parser        # (stable within the pinned Python 3.11)
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from services.common.config_files import read_yaml


KINDS = ("unlawful", "legal_channel")  # also the priority: an unlawful request is refused first

# Exclusions are replaced by this character before keywords are looked for: it keeps the
# text's length (so patterns with a window like `.{0,6}` do not start bridging clauses that
# an exclusion shortened) and appears in no keyword.
_BLANK = "\u0000"
_WHITESPACE = re.compile(r"\s+")
_RULE_KEYS = {"id", "class", "channel", "label", "keywords", "patterns", "exclude", "reply"}

# What keeps a pattern's work at one position of the text bounded (see _check_bounded):
# the largest `{m,n}`, and the product of (n + 1) over a pattern's repeats, which bounds how
# many ways the engine can split the text among them before it gives up at that position.
# The shipped rules need at most {0,16} and a product of 55.
MAX_REPEAT = 32
MAX_SPLITS = 512
# An exclusion may begin and/or end with one run of "anything but these separators", e.g.
# `[^,。;!?]*`: it reaches the start / end of the clause (or sentence) around its core.
_RUN = r"\[\^([^\]\\]+)\]\*"
_LEADING_RUN = re.compile(r"^" + _RUN + r"(?![*+?{])")
_TRAILING_RUN = re.compile(r"(?<!\\)" + _RUN + r"$")
_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
            sre_constants.POSSESSIVE_REPEAT}
_CHOICES = _REPEATS | {sre_constants.BRANCH, sre_constants.GROUPREF,
                       sre_constants.GROUPREF_EXISTS}


class ScreeningConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Verdict:
    rule_id: str
    kind: str                # legal_channel | unlawful
    channel: str | None      # e.g. 诉讼, 信访; None for unlawful
    matched: str             # the text that matched, for the office to see why
    reply: str               # the template told to the complainant


@dataclass(frozen=True)
class Exclusion:
    """One `exclude` entry: a bounded `core`, optionally reaching back to the start of its
    clause (`leading`: the separators a leading `[^…]*` stops at) and on to its end
    (`trailing`)."""
    source: str
    core: re.Pattern
    leading: re.Pattern | None = None
    trailing: re.Pattern | None = None

    def blank(self, text: str) -> str:
        """`text` with what this exclusion matches replaced by blanks: what
        `re.sub(source, blanks, text)` gave, in time linear in the text. Each search resumes
        where the last blanked span ended, as `re.sub` does."""
        spans: list[tuple[int, int]] = []
        separators: list[int] | None = None
        pos = 0
        while (found := self.core.search(text, pos)) is not None:
            start, end = found.span()
            if self.leading is not None:
                if separators is None:  # once per text, and only if something matched
                    separators = [m.start() for m in self.leading.finditer(text)]
                before = bisect.bisect_left(separators, start)
                start = max(pos, separators[before - 1] + 1 if before else 0)
            if self.trailing is not None:
                stop = self.trailing.search(text, end)
                end = stop.start() if stop else len(text)
            spans.append((start, end))
            pos = max(end, found.start() + 1)
        if not spans:
            return text
        pieces, last = [], 0
        for start, end in spans:
            pieces += [text[last:start], _BLANK * (end - start)]
            last = end
        pieces.append(text[last:])
        return "".join(pieces)


@dataclass(frozen=True)
class Rule:
    id: str
    kind: str
    channel: str | None
    label: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    exclude: tuple[Exclusion, ...]
    reply: str
    keyword_search: re.Pattern | None = None  # every keyword, one alternation

    def match(self, text: str) -> str | None:
        """The leftmost keyword (or else the first pattern) found in normalised `text` once
        this rule's exclusions are blanked out, or None."""
        for exclusion in self.exclude:
            text = exclusion.blank(text)
        if self.keyword_search is not None:
            found = self.keyword_search.search(text)
            if found:
                return found.group(0)
        for pattern in self.patterns:
            found = pattern.search(text)
            if found:
                return found.group(0).replace(_BLANK, "")
        return None


def normalise(text: str) -> str:
    """NFKC (full-width punctuation and digits become ASCII), lower case, no whitespace:
    complainants type on phones in any width, and a space inside 起 诉 hides nothing."""
    return _WHITESPACE.sub("", unicodedata.normalize("NFKC", text).lower())


class ScreeningRules:
    def __init__(self, rules: list[Rule]):
        self._rules = tuple(rules)
        self._by_id = {rule.id: rule for rule in self._rules}
        # Stable sort: unlawful rules first, file order within a class.
        self._ordered = tuple(sorted(self._rules, key=lambda rule: KINDS.index(rule.kind)))

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path) -> "ScreeningRules":
        return cls.from_dict(read_yaml(path, "the screening rules", ScreeningConfigError))

    @classmethod
    def from_dict(cls, raw) -> "ScreeningRules":
        if not isinstance(raw, dict) or not isinstance(raw.get("rules"), list) \
                or not raw["rules"]:
            raise ScreeningConfigError("screening rules need a non-empty list under `rules`")
        rules: list[Rule] = []
        seen: set[str] = set()
        for index, entry in enumerate(raw["rules"]):
            rule = _parse_rule(index, entry)
            if rule.id in seen:
                raise ScreeningConfigError(f"rule id {rule.id!r} appears twice")
            seen.add(rule.id)
            rules.append(rule)
        return cls(rules)

    # ------------------------------------------------------------------ using
    def screen(self, title: str | None, content: str | None) -> Verdict | None:
        """The verdict of the first matching rule (unlawful before legal_channel), or None
        when the complaint is for the platform."""
        text = normalise("。".join(part for part in (title, content) if part))
        if not text:
            return None
        for rule in self._ordered:
            matched = rule.match(text)
            if matched is not None:
                return Verdict(rule.id, rule.kind, rule.channel, matched, rule.reply)
        return None

    def rule_ids(self) -> list[str]:
        return [rule.id for rule in self._rules]

    def rule(self, rule_id: str) -> Rule | None:
        return self._by_id.get(rule_id)

    def template_for(self, rule_id: str) -> str | None:
        """The reply of a rule, for the office screening a case out by hand; None if unknown."""
        rule = self._by_id.get(rule_id)
        return rule.reply if rule else None

    def kind_of(self, rule_id: str) -> str | None:
        rule = self._by_id.get(rule_id)
        return rule.kind if rule else None

    def channel_of(self, rule_id: str) -> str | None:
        rule = self._by_id.get(rule_id)
        return rule.channel if rule else None

    def describe(self) -> list[dict]:
        """What the office picks from when it screens by hand: id, class, channel, label."""
        return [{"id": rule.id, "kind": rule.kind, "channel": rule.channel, "label": rule.label}
                for rule in self._rules]


def _parse_rule(index: int, entry) -> Rule:
    where = f"rule #{index + 1}"
    if not isinstance(entry, dict):
        raise ScreeningConfigError(f"{where} is not a mapping")
    rule_id = entry.get("id")
    if not isinstance(rule_id, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", rule_id):
        # Stored in complaints.screened_rule (64 characters) and typed by the office.
        raise ScreeningConfigError(f"{where}: id must be lower_snake_case, got {rule_id!r}")
    where = f"rule {rule_id!r}"
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise ScreeningConfigError(f"{where}: unknown keys {', '.join(sorted(unknown))}")
    kind = entry.get("class")
    if kind not in KINDS:
        raise ScreeningConfigError(f"{where}: class must be one of {', '.join(KINDS)}, "
                                   f"got {kind!r}")
    channel = entry.get("channel")
    if kind == "legal_channel" and not (isinstance(channel, str) and channel.strip()):
        raise ScreeningConfigError(f"{where}: a legal_channel rule names its channel")
    if kind == "unlawful" and channel is not None:
        raise ScreeningConfigError(f"{where}: an unlawful rule has no legal channel")
    reply = entry.get("reply")
    if not isinstance(reply, str) or not reply.strip():
        raise ScreeningConfigError(f"{where}: the reply template is missing")
    keywords = tuple(normalise(k) for k in _strings(entry, "keywords", where))
    if any(not k for k in keywords):
        raise ScreeningConfigError(f"{where}: empty keyword")
    patterns = tuple(_compile(p, where) for p in _strings(entry, "patterns", where))
    exclude = tuple(_exclusion(p, where) for p in _strings(entry, "exclude", where))
    if not keywords and not patterns:
        raise ScreeningConfigError(f"{where}: needs keywords or patterns")
    label = entry.get("label") or channel or rule_id
    # One pass over the text for all of a rule's keywords; in file order, so that at one
    # position the first listed keyword is the one reported.
    keyword_search = re.compile("|".join(map(re.escape, keywords))) if keywords else None
    return Rule(rule_id, kind, channel.strip() if channel else None, str(label), keywords,
                patterns, exclude, reply.strip(), keyword_search)


def _strings(entry: dict, key: str, where: str) -> list[str]:
    values = entry.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ScreeningConfigError(f"{where}: {key} must be a list of strings")
    return values


def _normalise_pattern(pattern: str) -> str:
    # Normalised like the text, so a pattern written with full-width punctuation still
    # matches. Not lower-cased (that would turn \\D into \\d) but compiled ignoring case, and
    # not stripped of whitespace, which may be part of the regex's syntax.
    return unicodedata.normalize("NFKC", pattern)


def _compile(pattern: str, where: str, source: str | None = None) -> re.Pattern:
    """A bounded regular expression (`_check_bounded`) that cannot match nothing at all."""
    source = _normalise_pattern(pattern) if source is None else source
    compiled = _compile_syntax(pattern, source, where)
    if compiled.search(""):
        # A pattern that matches nothing-at-all matches every complaint.
        raise ScreeningConfigError(f"{where}: pattern {pattern!r} matches the empty string")
    _check_bounded(source, pattern, where)
    return compiled


def _compile_syntax(pattern: str, source: str, where: str) -> re.Pattern:
    try:
        return re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise ScreeningConfigError(f"{where}: bad regular expression {pattern!r}: {exc}") \
            from exc


def _exclusion(pattern: str, where: str) -> Exclusion:
    """An `exclude` entry: a bounded pattern, which may also start and/or end with a run
    `[^…]*` that reaches the clause's (or sentence's) start or end."""
    source = _normalise_pattern(pattern)
    whole = _compile_syntax(pattern, source, where)
    if whole.search(""):
        raise ScreeningConfigError(f"{where}: pattern {pattern!r} matches the empty string")
    core, leading, trailing = source, None, None
    if (run := _LEADING_RUN.match(core)) is not None and _single_branch(core[run.end():]):
        core, leading = core[run.end():], _separators(run.group(1))
    if (run := _TRAILING_RUN.search(core)) is not None and _single_branch(core[:run.start()]):
        core, trailing = core[:run.start()], _separators(run.group(1))
    return Exclusion(pattern, _compile(pattern, where, core), leading, trailing)


def _single_branch(core: str) -> bool:
    """Whether `core` stands on its own between two runs: it parses, and has no top-level
    `|` (in `[^,]*a|b` the run belongs to `a` only)."""
    try:
        parsed = sre_parser.parse(core)
    except re.error:
        return False
    return bool(core) and not any(op == sre_constants.BRANCH for op, _ in parsed.data)


def _separators(negated: str) -> re.Pattern:
    """The characters a run `[^negated]*` stops at, as a class of its own."""
    return re.compile("[" + ("\\" if negated.startswith("^") else "") + negated + "]",
                      re.IGNORECASE)


def _check_bounded(source: str, pattern: str, where: str) -> None:
    """Refuse what would make screening slower than linear in the text: an open-ended
    repeat (`*`, `+`, `{n,}`) rescans the rest of the text from every position, a repeat of
    an alternation or of another repeat backtracks exponentially, and many wide repeats
    multiply. Whatever passes does a bounded amount of work at each position."""
    def splits(items) -> int:
        total = 1
        for op, av in items:
            if op in _REPEATS:
                low, high, body = av
                if high == sre_constants.MAXREPEAT:
                    raise refused("has an open-ended repeat (*, + or {n,}); give it a bound, "
                                  "e.g. [^,。;!?]{0,10} (only an exclusion may start or end "
                                  "with [^…]*, to reach its clause's ends)")
                if high > MAX_REPEAT:
                    raise refused(f"repeats up to {high} times; at most {MAX_REPEAT}")
                if high <= 1:  # optional, `(法|实务)?`: tried once or skipped
                    total *= 1 + splits(body)
                    continue
                if _has(body, _CHOICES):
                    raise refused("repeats an alternation, a repeat or a back-reference; "
                                  "repeat one character, a class or plain text")
                total *= high + 1
            elif op == sre_constants.BRANCH:
                total *= max(splits(branch) for branch in av[1])
            elif op == sre_constants.SUBPATTERN:
                total *= splits(av[3])
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                total *= splits(av[1])
            elif op == sre_constants.ATOMIC_GROUP:
                total *= splits(av)
            elif op == sre_constants.GROUPREF_EXISTS:
                total *= max(splits(av[1]), splits(av[2]) if av[2] is not None else 1)
        return total

    def refused(why: str) -> ScreeningConfigError:
        return ScreeningConfigError(f"{where}: pattern {pattern!r} {why}")

    total = splits(sre_parser.parse(source, re.IGNORECASE).data)
    if total > MAX_SPLITS:
        raise refused(f"has too many wide repeats (their bounds multiply to {total}, at most "
                      f"{MAX_SPLITS}); narrow them")


def _has(items, ops) -> bool:
    """Whether a parsed (sub)pattern contains any of `ops`, at any depth."""
    for op, av in items:
        if op in ops:
            return True
        nested = (av[3] if op == sre_constants.SUBPATTERN
                  else av[2] if op in _REPEATS
                  else av[1] if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT)
                  else av if op == sre_constants.ATOMIC_GROUP else None)
        if nested is not None and _has(nested, ops):
            return True
    return False
