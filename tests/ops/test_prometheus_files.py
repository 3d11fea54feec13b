"""Operations as code (X9): the Prometheus configuration, the alert rules and their unit
tests pass promtool; the Grafana dashboard is a valid model whose every query asks for a
metric the services actually export (the contract in docs/OPERATIONS.md) or RabbitMQ's own;
every alert points to a runbook section that exists.

promtool comes from Debian's `prometheus` package; without it these tests fail and say so."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = REPO / "prometheus"
GRAFANA = REPO / "grafana"
OPERATIONS = REPO / "docs" / "OPERATIONS.md"
DASHBOARD = GRAFANA / "dashboards" / "jiesu.json"

# The metrics contract: name -> type. docs/OPERATIONS.md has their labels and help texts.
CONTRACT = {
    "jiesu_backlog": "gauge",
    "jiesu_sla_warning_queue": "gauge",
    "jiesu_sla_overdue": "gauge",
    "jiesu_complaints_received_total": "counter",
    "jiesu_ratings_total": "counter",
    "jiesu_redo_total": "counter",
    "jiesu_supervised_total": "counter",
    "jiesu_time_to_sign_seconds": "histogram",
    "jiesu_time_to_reply_seconds": "histogram",
    "jiesu_entrypoint_duration_seconds": "histogram",
    "jiesu_entrypoint_errors_total": "counter",
    "jiesu_events_published_total": "counter",
    "jiesu_events_consumed_total": "counter",
    "jiesu_events_redelivered_total": "counter",
    "jiesu_events_duplicates_skipped_total": "counter",
    "jiesu_events_parked_total": "counter",
    "jiesu_outbox_unsent": "gauge",
    "jiesu_outbox_oldest_unsent_age_seconds": "gauge",
    "jiesu_notifications_sent_total": "counter",
    "jiesu_notifications_failed_total": "counter",
    "jiesu_up": "gauge",
}
SERIES_NAMES = {
    series
    for name, kind in CONTRACT.items()
    for series in ([name + suffix for suffix in ("_bucket", "_sum", "_count")]
                   if kind == "histogram" else [name])
} | {"up"}  # Prometheus's own scrape status

PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan"}


def find_promtool() -> str:
    """Called inside each test (not a fixture) so that a missing promtool is a failure."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH: install Debian's prometheus package "
                    "(apt-get install -y prometheus) to check the Prometheus files",
                    pytrace=False)
    return path


def run_promtool(*args):
    result = subprocess.run([find_promtool(), *args], cwd=REPO, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"promtool {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (Grafana variables allowed)."""
    text = re.sub(r"\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|`[^`]*`", '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)        # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)       # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ",
                  text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)      # $__range, ${unit}
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group()
        if re.match(r"\s*\(", text[match.end():]) or word.lower() in PROMQL_WORDS:
            continue  # a function or aggregation, or a keyword
        names.add(word)
    return names


def unknown_metrics(expr: str) -> set[str]:
    return {name for name in metric_names(expr)
            if name not in SERIES_NAMES and not name.startswith("rabbitmq_")}


def alert_rules():
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_panels(panels):
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels", []))


def github_anchor(heading: str) -> str:
    anchor = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return anchor.replace(" ", "-")


# ------------------------------------------------------------------------------ promtool
def test_prometheus_config_is_valid():
    run_promtool("check", "config", "prometheus/prometheus.yml")


def test_alert_rules_are_valid():
    run_promtool("check", "rules", "prometheus/alerts.yml")


def test_alert_rules_pass_their_unit_tests():
    out = run_promtool("test", "rules", "prometheus/tests/alerts_test.yml")
    assert "SUCCESS" in out


def test_dashboard_queries_parse(tmp_path):
    """Each panel query, with Grafana's variables filled in, is valid PromQL for promtool."""
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    rules = []
    for panel in dashboard_panels(dashboard["panels"]):
        for target in panel.get("targets", []):
            expr = (target["expr"].replace("$__rate_interval", "1m").replace("$__range", "1d")
                    .replace("$unit", ".*").replace("$category", ".*")
                    .replace("$service", ".*"))
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}",
                          "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]},
                                   allow_unicode=True), encoding="utf-8")
    run_promtool("check", "rules", str(path))


# ----------------------------------------------------------------------------- scraping
def test_every_process_and_rabbitmq_is_scraped():
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    targets = {target for job in config["scrape_configs"] for static in job["static_configs"]
               for target in static["targets"]}
    for target in ("intake:9101", "routing:9102", "sla:9103", "notify:9104", "rating:9105",
                   "gateway:9106", "rabbitmq:15692"):
        assert target in targets
    detailed = [job for job in config["scrape_configs"]
                if job.get("metrics_path") == "/metrics/detailed"]
    assert detailed and "queue_coarse_metrics" in detailed[0]["params"]["family"]


