"""Routing's rules: the organisation directory and "who handles this case"."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from services.common.contracts import CATEGORIES, GRADES


WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


class DirectoryError(ValueError):
    pass


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    phone: str | None = None


@dataclass(frozen=True)
class Unit:
    id: str
    name: str
    kind: str
    head: Person
    handlers: tuple[Person, ...]
    aliases: tuple[str, ...] = ()
    # On-duty roster: weekday (0 = Monday) -> ids of the handlers on duty that day.
    roster: dict = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def on_duty(self, weekday: int) -> tuple[Person, ...]:
        ids = self.roster.get(weekday)
        if not ids:
            return self.handlers
        return tuple(h for h in self.handlers if h.id in ids) or self.handlers


@dataclass(frozen=True)
class Leader:
    id: str
    name: str
    title: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    """A sub-topic of a category that belongs to another unit (e.g. 后勤保障/网络 → 信息中心)."""
    name: str
    keywords: tuple[str, ...]
    unit_id: str
    grade: str | None = None


@dataclass(frozen=True)
class CategoryRule:
    unit_id: str
    grade: str
    topics: tuple[Topic, ...] = ()
    # College-level matters go to the complainant's own 二级学院 when it is known.
    college_level: bool = False


@dataclass(frozen=True)
class Decision:
    unit: Unit
    handler: Person
    grade: str
    assisting: tuple[Unit, ...] = ()

    @property
    def disputed(self) -> bool:
        return bool(self.assisting)


@dataclass
class Directory:
    school: str
    office_id: str
    units: dict[str, Unit]
    leaders: tuple[Leader, ...]
    rules: dict[str, CategoryRule] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> "Directory":
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(yaml.safe_load(handle))

    @classmethod
    def from_dict(cls, raw: dict) -> "Directory":
        try:
            units = {}
            for item in raw["units"]:
                handlers = tuple(Person(**h) for h in item.get("handlers") or ())
                if not handlers:
                    raise DirectoryError(f"unit {item['id']} has no handler")
                roster = {WEEKDAYS.index(day): tuple(ids)
                          for day, ids in (item.get("roster") or {}).items()}
                units[item["id"]] = Unit(item["id"], item["name"], item["kind"],
                                         Person(**item["head"]), handlers,
                                         tuple(item.get("aliases") or ()), roster)
            leaders = tuple(Leader(leader["id"], leader["name"], leader.get("title", ""),
                                   tuple(leader.get("categories", ())))
                            for leader in raw.get("leaders", ()))
            rules = {code: CategoryRule(
                rule["unit"], rule.get("grade", "general"),
                tuple(Topic(t["name"], tuple(t["keywords"]), t["unit"], t.get("grade"))
                      for t in rule.get("topics") or ()),
                bool(rule.get("college_level")))
                for code, rule in raw["categories"].items()}
        except (KeyError, TypeError) as exc:
            raise DirectoryError(f"organisation directory is malformed: {exc!r}") from exc
        directory = cls(raw.get("school", ""), raw.get("office", "office"), units, leaders, rules)
        directory.check()
        return directory

    def check(self) -> None:
        missing = set(CATEGORIES) - set(self.rules)
        if missing:
            raise DirectoryError(f"no unit for categories: {', '.join(sorted(missing))}")
        for code, rule in self.rules.items():
            if code not in CATEGORIES:
                raise DirectoryError(f"unknown category {code!r}")
            if rule.unit_id not in self.units:
                raise DirectoryError(f"category {code} names unknown unit {rule.unit_id!r}")
            if rule.grade not in GRADES:
                raise DirectoryError(f"category {code} has unknown grade {rule.grade!r}")
            for topic in rule.topics:
                if topic.unit_id not in self.units:
                    raise DirectoryError(f"topic {topic.name} names unknown unit {topic.unit_id!r}")
                if topic.grade is not None and topic.grade not in GRADES:
                    raise DirectoryError(f"topic {topic.name} has unknown grade {topic.grade!r}")
        for unit in self.units.values():
            for ids in unit.roster.values():
                unknown = set(ids) - {h.id for h in unit.handlers}
                if unknown:
                    raise DirectoryError(f"roster of {unit.id} names unknown handlers {unknown}")
        unsupervised = set(CATEGORIES) - {c for leader in self.leaders for c in leader.categories}
        if unsupervised:
            raise DirectoryError(f"no supervising leader for: {', '.join(sorted(unsupervised))}")
        if self.office_id not in self.units:
            raise DirectoryError(f"office unit {self.office_id!r} is not among the units")

    def decide(self, category: str, open_load: dict[str, int], *, content: str = "",
               college: str | None = None, weekday: int = 0,
               unit_id: str | None = None) -> Decision:
        """Straight to the responsible unit and a named handler, with no hop in between (R5):
        the unit from the category rule, or the sub-topic's unit when its keywords appear, or
        the complainant's college for college-level matters, or `unit_id` when the office
        names one. The handler is the on-duty one with the fewest open cases (ties to the
        first listed). Other units the complaint names make it disputed: the unit chosen here,
        the first to receive it, leads (首接首办) and the others assist (R8)."""
        rule = self.rules[category]
        grade = rule.grade
        if unit_id is None:
            unit_id = rule.unit_id
            topic = next((t for t in rule.topics if any(k in content for k in t.keywords)), None)
            if topic is not None:
                unit_id, grade = topic.unit_id, topic.grade or grade
            elif rule.college_level and college in self.units and \
                    self.units[college].kind == "college":
                unit_id = college
        unit = self.units[unit_id]
        candidates = unit.on_duty(weekday)
        handler = min(candidates, key=lambda person: (open_load.get(person.id, 0),
                                                      unit.handlers.index(person)))
        return Decision(unit, handler, grade, self.mentioned_units(content, exclude=unit.id))

    def mentioned_units(self, content: str, exclude: str | None = None) -> tuple[Unit, ...]:
        """Units a complaint names by name or alias (the office is never "assisting")."""
        return tuple(u for u in self.units.values()
                     if u.id not in (exclude, self.office_id)
                     and any(name in content for name in u.names()))

    def leader_for(self, category: str) -> Leader | None:
        return next((leader for leader in self.leaders if category in leader.categories), None)
