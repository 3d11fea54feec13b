"""Open311 GeoReport v2 as a third-party civic app speaks it: JSON and XML, the
specification's field names and error format, filters; other apps see nothing."""
from __future__ import annotations

from xml.etree import ElementTree

import pytest
import requests

from tests.conftest import wait_until

pytestmark = pytest.mark.e2e

KEY, OTHER_KEY = "k-campus-map-0123456789", "k-other-app-9876543210"
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type",
                  "keywords", "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name",
                  "service_code", "description", "agency_responsible", "service_notice",
                  "requested_datetime", "updated_datetime", "expected_datetime", "address",
                  "address_id", "zipcode", "lat", "long", "media_url"}
ATTRIBUTE_FIELDS = {"variable", "code", "datatype", "required", "datatype_description", "order",
                    "description", "values"}


@pytest.fixture
def system(start_system, databases):
    return start_system(databases, layout=[["intake", "routing", "sla", "notify", "rating",
                                            "gateway"]],
                        JIESU_OPEN311_API_KEYS=f'["campus-map:{KEY}", "other:{OTHER_KEY}"]')


def _url(system, path):
    return f"{system.url}/open311/v2/{path}"


def test_services_in_json_and_xml(system):
    services = requests.get(_url(system, "services.json"), timeout=30).json()
    assert len(services) == 10 and set(services[0]) == SERVICE_FIELDS
    xml = ElementTree.fromstring(requests.get(_url(system, "services.xml"), timeout=30).content)
    assert xml.tag == "services" and len(xml.findall("service")) == 10
    assert {child.tag for child in xml.find("service")} == SERVICE_FIELDS
    assert all(service["metadata"] is True for service in services)
    definition = requests.get(_url(system, "services/logistics.json"), timeout=30).json()
    [pledge] = definition["attributes"]
    assert set(pledge) == ATTRIBUTE_FIELDS
    assert (pledge["code"], pledge["datatype"], pledge["required"], pledge["values"]) == \
        ("pledge", "singlevaluelist", True, [{"key": "yes", "name": "是,我承诺如实反映"}])
    xml = ElementTree.fromstring(requests.get(_url(system, "services/logistics.xml"),
                                              timeout=30).content)
    assert xml.tag == "service_definition"
    assert {child.tag for child in xml.find("attributes/attribute")} == ATTRIBUTE_FIELDS
    assert xml.find("attributes/attribute/values/value/key").text == "yes"
    assert xml.find("attributes/attribute/required").text == "true"
    missing = requests.get(_url(system, "services/nope.xml"), timeout=30)
    assert missing.status_code == 404
    error = ElementTree.fromstring(missing.content)
    assert error.tag == "errors" and error.find("error/code").text == "404"


def test_a_request_is_filed_and_followed_in_both_formats(system):
    filed = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "logistics", "lat": "36.66", "long": "117.12",
        "description": "学生公寓3号楼热水已经停了两天", "email": "zhang@example.edu.cn",
        "first_name": "三", "last_name": "张", "attribute[pledge]": "yes"}, timeout=30)
    assert filed.status_code == 201, filed.text
    [created] = filed.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id"}
    request_id = created["service_request_id"]

    def assigned():
        [one] = requests.get(_url(system, f"requests/{request_id}.json"),
                             params={"api_key": KEY}, timeout=30).json()
        return one if one["agency_responsible"] else None
    one = wait_until(assigned, message="the request reaches a unit")
    assert set(one) == REQUEST_FIELDS
    assert (one["status"], one["service_code"], one["agency_responsible"]) == \
        ("open", "logistics", "后勤管理处")
    xml = ElementTree.fromstring(requests.get(
        _url(system, f"requests/{request_id}.xml"), params={"api_key": KEY}, timeout=30).content)
    assert xml.tag == "service_requests"
    assert xml.find("request/service_request_id").text == request_id
    assert xml.find("request/status").text == "open"

    listed = requests.get(_url(system, "requests.json"), params={
        "api_key": KEY, "service_code": "logistics", "status": "open"}, timeout=30).json()
    assert [r["service_request_id"] for r in listed] == [request_id]
    assert requests.get(_url(system, "requests.json"), params={
        "api_key": KEY, "status": "closed"}, timeout=30).json() == []
    # another app sees nothing of it
    assert requests.get(_url(system, "requests.json"), params={"api_key": OTHER_KEY},
                        timeout=30).json() == []
    assert requests.get(_url(system, f"requests/{request_id}.json"),
                        params={"api_key": OTHER_KEY}, timeout=30).status_code == 404


