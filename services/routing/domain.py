"""Routing's rules: the organisation directory and "who handles this case"."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from services.common.contracts import CATEGORIES, GRADES


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


@dataclass(frozen=True)
class Leader:
    id: str
    name: str
    title: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class CategoryRule:
    unit_id: str
    grade: str


@dataclass(frozen=True)
class Decision:
    unit: Unit
    handler: Person
    grade: str


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
                units[item["id"]] = Unit(item["id"], item["name"], item["kind"],
                                         Person(**item["head"]), handlers)
            leaders = tuple(Leader(leader["id"], leader["name"], leader.get("title", ""),
                                   tuple(leader.get("categories", ())))
                            for leader in raw.get("leaders", ()))
            rules = {code: CategoryRule(rule["unit"], rule.get("grade", "general"))
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
        if self.office_id not in self.units:
            raise DirectoryError(f"office unit {self.office_id!r} is not among the units")

    def decide(self, category: str, open_load: dict[str, int]) -> Decision:
        """Straight to the responsible unit and a named handler, with no hop in between (R5).
        The handler is the one with the fewest open cases; ties go to the first listed, so
        a quiet unit's cases are spread evenly."""
        rule = self.rules[category]
        unit = self.units[rule.unit_id]
        handler = min(unit.handlers, key=lambda person: (open_load.get(person.id, 0),
                                                         unit.handlers.index(person)))
        return Decision(unit, handler, rule.grade)
