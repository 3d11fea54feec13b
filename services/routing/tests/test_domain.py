import copy

import pytest
import yaml

from services.common.contracts import CATEGORIES, GRADES
from services.common.settings import REPO_ROOT
from services.routing.domain import Directory, DirectoryError

ORG_YAML = REPO_ROOT / "config" / "org.yaml"


@pytest.fixture(scope="module")
def raw():
    return yaml.safe_load(ORG_YAML.read_text(encoding="utf-8"))


def broken(raw, change):
    copied = copy.deepcopy(raw)
    change(copied)
    return copied


def test_the_shipped_directory_is_valid_and_routes_every_category():
    directory = Directory.load(ORG_YAML)

    assert set(directory.rules) == set(CATEGORIES)
    for rule in directory.rules.values():
        assert rule.unit_id in directory.units
        assert rule.grade in GRADES
    assert directory.office_id in directory.units
    assert all(unit.handlers for unit in directory.units.values())


def test_the_shipped_directory_sends_logistics_to_the_logistics_office():
    directory = Directory.load(ORG_YAML)

    assert directory.rules["logistics"].unit_id == "logistics"
    assert directory.units["logistics"].name == "后勤管理处"


def test_a_category_without_a_unit_is_refused(raw):
    with pytest.raises(DirectoryError, match="epidemic"):
        Directory.from_dict(broken(raw, lambda r: r["categories"].pop("epidemic")))


def test_an_unknown_category_is_refused(raw):
    with pytest.raises(DirectoryError, match="parking"):
        Directory.from_dict(broken(raw, lambda r: r["categories"].update(
            parking={"unit": "logistics"})))


def test_a_category_sent_to_an_unknown_unit_is_refused(raw):
    def change(r):
        r["categories"]["finance"]["unit"] = "treasury"

    with pytest.raises(DirectoryError, match="treasury"):
        Directory.from_dict(broken(raw, change))


def test_a_unit_without_a_handler_is_refused(raw):
    def change(r):
        r["units"][1]["handlers"] = []

    with pytest.raises(DirectoryError, match="no handler"):
        Directory.from_dict(broken(raw, change))


def test_an_unknown_grade_is_refused(raw):
    def change(r):
        r["categories"]["security"]["grade"] = "urgent"

    with pytest.raises(DirectoryError, match="urgent"):
        Directory.from_dict(broken(raw, change))


def test_a_category_without_a_grade_is_general(raw):
    def change(r):
        del r["categories"]["finance"]["grade"]

    assert Directory.from_dict(broken(raw, change)).rules["finance"].grade == "general"


def test_an_office_that_is_not_a_unit_is_refused(raw):
    with pytest.raises(DirectoryError, match="office"):
        Directory.from_dict(broken(raw, lambda r: r.update(office="rectorate")))


def test_a_malformed_unit_is_refused_with_a_directory_error(raw):
    with pytest.raises(DirectoryError):
        Directory.from_dict(broken(raw, lambda r: r["units"][0].pop("head")))


@pytest.fixture(scope="module")
def directory():
    return Directory.load(ORG_YAML)


def test_decide_sends_the_case_straight_to_the_unit_with_its_grade(directory):
    decision = directory.decide("security", {})

    assert decision.unit.id == "security"
    assert decision.grade == "simple"


def test_decide_picks_the_handler_with_the_fewest_open_cases(directory):
    decision = directory.decide("logistics", {"u-hqc-1": 4, "u-hqc-2": 1, "u-hqc-3": 2})

    assert decision.handler.id == "u-hqc-2"


def test_decide_breaks_a_tie_for_the_first_listed_handler(directory):
    assert directory.decide("logistics", {}).handler.id == "u-hqc-1"
    assert directory.decide("logistics", {"u-hqc-1": 2, "u-hqc-2": 1,
                                           "u-hqc-3": 1}).handler.id == "u-hqc-2"


def test_decide_ignores_load_of_people_outside_the_unit(directory):
    decision = directory.decide("logistics", {"u-jwc-1": 0, "u-hqc-1": 1, "u-hqc-2": 1,
                                              "u-hqc-3": 1})

    assert decision.handler.id == "u-hqc-1"
