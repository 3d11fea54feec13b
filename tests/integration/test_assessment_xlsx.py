"""The assessment workbook through the gateway's route with rating's real figures (issue 12
§4): the hand-computed month is fed into a rating worker (services/rating/tests/
test_figures_service.py), the gateway serves GET /api/v1/staff/assessment and its .xlsx over
real HTTP with that worker answering its RPCs, and the workbook, opened with openpyxl, has the
sheets, the headers and exactly the API's numbers, and no phone number in clear."""
from __future__ import annotations

import io
import re

import openpyxl
import pytest
import requests
from nameko.testing.services import replace_dependencies, worker_factory

from gateway.exports import CATEGORY_COLUMNS, LEDGER_COLUMNS, UNIT_COLUMNS
from gateway.service import GatewayService
from gateway.tests.test_routes import SECRET, FakeService, bearer
from services.common.calendar import WorkingCalendar
from services.common.clock import ManualClock
from services.common.settings import Settings, nameko_config
from services.common.testing import InMemoryDatabase
from services.rating.assessment import load_rules
from services.rating.models import metadata
from services.rating.service import RatingService
from services.rating.tests.test_assessment import local
from services.rating.tests.test_figures_service import ORG, month_through_the_service

OFFICE = {"id": "u-office-1", "name": "李晓梅", "roles": ["office"], "unit": "office",
          "college": None}
PHONE = re.compile(r"1[3-9]\d{9}")


class InProcess:
    """rating's RPC proxy answered by a worker in this process (arguments and answers go
    through JSON-like values only, as on the wire)."""

    def __init__(self, worker):
        self.worker = worker

    def __getattr__(self, method):
        if method.startswith("_"):
            raise AttributeError(method)
        return getattr(self.worker, method)


@pytest.fixture
def rating():
    clock = ManualClock(local(2026, 10, 1, 8, 0))
    db = InMemoryDatabase(metadata, clock=clock)
    worker = worker_factory(RatingService, db=db, rules=load_rules(),
                            calendar=WorkingCalendar(), org_units=ORG)
    month_through_the_service(worker, clock)
    return worker


@pytest.fixture
def url(container_factory, web_config, tmp_path, rating):
    settings = Settings(jwt_secret=SECRET, log_json=False,
                        attachments_dir=str(tmp_path / "attachments"))
    container = container_factory(GatewayService, nameko_config(
        settings, WEB_SERVER_ADDRESS=web_config["WEB_SERVER_ADDRESS"]))
    replace_dependencies(container, intake=FakeService(), sla=FakeService(),
                         rating=InProcess(rating))
    container.start()
    return f"http://{web_config['WEB_SERVER_ADDRESS']}"


def _sheet(book, name):
    rows = list(book[name].iter_rows(values_only=True))
    return rows[0], rows[1:]


@pytest.mark.parametrize("basis", ["assessment", "full"])
def test_the_workbook_holds_the_apis_numbers(url, basis):
    params = {"period": "2026-11", "basis": basis}
    api = requests.get(f"{url}/api/v1/staff/assessment", params=params, headers=bearer(OFFICE))
    assert api.status_code == 200, api.text
    by_category = requests.get(f"{url}/api/v1/staff/assessment",
                               params=dict(params, by="category"), headers=bearer(OFFICE))
    answer = requests.get(f"{url}/api/v1/staff/assessment.xlsx", params=params,
                          headers=bearer(OFFICE))
    assert answer.status_code == 200, answer.text
    book = openpyxl.load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["汇总", "单位", "类别", "案件台账"]

    header, rows = _sheet(book, "单位")
    assert list(header) == [column[1] for column in UNIT_COLUMNS]
    keys = [column[0] for column in UNIT_COLUMNS]
    expected = [row for group in ("department", "college") for row in
                api.json()["groups"][group]]
    assert len(rows) == len(expected)
    for cells, row in zip(rows, expected):
        got = dict(zip(keys, cells))
        for key in keys:
            if key == "group":
                continue
            want = row.get(key)
            if key == "rank" and want is None:
                want = "未排名"
            assert got[key] == want, (row["unit_id"], key)

    header, rows = _sheet(book, "类别")
    assert list(header) == [column[1] for column in CATEGORY_COLUMNS]
    keys = [column[0] for column in CATEGORY_COLUMNS]
    categories = by_category.json()["categories"]
    assert len(rows) == len(categories) > 0
    for cells, row in zip(rows, categories):
        got = dict(zip(keys, cells))
        assert all(got[key] == row[key] for key in keys if key != "category"), row

    header, rows = _sheet(book, "案件台账")
    assert list(header) == [column[1] for column in LEDGER_COLUMNS]
    assert len(rows) > 60
    for sheet in book.worksheets:
        for line in sheet.iter_rows(values_only=True):
            for cell in line:
                assert not (isinstance(cell, str) and PHONE.search(cell)), (sheet.title, cell)