def test_bad_requests_get_the_specifications_errors_and_file_nothing(system):
    bad_key = requests.post(_url(system, "requests.xml"), data={
        "api_key": "wrong", "service_code": "logistics", "address_string": "3号楼",
        "description": "热水停了两天了", "attribute[pledge]": "yes"}, timeout=30)
    assert bad_key.status_code == 403
    assert ElementTree.fromstring(bad_key.content).find("error/code").text == "403"
    for key in ("Õ", "钥匙"):   # not ASCII: was a 500 (compare_digest refuses such a str)
        foreign = requests.get(_url(system, "requests.json"), params={"api_key": key},
                               timeout=30)
        assert foreign.status_code == 403 and foreign.json()[0]["code"] == 403
    no_location = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "logistics", "description": "热水停了两天了",
        "attribute[pledge]": "yes"}, timeout=30)
    assert no_location.status_code == 400 and "location" in no_location.json()[0]["description"]
    bad_code = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "canteen", "address_string": "食堂",
        "description": "饭菜太咸了", "attribute[pledge]": "yes"}, timeout=30)
    assert bad_code.status_code == 400 and bad_code.json()[0]["code"] == 400
    for pledge in ({}, {"attribute[pledge]": "no"}):
        unpledged = requests.post(_url(system, "requests.xml"), data={
            "api_key": KEY, "service_code": "logistics", "address_string": "3号楼",
            "description": "热水停了两天了", **pledge}, timeout=30)
        assert unpledged.status_code == 400
        assert "attribute[pledge]" in ElementTree.fromstring(unpledged.content).find(
            "error/description").text
    oversized = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "logistics", "address_string": "3号楼",
        "description": "热" * 300_000, "attribute[pledge]": "yes"}, timeout=30)
    assert oversized.status_code == 413 and oversized.json()[0]["code"] == 413
    assert requests.get(_url(system, "services.yaml"), timeout=30).status_code == 404
    assert system.query("intake", "SELECT id FROM complaints") == []


def test_coordinates_come_back_as_they_were_given_in_both_formats(system):
    only_coordinates = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "logistics", "lat": "36.661234", "long": "117.120987",
        "description": "学生公寓3号楼热水已经停了两天", "attribute[pledge]": "yes"}, timeout=30)
    assert only_coordinates.status_code == 201, only_coordinates.text
    both = requests.post(_url(system, "requests.json"), data={
        "api_key": KEY, "service_code": "logistics", "lat": "-36.5", "long": "-117",
        "address_string": "学生公寓3号楼", "description": "学生公寓3号楼热水已经停了两天",
        "attribute[pledge]": "yes"}, timeout=30)
    assert both.status_code == 201, both.text
    first = only_coordinates.json()[0]["service_request_id"]
    second = both.json()[0]["service_request_id"]

    [one] = requests.get(_url(system, f"requests/{first}.json"), params={"api_key": KEY},
                         timeout=30).json()
    assert (one["lat"], one["long"], one["address"]) == (36.661234, 117.120987, None)
    listed = {r["service_request_id"]: r for r in requests.get(
        _url(system, "requests.json"), params={"api_key": KEY}, timeout=30).json()}
    assert (listed[second]["lat"], listed[second]["long"], listed[second]["address"]) == \
        (-36.5, -117, "学生公寓3号楼")
    xml = ElementTree.fromstring(requests.get(_url(system, f"requests/{first}.xml"),
                                              params={"api_key": KEY}, timeout=30).content)
    assert (xml.find("request/lat").text, xml.find("request/long").text) == \
        ("36.661234", "117.120987")

    for bad in ({"lat": "91", "long": "117.12"}, {"lat": "36.66", "long": "east"},
                {"lat": "nan", "long": "117.12"}):
        refused = requests.post(_url(system, "requests.xml"), data={
            "api_key": KEY, "service_code": "logistics", "description": "热水停了两天了",
            "attribute[pledge]": "yes", **bad}, timeout=30)
        assert refused.status_code == 400, refused.text
        assert ElementTree.fromstring(refused.content).find("error/code").text == "400"
