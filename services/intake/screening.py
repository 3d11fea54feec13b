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

Pure: no nameko, no SQLAlchemy; only PyYAML to read the file.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

KINDS = ("unlawful", "legal_channel")  # also the priority: an unlawful request is refused first

# Exclusions are replaced by this character before keywords are looked for: it keeps the
# text's length (so patterns with a window like `.{0,6}` do not start bridging clauses that
# an exclusion shortened) and appears in no keyword.
_BLANK = "\u0000"
_WHITESPACE = re.compile(r"\s+")
_RULE_KEYS = {"id", "class", "channel", "label", "keywords", "patterns", "exclude", "reply"}


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
class Rule:
    id: str
    kind: str
    channel: str | None
    label: str
    keywords: tuple[str, ...]
    patterns: tuple[re.Pattern, ...]
    exclude: tuple[re.Pattern, ...]
    reply: str

    def match(self, text: str) -> str | None:
        """The first keyword or pattern found in normalised `text` once this rule's exclusions
        are blanked out, or None."""
        for pattern in self.exclude:
            text = pattern.sub(lambda m: _BLANK * len(m.group(0)), text)
        for keyword in self.keywords:
            if keyword in text:
                return keyword
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
        try:
            with open(path, encoding="utf-8") as handle:
                raw = yaml.safe_load(handle)
        except OSError as exc:
            raise ScreeningConfigError(f"cannot read screening rules {path}: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ScreeningConfigError(f"screening rules {path} are not valid YAML: {exc}") \
                from exc
        return cls.from_dict(raw)

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
    exclude = tuple(_compile(p, where) for p in _strings(entry, "exclude", where))
    if not keywords and not patterns:
        raise ScreeningConfigError(f"{where}: needs keywords or patterns")
    label = entry.get("label") or channel or rule_id
    return Rule(rule_id, kind, channel.strip() if channel else None, str(label), keywords,
                patterns, exclude, reply.strip())


def _strings(entry: dict, key: str, where: str) -> list[str]:
    values = entry.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ScreeningConfigError(f"{where}: {key} must be a list of strings")
    return values


def _compile(pattern: str, where: str) -> re.Pattern:
    # Normalised like the text, so a pattern written with full-width punctuation still
    # matches. Not lower-cased (that would turn \\D into \\d) but compiled ignoring case, and
    # not stripped of whitespace, which may be part of the regex's syntax.
    source = unicodedata.normalize("NFKC", pattern)
    try:
        compiled = re.compile(source, re.IGNORECASE)
    except re.error as exc:
        raise ScreeningConfigError(f"{where}: bad regular expression {pattern!r}: {exc}") \
            from exc
    if compiled.search(""):
        # A pattern that matches nothing-at-all matches every complaint.
        raise ScreeningConfigError(f"{where}: pattern {pattern!r} matches the empty string")
    return compiled