# ------------------------------------------------------------------------------- alerts
def test_every_alert_reads_only_contract_or_rabbitmq_metrics():
    for rule in alert_rules():
        assert not unknown_metrics(rule["expr"]), (rule["alert"], unknown_metrics(rule["expr"]))


def test_every_alert_has_severity_summaries_and_a_runbook_section_that_exists():
    headings = {github_anchor(line.lstrip("#"))
                for line in OPERATIONS.read_text(encoding="utf-8").splitlines()
                if line.startswith("#")}
    for rule in alert_rules():
        name, annotations = rule["alert"], rule.get("annotations", {})
        assert rule.get("labels", {}).get("severity") in {"critical", "warning"}, name
        for key in ("summary", "description", "summary_zh", "runbook_url"):
            assert annotations.get(key), f"{name} has no {key}"
        assert re.search(r"[\u4e00-\u9fff]", annotations["summary_zh"]), name
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/OPERATIONS.md" and anchor in headings, (name, anchor)


def test_every_alert_is_exercised_by_the_unit_tests():
    tests = yaml.safe_load((PROMETHEUS / "tests" / "alerts_test.yml").read_text(
        encoding="utf-8"))["tests"]
    exercised = {case["alertname"] for test in tests for case in test["alert_rule_test"]}
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"]
             if case.get("exp_alerts")}
    names = {rule["alert"] for rule in alert_rules()}
    assert names <= exercised
    assert names <= fired, f"never shown firing: {names - fired}"
    for test in tests:
        for series in test["input_series"]:
            name = series["series"].split("{")[0]
            assert not unknown_metrics(name), series["series"]


# ---------------------------------------------------------------------------- dashboard
def test_dashboard_is_a_grafana_model_with_the_provisioned_datasource():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    datasources = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                                 .read_text(encoding="utf-8"))["datasources"]
    uid = datasources[0]["uid"]
    assert dashboard["uid"] and dashboard["title"]
    assert 36 <= dashboard["schemaVersion"] <= 41
    panels = list(dashboard_panels(dashboard["panels"]))
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    data_panels = [panel for panel in panels if panel["type"] != "row"]  # rows only group
    assert len(data_panels) >= 10
    for panel in data_panels:
        title = panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": uid}, title
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}, title
        assert panel["targets"], f"{title} has no query"
        for target in panel["targets"]:
            assert target.get("expr"), f"{title} has a query without expr"
            assert target["datasource"]["uid"] == uid, title
            assert not unknown_metrics(target["expr"]), (title, unknown_metrics(target["expr"]))
    for variable in dashboard["templating"]["list"]:
        query = re.fullmatch(r"label_values\((.+),\s*\w+\)", variable["definition"])
        assert query, f"variable {variable['name']}: expected label_values(metric, label)"
        assert not unknown_metrics(query.group(1)), variable["name"]


def test_dashboard_has_the_panels_ops_and_heads_need():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = " ".join(target["expr"] for panel in dashboard_panels(dashboard["panels"])
                     for target in panel.get("targets", []))
    titles = " ".join(panel["title"] for panel in dashboard_panels(dashboard["panels"]))
    for word in ("响应率", "解决率", "满意率", "Backlog by state", "Backlog by unit", "Overdue",
                 "Warning queue", "Intake by channel", "p50", "RabbitMQ queue depth",
                 "Outbox lag", "Notifications"):
        assert word in titles, word
    for name in ("jiesu_backlog", "jiesu_sla_warning_queue", "jiesu_sla_overdue",
                 "jiesu_complaints_received_total", "jiesu_entrypoint_duration_seconds_bucket",
                 "rabbitmq_detailed_queue_messages_ready",
                 "jiesu_outbox_oldest_unsent_age_seconds", "jiesu_notifications_failed_total",
                 "jiesu_ratings_total", "jiesu_time_to_sign_seconds_bucket"):
        assert name in exprs, name


def test_the_metric_name_reader_reads_what_it_should():
    assert metric_names('sum by (le, unit) (rate(jiesu_redo_total{unit=~"$unit"}'
                        '[$__rate_interval])) / ignoring (x) up offset 5m > bool 1e3') == \
        {"jiesu_redo_total", "up"}
    assert unknown_metrics("histogram_quantile(0.9, rate(jiesu_nope_bucket[5m]))") == \
        {"jiesu_nope_bucket"}


# ------------------------------------------------------------------------------- the doc
def test_operations_doc_lists_every_metric_with_its_type():
    doc = OPERATIONS.read_text(encoding="utf-8")
    for name, kind in CONTRACT.items():
        row = re.search(rf"^\| `{name}` \| {kind} \|", doc, re.MULTILINE)
        assert row, f"docs/OPERATIONS.md has no table row for {name} ({kind})"
